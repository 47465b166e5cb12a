// SPDX-License-Identifier: GPL-2.0
//! Weighted least-connection (`wlc`), as upstream's `ip_vs_wlc.c`: the dest with the smallest
//! overhead / weight, compared as `loh * dw > doh * lw` in 64 bits.
//!
//! The scan starts at the first dest (list order) that is not overloaded and has a positive
//! weight; after it, only overloaded dests are skipped (a weight-0 dest can never compare
//! lower with non-negative overheads), and only a strictly lower load replaces the current
//! choice, so the earlier (newer) dest wins ties. sed, lblc and lblcr use the same scan with
//! their own overhead.

use super::{DestSet, DestView, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

/// Upstream's two-stage weighted-least scan over `dests` with `overhead`.
pub(super) fn weighted_least<D: DestSet + ?Sized>(dests: &D, overhead: impl Fn(&DestView) -> i32) -> Option<usize> {
    let n = dests.len();
    let first = (0..n).find(|&i| dests.get(i).is_some_and(|d| !d.overloaded() && d.weight > 0))?;
    let mut least = first;
    let mut lw = dests.get(first).map_or(0, |d| d.weight);
    let mut loh = dests.get(first).map_or(0, |d| overhead(&d));
    for i in first + 1..n {
        let Some(d) = dests.get(i) else { break };
        if d.overloaded() {
            continue;
        }
        let doh = overhead(&d);
        if i64::from(loh) * i64::from(d.weight) > i64::from(doh) * i64::from(lw) {
            least = i;
            loh = doh;
            lw = d.weight;
        }
    }
    Some(least)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightedLeastConn;

impl Scheduler for WeightedLeastConn {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(WeightedLeastConn)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        weighted_least(dests, DestView::conn_overhead)
    }
}
