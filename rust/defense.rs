// SPDX-License-Identifier: GPL-2.0
//! The DoS defense of one netns: the once-a-second re-evaluation from available memory
//! (`update_defense_level`), the random drop of half-open entries (`ip_vs_random_dropentry`),
//! the new-connection drop rate (`ip_vs_todrop`) and the secure TCP state table switch. The
//! decisions are the pure core's (`ipvs_core::defense`); this file applies them.

use crate::conn::ConnTable;
use crate::ipvs_core::defense::{self, EntryDropper, EntryFacts, Settings, DROP_SCAN_SHIFT};
use crate::ipvs_core::sysctl::idx;
use crate::sys::sysctl::{ModeListener, Values};
use core::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

/// What only the evaluations touch.
struct Inner {
    /// `secure_tcp` as the last evaluation left it.
    old_secure_tcp: i32,
    /// The countdowns of the random drop.
    dropper: EntryDropper,
}

/// The defense state of a netns. The evaluation runs in process context only (the defense
/// work item and writes of the mode sysctls), serialised by `inner`; the datapath reads the
/// atomics.
#[pin_data]
pub(crate) struct Defense {
    /// Taken in process context only (the defense work, sysctl writes); never from softirq.
    #[pin]
    inner: Mutex<Inner>,
    /// The random drop runs at the next tick (`ipvs->dropentry`).
    drop_entries: AtomicBool,
    /// One new connection in `drop_rate` is dropped (0: none).
    drop_rate: AtomicI32,
    drop_counter: AtomicI32,
    /// The secure TCP state table is in use.
    secure_tcp: AtomicBool,
}

impl Defense {
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(Defense {
            inner <- new_mutex!(Inner { old_secure_tcp: 0, dropper: EntryDropper::new() }),
            drop_entries: AtomicBool::new(false),
            drop_rate: AtomicI32::new(0),
            drop_counter: AtomicI32::new(0),
            secure_tcp: AtomicBool::new(false),
        })
    }

    /// Re-evaluates from the sysctls and the memory now, storing back the rewritten modes.
    fn evaluate(&self, inner: &mut Inner, v: Values<'_>) {
        let s = Settings {
            amemthresh: v.get(idx::AMEMTHRESH),
            am_droprate: v.get(idx::AM_DROPRATE),
            drop_entry: v.get(idx::DROP_ENTRY),
            drop_packet: v.get(idx::DROP_PACKET),
            secure_tcp: v.get(idx::SECURE_TCP),
        };
        let l = defense::evaluate(&s, crate::sys::defense_avail_pages(), inner.old_secure_tcp);
        for (i, old, new) in [
            (idx::DROP_ENTRY, s.drop_entry, l.drop_entry),
            (idx::DROP_PACKET, s.drop_packet, l.drop_packet),
            (idx::SECURE_TCP, s.secure_tcp, l.secure_tcp),
        ] {
            if old != new {
                v.set(i, new);
            }
        }
        if let Some(on) = l.drop_entries {
            self.drop_entries.store(on, Ordering::Relaxed);
        }
        if let Some(c) = l.drop_counter {
            self.drop_counter.store(c, Ordering::Relaxed);
        }
        if let Some(r) = l.drop_rate {
            self.drop_rate.store(r, Ordering::Relaxed);
        }
        if let Some(on) = l.secure_switch {
            self.secure_tcp.store(on, Ordering::Relaxed);
        }
        inner.old_secure_tcp = l.old_secure_tcp;
    }

    /// Every second (`defense_work_handler`): re-evaluate, then drop entries if that is on.
    pub(crate) fn tick(&self, v: Values<'_>, conns: &ConnTable) {
        let mut inner = self.inner.lock();
        self.evaluate(&mut inner, v);
        if !self.drop_entries.load(Ordering::Relaxed) {
            return;
        }
        let hz = crate::sys::hz();
        let dropper = &mut inner.dropper;
        conns.expire_sampled(DROP_SCAN_SHIFT, |c, s| {
            let facts = EntryFacts { kind: c.defense_kind(), held: s.held, idle: s.idle, in_pkts: c.in_pkts() };
            dropper.should_drop(&facts, hz)
        });
    }

    /// `ip_vs_todrop()`, for a packet about to be scheduled: whether to drop it instead.
    pub(crate) fn todrop(&self) -> bool {
        let rate = self.drop_rate.load(Ordering::Relaxed);
        if rate == 0 {
            return false;
        }
        let mut drop = false;
        // The closure always returns Some, so the update cannot fail.
        let _ = self.drop_counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |c| {
            let (next, d) = defense::todrop(rate, c);
            drop = d;
            Some(next)
        });
        drop
    }

    /// Whether TCP connections move by the secure state table.
    pub(crate) fn secure_tcp(&self) -> bool {
        self.secure_tcp.load(Ordering::Relaxed)
    }
}

impl ModeListener for Defense {
    /// A write that changes `drop_entry`, `drop_packet` or `secure_tcp` takes effect at once
    /// (upstream's `proc_do_defense_mode`), under the same lock as the periodic evaluation so
    /// neither loses the other's value.
    fn mode_written(&self, values: Values<'_>, i: usize, val: i32) {
        let mut inner = self.inner.lock();
        values.set(i, val);
        self.evaluate(&mut inner, values);
    }
}
