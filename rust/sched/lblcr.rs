// SPDX-License-Identifier: GPL-2.0
//! Locality-based least-connection with replication (`lblcr`), as upstream's
//! `ip_vs_lblcr.c`: a cache from destination address to a set of dests.
//!
//! The set's least loaded dest (overhead / weight, among available, non-overloaded dests with
//! a positive weight first met) is used unless lblc's overload rule applies; then wlc picks
//! a dest from the whole service and it joins the set. A set of more than one dest that has
//! not changed for `lblcr_expiration` loses its most loaded member (one per period). The
//! cache and its expiry are in [`super::addrmap`].
//!
//! Upstream's set holds counted pointers, so its "most loaded" may be a dest already removed
//! from the service, whose weight and counters it still reads. We only see dests of the
//! list: a removed member counts as weight 0 there (never the one dropped) and, as upstream,
//! is never chosen.

use super::addrmap::{jiffies_add, time_before, AddrMap};
use super::lblc::overloaded;
use super::storage::{Gfp, Storage, StoreVec};
use super::wlc::weighted_least;
use super::{DestId, DestRef, DestSet, DestView, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

/// `struct ip_vs_dest_set`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplSet<A: Storage> {
    /// Oldest first: upstream adds at the head and walks from it, so we walk backwards.
    members: A::Vec<DestRef>,
    /// Last time a member was added or removed.
    lastmod: u64,
}

impl<A: Storage> ReplSet<A> {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    #[cfg(ipvs_host)]
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// The members' identities, newest first (upstream's list order).
    #[cfg(ipvs_host)]
    pub fn members(&self) -> impl Iterator<Item = &DestId> + '_ {
        self.members.iter().rev().map(|r| r.id())
    }

    /// `ip_vs_dest_set_insert()`; without memory the set stays as it is.
    fn insert(&mut self, dest: &DestView, idx: usize, check: bool, now: u64) {
        if check && self.members.iter().any(|r| *r.id() == dest.id()) {
            return;
        }
        if self.members.try_push(DestRef::new(dest, idx), Gfp::Atomic).is_ok() {
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_erase()`.
    fn erase(&mut self, id: &DestId, now: u64) {
        if let Some(pos) = self.members.iter().position(|r| r.id() == id) {
            // The member, found at `pos` just above, is dropped.
            let _ = self.members.remove(pos);
            self.lastmod = now;
        }
    }

    /// `ip_vs_dest_set_min()`: the weighted least loaded available member.
    fn min<D: DestSet + ?Sized>(&mut self, dests: &D) -> Option<(usize, DestView)> {
        let mut least: Option<(usize, DestView, i32)> = None;
        for r in self.members.iter_mut().rev() {
            // A member gone from the list is not available: skipped at either stage.
            let Some((i, d)) = r.resolve_mut(dests) else { continue };
            if d.overloaded() {
                continue;
            }
            match least {
                None if d.weight > 0 && d.available => least = Some((i, d, d.conn_overhead())),
                None => {}
                Some((_, l, loh)) => {
                    let doh = d.conn_overhead();
                    let lower = i64::from(loh) * i64::from(d.weight) > i64::from(doh) * i64::from(l.weight);
                    if lower && d.available {
                        least = Some((i, d, doh));
                    }
                }
            }
        }
        least.map(|(i, d, _)| (i, d))
    }

    /// `ip_vs_dest_set_max()`: the weighted most loaded member with a positive weight.
    fn max<D: DestSet + ?Sized>(&mut self, dests: &D) -> Option<DestId> {
        let mut most: Option<(DestView, i32)> = None;
        for r in self.members.iter_mut().rev() {
            let Some((_, d)) = r.resolve_mut(dests) else { continue };
            let doh = d.conn_overhead();
            match most {
                None if d.weight > 0 => most = Some((d, doh)),
                None => {}
                Some((m, moh)) => {
                    let higher = i64::from(moh) * i64::from(d.weight) < i64::from(doh) * i64::from(m.weight);
                    if higher && d.weight > 0 {
                        most = Some((d, doh));
                    }
                }
            }
        }
        most.map(|(d, _)| d.id())
    }
}

/// One service's lblcr state: destination address -> dest set.
pub type LocalityLeastConnRepl<A> = AddrMap<A, ReplSet<A>>;

impl<A: Storage> Scheduler for AddrMap<A, ReplSet<A>> {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        AddrMap::new()
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize> {
        let now = ctx.now;
        self.collect(now, ctx.hz, ctx.lblcr_expiration);
        if let Some(e) = self.find(flow.af, &flow.daddr) {
            self.touch(e, now);
            let set = self.value_mut(e)?;
            let min = set.min(dests);
            // More than one member and unchanged for the expiration: drop the busiest.
            if set.len() > 1 && time_before(jiffies_add(set.lastmod, ctx.lblcr_expiration), now) {
                if let Some(m) = set.max(dests) {
                    set.erase(&m, now);
                }
            }
            if let Some((i, d)) = min {
                if !overloaded(&d, dests) {
                    return Some(i);
                }
            }
            let chosen = weighted_least(dests, DestView::conn_overhead)?;
            let view = dests.get(chosen)?;
            set.insert(&view, chosen, true, now);
            return Some(chosen);
        }
        let chosen = weighted_least(dests, DestView::conn_overhead)?;
        let view = dests.get(chosen)?;
        // ip_vs_lblcr_new(): past the size limit or without memory there is no entry.
        let set = ReplSet { members: A::Vec::new(), lastmod: now };
        if let Ok(e) = self.insert(flow.af, &flow.daddr, now, set, Gfp::Atomic) {
            if let Some(set) = self.value_mut(e) {
                set.insert(&view, chosen, false, now);
            }
        }
        Some(chosen)
    }
}
