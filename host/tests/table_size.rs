//! The connection table's sizing policy (`ipvs_core::table_size`).
use ipvs_core_host::ipvs_core::table_size::{resize_to, MIN_BITS};
use proptest::prelude::*;

#[test]
fn grows_past_two_per_bucket_and_shrinks_below_one_in_eight() {
    // 256 buckets: stays up to 512 entries, and from 32 down... to MIN_BITS anyway.
    assert_eq!(resize_to(0, 8, 12), None);
    assert_eq!(resize_to(512, 8, 12), None);
    assert_eq!(resize_to(513, 8, 12), Some(10));
    assert_eq!(resize_to(1_000_000, 8, 12), Some(12));
    assert_eq!(resize_to(1_000_000, 12, 12), None);
    assert_eq!(resize_to(1_000_000, 8, 20), Some(20));
    // 1024 buckets: shrinks below 128 entries, to the size where the load is (1/2, 1].
    assert_eq!(resize_to(128, 10, 12), None);
    assert_eq!(resize_to(127, 10, 12), Some(MIN_BITS));
    assert_eq!(resize_to(1000, 14, 20), Some(10));
}

#[test]
fn a_table_outside_its_bounds_comes_back() {
    assert_eq!(resize_to(0, 14, 12), Some(12));
    assert_eq!(resize_to(0, 4, 12), Some(MIN_BITS));
    // conn_tab_bits below MIN_BITS wins.
    assert_eq!(resize_to(100, 8, 5), Some(5));
    assert_eq!(resize_to(100, 5, 5), None);
}

proptest! {
    /// Within its bounds, a resized table holds between 1/2 and 1 entry a bucket unless a
    /// bound stops it, and is not resized again for the same count (no flapping).
    #[test]
    fn resized_tables_are_stable_and_loaded_right(count in 0u32..(1 << 26), bits in 1u32..28, max in 1u32..28) {
        let Some(to) = resize_to(count, bits, max) else {
            if bits >= MIN_BITS.min(max) && bits <= max {
                let size = 1u64 << bits;
                let c = u64::from(count);
                prop_assert!((c <= size * 2 || bits == max) && (c * 8 >= size || bits == MIN_BITS.min(max)));
            }
            return Ok(());
        };
        prop_assert!(to <= max && to >= MIN_BITS.min(max));
        let again = resize_to(count, to, max);
        if bits >= MIN_BITS.min(max) && bits <= max {
            prop_assert_eq!(again, None);
            let size = 1u64 << to;
            let c = u64::from(count);
            prop_assert!(c <= size || to == max);
            prop_assert!(c * 2 > size || to == MIN_BITS.min(max));
        }
    }
}
