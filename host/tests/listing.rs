#![allow(clippy::indexing_slicing)]
//! The per-slot service counts of the listing order (`ipvs_core::listing`) against a plain
//! array of counts: prefix sums and index lookups after any sequence of adds and removes.
use ipvs_core_host::ipvs_core::listing::{slot_number, SlotCounts, SLOTS};
use proptest::prelude::*;

fn check(counts: &SlotCounts, model: &[usize; SLOTS]) {
    let mut sum = 0;
    for (slot, &n) in model.iter().enumerate() {
        assert_eq!(counts.before(slot), sum, "before({slot})");
        for place in 0..n {
            assert_eq!(counts.locate(sum + place), Some((slot, place)), "locate({})", sum + place);
        }
        sum += n;
    }
    assert_eq!(counts.before(SLOTS), sum);
    assert_eq!(counts.locate(sum), None);
}

#[test]
fn slot_numbers_cover_both_tables() {
    assert_eq!(slot_number((0, 0)), 0);
    assert_eq!(slot_number((0, 255)), 255);
    assert_eq!(slot_number((1, 0)), 256);
    assert_eq!(slot_number((1, 255)), SLOTS - 1);
}

#[test]
fn empty_and_edges() {
    let mut counts = SlotCounts::new();
    let mut model = [0usize; SLOTS];
    check(&counts, &model);
    for slot in [0, 1, 255, 256, SLOTS - 1, SLOTS - 1] {
        counts.add(slot);
        model[slot] += 1;
    }
    check(&counts, &model);
}

proptest! {
    #[test]
    fn matches_a_plain_count_per_slot(ops in prop::collection::vec((0..SLOTS, any::<bool>()), 0..400)) {
        let mut counts = SlotCounts::new();
        let mut model = [0usize; SLOTS];
        for (slot, add) in ops {
            // Slots cluster in practice (few VIPs): fold half the operations onto 8 slots.
            let slot = if slot % 2 == 0 { slot % 8 } else { slot };
            if add || model[slot] == 0 {
                counts.add(slot);
                model[slot] += 1;
            } else {
                counts.remove(slot);
                model[slot] -= 1;
            }
        }
        check(&counts, &model);
    }
}
