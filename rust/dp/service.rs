// SPDX-License-Identifier: GPL-2.0
//! What the datapath sees of services and dests: immutable snapshots published with RCU by
//! the control plane, whose dests, counters and scheduler state are shared between snapshots.

use crate::ipvs_core::sched::{DestSet, DestView, Flow, SchedCtx, SchedState, DEST_F_OVERLOAD};
use crate::ipvs_core::sysctl;
use crate::sys::sched_storage::KernelStorage;
use crate::sys::sysctl::NetSysctls;
use crate::sys::rcu::{ReadGuard, RcuBox};
use crate::sys::route_cache::RouteCache;
use crate::sys::sync::BhSpinLock;
use crate::ipvs_core::estimator::{self, COUNTERS};
use crate::ipvs_core::estimator::StatsView;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicI64, AtomicU32, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// One CPU's counters, on its own cache line.
#[repr(C, align(64))]
/// One CPU's counters, on their own cache line so that CPUs do not contend for it.
#[derive(Default)]
#[repr(align(64))]
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
    /// The lower threshold in effect (75% of the upper one when unset).
    pub(crate) l_threshold_val: AtomicU32,
    pub(crate) flags: AtomicU32,
    pub(crate) tun_type: AtomicU32,
    pub(crate) tun_port: AtomicU32,
    pub(crate) tun_flags: AtomicU32,
    pub(crate) active: AtomicI32,
    /// Connections bound to this dest, active or not (templates excluded).
    pub(crate) total: AtomicI32,
    pub(crate) persist: AtomicI32,
    /// Cleared when the dest is removed from its service (kept alive by its connections).
    pub(crate) available: AtomicU32,
    pub(crate) stats: Stats,
    /// The route to it, reused between packets.
    pub(crate) route: RouteCache,
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
            inact_conns: self.inact_conns(),
            persist_conns: self.persist.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
            available: self.available.load(Ordering::Relaxed) != 0,
        }
    }

    /// InActConn: the bound connections that are not active.
    pub(crate) fn inact_conns(&self) -> i32 {
        (self.total.load(Ordering::Relaxed) - self.active.load(Ordering::Relaxed)).max(0)
    }

    /// `__ip_vs_dest_update_overload()` for `mode` (+1 after a connection was bound at the
    /// upper threshold, -1 after one left at the lower, 0 after the thresholds changed).
    /// The flag is swapped in with a compare-and-swap that re-reads the counters, so
    /// concurrent updates cannot leave a stale decision behind (upstream takes `dst_lock`).
    fn update_overload(&self, mode: i32) {
        let mut flags = self.flags.load(Ordering::Acquire);
        loop {
            let overloaded = crate::ipvs_core::dest::overloaded(
                flags & DEST_F_OVERLOAD != 0,
                self.total.load(Ordering::Relaxed),
                self.u_threshold.load(Ordering::Relaxed),
                self.l_threshold_val.load(Ordering::Relaxed),
                mode,
            );
            let new = if overloaded { flags | DEST_F_OVERLOAD } else { flags & !DEST_F_OVERLOAD };
            match self.flags.compare_exchange_weak(flags, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => flags = now,
            }
        }
    }

    /// New thresholds (control plane); the flag is re-evaluated only if they changed.
    pub(crate) fn set_thresholds(&self, upper: u32, lower: u32) {
        if self.u_threshold.load(Ordering::Relaxed) == upper && self.l_threshold.load(Ordering::Relaxed) == lower {
            return;
        }
        self.u_threshold.store(upper, Ordering::Relaxed);
        self.l_threshold.store(lower, Ordering::Relaxed);
        self.l_threshold_val.store(crate::ipvs_core::dest::effective_l_threshold(upper, lower), Ordering::Relaxed);
        self.update_overload(0);
    }

    /// A connection (`template` false) or a persistence template was bound to this dest.
    pub(crate) fn bind_conn(&self, template: bool) {
        if template {
            self.persist.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // New connections start inactive; the protocol moves them to ActiveConn.
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        if total as u32 == self.u_threshold.load(Ordering::Relaxed) {
            self.update_overload(1);
        }
    }

    /// The reverse of [`Self::bind_conn`], when the connection expires.
    pub(crate) fn unbind_conn(&self, template: bool, active: bool) {
        if template {
            self.persist.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        if active {
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
        let before = self.total.fetch_sub(1, Ordering::Relaxed);
        if before as u32 == self.l_threshold_val.load(Ordering::Relaxed) {
            self.update_overload(-1);
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
    /// `IP_VS_SVC_F_*`.
    pub(crate) flags: u32,
    /// Persistence timeout in jiffies.
    pub(crate) timeout: u32,
    /// Persistence granularity: an IPv4 netmask in network order.
    pub(crate) netmask: [u8; 4],
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

/// Buckets of each published service table (upstream's `IP_VS_SVC_TAB_SIZE`).
pub(crate) const SVC_BUCKETS: usize = 256;

/// The bucket of a service on `addr:port` (any family; IPv4 addresses use the first word).
pub(crate) fn addr_bucket(protocol: u16, addr: &[u8; 16], port: [u8; 2]) -> usize {
    let a = u32::from_be_bytes([addr[0], addr[1], addr[2], addr[3]]);
    let x = a ^ (u32::from(u16::from_be_bytes(port)) << 16) ^ u32::from(protocol);
    (x.wrapping_mul(0x9e37_79b1) >> 24) as usize
}

/// The bucket of a firewall-mark service.
pub(crate) fn mark_bucket(mark: u32) -> usize {
    (mark.wrapping_mul(0x9e37_79b1) >> 24) as usize
}

/// The services of one bucket at one moment.
#[derive(Default)]
pub(crate) struct Bucket {
    pub(crate) services: KVec<Arc<ServiceRt>>,
}

/// The services of a netns as the datapath sees them: two hash tables (by address and port,
/// and by firewall mark) whose buckets are published with RCU one by one, so a change to one
/// service copies only its bucket.
pub(crate) struct Published {
    by_addr: KVec<RcuBox<Bucket>>,
    by_mark: KVec<RcuBox<Bucket>>,
}

/// Which published table a service is in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    Addr,
    Mark,
}

impl Published {
    pub(crate) fn new() -> Result<Self> {
        let mut by_addr = KVec::with_capacity(SVC_BUCKETS, GFP_KERNEL)?;
        let mut by_mark = KVec::with_capacity(SVC_BUCKETS, GFP_KERNEL)?;
        for _ in 0..SVC_BUCKETS {
            by_addr.push(RcuBox::new(Bucket::default())?, GFP_KERNEL)?;
            by_mark.push(RcuBox::new(Bucket::default())?, GFP_KERNEL)?;
        }
        Ok(Published { by_addr, by_mark })
    }

    fn bucket<'g>(&self, table: Table, i: usize, guard: &'g ReadGuard) -> &'g [Arc<ServiceRt>] {
        let t = if table == Table::Addr { &self.by_addr } else { &self.by_mark };
        t.get(i).map_or(&[], |b| &b.read(guard).services[..])
    }

    /// `ip_vs_service_find()`: a firewall-mark service for a marked packet first, then the
    /// service on `addr:port`, then a port-zero service on `addr`.
    pub(crate) fn find<'g>(
        &self,
        guard: &'g ReadGuard,
        af: u16,
        protocol: u16,
        addr: &[u8; 16],
        port: [u8; 2],
        mark: u32,
    ) -> Option<&'g Arc<ServiceRt>> {
        if mark != 0 {
            let found = self.bucket(Table::Mark, mark_bucket(mark), guard).iter().find(|s| s.fwmark == mark && s.af == af);
            if found.is_some() {
                return found;
            }
        }
        let on = |p: [u8; 2]| {
            self.bucket(Table::Addr, addr_bucket(protocol, addr, p), guard)
                .iter()
                .find(|s| s.fwmark == 0 && s.af == af && s.protocol == protocol && &s.addr == addr && s.port == p)
        };
        on(port).or_else(|| if port != [0, 0] { on([0, 0]) } else { None })
    }

    /// Every published service (for the estimator).
    pub(crate) fn for_each(&self, guard: &ReadGuard, mut f: impl FnMut(&ServiceRt)) {
        for b in Iterator::chain(self.by_addr.iter(), self.by_mark.iter()) {
            for s in b.read(guard).services.iter() {
                f(s);
            }
        }
    }

    /// Replaces one bucket (process context, under the netns control mutex).
    pub(crate) fn publish(&self, table: Table, i: usize, services: KVec<Arc<ServiceRt>>) -> Result {
        let t = if table == Table::Addr { &self.by_addr } else { &self.by_mark };
        match t.get(i) {
            Some(b) => b.replace(Bucket { services }),
            None => Err(EINVAL),
        }
    }
}
