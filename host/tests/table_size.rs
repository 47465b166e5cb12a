#![allow(clippy::indexing_slicing)]
//! The sizing policy of the connection and service tables, their buckets and the walk that
//! keeps its place across resizes (`ipvs_core::table_size`), and the service tables' hash.
use ipvs_core_host::ipvs_core::service::ServiceKey;
use ipvs_core_host::ipvs_core::table_size::{bucket, resize_to, HashWalk, MIN_BITS, SVC_MAX_BITS};
use ipvs_core_host::ipvs_core::uapi::{AF_INET, AF_INET6, IPPROTO_UDP};
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

#[test]
fn service_tables_follow_their_services() {
    // A netns with a few services keeps upstream's 256 buckets.
    assert_eq!(resize_to(3, MIN_BITS, SVC_MAX_BITS), None);
    assert_eq!(resize_to(512, MIN_BITS, SVC_MAX_BITS), None);
    // Added one at a time, 10,000 services resize the table three times: 2^10, 2^12, 2^14.
    let (mut bits, mut resizes) = (MIN_BITS, 0);
    for n in 1..=10_000 {
        if let Some(b) = resize_to(n, bits, SVC_MAX_BITS) {
            assert!(b > bits);
            (bits, resizes) = (b, resizes + 1);
        }
    }
    assert_eq!((bits, resizes), (14, 3));
    // Bounded above; flushed, back to 256.
    assert_eq!(resize_to(10_000_000, 14, SVC_MAX_BITS), Some(SVC_MAX_BITS));
    assert_eq!(resize_to(0, 14, SVC_MAX_BITS), Some(MIN_BITS));
    assert_eq!(resize_to(0, MIN_BITS, SVC_MAX_BITS), None);
}

#[test]
fn buckets_are_the_top_bits() {
    assert_eq!(bucket(0, 8), 0);
    assert_eq!(bucket(u32::MAX, 8), 255);
    assert_eq!(bucket(u32::MAX, 16), 65535);
    assert_eq!(bucket(0x8000_0000, 1), 1);
    assert_eq!(bucket(u32::MAX, 0), 0);
    assert_eq!(bucket(0x1234_5678, 32), 0x1234_5678);
}

#[test]
fn ten_thousand_services_spread_over_their_table() {
    // The measured case: UDP services 10.20.x.y:9, in the table they size (2^14 buckets).
    let keys = (0..10_000u32).map(|n| {
        let mut addr = [0u8; 16];
        addr[..4].copy_from_slice(&[10, 20, (n >> 8) as u8, n as u8]);
        ServiceKey::Addr { af: AF_INET, protocol: IPPROTO_UDP, addr, port: 9u16.to_be_bytes() }
    });
    let mut counts = vec![0u32; 1 << 14];
    for k in keys {
        counts[bucket(k.table_hash(), 14)] += 1;
    }
    let longest = counts.iter().max().copied().unwrap_or(0);
    assert!(longest <= 6, "longest bucket {longest}");
    // IPv6 services of one /64 differing in the low bits spread too.
    let mut counts = vec![0u32; 1 << 10];
    for n in 0..1000u32 {
        let mut addr = [0u8; 16];
        addr[0] = 0x20;
        addr[1] = 0x01;
        addr[12..].copy_from_slice(&n.to_be_bytes());
        let k = ServiceKey::Addr { af: AF_INET6, protocol: IPPROTO_UDP, addr, port: 80u16.to_be_bytes() };
        counts[bucket(k.table_hash(), 10)] += 1;
    }
    assert!(counts.iter().max().copied().unwrap_or(0) <= 6);
}

#[test]
fn a_walk_without_resizes_visits_every_bucket_once() {
    let mut walk = HashWalk::new();
    let mut seen = Vec::new();
    while let Some((i, from)) = walk.step(8) {
        assert_eq!(from, (i as u32) << 24);
        seen.push(i);
    }
    assert_eq!(seen, (0..256).collect::<Vec<_>>());
}

proptest! {
    /// A bucket of a larger table lies within the bucket of a smaller one.
    #[test]
    fn buckets_nest(hash in any::<u32>(), bits in 0u32..32) {
        prop_assert_eq!(bucket(hash, bits + 1) >> 1, bucket(hash, bits));
    }

    /// However the table is resized between the steps of a walk, every entry is visited
    /// exactly once: at each step the walk visits the entries of its bucket at the size then
    /// in place whose hash is at least `from`, as `ServiceTable::for_each` does.
    #[test]
    fn a_walk_across_resizes_visits_each_entry_once(
        hashes in proptest::collection::btree_set(any::<u32>(), 0..200),
        sizes in proptest::collection::vec(0u32..=SVC_MAX_BITS, 1..64),
    ) {
        let mut visits = std::collections::BTreeMap::<u32, u32>::new();
        let mut walk = HashWalk::new();
        let mut step = 0;
        loop {
            let bits = sizes[step % sizes.len()];
            let Some((i, from)) = walk.step(bits) else { break };
            for &h in hashes.iter().filter(|&&h| bucket(h, bits) == i && h >= from) {
                *visits.entry(h).or_default() += 1;
            }
            step += 1;
            prop_assert!(step <= 1 << 16, "the walk does not end");
        }
        prop_assert_eq!(visits.len(), hashes.len());
        prop_assert!(visits.values().all(|&n| n == 1));
    }
}
