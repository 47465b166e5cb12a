// SPDX-License-Identifier: GPL-2.0
//! Locality-based least-connection (`lblc`), as upstream's `ip_vs_lblc.c`: a cache from
//! destination address to dest. A cached dest that is still available, has a positive
//! weight and is not "overloaded" in lblc's sense (more active connections than its weight
//! while some dest has fewer than half its weight) is used again; otherwise wlc's choice is
//! made and cached in its place (or not, past the size limit or without memory: the choice
//! is used anyway). The cache and its expiry are in [`super::addrmap`].

use super::addrmap::AddrMap;
use super::storage::{Gfp, Storage};
use super::wlc::weighted_least;
use super::{DestRef, DestSet, DestView, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

/// One service's lblc state: destination address -> dest.
pub type LocalityLeastConn<A> = AddrMap<A, DestRef>;

/// lblc's and lblcr's `is_overloaded()`: busier than its weight while another dest (any,
/// quiesced ones never qualify) is under half of its own.
pub(super) fn overloaded<D: DestSet + ?Sized>(dest: &DestView, dests: &D) -> bool {
    dest.active_conns > dest.weight
        && (0..dests.len()).any(|i| dests.get(i).is_some_and(|d| d.active_conns.wrapping_mul(2) < d.weight))
}

impl<A: Storage> Scheduler for AddrMap<A, DestRef> {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        AddrMap::new()
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize> {
        self.collect(ctx.now, ctx.hz, ctx.lblc_expiration);
        let entry = self.find(flow.af, &flow.daddr);
        if let Some(e) = entry {
            self.touch(e, ctx.now);
            let cached = self.value_mut(e).and_then(|r| r.resolve_mut(dests));
            if let Some((i, d)) = cached {
                if d.available && d.weight > 0 && !overloaded(&d, dests) {
                    return Some(i);
                }
            }
        }
        let chosen = weighted_least(dests, DestView::conn_overhead)?;
        let view = dests.get(chosen)?;
        // ip_vs_lblc_new(): keep an entry that already names this dest, else replace it.
        if let Some(e) = entry {
            if self.value(e).is_some_and(|r| *r.id() == view.id()) {
                return Some(chosen);
            }
            // The stale entry `e` (found above) is dropped.
            let _ = self.remove(e);
        }
        // Past the size limit or without memory there is no entry (as upstream's
        // ip_vs_lblc_new()); the choice stands, so the error is not the caller's.
        let _ = self.insert(flow.af, &flow.daddr, ctx.now, DestRef::new(&view, chosen), Gfp::Atomic);
        Some(chosen)
    }
}
