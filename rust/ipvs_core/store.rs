// SPDX-License-Identifier: GPL-2.0
//! The [`Store`] in which the glue keeps services and dests, and upstream's commands on it:
//! add / edit / delete / flush / zero of services (`ip_vs_add_service()`, ...) and add / edit /
//! delete of dests (`ip_vs_add_dest()`, ...), with upstream's errnos in upstream's order.
//!
//! The core owns no memory: the glue implements [`Store`] (KVec/Arc and RCU in the kernel, a
//! Vec in the host tests) and the core tells it, by index, what to insert, update or remove.
//! Indices are upstream's listing order, which the core maintains: services as
//! `ip_vs_info_array()` walks them (the address table's 256 buckets, then the fwmark table's,
//! newest first within a bucket), and each service's dests newest first.

use super::addr::addr_equal;
use super::dest::{DestConf, DestInfo, DestSettings};
use super::errno::{Errno, Result};
use super::estimator::StatsView;
use super::packet::jhash_3words;
use super::decode::DestSpec;
use super::sched::{DestChange, DestSet, DestView, SchedKind, SchedState, Storage};
use super::service::{PeKind, ServiceConf, ServiceKey, ServiceUser};
use super::uapi::{self, fwd, svc_flags, tun_type};

/// Where the control plane keeps services and dests. Implemented by the glue (`KernelStore`
/// in rust/store.rs) and by the host tests' stores.
///
/// Services are indexed `0..service_count()` and the dests of a service `0..dest_count(svc)`,
/// both in upstream's listing order, which the core maintains through the indices it passes to
/// the `insert_*` methods. Every method is called with the control lock held; the glue makes
/// the changes visible to its datapath as it sees fit (RCU, atomics).
///
/// The core makes the errnos of upstream's checks on the request; the store adds its own,
/// described on each method as `KernelStore` has them: what this module cannot serve yet
/// (`super::support`), address checks, allocation failures and the hooks' registration.
pub trait Store {
    fn service_count(&self) -> usize;
    fn service(&self, svc: usize) -> Option<ServiceConf>;
    /// Counters and rates of a service, as replies and /proc show them.
    fn service_stats(&self, svc: usize) -> StatsView;
    /// Inserts a service at index `svc` (later ones move up) with an unbound scheduler state.
    /// `KernelStore` first refuses what this module cannot serve (`support::check_service`:
    /// -EPROTONOSUPPORT for SCTP), allocates the service and its stats (-ENOMEM), turns on
    /// IPv6 defragmentation for an IPv6 service (its errno), and for the netns's first
    /// service of its family registers that family's netfilter hooks (their errno;
    /// unregistered again if the insert then fails). Nothing starts per service: the rate
    /// estimator is one per-netns timer. `slot` is the service's listing slot
    /// (`ServiceKey::list_slot`), at whose start `svc` is.
    fn insert_service(&mut self, svc: usize, slot: (u8, u8), conf: &ServiceConf) -> Result<()>;
    /// Replaces a service's configuration (SET_SERVICE). The key never changes. `KernelStore`
    /// checks it again with `support::check_service`, and fails for no other reason than a
    /// missing index (-ESRCH).
    fn update_service(&mut self, svc: usize, conf: &ServiceConf) -> Result<()>;
    /// Removes a service (DEL_SERVICE, FLUSH). Its dests go with it: the glue moves them to
    /// its dest trash (see [`trash_matches`]), without scheduler hooks.
    /// `KernelStore` unregisters the netfilter hooks with the netns's last service.
    fn remove_service(&mut self, svc: usize);
    /// Removes every service (FLUSH), as `remove_service` would from the last to the first.
    /// `KernelStore` does it in one pass, not a dest at a time.
    fn remove_all_services(&mut self) {
        while let Some(last) = self.service_count().checked_sub(1) {
            self.remove_service(last);
        }
    }
    /// Zeroes the stats of a service and of each of its dests.
    fn zero_stats(&mut self, svc: usize);
    /// Zeroes the netns totals (/proc/net/ip_vs_stats).
    fn zero_total_stats(&mut self);

    fn dest_count(&self, svc: usize) -> usize;
    fn dest(&self, svc: usize, dest: usize) -> Option<DestInfo>;
    fn dest_stats(&self, svc: usize, dest: usize) -> StatsView;
    /// Inserts a dest at index `dest` of service `svc` (always 0: newest first). `KernelStore`
    /// revives a matching dest from its trash (keeping its counters; stats zeroed if it was bound to another service), else refuses an address
    /// that is neither local nor unicast (-EINVAL; for IPv6 a link-local one too, as
    /// `ip_vs_new_dest()`), turns on IPv6 defragmentation for a new IPv6 dest (its errno) and
    /// allocates (-ENOMEM).
    fn insert_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()>;
    /// Replaces a dest's configuration (SET_DEST); its identity never changes. `KernelStore`
    /// fails for a missing index (-ENOENT),
    /// recomputes the overload flag when the thresholds changed
    /// ([`crate::ipvs_core::dest::overloaded`]) and resets the dest's route cache.
    fn update_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()>;
    /// Unlinks a dest (DEL_DEST) into the trash, where connections may still use it.
    fn remove_dest(&mut self, svc: usize, dest: usize);

    /// Where the schedulers of this store keep their tables.
    type Storage: Storage;

    /// Runs `f` on a service's scheduler state and its current dests, under whatever lock
    /// serialises the datapath's `schedule`. `None` if there is no such service.
    fn with_sched<R>(&mut self, svc: usize, f: impl FnOnce(&mut SchedState<Self::Storage>, &dyn DestSet) -> R) -> Option<R>;

    /// Swaps in a scheduler state built outside the lock, returning the old one (to be dropped
    /// after the lock is released). `None` if there is no such service.
    fn replace_sched(&mut self, svc: usize, state: SchedState<Self::Storage>) -> Option<SchedState<Self::Storage>>;

    /// The index of the first service listed at `slot` or later. By default a binary search
    /// of the listing, which is in slot order; a store that counts its services per slot
    /// (`KernelStore`, with [`super::listing::SlotCounts`]) answers from the counts.
    fn slot_start(&self, slot: (u8, u8), salt: u32) -> usize {
        let (mut lo, mut hi) = (0, self.service_count());
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.service(mid).is_some_and(|c| c.key.list_slot(salt) < slot) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The index of the service with `key`, which lists at `slot`. By default a walk of the
    /// slot's services by index; `KernelStore` walks its list of the slot.
    fn find_in_slot(&self, key: &ServiceKey, slot: (u8, u8), salt: u32) -> Option<usize> {
        (self.slot_start(slot, salt)..self.service_count())
            .map_while(|i| self.service(i).filter(|c| c.key.list_slot(salt) == slot).map(|c| (i, c)))
            .find(|(_, c)| c.key == *key)
            .map(|(i, _)| i)
    }

    /// `ip_vs_lookup_dest()`: the dest of `svc` with this family, address and port.
    fn find_dest(&self, svc: usize, af: u16, addr: &[u8; 16], port: [u8; 2]) -> Option<usize> {
        (0..self.dest_count(svc)).find(|&i| {
            self.dest(svc, i)
                .is_some_and(|d| d.conf.af == af && d.conf.port == port && addr_equal(af, &d.conf.addr, addr))
        })
    }
}

/// The scheduler named in a request: `None` for "none", -ENOENT if unknown here.
fn lookup_sched(name: &[u8]) -> Result<Option<SchedKind>> {
    if name == b"none" {
        Ok(None)
    } else {
        SchedKind::lookup(name).map(Some)
    }
}

/// The persistence engine named in a request: an absent or empty name is none.
fn lookup_pe(name: Option<&[u8]>) -> Result<Option<PeKind>> {
    match name {
        Some(n) if !n.is_empty() => PeKind::lookup(n).map(Some),
        _ => Ok(None),
    }
}

/// An IPv6 service's "netmask" is a prefix length, 1 to 128.
fn check_netmask(af: u16, netmask: [u8; 4]) -> Result<()> {
    let plen = u32::from_ne_bytes(netmask);
    if af == uapi::AF_INET6 && !(1..=128).contains(&plen) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The dests of a service as the control plane sees them, for binding a scheduler outside its
/// lock.
pub struct StoreDests<'a, S: Store + ?Sized> {
    store: &'a S,
    svc: usize,
}

impl<'a, S: Store + ?Sized> StoreDests<'a, S> {
    pub fn new(store: &'a S, svc: usize) -> Self {
        StoreDests { store, svc }
    }
}

impl<S: Store + ?Sized> DestSet for StoreDests<'_, S> {
    fn len(&self) -> usize {
        self.store.dest_count(self.svc)
    }
    fn get(&self, idx: usize) -> Option<DestView> {
        self.store.dest(self.svc, idx).map(|d| d.view())
    }
}

/// A fresh scheduler state for service `svc` (`None` is the "none" scheduler), built from its
/// current dests without holding the scheduler lock.
fn new_sched_state<S: Store>(store: &S, svc: usize, sched: Option<SchedKind>) -> Result<SchedState<S::Storage>> {
    let Some(kind) = sched else { return Ok(SchedState::Unbound) };
    let af = store.service(svc).ok_or(Errno::ESRCH)?.key.af();
    SchedState::bind(kind, &StoreDests::new(store, svc), af)
}

/// `ip_vs_bind_scheduler()`: binds `sched` afresh; on failure the service keeps its state.
fn bind_sched<S: Store>(store: &mut S, svc: usize, sched: Option<SchedKind>) -> Result<()> {
    let state = new_sched_state(store, svc, sched)?;
    let old = store.replace_sched(svc, state).ok_or(Errno::ESRCH)?;
    // Freed here, after the store released the scheduler lock.
    drop(old);
    Ok(())
}

/// Swaps in `state` for service `svc` where the caller has nothing to do on failure: it has
/// just read the service under the control lock, so it exists, and were it gone there would be
/// nothing to swap. The old state is freed here, after the store released the scheduler lock.
fn swap_sched<S: Store>(store: &mut S, svc: usize, state: SchedState<S::Storage>) {
    drop(store.replace_sched(svc, state));
}

/// Tells the scheduler of service `svc` that its dest list changed. Schedulers that rebuild
/// everything from the list (sh, dh, mh) get a fresh state built outside the lock; on failure
/// the old one stays, as upstream ignores its hooks' errors.
pub fn sched_dest_changed<S: Store>(store: &mut S, svc: usize, change: DestChange) {
    let Some(kind) = store.service(svc).and_then(|c| c.sched) else { return };
    if SchedState::<S::Storage>::rebuilds(kind, change) {
        // A rebuild that fails (out of memory) keeps the old state: upstream ignores the
        // hook's error too, and the dest change itself stands.
        if let Ok(state) = new_sched_state(store, svc, Some(kind)) {
            swap_sched(store, svc, state);
        }
    } else {
        // `None` only for a missing service, and `svc` was just found.
        let _ = store.with_sched(svc, |state, dests| state.dest_changed(dests, change));
    }
}

/// The index a new service with `key` takes: before the services of its bucket, after those of
/// earlier buckets.
pub fn insert_position<S: Store>(store: &S, key: &ServiceKey, salt: u32) -> usize {
    store.slot_start(key.list_slot(salt), salt)
}

/// The index of the service with `key`, found among those of its bucket.
pub fn find_service<S: Store>(store: &S, key: &ServiceKey, salt: u32) -> Option<usize> {
    store.find_in_slot(key, key.list_slot(salt), salt)
}

/// `ip_vs_add_service()`, once the caller checked that no service has this key. Returns the
/// new service's index.
pub fn add_service<S: Store>(store: &mut S, u: &ServiceUser<'_>, hz: u32, salt: u32) -> Result<usize> {
    let sched = lookup_sched(u.sched_name)?;
    let pe = lookup_pe(u.pe_name)?;
    check_netmask(u.key.af(), u.netmask)?;
    let conf = ServiceConf {
        key: u.key,
        sched,
        pe,
        flags: (u.flags & !svc_flags::HASHED) | svc_flags::HASHED,
        timeout: u.timeout.wrapping_mul(hz),
        netmask: u.netmask,
    };
    let idx = insert_position(store, &u.key, salt);
    store.insert_service(idx, u.key.list_slot(salt), &conf)?;
    if let Err(e) = bind_sched(store, idx, sched) {
        store.remove_service(idx);
        return Err(e);
    }
    Ok(idx)
}

/// `ip_vs_edit_service()`: scheduler, persistence engine, flags, timeout and netmask. A new
/// scheduler starts afresh; the same one keeps its state.
pub fn edit_service<S: Store>(store: &mut S, svc: usize, u: &ServiceUser<'_>, hz: u32) -> Result<()> {
    let sched = lookup_sched(u.sched_name)?;
    let pe = lookup_pe(u.pe_name)?;
    check_netmask(u.key.af(), u.netmask)?;
    let old = store.service(svc).ok_or(Errno::ESRCH)?;
    let conf = ServiceConf {
        key: old.key,
        sched,
        pe,
        flags: u.flags | svc_flags::HASHED,
        timeout: u.timeout.wrapping_mul(hz),
        netmask: u.netmask,
    };
    store.update_service(svc, &conf)?;
    if sched != old.sched {
        if let Err(e) = bind_sched(store, svc, sched) {
            // Upstream has already unbound the old scheduler: it binds it again afresh (or is
            // left with none), and keeps the old flags and timeout.
            let restored = match new_sched_state(store, svc, old.sched) {
                Ok(state) => {
                    swap_sched(store, svc, state);
                    old.sched
                }
                Err(_) => {
                    swap_sched(store, svc, SchedState::Unbound);
                    None
                }
            };
            // Cannot fail: `old` is the configuration the store accepted for this very service,
            // and the update above just succeeded on this index (a store's update fails only
            // for a configuration it refuses or a missing index). The caller gets `e` anyway.
            let _ = store.update_service(svc, &ServiceConf { sched: restored, ..old });
            return Err(e);
        }
    }
    Ok(())
}

/// `ip_vs_del_service()`.
pub fn del_service<S: Store>(store: &mut S, svc: usize) {
    store.remove_service(svc);
}

/// `ip_vs_flush()`.
pub fn flush<S: Store>(store: &mut S) {
    store.remove_all_services();
}

/// `ip_vs_zero_all()`: every service, its dests, and the netns totals.
pub fn zero_all<S: Store>(store: &mut S) {
    for svc in 0..store.service_count() {
        store.zero_stats(svc);
    }
    store.zero_total_stats();
}

/// The checks add and edit share, in upstream's order.
fn check(s: &DestSettings) -> Result<()> {
    if s.weight < 0 {
        return Err(Errno::ERANGE);
    }
    if s.l_threshold > s.u_threshold {
        return Err(Errno::ERANGE);
    }
    if s.u_threshold > i32::MAX as u32 {
        return Err(Errno::EINVAL);
    }
    if s.tun_type == tun_type::GUE && s.tun_port == [0, 0] {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// The configuration a request gives the dest `d` (the identity is the request's).
fn conf(d: &DestSpec, s: &DestSettings, last_weight: i32) -> DestConf {
    DestConf {
        af: d.af,
        addr: d.addr,
        port: d.port,
        settings: DestSettings { fwd_method: s.fwd_method & fwd::MASK, ..*s },
        last_weight,
    }
}

// The dest commands take the request as decoding produced it (`super::decode::parse_dest`),
// with its family resolved (never 0: the service's when the client did not say) and its
// address normalized, as `super::control` passes it. NEW_DEST and SET_DEST need its settings;
// without them they are -EINVAL, as decoding answers such a request.

/// `ip_vs_add_dest()`: the new dest goes first in the list, then the scheduler hears of it.
pub fn add_dest<S: Store>(store: &mut S, svc: usize, d: &DestSpec) -> Result<()> {
    let s = d.settings.ok_or(Errno::EINVAL)?;
    check(&s)?;
    if store.find_dest(svc, d.af, &d.addr, d.port).is_some() {
        return Err(Errno::EEXIST);
    }
    store.insert_dest(svc, 0, &conf(d, &s, s.weight))?;
    sched_dest_changed(store, svc, DestChange::Added(0));
    Ok(())
}

/// `ip_vs_edit_dest()`.
pub fn edit_dest<S: Store>(store: &mut S, svc: usize, d: &DestSpec) -> Result<()> {
    let s = d.settings.ok_or(Errno::EINVAL)?;
    check(&s)?;
    let idx = store.find_dest(svc, d.af, &d.addr, d.port).ok_or(Errno::ENOENT)?;
    let old = store.dest(svc, idx).ok_or(Errno::ENOENT)?;
    // Keep the last non-zero weight.
    let last_weight = if s.weight != 0 { s.weight } else { old.conf.last_weight };
    store.update_dest(svc, idx, &conf(d, &s, last_weight))?;
    sched_dest_changed(store, svc, DestChange::Updated(idx));
    Ok(())
}

/// `ip_vs_del_dest()`: only the request's identity counts.
pub fn del_dest<S: Store>(store: &mut S, svc: usize, d: &DestSpec) -> Result<()> {
    let idx = store.find_dest(svc, d.af, &d.addr, d.port).ok_or(Errno::ENOENT)?;
    store.remove_dest(svc, idx);
    sched_dest_changed(store, svc, DestChange::Removed(idx));
    Ok(())
}

/// How long a removed dest that no connection uses stays in the trash, revivable with its
/// counters, in seconds (upstream's `IP_VS_DEST_TRASH_PERIOD`): so a dest a health checker
/// removes and adds back keeps counting where it left off.
pub const TRASH_KEEP_SECS: u32 = 120;

/// How often the trash is swept, in seconds (half the keep time, as upstream's timer).
pub const TRASH_SWEEP_SECS: u32 = TRASH_KEEP_SECS / 2;

/// One trash sweep's verdict on a trashed dest, as upstream's `ip_vs_dest_trash_expire`:
/// `None` drops it; `Some(idle_since)` keeps it, with the time (`now`'s clock) the first
/// sweep saw it unused. A dest connections use is kept; an unused one is marked by the first
/// sweep that finds it so and dropped by the first that comes `keep` or more after that.
pub fn trash_sweep(in_use: bool, idle_since: Option<u64>, now: u64, keep: u64) -> Option<Option<u64>> {
    match idle_since {
        _ if in_use => Some(idle_since),
        None => Some(Some(now)),
        Some(t) if now.wrapping_sub(t) < keep => Some(Some(t)),
        Some(_) => None,
    }
}

/// The hash under which the trash files a dest `af`, `addr`, `port` of service `svc` (the
/// service it left, or the one a new dest joins): over exactly what [`trash_matches`]
/// compares, the service's address by its first four bytes (which either family's comparison
/// includes), so a trashed dest and every new dest it matches hash alike.
pub fn trash_hash(svc: &ServiceKey, af: u16, addr: &[u8; 16], port: [u8; 2]) -> u32 {
    let word = |a: &[u8; 16], i: usize| a.get(i * 4..i * 4 + 4).and_then(|w| w.try_into().ok()).map_or(0, u32::from_ne_bytes);
    let v6 = af == uapi::AF_INET6;
    let dest_word = |i: usize| if v6 || i == 0 { word(addr, i) } else { 0 };
    let (svc_addr, svc_port) = if svc.fwmark() == 0 { (word(&svc.addr(), 0), u16::from_ne_bytes(svc.port())) } else { (0, 0) };
    let h = jhash_3words(dest_word(0), dest_word(1), dest_word(2), 0);
    let h = jhash_3words(dest_word(3), u32::from(af) << 16 | u32::from(u16::from_ne_bytes(port)), svc.fwmark(), h);
    jhash_3words(u32::from(svc.protocol()), svc_addr, u32::from(svc_port), h)
}

/// `ip_vs_trash_get_dest()`'s test: may a trashed dest (`trashed`, once of the service
/// `trashed_svc`) be revived for a new dest (`af`, `addr`, `port`) of service `svc`? Note that
/// a fwmark service's dest matches across address families, as upstream.
pub fn trash_matches(
    trashed_svc: &ServiceKey,
    trashed: &DestConf,
    svc: &ServiceKey,
    af: u16,
    addr: &[u8; 16],
    port: [u8; 2],
) -> bool {
    trashed.af == af
        && addr_equal(af, &trashed.addr, addr)
        && trashed.port == port
        && trashed_svc.fwmark() == svc.fwmark()
        && trashed_svc.protocol() == svc.protocol()
        && (svc.fwmark() != 0
            || (addr_equal(svc.af(), &trashed_svc.addr(), &svc.addr()) && trashed_svc.port() == svc.port()))
}
