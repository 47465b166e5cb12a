#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The connection-counting schedulers (lc, wlc, sed, nq, fo, ovf, twos): upstream's formulas
//! and tie-breaking, worked out from ip_vs_<name>.c. Index 0 is the newest dest (the head of
//! upstream's list); overhead is `(activeconns << 8) + totalconns`.
mod common;
use common::ctx;
use ipvs_core_host::ipvs_core::uapi::AF_INET;
use ipvs_core_host::sched::fo::WeightedFailover;
use ipvs_core_host::sched::lc::LeastConn;
use ipvs_core_host::sched::nq::NeverQueue;
use ipvs_core_host::sched::ovf::Overflow;
use ipvs_core_host::sched::sed::ShortestExpectedDelay;
use ipvs_core_host::sched::twos::{random_below, TwoChoices};
use ipvs_core_host::sched::wlc::WeightedLeastConn;
use ipvs_core_host::sched::{DestView, Flow, SchedCtx, Scheduler, DEST_F_OVERLOAD};
use proptest::prelude::*;
use std::cell::RefCell;

/// Dests with (weight, active, inactive).
fn dests(spec: &[(i32, i32, i32)]) -> Vec<DestView> {
    spec.iter()
        .enumerate()
        .map(|(i, &(w, a, n))| DestView {
            af: AF_INET,
            port: [0, i as u8],
            weight: w,
            last_weight: w,
            active_conns: a,
            inact_conns: n,
            available: true,
            ..Default::default()
        })
        .collect()
}

fn pick<S: Scheduler>(d: &[DestView]) -> Option<usize> {
    S::init_service(d, AF_INET).unwrap().schedule(d, &Flow::default(), &ctx())
}

fn overload(mut d: Vec<DestView>, i: usize) -> Vec<DestView> {
    d[i].flags = DEST_F_OVERLOAD;
    d
}

#[test]
fn overhead_is_active_times_256_plus_total() {
    let d = dests(&[(1, 2, 3)]);
    assert_eq!(d[0].conn_overhead(), 2 * 256 + 5);
}

#[test]
fn every_scheduler_has_nothing_for_an_empty_or_unavailable_service() {
    let empty: Vec<DestView> = vec![];
    let quiesced = dests(&[(0, 0, 0), (0, 0, 0)]);
    let overloaded = overload(overload(dests(&[(1, 0, 0), (2, 0, 0)]), 0), 1);
    for d in [&empty, &quiesced, &overloaded] {
        assert_eq!(pick::<LeastConn>(d), None);
        assert_eq!(pick::<WeightedLeastConn>(d), None);
        assert_eq!(pick::<ShortestExpectedDelay>(d), None);
        assert_eq!(pick::<NeverQueue>(d), None);
        assert_eq!(pick::<WeightedFailover>(d), None);
        assert_eq!(pick::<Overflow>(d), None);
        assert_eq!(pick::<TwoChoices>(d), None);
    }
}

#[test]
fn lc_least_overhead_first_wins_ties_weights_ignored() {
    assert_eq!(pick::<LeastConn>(&dests(&[(1, 0, 0), (1, 0, 0), (1, 0, 0)])), Some(0));
    // 257, 5, 5: the first 5.
    assert_eq!(pick::<LeastConn>(&dests(&[(1, 1, 0), (1, 0, 5), (1, 0, 5)])), Some(1));
    // One active outweighs 255 inactive.
    assert_eq!(pick::<LeastConn>(&dests(&[(1, 1, 0), (1, 0, 255)])), Some(1));
    assert_eq!(pick::<LeastConn>(&dests(&[(1, 1, 0), (1, 0, 257)])), Some(0));
    // Weight is ignored beyond "not zero".
    assert_eq!(pick::<LeastConn>(&dests(&[(1, 0, 1), (100, 0, 2)])), Some(0));
    // Weight 0 and overloaded dests are skipped.
    assert_eq!(pick::<LeastConn>(&dests(&[(1, 0, 9), (0, 0, 0), (1, 0, 8)])), Some(2));
    assert_eq!(pick::<LeastConn>(&overload(dests(&[(1, 0, 0), (1, 0, 3)]), 0)), Some(1));
    // Overheads compare as unsigned int: a negative one loses.
    assert_eq!(pick::<LeastConn>(&dests(&[(1, -1, 0), (1, 0, 10)])), Some(1));
}

#[test]
fn wlc_overhead_per_weight_strictly_lower_replaces() {
    // No connections: the first dest with a positive weight.
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(1, 0, 0), (2, 0, 0)])), Some(0));
    // 1/1 vs 1/2: the second.
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(1, 0, 1), (2, 0, 1)])), Some(1));
    // 2/2 vs 1/1: equal, the first stays.
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(2, 0, 2), (1, 0, 1)])), Some(0));
    // The scan starts at the first usable dest.
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(0, 0, 0), (1, 0, 5), (1, 0, 4)])), Some(2));
    assert_eq!(pick::<WeightedLeastConn>(&overload(dests(&[(5, 0, 0), (1, 0, 5), (3, 0, 0)]), 0)), Some(2));
    // After it, weight-0 dests are not skipped but never compare lower...
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(1, 0, 5), (0, 0, 0)])), Some(0));
    // ...unless an overhead is negative, as upstream's arithmetic has it.
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(1, 0, 5), (0, -1, 0)])), Some(1));
    // Overloaded dests after the first are skipped.
    assert_eq!(pick::<WeightedLeastConn>(&overload(dests(&[(1, 0, 5), (1, 0, 0)]), 1)), Some(0));
    // An active connection weighs 257: 257/1 vs 600/2, then vs 200/2.
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(1, 1, 0), (2, 0, 600)])), Some(0));
    assert_eq!(pick::<WeightedLeastConn>(&dests(&[(1, 1, 0), (2, 0, 200)])), Some(1));
}

#[test]
fn sed_counts_active_plus_one_only() {
    // Inactive connections do not count: (0+1)/1 each, the first wins.
    assert_eq!(pick::<ShortestExpectedDelay>(&dests(&[(1, 0, 100), (1, 0, 0)])), Some(0));
    // 1/1 vs 3/3: equal, the first stays; 1/1 vs 2/3: the second.
    assert_eq!(pick::<ShortestExpectedDelay>(&dests(&[(1, 0, 0), (3, 2, 0)])), Some(0));
    assert_eq!(pick::<ShortestExpectedDelay>(&dests(&[(1, 0, 0), (3, 1, 0)])), Some(1));
    assert_eq!(pick::<ShortestExpectedDelay>(&dests(&[(0, 0, 0), (1, 5, 0), (1, 4, 0)])), Some(2));
}

#[test]
fn nq_takes_the_first_idle_dest_else_sed() {
    // Idle (no active connection) wins at once, whatever comes after.
    assert_eq!(pick::<NeverQueue>(&dests(&[(1, 0, 50), (100, 0, 0)])), Some(0));
    assert_eq!(pick::<NeverQueue>(&dests(&[(1, 1, 0), (1, 5, 0), (1, 0, 9)])), Some(2));
    // An idle weight-0 or overloaded dest does not count.
    assert_eq!(pick::<NeverQueue>(&dests(&[(0, 0, 0), (1, 3, 0), (1, 2, 0)])), Some(2));
    assert_eq!(pick::<NeverQueue>(&overload(dests(&[(1, 0, 0), (1, 3, 0), (1, 2, 0)]), 0)), Some(2));
    // All busy: (1+1)/1 vs (2+1)/3: the second; ties keep the first.
    assert_eq!(pick::<NeverQueue>(&dests(&[(1, 1, 0), (3, 2, 0)])), Some(1));
    assert_eq!(pick::<NeverQueue>(&dests(&[(1, 1, 0), (2, 3, 0)])), Some(0));
}

#[test]
fn fo_highest_weight_first_wins_ties() {
    assert_eq!(pick::<WeightedFailover>(&dests(&[(3, 0, 0), (5, 9, 9), (5, 0, 0)])), Some(1));
    assert_eq!(pick::<WeightedFailover>(&overload(dests(&[(3, 0, 0), (5, 0, 0), (5, 0, 0)]), 1)), Some(2));
    assert_eq!(pick::<WeightedFailover>(&dests(&[(0, 0, 0), (1, 0, 0)])), Some(1));
}

#[test]
fn ovf_highest_weight_until_active_exceeds_it() {
    assert_eq!(pick::<Overflow>(&dests(&[(3, 0, 0), (5, 5, 0), (5, 0, 0)])), Some(1), "active == weight is fine");
    assert_eq!(pick::<Overflow>(&dests(&[(3, 0, 0), (5, 6, 0), (5, 0, 0)])), Some(2));
    assert_eq!(pick::<Overflow>(&dests(&[(3, 0, 0), (5, 6, 0), (5, 6, 0)])), Some(0));
    assert_eq!(pick::<Overflow>(&dests(&[(3, 4, 0), (5, 6, 0)])), None);
    // Inactive connections do not count; weight 0 and overloaded dests never qualify.
    assert_eq!(pick::<Overflow>(&dests(&[(1, 0, 1000), (0, 0, 0)])), Some(0));
    assert_eq!(pick::<Overflow>(&overload(dests(&[(9, 0, 0), (1, 0, 0)]), 0)), Some(1));
}

/// A random source replaying `values`.
fn replay(values: Vec<u32>) -> RefCell<std::vec::IntoIter<u32>> {
    RefCell::new(values.into_iter())
}

/// The `get_random_u32()` value that `get_random_u32_below(ceil)` turns into `k` at once.
fn raw_for(k: u32, ceil: u32) -> u32 {
    let r = ((u64::from(k) << 32).div_ceil(u64::from(ceil)) + 1) as u32;
    assert_eq!(random_below(ceil, &|| r), k);
    r
}

fn twos(d: &[DestView], k1: u32, k2: u32) -> Option<usize> {
    let ceil = d.iter().filter(|v| !v.overloaded() && v.weight > 0).map(|v| v.weight as u32).sum::<u32>() + 1;
    let values = replay(vec![raw_for(k1, ceil), raw_for(k2, ceil)]);
    let next = || values.borrow_mut().next().expect("twos draws two numbers");
    let c = SchedCtx { random: &next, ..ctx() };
    TwoChoices::init_service(d, AF_INET).unwrap().schedule(d, &Flow::default(), &c)
}

#[test]
fn random_below_rejects_like_the_kernel() {
    // ceil 7: draws whose product's low 32 bits fall under (2^32 - 7) % 7 = 4 are drawn
    // again (0 gives 0, 0x24924925 gives 3, 0x24924926 gives 10 and a high half of 1).
    let values = replay(vec![0, 0x2492_4925, 0x2492_4926]);
    let next = || values.borrow_mut().next().unwrap();
    assert_eq!(random_below(7, &next), 1);
    assert!(values.borrow_mut().next().is_none(), "the first two draws were rejected");
    assert_eq!(random_below(0, &|| 42), 42);
}

#[test]
fn twos_weighted_picks_and_the_lower_load_per_weight() {
    // Weights 1, 2, 3: draw k (0..=6) picks the first dest where k minus the running weight
    // sum reaches 0 or below.
    let d = dests(&[(1, 0, 10), (2, 0, 15), (3, 0, 0)]);
    let first = [0, 0, 1, 1, 2, 2, 2];
    for (k, &want) in first.iter().enumerate() {
        // The same dest twice.
        assert_eq!(twos(&d, k as u32, k as u32), Some(want), "k {k}");
    }
    // Picks 0 (overhead 10, weight 1) and 1 (15, 2): 2*10 > 1*15, the second.
    assert_eq!(twos(&d, 0, 3), Some(1));
    // The other way round: 1*15 > 2*10 is false, the first stays.
    assert_eq!(twos(&d, 3, 0), Some(1));
    let d = dests(&[(1, 0, 10), (2, 0, 25), (3, 0, 0)]);
    assert_eq!(twos(&d, 0, 3), Some(0));
    // Equal loads per weight: the first pick stays.
    let d = dests(&[(1, 0, 10), (2, 0, 20)]);
    assert_eq!(twos(&d, 0, 2), Some(0));
    assert_eq!(twos(&d, 2, 0), Some(1));
    // Weight-0 and overloaded dests take no part (total weight 3 here).
    let d = overload(dests(&[(0, 0, 0), (5, 0, 0), (1, 0, 0), (2, 0, 0)]), 1);
    assert_eq!(twos(&d, 0, 0), Some(2));
    assert_eq!(twos(&d, 3, 3), Some(3));
}

proptest! {
    #[test]
    fn twos_with_no_load_picks_in_proportion_to_weight(weights in prop::collection::vec(0i32..6, 1..8)) {
        let d: Vec<DestView> = dests(&weights.iter().map(|&w| (w, 0, 0)).collect::<Vec<_>>());
        let total: i32 = weights.iter().sum();
        let mut count = vec![0; weights.len()];
        for k in 0..=total as u32 {
            match twos(&d, k, 0) {
                Some(i) => count[i] += 1,
                None => prop_assert_eq!(total, 0),
            }
        }
        // Over every draw: each dest its weight, and the first usable one also draw 0.
        let first = weights.iter().position(|&w| w > 0);
        for (i, &w) in weights.iter().enumerate() {
            let extra = i32::from(Some(i) == first);
            prop_assert_eq!(count[i], if total == 0 { 0 } else { w + extra });
        }
    }
}
