// SPDX-License-Identifier: GPL-2.0
//! Weighted round-robin (`wrr`), step for step as upstream's `ip_vs_wrr.c`.
//!
//! `di` is the gcd of the positive weights and `mw` the maximum weight less `di - 1`. Passes
//! over the dest list pick dests whose weight is at least the current weight `cw`, which
//! starts at `mw` and drops by `di` after each pass, down to a last pass at 1. Any change of
//! the dest list recomputes `di` and `mw` and restarts from the list head.

use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightedRoundRobin {
    /// Current dest; `None` is the list head.
    cl: Option<usize>,
    /// Current weight.
    cw: i32,
    /// Maximum weight, less `di - 1`.
    mw: i32,
    /// Decreasing interval: the gcd of the positive weights.
    di: i32,
}

pub(super) fn gcd(mut a: i32, mut b: i32) -> i32 {
    while b != 0 {
        let r = a % b;
        a = b;
        b = r;
    }
    a
}

fn gcd_weight<D: DestSet + ?Sized>(dests: &D) -> i32 {
    let mut g = 0;
    for i in 0..dests.len() {
        let w = dests.get(i).map_or(0, |d| d.weight);
        if w > 0 {
            g = if g > 0 { gcd(w, g) } else { w };
        }
    }
    if g > 0 {
        g
    } else {
        1
    }
}

fn max_weight<D: DestSet + ?Sized>(dests: &D) -> i32 {
    (0..dests.len()).filter_map(|i| dests.get(i)).map(|d| d.weight).fold(0, i32::max)
}

impl WeightedRoundRobin {
    /// `(cl, cw, mw, di)`, for the host tests.
    #[cfg(ipvs_host)]
    pub fn mark(&self) -> (Option<usize>, i32, i32, i32) {
        (self.cl, self.cw, self.mw, self.di)
    }

    fn dest_changed<D: DestSet + ?Sized>(&mut self, dests: &D) {
        self.cl = None;
        self.di = gcd_weight(dests);
        self.mw = max_weight(dests) - (self.di - 1);
        if self.cw > self.mw || self.cw == 0 {
            self.cw = self.mw;
        } else if self.di > 1 {
            self.cw = (self.cw / self.di).saturating_mul(self.di).saturating_add(1);
        }
    }
}

impl Scheduler for WeightedRoundRobin {
    fn init_service<D: DestSet + ?Sized>(dests: &D, _af: u16) -> Result<Self> {
        let di = gcd_weight(dests);
        let mw = max_weight(dests) - (di - 1);
        Ok(WeightedRoundRobin { cl: None, cw: mw, mw, di })
    }

    fn add_dest<D: DestSet + ?Sized>(&mut self, dests: &D, _idx: usize) {
        self.dest_changed(dests);
    }

    fn del_dest<D: DestSet + ?Sized>(&mut self, dests: &D, _idx: usize) {
        self.dest_changed(dests);
    }

    fn upd_dest<D: DestSet + ?Sized>(&mut self, dests: &D, _idx: usize) {
        self.dest_changed(dests);
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        if self.mw == 0 {
            return None; // no available dests; the position stays
        }
        let n = dests.len();
        let last = self.cl;
        let mut cur = self.cl;
        let mut stop: Option<usize> = None;
        let mut last_pass = false;
        let mut restarted = false;
        loop {
            // Continue from after `cur` to the end of the list.
            let from = cur.map_or(0, |c| c.saturating_add(1));
            for i in from..n {
                let Some(d) = dests.get(i) else { break };
                if !d.overloaded() && d.weight >= self.cw {
                    self.cl = Some(i);
                    return Some(i);
                }
                if stop == Some(i) {
                    self.cl = Some(i);
                    return None; // all dests are overloaded
                }
            }
            cur = None; // back at the head
            self.cw = self.cw.saturating_sub(self.di.max(1));
            if self.cw <= 0 {
                self.cw = self.mw;
                // Stop if the last pass was done from the first dest: either we already did
                // a pass for weight >= 1, or we started at the head.
                if last_pass || last.is_none() {
                    self.cl = None;
                    return None;
                }
                restarted = true;
            }
            last_pass = self.cw <= self.di;
            if last_pass && restarted && last.is_some() {
                // The first traversal for weight >= 1 only covered dests after `last`: now
                // cover the ones up to it.
                stop = last;
            }
        }
    }
}
