// SPDX-License-Identifier: GPL-2.0
//! What the datapath sees of services and dests: immutable snapshots published with RCU by
//! the control plane, whose dests, counters and scheduler state are shared between snapshots.

use crate::sched::{DestSet, DestView, Flow, SchedState, DEST_F_OVERLOAD};
use crate::sys::rcu::{ReadGuard, RcuBox};
use crate::sys::sync::BhSpinLock;
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Packet and connection counters. Updated by the datapath without locks.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) conns: AtomicU64,
    pub(crate) inpkts: AtomicU64,
    pub(crate) outpkts: AtomicU64,
    pub(crate) inbytes: AtomicU64,
    pub(crate) outbytes: AtomicU64,
}

impl Stats {
    pub(crate) fn count_in(&self, bytes: u32) {
        self.inpkts.fetch_add(1, Ordering::Relaxed);
        self.inbytes.fetch_add(u64::from(bytes), Ordering::Relaxed);
    }

    pub(crate) fn count_out(&self, bytes: u32) {
        self.outpkts.fetch_add(1, Ordering::Relaxed);
        self.outbytes.fetch_add(u64::from(bytes), Ordering::Relaxed);
    }

    pub(crate) fn count_conn(&self) {
        self.conns.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn view(&self) -> crate::ipvs_core::procfs::StatsView {
        crate::ipvs_core::procfs::StatsView {
            conns: self.conns.load(Ordering::Relaxed),
            inpkts: self.inpkts.load(Ordering::Relaxed),
            outpkts: self.outpkts.load(Ordering::Relaxed),
            inbytes: self.inbytes.load(Ordering::Relaxed),
            outbytes: self.outbytes.load(Ordering::Relaxed),
            ..Default::default()
        }
    }

    pub(crate) fn zero(&self) {
        for c in [&self.conns, &self.inpkts, &self.outpkts, &self.inbytes, &self.outbytes] {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// A real server. Its identity is fixed; its settings change in place (the control plane
/// holds the netns mutex while it writes them).
pub(crate) struct DestRt {
    pub(crate) af: u16,
    pub(crate) addr: [u8; 16],
    /// Network byte order.
    pub(crate) port: [u8; 2],
    pub(crate) fwd: AtomicU32,
    pub(crate) weight: AtomicI32,
    pub(crate) last_weight: AtomicI32,
    pub(crate) u_threshold: AtomicU32,
    pub(crate) l_threshold: AtomicU32,
    pub(crate) flags: AtomicU32,
    pub(crate) tun_type: AtomicU32,
    pub(crate) tun_port: AtomicU32,
    pub(crate) tun_flags: AtomicU32,
    pub(crate) active: AtomicI32,
    pub(crate) inactive: AtomicI32,
    pub(crate) persist: AtomicI32,
    /// Cleared when the dest is removed from its service (kept alive by its connections).
    pub(crate) available: AtomicU32,
    pub(crate) stats: Stats,
}

impl DestRt {
    pub(crate) fn view(&self) -> DestView {
        DestView {
            af: self.af,
            addr: self.addr,
            port: self.port,
            weight: self.weight.load(Ordering::Relaxed),
            last_weight: self.last_weight.load(Ordering::Relaxed),
            active_conns: self.active.load(Ordering::Relaxed),
            inact_conns: self.inactive.load(Ordering::Relaxed),
            persist_conns: self.persist.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
            available: self.available.load(Ordering::Relaxed) != 0,
        }
    }

    /// Applies the upper/lower connection thresholds (`ip_vs_dest_totalconns` rules).
    pub(crate) fn update_overload(&self) {
        let u = self.u_threshold.load(Ordering::Relaxed);
        if u == 0 {
            self.flags.fetch_and(!DEST_F_OVERLOAD, Ordering::Relaxed);
            return;
        }
        let total = (self.active.load(Ordering::Relaxed) + self.inactive.load(Ordering::Relaxed)) as u32;
        let l = self.l_threshold.load(Ordering::Relaxed);
        if total >= u {
            self.flags.fetch_or(DEST_F_OVERLOAD, Ordering::Relaxed);
        } else if (l == 0 && total * 4 < u * 3) || (l != 0 && total < l) {
            self.flags.fetch_and(!DEST_F_OVERLOAD, Ordering::Relaxed);
        }
    }
}

/// The dests of one service in list order, as the scheduler sees them.
pub(crate) struct Dests<'a>(pub(crate) &'a [Arc<DestRt>]);

impl DestSet for Dests<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, idx: usize) -> Option<DestView> {
        self.0.get(idx).map(|d| d.view())
    }
}

/// A virtual service as published to the datapath.
pub(crate) struct ServiceRt {
    pub(crate) af: u16,
    pub(crate) protocol: u16,
    pub(crate) addr: [u8; 16],
    /// Network byte order; zero matches any port.
    pub(crate) port: [u8; 2],
    pub(crate) fwmark: u32,
    pub(crate) dests: KVec<Arc<DestRt>>,
    /// Scheduler state, shared by every snapshot of this service. Taken in softirq
    /// (scheduling) and process context (dest changes), hence BH-disabling.
    pub(crate) sched: Arc<BhSpinLock<SchedState>>,
    pub(crate) stats: Arc<Stats>,
}

impl ServiceRt {
    /// Picks a dest for a new connection.
    pub(crate) fn schedule(&self, flow: &Flow) -> Option<Arc<DestRt>> {
        let idx = self.sched.lock().schedule(&Dests(&self.dests), flow)?;
        self.dests.get(idx).cloned()
    }
}

/// All services of a netns at one moment.
#[derive(Default)]
pub(crate) struct Snapshot {
    pub(crate) services: KVec<Arc<ServiceRt>>,
}

impl Snapshot {
    /// The service for a packet to `addr:port`, preferring an exact port over port 0.
    pub(crate) fn find(&self, af: u16, protocol: u16, addr: &[u8; 16], port: [u8; 2]) -> Option<&Arc<ServiceRt>> {
        let mut wildcard = None;
        for s in self.services.iter() {
            if s.fwmark != 0 || s.af != af || s.protocol != protocol || &s.addr != addr {
                continue;
            }
            if s.port == port {
                return Some(s);
            }
            if s.port == [0, 0] {
                wildcard = Some(s);
            }
        }
        wildcard
    }
}

/// The published snapshot of a netns.
pub(crate) struct Published {
    current: RcuBox<Snapshot>,
}

impl Published {
    pub(crate) fn new() -> Result<Self> {
        Ok(Published { current: RcuBox::new(KBox::new(Snapshot::default(), GFP_KERNEL)?) })
    }

    pub(crate) fn read<'g>(&self, guard: &'g ReadGuard) -> &'g Snapshot {
        self.current.read(guard)
    }

    /// Replaces the snapshot (process context, under the netns control mutex).
    pub(crate) fn publish(&self, snapshot: KBox<Snapshot>) {
        self.current.replace(snapshot);
    }
}
