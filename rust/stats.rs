// SPDX-License-Identifier: GPL-2.0
//! Packet and connection counters of a dest, a service or a whole netns: per CPU, summed
//! when read, with the rate estimator that `netns`'s timer advances every 2 s.

use crate::ipvs_core::estimator::{self, COUNTERS};
use crate::ipvs_core::estimator::StatsView;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use kernel::prelude::*;

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
