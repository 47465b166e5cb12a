// SPDX-License-Identifier: GPL-2.0
//! What the datapath sees of services and dests: immutable snapshots published with RCU by
//! the control plane, whose dests, counters and scheduler state are shared between snapshots.

use crate::sched::{DestSet, DestView, Flow, SchedCtx, SchedState, DEST_F_OVERLOAD};
use crate::ipvs_core::sysctl;
use crate::sys::sched_storage::KernelStorage;
use crate::sys::sysctl::NetSysctls;
use crate::sys::rcu::{ReadGuard, RcuBox};
use crate::sys::sync::BhSpinLock;
use crate::ipvs_core::estimator::{self, COUNTERS};
use crate::ipvs_core::procfs::StatsView;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// One CPU's counters, on its own cache line.
#[repr(C, align(64))]
#[derive(Default)]
struct CpuCounters {
    c: [AtomicU64; COUNTERS],
}

const CONNS: usize = 0;
const INPKTS: usize = 1;
const OUTPKTS: usize = 2;
const INBYTES: usize = 3;
const OUTBYTES: usize = 4;

/// Packet and connection counters, per CPU, with their rate estimator. The datapath adds to
/// the current CPU's counters without locks; the estimator timer is the only writer of the
/// estimator fields.
pub(crate) struct Stats {
    cpus: KVec<CpuCounters>,
    est_last: [AtomicU64; COUNTERS],
    est_avg: [AtomicI64; COUNTERS],
    /// Set by zeroing: readers show zero rates and the next tick restarts from zero.
    est_reset: AtomicBool,
}

impl Stats {
    pub(crate) fn new() -> Result<Self> {
        let n = crate::sys::nr_cpu_ids().max(1);
        let mut cpus = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            cpus.push(CpuCounters::default(), GFP_KERNEL)?;
        }
        Ok(Stats {
            cpus,
            est_last: Default::default(),
            est_avg: Default::default(),
            est_reset: AtomicBool::new(false),
        })
    }

    fn add(&self, i: usize, v: u64) {
        let cpu = crate::sys::this_cpu();
        if let Some(c) = self.cpus.get(cpu).or_else(|| self.cpus.first()).and_then(|s| s.c.get(i)) {
            c.fetch_add(v, Ordering::Relaxed);
        }
    }

    pub(crate) fn count_in(&self, bytes: u32) {
        self.add(INPKTS, 1);
        self.add(INBYTES, u64::from(bytes));
    }

    pub(crate) fn count_out(&self, bytes: u32) {
        self.add(OUTPKTS, 1);
        self.add(OUTBYTES, u64::from(bytes));
    }

    pub(crate) fn count_conn(&self) {
        self.add(CONNS, 1);
    }

    fn sum(&self) -> [u64; COUNTERS] {
        let mut t = [0u64; COUNTERS];
        for cpu in self.cpus.iter() {
            for (acc, c) in t.iter_mut().zip(cpu.c.iter()) {
                *acc = acc.wrapping_add(c.load(Ordering::Relaxed));
            }
        }
        t
    }

    fn to_view(c: [u64; COUNTERS], rates: [u64; COUNTERS]) -> StatsView {
        let [conns, inpkts, outpkts, inbytes, outbytes] = c;
        let [cps, inpps, outpps, inbps, outbps] = rates;
        StatsView { conns, inpkts, outpkts, inbytes, outbytes, cps, inpps, outpps, inbps, outbps }
    }

    fn rates(&self) -> [u64; COUNTERS] {
        let mut r = [0u64; COUNTERS];
        if !self.est_reset.load(Ordering::Relaxed) {
            for (i, (out, avg)) in r.iter_mut().zip(self.est_avg.iter()).enumerate() {
                *out = estimator::rate(i, avg.load(Ordering::Relaxed));
            }
        }
        r
    }

    /// Totals over all CPUs, with the estimated rates.
    pub(crate) fn view(&self) -> StatsView {
        Self::to_view(self.sum(), self.rates())
    }

    /// Each CPU's counters (no rates), for /proc/net/ip_vs_stats_percpu.
    pub(crate) fn per_cpu(&self) -> impl Iterator<Item = StatsView> + '_ {
        self.cpus.iter().map(|cpu| {
            let mut c = [0u64; COUNTERS];
            for (dst, src) in c.iter_mut().zip(cpu.c.iter()) {
                *dst = src.load(Ordering::Relaxed);
            }
            Self::to_view(c, [0; COUNTERS])
        })
    }

    /// One estimator tick (every 2 s, from the estimator timer only).
    pub(crate) fn estimate(&self) {
        let now = self.sum();
        let reset = self.est_reset.swap(false, Ordering::Relaxed);
        for (i, ((last, avg), n)) in self.est_last.iter().zip(self.est_avg.iter()).zip(now).enumerate() {
            if reset {
                avg.store(0, Ordering::Relaxed);
            } else {
                let a = estimator::step(i, avg.load(Ordering::Relaxed), last.load(Ordering::Relaxed), n);
                avg.store(a, Ordering::Relaxed);
            }
            last.store(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn zero(&self) {
        for cpu in self.cpus.iter() {
            for c in cpu.c.iter() {
                c.store(0, Ordering::Relaxed);
            }
        }
        self.est_reset.store(true, Ordering::Relaxed);
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
    /// `IP_VS_SVC_F_*` (sh and mh read their SCHED1/SCHED2 flags).
    pub(crate) flags: u32,
    pub(crate) dests: KVec<Arc<DestRt>>,
    /// Scheduler state, shared by every snapshot of this service. Taken in softirq
    /// (scheduling) and process context (dest changes), hence BH-disabling.
    pub(crate) sched: Arc<BhSpinLock<SchedState<KernelStorage>>>,
    pub(crate) stats: Arc<Stats>,
}

impl ServiceRt {
    /// Picks a dest for a new connection (softirq), with the netns's sysctls.
    pub(crate) fn schedule(&self, flow: &Flow, sysctls: &NetSysctls) -> Option<Arc<DestRt>> {
        let ctx = SchedCtx {
            svc_flags: self.flags,
            now: crate::sys::jiffies(),
            hz: crate::sys::hz(),
            lblc_expiration: sysctls.get(sysctl::idx::LBLC_EXPIRATION),
            lblcr_expiration: sysctls.get(sysctl::idx::LBLCR_EXPIRATION),
            random: &crate::sys::random_u32,
        };
        let idx = self.sched.lock().schedule(&Dests(&self.dests), flow, &ctx)?;
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
