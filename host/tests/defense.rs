#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The DoS defense against upstream's `update_defense_level`, `ip_vs_todrop` and
//! `ip_vs_random_dropentry`/`todrop_entry` (ip_vs_ctl.c, ip_vs.h, ip_vs_conn.c in 6.12).
use ipvs_core_host::ipvs_core::defense::{evaluate, todrop, EntryDropper, EntryFacts, EntryKind, Level, Settings};
use ipvs_core_host::ipvs_core::proto_tcp::TcpState;
use proptest::prelude::*;

const HZ: u32 = 250;

fn settings(drop_entry: i32, drop_packet: i32, secure_tcp: i32) -> Settings {
    Settings { amemthresh: 1024, am_droprate: 10, drop_entry, drop_packet, secure_tcp }
}

/// Memory above the threshold and below it.
const PLENTY: u64 = 1 << 20;
const SHORT: u64 = 1000;

#[test]
fn drop_entry_modes() {
    // (mode, memory) -> (value read back, dropping entries)
    let cases = [
        (0, PLENTY, 0, false),
        (0, SHORT, 0, false),
        (1, PLENTY, 1, false),
        (1, SHORT, 2, true),
        (2, PLENTY, 1, false),
        (2, SHORT, 2, true),
        (3, PLENTY, 3, true),
        (3, SHORT, 3, true),
    ];
    for (mode, mem, back, on) in cases {
        let l = evaluate(&settings(mode, 0, 0), mem, 0);
        assert_eq!((l.drop_entry, l.drop_entries), (back, Some(on)), "drop_entry={mode} mem={mem}");
    }
}

#[test]
fn drop_packet_modes_and_rate() {
    // Plenty of memory: automatic modes read back 1, no dropping; the countdown is untouched.
    for mode in [1, 2] {
        let l = evaluate(&settings(0, mode, 0), PLENTY, 0);
        assert_eq!((l.drop_packet, l.drop_rate, l.drop_counter), (1, Some(0), None));
    }
    // Short: rate = amemthresh / (amemthresh - available), and the countdown restarts at it.
    for mode in [1, 2] {
        let l = evaluate(&settings(0, mode, 0), SHORT, 0);
        assert_eq!((l.drop_packet, l.drop_rate, l.drop_counter), (2, Some(1024 / 24), Some(1024 / 24)));
    }
    let l = evaluate(&Settings { amemthresh: 1000, ..settings(0, 1, 0) }, 500, 0);
    assert_eq!(l.drop_rate, Some(2));
    let l = evaluate(&Settings { amemthresh: i32::MAX, ..settings(0, 1, 0) }, 100_000, 0);
    assert_eq!(l.drop_rate, Some(1), "a huge threshold drops every new connection");
    // Always: am_droprate, countdown untouched.
    let l = evaluate(&Settings { am_droprate: 7, ..settings(0, 3, 0) }, PLENTY, 0);
    assert_eq!((l.drop_packet, l.drop_rate, l.drop_counter), (3, Some(7), None));
    let l = evaluate(&settings(0, 0, 0), SHORT, 0);
    assert_eq!((l.drop_packet, l.drop_rate), (0, Some(0)));
}

#[test]
fn negative_threshold_is_zero() {
    let l = evaluate(&Settings { amemthresh: -5, ..settings(1, 1, 1) }, 0, 0);
    assert_eq!((l.drop_entry, l.drop_packet, l.secure_tcp), (1, 1, 1));
}

#[test]
fn available_memory_beyond_int_is_plenty() {
    let l = evaluate(&Settings { amemthresh: i32::MAX, ..settings(1, 0, 0) }, u64::MAX, 0);
    assert_eq!(l.drop_entry, 1);
}

#[test]
fn secure_tcp_switches() {
    // 1 under pressure: reads back 2 and switches the table on; then memory returns.
    let l = evaluate(&settings(0, 0, 1), SHORT, 0);
    assert_eq!((l.secure_tcp, l.secure_switch, l.old_secure_tcp), (2, Some(true), 2));
    let l2 = evaluate(&settings(0, 0, l.secure_tcp), SHORT, l.old_secure_tcp);
    assert_eq!((l2.secure_tcp, l2.secure_switch), (2, None), "stays on without switching again");
    let l3 = evaluate(&settings(0, 0, l2.secure_tcp), PLENTY, l2.old_secure_tcp);
    assert_eq!((l3.secure_tcp, l3.secure_switch), (1, Some(false)));
    // 1 or 2 with plenty of memory and the table off: nothing to switch.
    assert_eq!(evaluate(&settings(0, 0, 1), PLENTY, 0).secure_switch, None);
    assert_eq!(evaluate(&settings(0, 0, 2), PLENTY, 1).secure_switch, None);
    // 3: always on, whatever the memory; 0 after it: off.
    let l = evaluate(&settings(0, 0, 3), PLENTY, 0);
    assert_eq!((l.secure_tcp, l.secure_switch), (3, Some(true)));
    let l = evaluate(&settings(0, 0, 0), PLENTY, 3);
    assert_eq!((l.secure_tcp, l.secure_switch), (0, Some(false)));
    // 0 after an automatic mode that was off: nothing.
    assert_eq!(evaluate(&settings(0, 0, 0), SHORT, 1).secure_switch, None);
}

#[test]
fn todrop_countdown() {
    // From a fresh counter (0) the first connection is dropped, then one in `rate`.
    let mut c = 0;
    let mut seen = Vec::new();
    for _ in 0..9 {
        let (n, d) = todrop(4, c);
        c = n;
        seen.push(d);
    }
    assert_eq!(seen, [true, false, false, false, true, false, false, false, true]);
    // Rate 1 drops all; rate 0 none, and leaves the counter.
    assert_eq!(todrop(1, 1), (1, true));
    assert_eq!(todrop(1, 0), (1, true));
    assert_eq!(todrop(0, 5), (5, false));
}

fn facts(kind: EntryKind, idle_secs: i64, in_pkts: u32) -> EntryFacts {
    EntryFacts { kind, held: false, idle: idle_secs * i64::from(HZ), in_pkts }
}

#[test]
fn half_open_entries_go_at_once() {
    let mut d = EntryDropper::new();
    for st in [TcpState::SynRecv, TcpState::SynAck] {
        assert!(d.should_drop(&facts(EntryKind::Tcp(st), 0, 1), HZ), "{st:?}");
        assert!(!d.should_drop(&EntryFacts { held: true, ..facts(EntryKind::Tcp(st), 0, 1) }, HZ), "held {st:?}");
    }
    for st in [TcpState::None, TcpState::SynSent, TcpState::FinWait, TcpState::TimeWait, TcpState::Close,
        TcpState::CloseWait, TcpState::LastAck, TcpState::Listen]
    {
        assert!(!d.should_drop(&facts(EntryKind::Tcp(st), 1000, 1), HZ), "{st:?}");
    }
}

#[test]
fn templates() {
    let mut d = EntryDropper::new();
    let t = |assured, one_packet| EntryKind::Template { one_packet, assured };
    assert!(d.should_drop(&facts(t(false, false), 0, 0), HZ), "unassured template");
    assert!(!d.should_drop(&facts(t(true, false), 1000, 1), HZ), "assured template");
    assert!(!d.should_drop(&EntryFacts { held: true, ..facts(t(false, false), 0, 0) }, HZ), "controls connections");
    // One-packet templates follow the idle/packet-count rule, assured or not.
    assert!(!d.should_drop(&facts(t(true, true), 59, 1), HZ));
    assert!(d.should_drop(&facts(t(true, true), 60, 1), HZ));
}

#[test]
fn established_and_udp_need_idle_and_few_packets() {
    for kind in [EntryKind::Tcp(TcpState::Established), EntryKind::Other] {
        let mut d = EntryDropper::new();
        assert!(!d.should_drop(&facts(kind, 59, 1), HZ), "{kind:?}: less than 60 s idle");
        assert!(d.should_drop(&facts(kind, 60, 1), HZ), "{kind:?}: one packet, idle");
        assert!(d.should_drop(&facts(kind, 60, 1), HZ), "{kind:?}: rate 1 drops every one");
        assert!(!d.should_drop(&facts(kind, 600, 0), HZ), "{kind:?}: no packet: never");
        assert!(!d.should_drop(&facts(kind, 600, 9), HZ), "{kind:?}: more than 8: never");
        // Count n: the first of every n.
        let pattern: Vec<bool> = (0..6).map(|_| d.should_drop(&facts(kind, 600, 3), HZ)).collect();
        assert_eq!(pattern, [true, false, false, true, false, false], "{kind:?}");
        // Counts have separate countdowns.
        let pattern: Vec<bool> = (0..4).map(|_| d.should_drop(&facts(kind, 600, 2), HZ)).collect();
        assert_eq!(pattern, [true, false, true, false], "{kind:?}");
    }
}

fn mode() -> impl Strategy<Value = i32> {
    0..=3i32
}

proptest! {
    /// Over any sequence of writes and memory readings, the value read back tells the state:
    /// the secure table is on exactly when `secure_tcp` reads 2 or 3, entries are dropped
    /// exactly when `drop_entry` reads 2 or 3, and new connections exactly when `drop_packet`
    /// reads 2 (at the automatic rate) or 3 (at am_droprate, if non-zero).
    #[test]
    fn read_back_tells_the_state(
        steps in proptest::collection::vec(
            (proptest::option::of((mode(), mode(), mode())), 0..4096u64, -10..5000i32, 0..20i32),
            1..40,
        )
    ) {
        let mut s = Settings { amemthresh: 1024, am_droprate: 10, drop_entry: 0, drop_packet: 0, secure_tcp: 0 };
        let mut old_secure = 0;
        let mut table_on = false;
        for (write, avail, thresh, droprate) in steps {
            if let Some((e, p, t)) = write {
                s.drop_entry = e;
                s.drop_packet = p;
                s.secure_tcp = t;
            }
            s.amemthresh = thresh;
            s.am_droprate = droprate;
            let l: Level = evaluate(&s, avail, old_secure);
            let nomem = (avail as i64) < i64::from(thresh.max(0));
            if let Some(on) = l.secure_switch {
                prop_assert_ne!(on, table_on, "a switch changes the table");
                table_on = on;
            }
            prop_assert_eq!(table_on, l.secure_tcp >= 2);
            prop_assert_eq!(l.drop_entries, Some(l.drop_entry >= 2));
            let auto = [1, 2].contains(&s.drop_entry);
            prop_assert_eq!(l.drop_entry, if auto { if nomem { 2 } else { 1 } } else { s.drop_entry });
            match l.drop_packet {
                2 => {
                    let rate = l.drop_rate.unwrap();
                    prop_assert!(rate >= 1 && rate <= thresh);
                    prop_assert_eq!(rate, thresh / (thresh - avail as i32));
                    prop_assert_eq!(l.drop_counter, Some(rate));
                }
                3 => prop_assert_eq!(l.drop_rate, Some(droprate)),
                _ => prop_assert_eq!(l.drop_rate, Some(0)),
            }
            // Evaluating again with the same inputs changes nothing more.
            let again = evaluate(&Settings { drop_entry: l.drop_entry, drop_packet: l.drop_packet, secure_tcp: l.secure_tcp, ..s }, avail, l.old_secure_tcp);
            prop_assert_eq!((again.drop_entry, again.drop_packet, again.secure_tcp, again.secure_switch), (l.drop_entry, l.drop_packet, l.secure_tcp, None));
            s.drop_entry = l.drop_entry;
            s.drop_packet = l.drop_packet;
            s.secure_tcp = l.secure_tcp;
            old_secure = l.old_secure_tcp;
        }
    }

    /// `ip_vs_todrop` drops exactly one connection in `rate`, wherever the countdown starts.
    #[test]
    fn todrop_drops_one_in_rate(rate in 1..50i32, start in -5..50i32, rounds in 1..20usize) {
        let mut c = start;
        // Run to the first drop, which restarts the countdown at `rate`.
        let mut guard = 0;
        loop {
            let (n, d) = todrop(rate, c);
            c = n;
            guard += 1;
            prop_assert!(guard <= 60);
            if d { break; }
        }
        let drops = (0..rate as usize * rounds).filter(|_| { let (n, d) = todrop(rate, c); c = n; d }).count();
        prop_assert_eq!(drops, rounds);
    }
}
