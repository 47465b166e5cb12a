#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The hashing schedulers (dh, sh, mh) and their hash functions: known hsiphash vectors,
//! table layouts, weights, flags, fallback, and Maglev's properties.
mod common;
use common::{addr16, ctx};
use ipvs_core_host::ipvs_core::addr;
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::uapi::{AF_INET, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};
use ipvs_core_host::sched::dh::{self, DestHash};
use ipvs_core_host::sched::hash::{hash_32, hsiphash, hsiphash_u32};
use ipvs_core_host::sched::mh::{self, Maglev};
use ipvs_core_host::sched::sh::{self, SourceHash};
use ipvs_core_host::sched::{DestView, Flow, SchedCtx, Scheduler, DEST_F_OVERLOAD, SVC_F_SCHED1, SVC_F_SCHED2};
use ipvs_core_host::storage::HostVecs;
use proptest::prelude::*;

type Dh = DestHash<HostVecs>;
type Sh = SourceHash<HostVecs>;
type Mh = Maglev<HostVecs>;

/// Dests 192.168.1.<i+1>:8080 with these weights (last weight = weight, as when created).
fn dests(weights: &[i32]) -> Vec<DestView> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| DestView {
            af: AF_INET,
            addr: addr16(&[192, 168, 1 + (i / 250) as u8, (i % 250) as u8 + 1]),
            port: 8080u16.to_be_bytes(),
            weight: w,
            last_weight: w,
            available: true,
            ..Default::default()
        })
        .collect()
}


fn flow(saddr: [u8; 16], sport: u16, daddr: [u8; 16]) -> Flow {
    Flow { af: AF_INET, protocol: IPPROTO_UDP, saddr, sport: sport.to_be_bytes(), daddr, dport: 80u16.to_be_bytes() }
}

fn client(i: u32) -> [u8; 16] {
    let b = (0x0a00_0000 | i).to_be_bytes();
    addr16(&b)
}

fn with_flags(flags: u32) -> SchedCtx<'static> {
    SchedCtx { svc_flags: flags, ..ctx() }
}

// ---- hash functions ----

/// lib/siphash_kunit.c's 64-bit `test_vectors_hsiphash` (from the SipHash reference): the
/// key is bytes 0..16, the input for vector `i` the bytes 0..i.
const HSIPHASH_VECTORS: [u32; 64] = [
    0x050fc4dc, 0x7d57ca93, 0x4dc7d44d, 0xe7ddf7fb, 0x88d38328, 0x49533b67, 0xc59f22a7, 0x9bb11140, 0x8d299a8e,
    0x6c063de4, 0x92ff097f, 0xf94dc352, 0x57b4d9a2, 0x1229ffa7, 0xc0f95d34, 0x2a519956, 0x7d908b66, 0x63dbd80c,
    0xb473e63e, 0x8d297d1c, 0xa6cce040, 0x2b45f844, 0xa320872e, 0xdae6c123, 0x67349c8c, 0x705b0979, 0xca9913a5,
    0x4ade3b35, 0xef6cd00d, 0x4ab1e1f4, 0x43c5e663, 0x8c21d1bc, 0x16a7b60d, 0x7a8ff9bf, 0x1f2a753e, 0xbf186b91,
    0xada26206, 0xa3c33057, 0xae3a36a1, 0x7b108392, 0x99e41531, 0x3f1ad944, 0xc8138825, 0xc28949a6, 0xfaf8876b,
    0x9f042196, 0x68b1d623, 0x8b5114fd, 0xdf074c46, 0x12cc86b3, 0x0a52098f, 0x9d292f9a, 0xa2f41f12, 0x43a71ed0,
    0x73f0bce6, 0x70a7e980, 0x243c6d75, 0xfdb71513, 0xa67d8a08, 0xb7e8f148, 0xf7a644ee, 0x0f1837f2, 0x4b6694e0,
    0xb7bbb3a8,
];

#[test]
fn hsiphash_matches_the_kernels_test_vectors() {
    let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
    let input: Vec<u8> = (0..64).collect();
    for (len, want) in HSIPHASH_VECTORS.iter().enumerate() {
        assert_eq!(hsiphash(&input[..len], &key), *want, "length {len}");
    }
    // hsiphash_1u32() of the first four bytes is vector 4.
    assert_eq!(hsiphash_u32(0x0302_0100, &key), HSIPHASH_VECTORS[4]);
}

proptest! {
    #[test]
    fn hsiphash_u32_is_hsiphash_of_its_le_bytes(v in any::<u32>(), k0 in any::<u64>(), k1 in any::<u64>()) {
        prop_assert_eq!(hsiphash_u32(v, &[k0, k1]), hsiphash(&v.to_le_bytes(), &[k0, k1]));
    }
}

#[test]
fn hash_32_and_address_fold() {
    // GOLDEN_RATIO_32 times 1, top bits.
    assert_eq!(hash_32(1, 8), 0x61);
    assert_eq!(hash_32(1, 32), 0x61c8_8647);
    assert_eq!(hash_32(0, 10), 0);
    assert_eq!(addr::fold(AF_INET, &addr16(&[10, 0, 0, 1])), 0x0a00_0001);
    let mut v6 = [0u8; 16];
    v6[3] = 1;
    v6[7] = 2;
    v6[15] = 4;
    assert_eq!(addr::fold(ipvs_core_host::ipvs_core::uapi::AF_INET6, &v6), 7);
}

// ---- dh ----

#[test]
fn dh_fills_slots_round_robin_in_list_order_ignoring_weights() {
    let d = dests(&[5, 0, 1]);
    let s = Dh::init_service(&d[..], AF_INET).unwrap();
    for slot in 0..dh::TAB_SIZE {
        assert_eq!(s.slot(slot), Some(slot % 3));
    }
    // More dests than slots: the first 256 get one each.
    let d = dests(&[1; 300]);
    let s = Dh::init_service(&d[..], AF_INET).unwrap();
    assert_eq!((0..dh::TAB_SIZE).map(|i| s.slot(i).unwrap()).collect::<Vec<_>>(), (0..256).collect::<Vec<_>>());
    let empty: Vec<DestView> = vec![];
    let mut s = Dh::init_service(&empty[..], AF_INET).unwrap();
    assert_eq!(s.slot(0), None);
    assert_eq!(s.schedule(&empty[..], &flow(client(1), 1, addr16(&[10, 0, 0, 100])), &ctx()), None);
}

#[test]
fn dh_hashes_the_destination_address_only() {
    let mut d = dests(&[1, 1, 1, 1, 1]);
    let mut s = Dh::init_service(&d[..], AF_INET).unwrap();
    for i in 0..64u32 {
        let daddr = client(i * 7919);
        let want = dh::hashkey(AF_INET, &daddr) % 5;
        for sport in [1, 1000, 65535] {
            let f = flow(client(i), sport, daddr);
            assert_eq!(s.schedule(&d[..], &f, &ctx()), Some(want));
            // The flags do not matter to dh.
            assert_eq!(s.schedule(&d[..], &f, &with_flags(SVC_F_SCHED1 | SVC_F_SCHED2)), Some(want));
        }
    }
    // Quiesced, overloaded or gone: no dest, and no fallback.
    let daddr = addr16(&[10, 0, 0, 100]);
    let f = flow(client(1), 1, daddr);
    let target = dh::hashkey(AF_INET, &daddr) % 5;
    d[target].weight = 0;
    assert_eq!(s.schedule(&d[..], &f, &ctx()), None);
    d[target].weight = 1;
    d[target].flags = DEST_F_OVERLOAD;
    assert_eq!(s.schedule(&d[..], &f, &ctx()), None);
    d[target].flags = 0;
    d[target].available = false;
    assert_eq!(s.schedule(&d[..], &f, &ctx()), None);
    d[target].available = true;
    assert_eq!(s.schedule(&d[..], &f, &ctx()), Some(target));
    // The table names dests, not positions: in a list that moved, the same dest is found.
    let mut moved = d.clone();
    moved.rotate_left(2);
    let got = s.schedule(&moved[..], &f, &ctx()).unwrap();
    assert_eq!(moved[got], d[target]);
    // And a dest no longer in the list is no dest.
    moved.retain(|v| *v != d[target]);
    assert_eq!(s.schedule(&moved[..], &f, &ctx()), None);
}

// ---- sh ----

#[test]
fn sh_fills_weight_slots_per_dest() {
    let d = dests(&[1, 2, 3]);
    let s = Sh::init_service(&d[..], AF_INET).unwrap();
    let pattern = [0, 1, 1, 2, 2, 2];
    for slot in 0..sh::TAB_SIZE {
        assert_eq!(s.slot(slot), Some(pattern[slot % 6]), "slot {slot}");
    }
    // Weight 0 still takes one slot; a weight beyond the table takes all of it.
    let d = dests(&[0, 2]);
    let s = Sh::init_service(&d[..], AF_INET).unwrap();
    assert_eq!((0..6).map(|i| s.slot(i).unwrap()).collect::<Vec<_>>(), [0, 1, 1, 0, 1, 1]);
    let d = dests(&[300, 1]);
    let s = Sh::init_service(&d[..], AF_INET).unwrap();
    assert!((0..sh::TAB_SIZE).all(|i| s.slot(i) == Some(0)));
}

proptest! {
    #[test]
    fn sh_slots_are_proportional_to_weights(weights in prop::collection::vec(1i32..20, 1..12)) {
        let d = dests(&weights);
        let s = Sh::init_service(&d[..], AF_INET).unwrap();
        let mut count = vec![0i64; weights.len()];
        for slot in 0..sh::TAB_SIZE {
            count[s.slot(slot).unwrap()] += 1;
        }
        // Whole rounds give each dest exactly its weight; the last partial round at most that.
        let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
        let rounds = sh::TAB_SIZE as i64 / total;
        for (c, &w) in count.iter().zip(&weights) {
            prop_assert!(*c >= rounds * i64::from(w) && *c <= (rounds + 1) * i64::from(w), "{:?} {:?}", count, weights);
        }
    }
}

#[test]
fn sh_hashes_source_address_and_port_with_sh_port() {
    let d = dests(&[1; 7]);
    let mut s = Sh::init_service(&d[..], AF_INET).unwrap();
    let vip = addr16(&[10, 0, 0, 100]);
    for i in 0..64u32 {
        let src = client(i * 104_729);
        let plain = sh::hashkey(AF_INET, &src, 0, 0) % 7;
        for sport in [1u16, 999, 40000] {
            let f = flow(src, sport, vip);
            assert_eq!(s.schedule(&d[..], &f, &ctx()), Some(plain), "port ignored without sh-port");
            let with_port = sh::hashkey(AF_INET, &src, sport, 0) % 7;
            assert_eq!(s.schedule(&d[..], &f, &with_flags(SVC_F_SCHED2)), Some(with_port));
            // Not a port-carrying protocol: port 0 even with sh-port.
            let icmp = Flow { protocol: IPPROTO_ICMP, ..f };
            assert_eq!(s.schedule(&d[..], &icmp, &with_flags(SVC_F_SCHED2)), Some(plain));
            let tcp = Flow { protocol: IPPROTO_TCP, ..f };
            assert_eq!(s.schedule(&d[..], &tcp, &with_flags(SVC_F_SCHED2)), Some(with_port));
        }
    }
}

#[test]
fn sh_fallback_walks_the_table_from_the_original_slot() {
    // Weights 1, 0, 1: the middle dest is quiesced.
    let d = dests(&[1, 0, 1]);
    let mut s = Sh::init_service(&d[..], AF_INET).unwrap();
    let vip = addr16(&[10, 0, 0, 100]);
    let mut quiesced_hits = 0;
    for i in 0..512u32 {
        let src = client(i * 7);
        let f = flow(src, 1, vip);
        let ihash = sh::hashkey(AF_INET, &src, 0, 0);
        let plain = s.schedule(&d[..], &f, &ctx());
        let fallback = s.schedule(&d[..], &f, &with_flags(SVC_F_SCHED1));
        if ihash % 3 == 1 {
            quiesced_hits += 1;
            assert_eq!(plain, None);
            // The walk: slot (offset + ihash + hash) & 255 for offset 0, 1, ...; the first
            // offset lands on the same slot, the next ones move on.
            let want = (0..256u32)
                .map(|off| sh::hashkey(AF_INET, &src, 0, (off + ihash as u32) % 256) % 3)
                .find(|&slot_dest| slot_dest != 1);
            assert_eq!(fallback, want);
        } else {
            assert_eq!(plain, Some(ihash % 3));
            assert_eq!(fallback, plain);
        }
    }
    assert!(quiesced_hits > 100);
    // Nothing available: none, with or without fallback.
    let mut d = dests(&[0, 1]);
    d[1].flags = DEST_F_OVERLOAD;
    let mut s = Sh::init_service(&d[..], AF_INET).unwrap();
    for i in 0..32 {
        assert_eq!(s.schedule(&d[..], &flow(client(i), 1, vip), &with_flags(SVC_F_SCHED1)), None);
    }
}

// ---- mh ----

fn mh_counts(s: &Mh, n: usize) -> Vec<usize> {
    let mut count = vec![0; n];
    for slot in 0..mh::TAB_SIZE {
        count[s.slot(slot).expect("every slot filled")] += 1;
    }
    count
}

#[test]
fn mh_fills_every_slot_and_skips_zero_last_weights() {
    let d = dests(&[1, 0, 3]);
    let s = Mh::init_service(&d[..], AF_INET).unwrap();
    let count = mh_counts(&s, 3);
    assert_eq!(count[1], 0, "a dest created with weight 0 gets no slot");
    assert_eq!(count.iter().sum::<usize>(), mh::TAB_SIZE);
    // Turns 1 and 3: rounds of 4 slots.
    assert!(count[0] == 1023 || count[0] == 1024, "{count:?}");
    // All last weights 0, or no dest: every slot empty, nothing scheduled.
    for d in [dests(&[0, 0]), dests(&[])] {
        let mut s = Mh::init_service(&d[..], AF_INET).unwrap();
        assert!((0..mh::TAB_SIZE).all(|i| s.slot(i).is_none()));
        assert_eq!(s.schedule(&d[..], &flow(client(1), 1, client(2)), &with_flags(SVC_F_SCHED1)), None);
    }
}

#[test]
fn mh_turns_use_the_gcd_and_a_6_bit_shift() {
    let d = dests(&[256, 512]);
    let s = Mh::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.weights(), (256, 0));
    let c = mh_counts(&s, 2);
    assert!(c[0] == 1364 || c[0] == 1365, "turns 1 and 2: {c:?}");
    // gcd 1, largest 1000 (10 bits): shifted right by 4, so turns 1 (0 rounded up) and 62.
    let d = dests(&[1, 1000]);
    let s = Mh::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.weights(), (1, 4));
    let c = mh_counts(&s, 2);
    assert!((65..=66).contains(&c[0]), "{c:?}");
    // Too many dests for the table: EINVAL, as upstream.
    let many: Vec<DestView> = (0..4094u32)
        .map(|i| {
            let b = i.to_be_bytes();
            DestView { af: AF_INET, addr: addr16(&[10, 1, b[2], b[3]]), weight: 1, last_weight: 1, available: true, ..Default::default() }
        })
        .collect();
    assert_eq!(Mh::init_service(&many[..], AF_INET).unwrap_err(), Errno::EINVAL);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn mh_slots_follow_turns(weights in prop::collection::vec(1i32..64, 1..20)) {
        let d = dests(&weights);
        let s = Mh::init_service(&d[..], AF_INET).unwrap();
        let count = mh_counts(&s, weights.len());
        // Weights below 64 need no shift: turns are weight / gcd. Dests take turns in
        // whole rounds, so each is within one round's share of its exact proportion.
        let (g, shift) = s.weights();
        prop_assert_eq!(shift, 0);
        let turns: Vec<usize> = weights.iter().map(|&w| (w / g) as usize).collect();
        let total: usize = turns.iter().sum();
        for (c, t) in count.iter().zip(&turns) {
            let exact = (mh::TAB_SIZE * t) as f64 / total as f64;
            prop_assert!((*c as f64 - exact).abs() <= *t as f64, "{:?} {:?}", count, weights);
        }
        // Deterministic.
        let again = Mh::init_service(&d[..], AF_INET).unwrap();
        prop_assert!((0..mh::TAB_SIZE).all(|i| again.slot(i) == s.slot(i)));
    }
}

#[test]
fn mh_removing_one_dest_moves_few_other_slots() {
    // Ten equal dests; removing any one reassigns its ~409 slots, and Maglev's fill moves
    // only a few of the others' (measured: at most 48 of 3684, 1.3%; bound 3%).
    let d = dests(&[1; 10]);
    let before = Mh::init_service(&d[..], AF_INET).unwrap();
    for gone in 0..10 {
        let mut after_list = d.clone();
        after_list.remove(gone);
        let after = Mh::init_service(&after_list[..], AF_INET).unwrap();
        let mut moved = 0;
        let mut kept = 0;
        for slot in 0..mh::TAB_SIZE {
            let was = d[before.slot(slot).unwrap()];
            let now = after_list[after.slot(slot).unwrap()];
            if was == d[gone] {
                assert_ne!(now, d[gone]);
            } else if was == now {
                kept += 1;
            } else {
                moved += 1;
            }
        }
        assert!(moved * 100 < (moved + kept) * 3, "dest {gone}: {moved} of {} surviving slots moved", moved + kept);
    }
}

#[test]
fn mh_quiesced_dest_keeps_its_slots_and_fallback_avoids_it() {
    // Quiesce dest 1: weight 0, last weight kept, as an edit to weight 0 leaves it.
    let mut d = dests(&[2, 2, 2]);
    let table = Mh::init_service(&d[..], AF_INET).unwrap();
    d[1].weight = 0;
    let mut s = Mh::init_service(&d[..], AF_INET).unwrap();
    assert!((0..mh::TAB_SIZE).all(|i| s.slot(i) == table.slot(i)), "the table depends on last weights only");
    let vip = addr16(&[10, 0, 0, 100]);
    let mut hit = 0;
    for i in 0..600u32 {
        let src = client(i * 31);
        let f = flow(src, 1, vip);
        let ihash = (mh::hashkey(AF_INET, &src, 0, &[2_654_435_761; 2], 0) % 4093) as usize;
        let home = s.slot(ihash).unwrap();
        let plain = s.schedule(&d[..], &f, &ctx());
        let fb = s.schedule(&d[..], &f, &with_flags(SVC_F_SCHED1));
        if home == 1 {
            hit += 1;
            assert_eq!(plain, None);
            let want = (0..4093u32)
                .map(|off| {
                    let h = mh::hashkey(AF_INET, &src, 0, &[2_654_435_761; 2], (off + ihash as u32) % 4093) % 4093;
                    s.slot(h as usize).unwrap()
                })
                .find(|&x| x != 1);
            assert_eq!(fb, want);
        } else {
            assert_eq!(plain, Some(home));
            assert_eq!(fb, plain);
        }
    }
    assert!(hit > 100);
    // mh-port: the source port joins the hash (TCP, UDP, SCTP only).
    let d = dests(&[1; 5]);
    let mut s = Mh::init_service(&d[..], AF_INET).unwrap();
    let src = client(77);
    let mut seen = std::collections::HashSet::new();
    for sport in 1000..1100u16 {
        let f = flow(src, sport, vip);
        assert_eq!(s.schedule(&d[..], &f, &ctx()), s.schedule(&d[..], &flow(src, 1, vip), &ctx()));
        seen.insert(s.schedule(&d[..], &f, &with_flags(SVC_F_SCHED2)).unwrap());
        let icmp = Flow { protocol: IPPROTO_ICMP, ..f };
        assert_eq!(s.schedule(&d[..], &icmp, &with_flags(SVC_F_SCHED2)), s.schedule(&d[..], &f, &ctx()));
    }
    assert_eq!(seen.len(), 5, "with mh-port the ports spread over every dest");
}
