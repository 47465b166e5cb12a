// SPDX-License-Identifier: GPL-2.0
//! Virtual services: what identifies and configures one, the [`Store`] the glue keeps them in,
//! and upstream's add / edit / delete / flush / zero semantics (`ip_vs_add_service()`,
//! `ip_vs_edit_service()`, ...), with its errnos in its order.
//!
//! The core owns no memory: the glue implements [`Store`] (KVec/Arc and RCU in the kernel, a
//! Vec in the host tests) and the core tells it, by index, what to insert, update or remove.
//! Indices are upstream's listing order, which the core maintains: services as
//! `ip_vs_info_array()` walks them (the address table's 256 buckets, then the fwmark table's,
//! newest first within a bucket), and each service's dests newest first.

use super::addr::addr_equal;
use super::dest::{DestConf, DestInfo};
use super::errno::{Errno, Result};
use super::estimator::StatsView;
use super::uapi::{self, svc_flags};
use super::sched::{DestChange, DestSet, DestView, SchedKind, SchedState, Storage};

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKey {
    /// A firewall-mark service (its protocol is TCP, like upstream).
    Fwmark { af: u16, mark: u32 },
    /// An address/port service; `port` is in network byte order and an IPv4 `addr` has zeros
    /// after its first 4 bytes.
    Addr { af: u16, protocol: u16, addr: [u8; 16], port: [u8; 2] },
}

/// Upstream's service hash tables have 256 buckets.
const SVC_TAB_MASK: u32 = 0xff;

fn be32_at(addr: &[u8; 16], word: usize) -> u32 {
    let at = word * 4;
    match addr.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

impl ServiceKey {
    pub fn af(&self) -> u16 {
        match *self {
            ServiceKey::Fwmark { af, .. } | ServiceKey::Addr { af, .. } => af,
        }
    }

    /// The protocol upstream records (TCP for a fwmark service).
    pub fn protocol(&self) -> u16 {
        match *self {
            ServiceKey::Fwmark { .. } => uapi::IPPROTO_TCP,
            ServiceKey::Addr { protocol, .. } => protocol,
        }
    }

    /// The firewall mark, 0 for an address service.
    pub fn fwmark(&self) -> u32 {
        match *self {
            ServiceKey::Fwmark { mark, .. } => mark,
            ServiceKey::Addr { .. } => 0,
        }
    }

    /// The virtual address, zero for a fwmark service.
    pub fn addr(&self) -> [u8; 16] {
        match *self {
            ServiceKey::Fwmark { .. } => [0; 16],
            ServiceKey::Addr { addr, .. } => addr,
        }
    }

    /// The virtual port in network byte order, zero for a fwmark service.
    pub fn port(&self) -> [u8; 2] {
        match *self {
            ServiceKey::Fwmark { .. } => [0; 2],
            ServiceKey::Addr { port, .. } => port,
        }
    }

    /// Where upstream lists this service: (table, bucket), the address table (0) before the
    /// fwmark table (1). `salt` stands for upstream's `(size_t)ipvs >> 8` (only its low 8 bits
    /// matter); the glue picks it once per netns.
    pub fn list_slot(&self, salt: u32) -> (u8, u8) {
        match *self {
            ServiceKey::Addr { af, protocol, addr, port } => {
                let porth = u32::from(u16::from_be_bytes(port));
                let fold = if af == uapi::AF_INET6 {
                    be32_at(&addr, 0) ^ be32_at(&addr, 1) ^ be32_at(&addr, 2) ^ be32_at(&addr, 3)
                } else {
                    be32_at(&addr, 0)
                };
                let ahash = fold ^ salt;
                let hash = (u32::from(protocol) ^ ahash ^ (porth >> 8) ^ porth) & SVC_TAB_MASK;
                (0, hash as u8)
            }
            ServiceKey::Fwmark { mark, .. } => (1, ((salt ^ mark) & SVC_TAB_MASK) as u8),
        }
    }
}

/// Persistence engines (`--pe NAME`). Upstream ships only "sip", and this module none yet:
/// every name is refused with -ENOENT, as stock does when `ip_vs_pe_<name>.ko` is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeKind {
    Sip,
}

impl PeKind {
    pub const ALL: [PeKind; 1] = [PeKind::Sip];

    pub const fn name(self) -> &'static str {
        match self {
            PeKind::Sip => "sip",
        }
    }

    pub const fn implemented(self) -> bool {
        false
    }

    /// `ip_vs_pe_getbyname()`: -ENOENT unless the engine exists here.
    pub fn lookup(name: &[u8]) -> Result<PeKind> {
        match Self::ALL.iter().copied().find(|p| p.name().as_bytes() == name) {
            Some(pe) if pe.implemented() => Ok(pe),
            _ => Err(Errno::ENOENT),
        }
    }
}

/// A virtual service as the control plane keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConf {
    pub key: ServiceKey,
    /// `None` is the "none" scheduler.
    pub sched: Option<SchedKind>,
    pub pe: Option<PeKind>,
    /// `IP_VS_SVC_F_*`, HASHED included (it always is once the service exists).
    pub flags: u32,
    /// Persistence timeout in jiffies (`u32` arithmetic, as upstream: seconds * HZ wraps).
    pub timeout: u32,
    /// The NETMASK attribute's 4 bytes as received: an IPv4 netmask in network order, or an
    /// IPv6 prefix length in host order.
    pub netmask: [u8; 4],
}

impl ServiceConf {
    pub fn sched_name(&self) -> &'static str {
        self.sched.map_or("none", SchedKind::name)
    }

    /// The persistence timeout in seconds, as replies report it.
    pub fn timeout_secs(&self, hz: u32) -> u32 {
        self.timeout.checked_div(hz).unwrap_or(0)
    }
}

/// A NEW_SERVICE or SET_SERVICE request, decoded (`ip_vs_service_user_kern`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceUser<'a> {
    pub key: ServiceKey,
    pub sched_name: &'a [u8],
    pub pe_name: Option<&'a [u8]>,
    /// Already merged with the existing service's flags under the request's mask.
    pub flags: u32,
    /// Seconds.
    pub timeout: u32,
    pub netmask: [u8; 4],
}

/// Where the control plane keeps services and dests. Implemented by the glue (`KernelStore`
/// in rust/ctl/store.rs) and by the host tests' stores.
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
    /// Whether the netns has a network device named `name` (bytes up to the first NUL, at
    /// most 15): the interface of a sync daemon.
    fn has_netdev(&self, name: &[u8]) -> bool;
    fn service_count(&self) -> usize;
    fn service(&self, svc: usize) -> Option<ServiceConf>;
    /// Counters and rates of a service, as replies and /proc show them.
    fn service_stats(&self, svc: usize) -> StatsView;
    /// Inserts a service at index `svc` (later ones move up) with an unbound scheduler state.
    /// `KernelStore` first refuses what this module cannot serve (`support::check_service`:
    /// -EAFNOSUPPORT for IPv6, -EPROTONOSUPPORT for SCTP), allocates the service and its stats
    /// (-ENOMEM), and for the netns's first service registers the netfilter hooks (their
    /// errno; unregistered again if the insert then fails). Nothing starts per service: the
    /// rate estimator is one per-netns timer. Upstream's IPv6 defrag is not enabled, since no
    /// IPv6 service gets this far.
    fn insert_service(&mut self, svc: usize, conf: &ServiceConf) -> Result<()>;
    /// Replaces a service's configuration (SET_SERVICE). The key never changes. `KernelStore`
    /// checks it again with `support::check_service`, and fails for no other reason than a
    /// missing index (-ESRCH).
    fn update_service(&mut self, svc: usize, conf: &ServiceConf) -> Result<()>;
    /// Removes a service (DEL_SERVICE, FLUSH). Its dests go with it: the glue moves them to
    /// its dest trash (see [`crate::ipvs_core::dest::trash_matches`]), without scheduler hooks.
    /// `KernelStore` unregisters the netfilter hooks with the netns's last service.
    fn remove_service(&mut self, svc: usize);
    /// Zeroes the stats of a service and of each of its dests.
    fn zero_stats(&mut self, svc: usize);
    /// Zeroes the netns totals (/proc/net/ip_vs_stats).
    fn zero_total_stats(&mut self);

    fn dest_count(&self, svc: usize) -> usize;
    fn dest(&self, svc: usize, dest: usize) -> Option<DestInfo>;
    fn dest_stats(&self, svc: usize, dest: usize) -> StatsView;
    /// Inserts a dest at index `dest` of service `svc` (always 0: newest first). `KernelStore`
    /// first refuses what this module cannot forward (`support::check_dest`: -EAFNOSUPPORT for
    /// a non-IPv4 dest, -EOPNOTSUPP for a GUE or GRE tunnel), then revives a matching dest
    /// from its trash (keeping its counters; stats zeroed if it was bound to another service),
    /// else refuses an IPv4 address that is neither local nor unicast (-EINVAL, as
    /// `ip_vs_new_dest()`) and allocates (-ENOMEM). Upstream's IPv6 address checks and IPv6
    /// defrag are not done, since no IPv6 dest gets this far.
    fn insert_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()>;
    /// Replaces a dest's configuration (SET_DEST); its identity never changes. `KernelStore`
    /// checks it again with `support::check_dest`, fails for a missing index (-ENOENT),
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

/// The first index whose service lists at `slot` or later: a binary search, as the services
/// are kept in listing order (so `ipvsadm -R` of many services is not quadratic).
fn slot_start<S: Store>(store: &S, slot: (u8, u8), salt: u32) -> usize {
    let (mut lo, mut hi) = (0, store.service_count());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if store.service(mid).is_some_and(|c| c.key.list_slot(salt) < slot) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The index a new service with `key` takes: before the services of its bucket, after those of
/// earlier buckets.
pub fn insert_position<S: Store>(store: &S, key: &ServiceKey, salt: u32) -> usize {
    slot_start(store, key.list_slot(salt), salt)
}

/// The index of the service with `key`, found among those of its bucket.
pub fn find_service<S: Store>(store: &S, key: &ServiceKey, salt: u32) -> Option<usize> {
    let slot = key.list_slot(salt);
    let start = slot_start(store, slot, salt);
    (start..store.service_count())
        .map_while(|i| store.service(i).filter(|c| c.key.list_slot(salt) == slot).map(|c| (i, c)))
        .find(|(_, c)| c.key == *key)
        .map(|(i, _)| i)
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
    store.insert_service(idx, &conf)?;
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
    while let Some(last) = store.service_count().checked_sub(1) {
        store.remove_service(last);
    }
}

/// `ip_vs_zero_all()`: every service, its dests, and the netns totals.
pub fn zero_all<S: Store>(store: &mut S) {
    for svc in 0..store.service_count() {
        store.zero_stats(svc);
    }
    store.zero_total_stats();
}
