#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Schedulers: choice sequences worked out by hand from upstream's ip_vs_rr.c / ip_vs_wrr.c
//! (list order = index order, the newest dest first), hooks, and the name registry.
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::sched::rr::RoundRobin;
use ipvs_core_host::sched::wrr::WeightedRoundRobin;
mod common;
use common::{ctx, SchedState};
use ipvs_core_host::ipvs_core::uapi::AF_INET;
use ipvs_core_host::sched::{DestView, Flow, SchedKind, Scheduler, DEST_F_OVERLOAD};
use proptest::prelude::*;

fn dests(weights: &[i32]) -> Vec<DestView> {
    weights
        .iter()
        .enumerate()
        .map(|(i, &w)| DestView { weight: w, port: [0, i as u8], available: true, ..Default::default() })
        .collect()
}

fn run<S: Scheduler>(s: &mut S, d: &[DestView], n: usize) -> Vec<Option<usize>> {
    (0..n).map(|_| s.schedule(d, &Flow::default(), &ctx())).collect()
}

fn some(v: &[usize]) -> Vec<Option<usize>> {
    v.iter().map(|&i| Some(i)).collect()
}

#[test]
fn registry_knows_the_14_upstream_names() {
    let names: Vec<&str> = SchedKind::ALL.iter().map(|k| k.name()).collect();
    assert_eq!(
        names,
        ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"]
    );
    for k in SchedKind::ALL {
        assert_eq!(SchedKind::from_name(k.name().as_bytes()), Some(k));
    }
    for k in SchedKind::ALL {
        assert_eq!(SchedKind::lookup(k.name().as_bytes()), Ok(k));
        let state = SchedState::bind(k, &dests(&[1])[..], AF_INET).unwrap();
        assert_eq!(state.kind(), Some(k));
    }
    for name in [&b""[..], b"RR", b"rr ", b"none", b"roundrobin", b"mh\0"] {
        assert_eq!(SchedKind::lookup(name), Err(Errno::ENOENT));
    }
    assert_eq!(SchedState::default().kind(), None);
    let mut unbound = SchedState::Unbound;
    assert_eq!(unbound.schedule(&dests(&[1])[..], &Flow::default(), &ctx()), None);
}

#[test]
fn rr_cycles_and_skips_quiesced_and_overloaded() {
    let d = dests(&[1, 1, 1]);
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 7), some(&[0, 1, 2, 0, 1, 2, 0]));
    // Weights are ignored beyond "positive".
    let d = dests(&[1, 5, 3]);
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 4), some(&[0, 1, 2, 0]));
    let d = dests(&[1, 0, 1]);
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 4), some(&[0, 2, 0, 2]));
    let mut d = dests(&[1, 1, 1]);
    d[2].flags = DEST_F_OVERLOAD;
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 4), some(&[0, 1, 0, 1]));
    let d = dests(&[0, 5]);
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 3), some(&[1, 1, 1]));
}

#[test]
fn rr_without_available_dest_keeps_its_position() {
    let mut d = dests(&[1, 1, 1]);
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 2), some(&[0, 1]));
    for x in &mut d {
        x.weight = 0;
    }
    assert_eq!(run(&mut s, &d, 2), vec![None, None]);
    assert_eq!(s.position(), Some(1));
    d[1].weight = 1;
    // Second pass reaches the last chosen dest itself.
    assert_eq!(run(&mut s, &d, 2), some(&[1, 1]));
    let empty: Vec<DestView> = vec![];
    assert_eq!(RoundRobin::init_service(&empty[..], AF_INET).unwrap().schedule(&empty[..], &Flow::default(), &ctx()), None);
}

#[test]
fn rr_position_follows_its_dest_like_upstreams_pointer() {
    // A B C, served A then B: the position is on B.
    let mut d = dests(&[1, 1, 1]);
    let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 2), some(&[0, 1]));
    // A new dest N goes first: N A B C. The position stays on B, so C is next, then N.
    d.insert(0, DestView { weight: 1, port: [9, 9], ..Default::default() });
    s.add_dest(&d[..], 0);
    assert_eq!(s.position(), Some(2));
    assert_eq!(run(&mut s, &d, 2), some(&[3, 0]));
    // On N (index 0): deleting N moves to the head, so A (now index 0) is next.
    d.remove(0);
    s.del_dest(&d[..], 0);
    assert_eq!(s.position(), None);
    assert_eq!(run(&mut s, &d, 2), some(&[0, 1]));
    // On B (index 1): deleting B moves back to A, so C is next.
    d.remove(1);
    s.del_dest(&d[..], 1);
    assert_eq!(s.position(), Some(0));
    assert_eq!(run(&mut s, &d, 1), some(&[1]));
    // On C (index 1): deleting A (index 0) keeps it on C.
    d.remove(0);
    s.del_dest(&d[..], 0);
    assert_eq!(s.position(), Some(0));
    // Editing a dest changes nothing for rr.
    s.upd_dest(&d[..], 0);
    assert_eq!(s.position(), Some(0));
}

#[test]
fn wrr_sequences() {
    // 3, 2, 1 (newest first): cw steps 3, 2, 1.
    let d = dests(&[3, 2, 1]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.mark(), (None, 3, 3, 1));
    assert_eq!(run(&mut s, &d, 12), some(&[0, 0, 1, 0, 1, 2, 0, 0, 1, 0, 1, 2]));
    // 1, 2, 3: the heaviest last in the list.
    let d = dests(&[1, 2, 3]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 12), some(&[2, 1, 2, 0, 1, 2, 2, 1, 2, 0, 1, 2]));
    // gcd 2: mw = 4 - (2 - 1) = 3, passes at 3 and 1.
    let d = dests(&[4, 2]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.mark(), (None, 3, 3, 2));
    assert_eq!(run(&mut s, &d, 6), some(&[0, 0, 1, 0, 0, 1]));
    // A quiesced dest is never chosen; gcd 5 gives mw = 1.
    let d = dests(&[0, 5]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.mark(), (None, 1, 1, 5));
    assert_eq!(run(&mut s, &d, 3), some(&[1, 1, 1]));
    // 5, 1, 1.
    let d = dests(&[5, 1, 1]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 14), some(&[0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 0, 1, 2]));
    // Equal weights: plain round-robin.
    let d = dests(&[2, 2, 2]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.mark(), (None, 1, 1, 2));
    assert_eq!(run(&mut s, &d, 6), some(&[0, 1, 2, 0, 1, 2]));
}

#[test]
fn wrr_nothing_available() {
    let d = dests(&[0, 0]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(s.mark(), (None, 0, 0, 1));
    assert_eq!(run(&mut s, &d, 2), vec![None, None]);
    let empty: Vec<DestView> = vec![];
    let mut s = WeightedRoundRobin::init_service(&empty[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &empty, 1), vec![None]);
    // All overloaded, starting from the head: one pass at each weight, then none.
    let mut d = dests(&[2, 1]);
    for x in &mut d {
        x.flags = DEST_F_OVERLOAD;
    }
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 1), vec![None]);
    assert_eq!(s.mark(), (None, 2, 2, 1));
}

#[test]
fn wrr_overload_stops_at_the_last_dest() {
    // 2, 1, 1: after serving index 0 at cw=2, everything becomes overloaded but index 0.
    let mut d = dests(&[2, 1, 1]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 1), some(&[0]));
    d[1].flags = DEST_F_OVERLOAD;
    d[2].flags = DEST_F_OVERLOAD;
    // From index 0 at cw=2: 1, 2 fail; cw=1 (last pass): 0 is fine.
    assert_eq!(run(&mut s, &d, 1), some(&[0]));
    d[0].flags = DEST_F_OVERLOAD;
    // From 0, cw=1: 1, 2 fail; cw wraps to 2, restarted; last pass at 1 from the head stops at 0.
    assert_eq!(run(&mut s, &d, 1), vec![None]);
    assert_eq!(s.mark(), (Some(0), 1, 2, 1));
}

#[test]
fn wrr_dest_changes_recompute_and_restart() {
    let mut d = dests(&[3, 2, 1]);
    let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
    assert_eq!(run(&mut s, &d, 3), some(&[0, 0, 1]));
    assert_eq!(s.mark(), (Some(1), 2, 3, 1));
    // cw (2) <= new mw (3) and di == 1: cw kept, position back to the head.
    d.insert(0, DestView { weight: 3, ..Default::default() });
    s.add_dest(&d[..], 0);
    assert_eq!(s.mark(), (None, 2, 3, 1));
    // Weights 6, 4 (gcd 2, mw 5) from cw 2: cw = (2 / 2) * 2 + 1 = 3.
    let d2 = dests(&[6, 4]);
    s.upd_dest(&d2[..], 0);
    assert_eq!(s.mark(), (None, 3, 5, 2));
    // cw above the new mw: reset to mw.
    let d3 = dests(&[1]);
    s.del_dest(&d3[..], 1);
    assert_eq!(s.mark(), (None, 1, 1, 1));
    // cw 0 (a service bound with no dests): reset to mw, here 4 - (4 - 1).
    let empty: Vec<DestView> = vec![];
    let mut s = WeightedRoundRobin::init_service(&empty[..], AF_INET).unwrap();
    assert_eq!(s.mark(), (None, 0, 0, 1));
    let d = dests(&[4]);
    s.add_dest(&d[..], 0);
    assert_eq!(s.mark(), (None, 1, 1, 4));
    assert_eq!(run(&mut s, &d, 2), some(&[0, 0]));
}

/// Reference: over one full cycle of `mw/di` passes from the head, upstream's wrr picks each
/// dest `weight / di` times.
fn cycle_counts(weights: &[i32]) -> Vec<usize> {
    let g = weights.iter().copied().filter(|&w| w > 0).fold(0, |a, b| if a == 0 { b } else { gcd(a, b) });
    weights.iter().map(|&w| if w > 0 { (w / g) as usize } else { 0 }).collect()
}

fn gcd(a: i32, b: i32) -> i32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

proptest! {
    #[test]
    fn wrr_shares_follow_weights(weights in prop::collection::vec(0i32..7, 1..6)) {
        let d = dests(&weights);
        let mut s = WeightedRoundRobin::init_service(&d[..], AF_INET).unwrap();
        let want = cycle_counts(&weights);
        let cycle: usize = want.iter().sum();
        if cycle == 0 {
            prop_assert_eq!(s.schedule(&d[..], &Flow::default(), &ctx()), None);
        } else {
            for _round in 0..3 {
                let mut got = vec![0usize; weights.len()];
                for _ in 0..cycle {
                    got[s.schedule(&d[..], &Flow::default(), &ctx()).unwrap()] += 1;
                }
                prop_assert_eq!(&got, &want);
            }
        }
    }

    #[test]
    fn rr_is_fair_among_available(weights in prop::collection::vec(0i32..3, 1..6), over in prop::collection::vec(any::<bool>(), 6)) {
        let mut d = dests(&weights);
        for (x, o) in d.iter_mut().zip(&over) {
            if *o { x.flags = DEST_F_OVERLOAD; }
        }
        let avail: Vec<usize> = (0..d.len()).filter(|&i| d[i].weight > 0 && !d[i].overloaded()).collect();
        let mut s = RoundRobin::init_service(&d[..], AF_INET).unwrap();
        let got = run(&mut s, &d, avail.len() * 2);
        let want: Vec<Option<usize>> = avail.iter().chain(avail.iter()).map(|&i| Some(i)).collect();
        prop_assert_eq!(got, want);
    }
}
