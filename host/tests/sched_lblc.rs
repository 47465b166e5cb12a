#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! lblc and lblcr: per-destination-address caches with upstream's reuse, replacement,
//! replication and expiry rules, and the cache table itself against a model.
mod common;
use common::{addr16, ctx};
use ipvs_core_host::ipvs_core::addr;
use ipvs_core_host::ipvs_core::uapi::{AF_INET, IPPROTO_TCP};
use ipvs_core_host::sched::addrmap::{AddrMap, HARD_LIMIT, MAX_SIZE};
use ipvs_core_host::sched::hash::hash_32;
use ipvs_core_host::sched::lblc::LocalityLeastConn;
use ipvs_core_host::sched::lblcr::LocalityLeastConnRepl;
use ipvs_core_host::sched::storage::Gfp;
use ipvs_core_host::sched::{DestId, DestView, Flow, SchedCtx, Scheduler, DEST_F_OVERLOAD};
use ipvs_core_host::storage::{without_memory, HostVecs};
use proptest::prelude::*;
use std::collections::HashMap;

type Lblc = LocalityLeastConn<HostVecs>;
type Lblcr = LocalityLeastConnRepl<HostVecs>;

const HZ: u32 = 100;
/// Jiffies start 5 minutes before wrapping, as the kernel's do.
const T0: u64 = 0u64.wrapping_sub(300 * HZ as u64);
const MIN: u64 = 60 * HZ as u64;

/// `T0 + delta` jiffies, wrapping.
fn t(delta: u64) -> u64 {
    T0.wrapping_add(delta)
}

fn dests(spec: &[(i32, i32, i32)]) -> Vec<DestView> {
    spec.iter()
        .enumerate()
        .map(|(i, &(w, a, n))| DestView {
            af: AF_INET,
            addr: addr16(&[192, 168, 1, i as u8 + 1]),
            port: 80u16.to_be_bytes(),
            weight: w,
            last_weight: w,
            active_conns: a,
            inact_conns: n,
            available: true,
            ..Default::default()
        })
        .collect()
}


fn daddr(i: u32) -> [u8; 16] {
    let b = (0x0a00_0000 | i).to_be_bytes();
    addr16(&b)
}

fn flow_to(i: u32) -> Flow {
    Flow { af: AF_INET, protocol: IPPROTO_TCP, saddr: addr16(&[1, 2, 3, 4]), daddr: daddr(i), ..Default::default() }
}

/// Time `now`; both expirations `expiry` jiffies.
fn at(now: u64, expiry: u64) -> SchedCtx<'static> {
    SchedCtx { now, hz: HZ, lblc_expiration: expiry as i32, lblcr_expiration: expiry as i32, ..ctx() }
}

const DAY: u64 = 24 * 60 * MIN;

// ---- lblc ----

#[test]
fn lblc_keeps_a_destination_address_on_its_dest() {
    let mut d = dests(&[(1, 0, 0), (1, 0, 0)]);
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    // wlc would now pick dest 1, and does for a new address, but address 1 stays on 0.
    d[0].inact_conns = 10;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    assert_eq!(s.schedule(&d[..], &flow_to(2), &at(T0, DAY)), Some(1));
    assert_eq!(s.len(), 2);
    // The overload flag is not looked at for a cached dest (upstream checks its own rule).
    d[0].flags = DEST_F_OVERLOAD;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    // The source address and ports do not matter.
    let other = Flow { saddr: addr16(&[9, 9, 9, 9]), sport: [1, 2], ..flow_to(1) };
    assert_eq!(s.schedule(&d[..], &other, &at(T0, DAY)), Some(0));
}

#[test]
fn lblc_replaces_an_unusable_cached_dest() {
    let mut d = dests(&[(1, 0, 0), (1, 0, 5)]);
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    // Quiesced: rescheduled, and the entry now names dest 1.
    d[0].weight = 0;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    d[0].weight = 1;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    assert_eq!(s.len(), 1);
    // Gone from the list: rescheduled among the others.
    let gone = d.remove(1);
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    // Back in the list (at another index): the entry was replaced meanwhile.
    d.insert(0, gone);
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    // Unlinked but still listed (the datapath's list before the next snapshot): not reused.
    d[1].available = false;
    d[1].inact_conns = 10;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
}

#[test]
fn lblc_reschedules_a_busy_dest_only_while_another_is_under_half_load() {
    // Dest 0: 3 active over weight 2. Dest 1: 1 active, weight 2 (not under half).
    let mut d = dests(&[(2, 0, 0), (2, 1, 0)]);
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    d[0].active_conns = 3;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    // Dest 1 drops to 0 active (0 * 2 < 2): dest 0 counts as overloaded, wlc picks 1.
    d[1].active_conns = 0;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    // Nothing usable: no dest, and the entry is left as it was.
    for x in &mut d {
        x.weight = 0;
    }
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), None);
    assert_eq!(s.len(), 1);
}

#[test]
fn lblc_drops_entries_unused_for_the_expiration_at_full_checks() {
    let d = dests(&[(1, 0, 0), (1, 0, 0)]);
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    let exp = 10 * MIN;
    s.schedule(&d[..], &flow_to(1), &at(T0, exp));
    s.schedule(&d[..], &flow_to(2), &at(t(28 * MIN), exp));
    // 29 ticks: no full check yet, the stale entry is still found.
    s.schedule(&d[..], &flow_to(2), &at(t(29 * MIN), exp));
    assert!(s.find(AF_INET, &daddr(1)).is_some());
    // The 30th tick is a full check: entry 1 (29 min unused) goes, entry 2 (1 min) stays.
    s.schedule(&d[..], &flow_to(2), &at(t(30 * MIN), exp));
    assert!(s.find(AF_INET, &daddr(1)).is_none());
    assert!(s.find(AF_INET, &daddr(2)).is_some());
    assert_eq!(s.len(), 1);
    // After a long idle time the catch-up (capped at 30 ticks) includes a full check.
    s.schedule(&d[..], &flow_to(3), &at(t(500 * MIN), exp));
    assert!(s.find(AF_INET, &daddr(2)).is_none());
    assert_eq!(s.len(), 1);
    // The default expiration (a day) keeps entries through full checks.
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    s.schedule(&d[..], &flow_to(1), &at(T0, DAY));
    s.schedule(&d[..], &flow_to(2), &at(t(120 * MIN), DAY));
    assert_eq!(s.len(), 2);
}

#[test]
fn lblc_size_limits_and_collection_of_idle_entries() {
    let d = dests(&[(1, 0, 0)]);
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    for i in 0..HARD_LIMIT as u32 {
        assert_eq!(s.schedule(&d[..], &flow_to(i), &at(T0, DAY)), Some(0));
    }
    assert_eq!(s.len(), HARD_LIMIT);
    // Full: the choice is still made, just not cached.
    assert_eq!(s.schedule(&d[..], &flow_to(1 << 20), &at(T0, DAY)), Some(0));
    assert_eq!(s.len(), HARD_LIMIT);
    assert!(s.find(AF_INET, &daddr(1 << 20)).is_none());
    // Over MAX_SIZE: a tick drops entries idle for 6 minutes, 4/3 of the excess (at most
    // MAX_SIZE / 2), finishing the chain it is in.
    s.schedule(&d[..], &flow_to(0), &at(t(5 * MIN), DAY));
    assert_eq!(s.len(), HARD_LIMIT, "nothing idle for 6 minutes yet");
    s.schedule(&d[..], &flow_to(0), &at(t(6 * MIN), DAY));
    let removed = HARD_LIMIT - s.len();
    assert!((MAX_SIZE / 2..MAX_SIZE / 2 + 64).contains(&removed), "removed {removed}");
    assert!(s.find(AF_INET, &daddr(0)).is_some(), "the entry just used stays");
}

#[test]
fn lblc_without_memory_still_schedules() {
    let d = dests(&[(1, 0, 3), (1, 0, 0)]);
    let mut s = Lblc::init_service(&d[..], AF_INET).unwrap();
    let got = without_memory(|| s.schedule(&d[..], &flow_to(1), &at(T0, DAY)));
    assert_eq!(got, Some(1));
    assert_eq!(s.len(), 0);
    assert!(without_memory(|| Lblc::init_service(&d[..], AF_INET)).is_err());
}

// ---- lblcr ----

fn members(s: &Lblcr, i: u32, d: &[DestView]) -> Vec<usize> {
    let e = s.find(AF_INET, &daddr(i)).expect("an entry");
    let ids: Vec<DestId> = s.value(e).unwrap().members().copied().collect();
    ids.iter().map(|id| d.iter().position(|v| v.id() == *id).expect("a listed dest")).collect()
}

#[test]
fn lblcr_grows_the_set_when_its_best_member_is_busy() {
    let mut d = dests(&[(2, 0, 0), (2, 0, 0), (2, 0, 0)]);
    let mut s = Lblcr::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    assert_eq!(members(&s, 1, &d), [0]);
    // Busy beyond its weight while dest 1 is under half: wlc picks 1, which joins the set
    // (first: upstream adds at the head).
    d[0].active_conns = 3;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    assert_eq!(members(&s, 1, &d), [1, 0]);
    // The set's least loaded member is used; a tie goes to the newest member.
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    d[0].active_conns = 0;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
    d[1].inact_conns = 1;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(0));
    assert_eq!(members(&s, 1, &d), [1, 0], "no duplicates");
    // Quiesced or gone members are not picked; wlc's choice joins.
    d[0].weight = 0;
    d[1].weight = 0;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(2));
    assert_eq!(members(&s, 1, &d), [2, 1, 0]);
    d[0].weight = 2;
    d[1].weight = 2;
    d.remove(2);
    d[1].inact_conns = 0;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(T0, DAY)), Some(1));
}

#[test]
fn lblcr_drops_its_busiest_member_after_an_unchanged_expiration() {
    let mut d = dests(&[(2, 0, 0), (2, 0, 0)]);
    let mut s = Lblcr::init_service(&d[..], AF_INET).unwrap();
    let exp = 10 * MIN;
    s.schedule(&d[..], &flow_to(1), &at(T0, exp));
    d[0].active_conns = 3;
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(t(MIN), exp)), Some(1));
    assert_eq!(members(&s, 1, &d), [1, 0]);
    // Not yet expired since the last change (T0 + 1 min).
    s.schedule(&d[..], &flow_to(1), &at(t(11 * MIN), exp));
    assert_eq!(members(&s, 1, &d), [1, 0]);
    // Expired: the busiest (dest 0: 771/2 against 0/2) goes. The choice was made before.
    assert_eq!(s.schedule(&d[..], &flow_to(1), &at(t(11 * MIN + 1), exp)), Some(1));
    assert_eq!(members(&s, 1, &d), [1]);
    // A single member is never dropped.
    s.schedule(&d[..], &flow_to(1), &at(t(29 * MIN), exp));
    assert_eq!(members(&s, 1, &d), [1]);
}

#[test]
fn lblcr_entries_expire_like_lblc() {
    let d = dests(&[(1, 0, 0)]);
    let mut s = Lblcr::init_service(&d[..], AF_INET).unwrap();
    let exp = 10 * MIN;
    s.schedule(&d[..], &flow_to(1), &at(T0, exp));
    s.schedule(&d[..], &flow_to(2), &at(t(29 * MIN), exp));
    assert_eq!(s.len(), 2);
    s.schedule(&d[..], &flow_to(2), &at(t(30 * MIN), exp));
    assert_eq!(s.len(), 1);
    assert!(s.find(AF_INET, &daddr(1)).is_none());
    // Room for the entry but no memory for its member: scheduled, and the entry stays
    // empty (as upstream's when the member's allocation fails) until the next choice.
    let got = without_memory(|| s.schedule(&d[..], &flow_to(3), &at(t(30 * MIN), exp)));
    assert_eq!(got, Some(0));
    assert_eq!(members(&s, 3, &d), [] as [usize; 0]);
    assert_eq!(s.schedule(&d[..], &flow_to(3), &at(t(30 * MIN), exp)), Some(0));
    assert_eq!(members(&s, 3, &d), [0]);
}

// ---- the table ----

const KEYS: u16 = 150;

#[derive(Clone, Debug)]
enum Op {
    Insert(u16, u32),
    Remove(u16),
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]
    #[test]
    fn addrmap_behaves_like_a_map(ops in prop::collection::vec(
        prop_oneof![
            (0u16..KEYS, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u16..KEYS).prop_map(Op::Remove),
        ],
        1..300,
    )) {
        // Keys on only 40 of the 1024 chains, about 4 per chain.
        let keys: Vec<[u8; 16]> = (0u32..)
            .map(daddr)
            .filter(|a| hash_32(addr::fold(AF_INET, a), 10) < 40)
            .take(usize::from(KEYS))
            .collect();
        let key = |k: u16| keys[usize::from(k)];
        let mut map: AddrMap<HostVecs, u32> = AddrMap::new().unwrap();
        let mut model: HashMap<u16, u32> = HashMap::new();
        for op in ops {
            match op {
                Op::Insert(k, v) => {
                    if let Some(i) = map.find(AF_INET, &key(k)) {
                        map.remove(i);
                    }
                    map.insert(AF_INET, &key(k), 0, v, Gfp::Atomic).unwrap();
                    model.insert(k, v);
                }
                Op::Remove(k) => {
                    let got = map.find(AF_INET, &key(k)).and_then(|i| map.remove(i));
                    prop_assert_eq!(got, model.remove(&k));
                }
            }
            prop_assert_eq!(map.len(), model.len());
        }
        for k in 0..KEYS {
            let got = map.find(AF_INET, &key(k)).and_then(|i| map.value(i).copied());
            prop_assert_eq!(got, model.get(&k).copied(), "key {}", k);
        }
    }
}
