// SPDX-License-Identifier: GPL-2.0
//! Packet and connection counters of a dest, a service or a whole netns: per CPU, summed
//! when read, with the rate estimator that `netns`'s work advances every 2 s.

use crate::ipvs_core::estimator::{self, COUNTERS};
use crate::ipvs_core::estimator::StatsView;
use crate::sys::percpu::PerCpuCounters;
use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use kernel::prelude::*;

const CONNS: usize = 0;
const INPKTS: usize = 1;
const OUTPKTS: usize = 2;
const INBYTES: usize = 3;
const OUTBYTES: usize = 4;

/// Packet and connection counters, per CPU, with their rate estimator. The datapath adds to
/// the current CPU's counters without locks or locked instructions; the estimator work is
/// the only writer of the estimator fields. Zeroing does not write the per-CPU counters (a
/// remote store could be lost under a concurrent add): it records the current totals as the
/// new zero, as upstream's `kstats0`.
pub(crate) struct Stats {
    cpus: PerCpuCounters<COUNTERS>,
    /// The totals at the last zeroing, subtracted from what is shown.
    zero: [AtomicU64; COUNTERS],
    est_last: [AtomicU64; COUNTERS],
    est_avg: [AtomicI64; COUNTERS],
    /// Set by zeroing: readers show zero rates and the next tick restarts from zero.
    est_reset: AtomicBool,
}

impl Stats {
    pub(crate) fn new() -> Result<Self> {
        Ok(Stats {
            cpus: PerCpuCounters::new()?,
            zero: Default::default(),
            est_last: Default::default(),
            est_avg: Default::default(),
            est_reset: AtomicBool::new(false),
        })
    }

    #[inline]
    fn add(&self, i: usize, v: u64) {
        self.cpus.add(i, v);
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

    /// The totals since the last zeroing.
    fn sum(&self) -> [u64; COUNTERS] {
        let mut t = self.cpus.sum();
        for (v, z) in t.iter_mut().zip(self.zero.iter()) {
            *v = v.wrapping_sub(z.load(Ordering::Relaxed));
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

    /// Each CPU's counters (no rates), for /proc/net/ip_vs_stats_percpu: as they are, not
    /// zeroed (upstream's per-CPU rows are not either).
    pub(crate) fn per_cpu(&self) -> impl Iterator<Item = StatsView> + '_ {
        self.cpus.per_cpu().map(|(_, c)| Self::to_view(c, [0; COUNTERS]))
    }

    /// One estimator tick (every 2 s, from the estimator work only).
    pub(crate) fn estimate(&self) {
        let now = self.sum();
        // The locked exchange only when a zeroing asked for the reset (a few in 100k).
        let reset = self.est_reset.load(Ordering::Relaxed) && self.est_reset.swap(false, Ordering::Relaxed);
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
        for (z, v) in self.zero.iter().zip(self.cpus.sum()) {
            z.store(v, Ordering::Relaxed);
        }
        self.est_reset.store(true, Ordering::Relaxed);
    }
}
