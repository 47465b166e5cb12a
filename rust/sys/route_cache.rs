// SPDX-License-Identifier: GPL-2.0
//! A real server's route, cached between packets like upstream's `ip_vs_dest_dst`: the
//! datapath looks it up again only when the kernel reports the cached one stale
//! (`dst_check`: routes, addresses or devices changed) or the kind of lookup changed. Without
//! it, every packet paid a FIB lookup, and direct routing (the real server as known next hop,
//! which the kernel never caches) a route allocation and its RCU free.
//!
//! Readers borrow the cached route for their RCU read-side section, without locks and without
//! taking a reference (the entry holds one until a grace period after it is replaced). A miss
//! looks the route up and swaps in a new entry; the replaced entry (and its route reference)
//! is freed after a grace period. Two CPUs missing at once both store, and one entry wins.

use super::bindings;
use super::rcu::{RcuLink, ReadGuard};
use super::skb::{Route, RouteKind};
use super::NetRef;
use kernel::prelude::*;
use kernel::types::Opaque;

#[repr(C)]
struct Cached {
    rcu: Opaque<bindings::callback_head>,
    /// One reference, dropped when the entry is freed.
    dst: *mut bindings::dst_entry,
    saddr: [u8; 16],
    daddr: [u8; 16],
    af: u16,
    kind: RouteKind,
    local: bool,
    /// What `dst_check` compares an IPv6 route with (its FIB node's serial number when it
    /// was looked up, upstream's `dst_cookie`); 0 for IPv4.
    cookie: u32,
}

/// The cached route of one real server (none until its first packet).
pub(crate) struct RouteCache {
    cached: RcuLink<Cached>,
}

// SAFETY: an entry is immutable once published and freed only after a grace period (or by the
// cache's drop, when nobody can use the cache); the route reference it owns is refcounted.
unsafe impl Send for RouteCache {}
// SAFETY: as above; the pointer is only swapped atomically.
unsafe impl Sync for RouteCache {}

impl RouteCache {
    pub(crate) const fn new() -> Self {
        RouteCache { cached: RcuLink::null() }
    }

    /// The route to `daddr` of family `af` (the dest's, which for a tunnel may differ from
    /// the packet's) for `kind`: the cached one while it is valid, borrowed for `rcu`, else
    /// a fresh (counted) lookup, which is cached in its place.
    pub(crate) fn route<'rcu>(
        &self,
        rcu: &'rcu ReadGuard,
        net: NetRef<'_>,
        af: u16,
        daddr: &[u8; 16],
        kind: RouteKind,
    ) -> Option<Route<'rcu>> {
        if let Some(c) = self.cached.get(rcu) {
            // SAFETY: an entry holds its route until it is freed, a grace period after it was
            // replaced, so the route is live for `rcu`; `dst_check` tells a stale one.
            unsafe {
                if c.daddr == *daddr && c.af == af && c.kind == kind && bindings::ipvs_rs_dst_valid(c.dst, c.cookie) {
                    return Some(Route::borrowed(c.dst, c.af, c.saddr, c.local, rcu));
                }
            }
        }
        let route = Route::output(net, af, daddr, kind)?;
        self.store(&route, daddr, kind);
        Some(route)
    }

    /// The MTU of the cached route, if any, without checking that the route is still valid
    /// (upstream's `dst_mtu(dest_dst->dst_cache)` in its relay of tunnel errors).
    pub(crate) fn cached_mtu(&self) -> Option<u32> {
        let rcu = ReadGuard::new();
        let c = self.cached.get(&rcu)?;
        // SAFETY: the entry holds a reference on its route until it is freed, a grace period
        // after it was replaced (see `route`), so `rt` is live under `rcu`.
        Some(unsafe { bindings::ipvs_rs_dst_mtu(c.dst) })
    }

    /// Forgets the cached route (the dest was edited, as upstream's `__ip_vs_dst_cache_reset`).
    pub(crate) fn reset(&self) {
        // SAFETY: null is always allowed; the old entry goes through a grace period.
        let old = unsafe { self.cached.swap(core::ptr::null_mut()) };
        retire(old);
    }

    fn store(&self, route: &Route<'_>, daddr: &[u8; 16], kind: RouteKind) {
        // SAFETY: `route` holds a reference, so the route is live.
        let cookie = unsafe { bindings::ipvs_rs_dst_cookie(route.raw()) };
        let entry = Cached {
            rcu: Opaque::uninit(),
            dst: route.raw(),
            saddr: route.saddr,
            daddr: *daddr,
            af: route.af(),
            kind,
            local: route.is_local(),
            cookie,
        };
        // Without memory the route is simply not cached.
        let Ok(entry) = KBox::new(entry, GFP_ATOMIC) else { return };
        // SAFETY: `route` holds a reference, so the route is live; the entry takes its own.
        unsafe { bindings::ipvs_rs_dst_hold(route.raw()) };
        // SAFETY: the entry is freed only by `retire` (after a grace period) or by the cache's
        // drop (when no reader is left).
        let old = unsafe { self.cached.swap(KBox::into_raw(entry)) };
        retire(old);
    }
}

/// Frees an entry just swapped out of its cache (null: none) after a grace period.
fn retire(old: *mut Cached) {
    if !old.is_null() {
        // SAFETY: `old` came from `KBox::into_raw` in `store` and new readers cannot reach it
        // any more; readers that still can finish within the grace period.
        unsafe { bindings::call_rcu((*old).rcu.get(), Some(free_cached)) };
    }
}

impl Drop for RouteCache {
    fn drop(&mut self) {
        let p = self.cached.get_mut();
        if !p.is_null() {
            // SAFETY: the cache's owner is being dropped, so no reader can use the cache (they
            // hold the owner while they do): the entry can go at once.
            unsafe { free_entry(p) };
        }
    }
}

/// Frees an entry and its route reference.
///
/// # Safety
///
/// `p` must come from `KBox::into_raw` in `RouteCache::store` and be unreachable by readers.
unsafe fn free_entry(p: *mut Cached) {
    // SAFETY: per the contract we own the entry and its route reference.
    unsafe {
        let entry = KBox::from_raw(p);
        bindings::dst_release(entry.dst);
    }
}

/// Frees a replaced entry after its grace period.
///
/// # Safety
///
/// Only `call_rcu` may call it, for the `rcu` head of an entry queued by `RouteCache::store`.
unsafe extern "C" fn free_cached(head: *mut bindings::callback_head) {
    // `rcu` is the first field of the #[repr(C)] entry.
    // SAFETY: the entry was replaced a grace period ago, so no reader is left.
    unsafe { free_entry(head.cast::<Cached>()) };
}
