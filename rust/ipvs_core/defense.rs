// SPDX-License-Identifier: GPL-2.0
//! The DoS defense of IPVS (upstream's `update_defense_level`, `ip_vs_todrop` and the entry
//! rules of `ip_vs_random_dropentry`), as pure functions of the sysctl values and the memory
//! the kernel reports.
//!
//! `drop_entry`, `drop_packet` and `secure_tcp` each take 0 (never), 1 and 2 (automatic: on
//! while available memory is below `amemthresh`, and the kernel rewrites the value to 2 while
//! on and back to 1 while off, so reading it back tells the state) or 3 (always).
//! Available memory is free plus buffer pages (`si_meminfo`'s `freeram + bufferram`), compared
//! with `amemthresh` in pages.

use crate::ipvs_core::proto_tcp::TcpState;

/// The defense sysctls as last written (or rewritten).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Settings {
    pub amemthresh: i32,
    pub am_droprate: i32,
    pub drop_entry: i32,
    pub drop_packet: i32,
    pub secure_tcp: i32,
}

/// What one evaluation decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// The sysctl values to store back (a mode 1 or 2 follows the memory state).
    pub drop_entry: i32,
    pub drop_packet: i32,
    pub secure_tcp: i32,
    /// Whether the random entry drop runs (`ipvs->dropentry`); `None` leaves it as it was
    /// (only for a value outside 0..=3, which the sysctl refuses).
    pub drop_entries: Option<bool>,
    /// The new-connection drop rate (`ipvs->drop_rate`, 0: never); `None`: unchanged.
    pub drop_rate: Option<i32>,
    /// A new value for the drop countdown (`ipvs->drop_counter`), set with an automatic rate.
    pub drop_counter: Option<i32>,
    /// The secure TCP state table on or off, when this evaluation switches it.
    pub secure_switch: Option<bool>,
    /// `secure_tcp` as this evaluation leaves it, remembered for the next one
    /// (`ipvs->old_secure_tcp`).
    pub old_secure_tcp: i32,
}

/// `update_defense_level()`: the new state from the settings, the available memory in pages,
/// and `old_secure_tcp` from the previous evaluation (0 initially).
pub fn evaluate(s: &Settings, avail_pages: u64, old_secure_tcp: i32) -> Level {
    // Upstream keeps both figures in an int.
    let avail = i32::try_from(avail_pages).unwrap_or(i32::MAX);
    let thresh = s.amemthresh.max(0);
    let nomem = avail < thresh;
    // Positive: nomem means thresh - avail > 0; at most thresh.
    let auto_rate = if nomem { thresh / (thresh - avail) } else { 0 };

    let (drop_entry, drop_entries) = match s.drop_entry {
        0 => (0, Some(false)),
        1 | 2 => (if nomem { 2 } else { 1 }, Some(nomem)),
        3 => (3, Some(true)),
        other => (other, None),
    };

    let (drop_packet, drop_rate, drop_counter) = match s.drop_packet {
        0 => (0, Some(0), None),
        1 | 2 if nomem => (2, Some(auto_rate), Some(auto_rate)),
        1 | 2 => (1, Some(0), None),
        3 => (3, Some(s.am_droprate), None),
        other => (other, None, None),
    };

    let secure_tcp = match s.secure_tcp {
        1 | 2 => {
            if nomem {
                2
            } else {
                1
            }
        }
        other => other,
    };
    let was_on = old_secure_tcp >= 2;
    let secure_switch = match s.secure_tcp {
        0 if was_on => Some(false),
        1 | 2 if nomem && !was_on => Some(true),
        1 | 2 if !nomem && was_on => Some(false),
        3 if !was_on => Some(true),
        _ => None,
    };

    Level { drop_entry, drop_packet, secure_tcp, drop_entries, drop_rate, drop_counter, secure_switch, old_secure_tcp: secure_tcp }
}

/// `ip_vs_todrop()`: one step of the countdown that drops one new connection in `rate`.
/// Returns the new counter and whether this connection is dropped.
pub fn todrop(rate: i32, counter: i32) -> (i32, bool) {
    if rate == 0 {
        return (counter, false);
    }
    let next = counter.wrapping_sub(1);
    if next > 0 {
        (next, false)
    } else {
        (rate, true)
    }
}

/// What the random entry drop needs to know about one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A persistence template: of a one-packet service, and assured by a reply or an
    /// established connection.
    Template { one_packet: bool, assured: bool },
    /// A TCP connection in this state.
    Tcp(TcpState),
    /// Any other connection (UDP).
    Other,
}

/// An entry as the random drop sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryFacts {
    pub kind: EntryKind,
    /// Someone else holds the entry: a template with connections it controls (upstream's
    /// `n_control`), or a packet in flight. Never dropped.
    pub held: bool,
    /// Jiffies since the entry's timer was last re-armed (by a packet): its timeout minus the
    /// time left.
    pub idle: i64,
    /// Packets received from the client (`in_pkts`), saturating.
    pub in_pkts: u32,
}

/// Least idle time, in seconds, of an established or UDP entry before the random drop
/// considers it (so normal connections have time to get through).
pub const DROP_MIN_IDLE_SECS: i64 = 60;

/// The per-packet-count countdowns of `todrop_entry()`: of the entries with `n` (1..=8)
/// incoming packets one in `n` is dropped; with 0 or more than 8, none.
#[derive(Clone, Debug, Default)]
pub struct EntryDropper {
    counters: [i8; 9],
}

impl EntryDropper {
    pub const fn new() -> Self {
        EntryDropper { counters: [0; 9] }
    }

    /// `todrop_entry()`.
    fn todrop_entry(&mut self, e: &EntryFacts, hz: u32) -> bool {
        if e.idle < DROP_MIN_IDLE_SECS.saturating_mul(i64::from(hz)) {
            return false;
        }
        let Ok(i) = usize::try_from(e.in_pkts) else { return false };
        // The rate of count n is n: count 0 is never dropped, counts above 8 neither.
        let Some(c) = self.counters.get_mut(i) else { return false };
        if i == 0 {
            return false;
        }
        *c = c.saturating_sub(1);
        if *c > 0 {
            return false;
        }
        *c = i as i8;
        true
    }

    /// The rule of `ip_vs_random_dropentry()` for one entry: whether to drop it now.
    /// Half-open TCP connections (SYN_RECV, SYNACK) and templates no connection proved go at
    /// once; established TCP, UDP and one-packet templates only when idle and with few packets.
    pub fn should_drop(&mut self, e: &EntryFacts, hz: u32) -> bool {
        if e.held {
            return false;
        }
        match e.kind {
            EntryKind::Template { one_packet: true, .. } => self.todrop_entry(e, hz),
            EntryKind::Template { assured, .. } => !assured,
            EntryKind::Tcp(TcpState::SynRecv | TcpState::SynAck) => true,
            EntryKind::Tcp(TcpState::Established) => self.todrop_entry(e, hz),
            EntryKind::Tcp(_) => false,
            EntryKind::Other => self.todrop_entry(e, hz),
        }
    }
}

/// Upstream scans `table size >> DROP_SCAN_SHIFT` random buckets a second (1/32 of the table).
pub const DROP_SCAN_SHIFT: u32 = 5;
