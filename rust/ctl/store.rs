// SPDX-License-Identifier: GPL-2.0
//! The kernel's `Store`: services and dests in KVecs under the netns control mutex, with the
//! runtime objects (dests, counters, scheduler state) the datapath shares through snapshots.

use crate::dp::service::{addr_bucket, mark_bucket, DestRt, Published, ServiceRt, Stats, Table, SVC_BUCKETS};
use crate::ipvs_core::dest::{trash_matches, DestConf, DestInfo};
use crate::ipvs_core::errno::{Errno, Result};
use crate::ipvs_core::estimator::StatsView;
use crate::ipvs_core::service::{ServiceConf, ServiceKey, Store};
use crate::ipvs_core::support;
use crate::ipvs_core::sched::{DestSet, SchedState};
use crate::ipvs_core::uapi::AF_INET;
use crate::sys::kvec;
use crate::dp::Datapath;
use crate::sys::netfilter::Hooks;
use crate::sys::NetLookups;
use crate::sys::route_cache::RouteCache;
use crate::sys::sched_storage::KernelStorage;
use crate::sys::sync::{BhSpinLock, LockClass};
use core::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// Each service's scheduler state lock.
static SCHED_LOCK_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_sched_state"));

struct DestEntry {
    conf: DestConf,
    rt: Arc<DestRt>,
}

struct SvcEntry {
    conf: ServiceConf,
    dests: KVec<DestEntry>,
    sched: Arc<BhSpinLock<SchedState<KernelStorage>>>,
    stats: Arc<Stats>,
}

/// A removed dest that connections may still use, revived if re-added.
struct Trashed {
    svc: ServiceKey,
    conf: DestConf,
    rt: Arc<DestRt>,
}

pub(crate) struct KernelStore {
    /// Boxed, so that inserting in listing order moves pointers, not whole entries.
    services: KVec<KBox<SvcEntry>>,
    trash: KVec<Trashed>,
    /// Netns totals, shared with the datapath.
    total: Arc<Stats>,
    /// What the published buckets hold, kept here so that a change copies only its bucket.
    by_addr: KVec<KVec<Arc<ServiceRt>>>,
    by_mark: KVec<KVec<Arc<ServiceRt>>>,
    /// Buckets changed since they were last published.
    dirty: KVec<(Table, usize)>,
    /// A change could not be recorded (out of memory): rebuild every bucket at the next publish.
    rebuild_all: bool,
    /// Dests were removed since [`KernelStore::take_dests_removed`] was last called.
    dests_removed: bool,
    /// Which addresses may be real servers in this netns, and which devices it has.
    lookups: NetLookups,
    /// The datapath's netfilter hooks: registered with the first service and unregistered
    /// with the last (as upstream's `ip_vs_add_service` / `__ip_vs_del_service`), so that a
    /// netns without services pays nothing for IPVS, and a request refused before it could
    /// create one does not touch them.
    hooks: Pin<KBox<Hooks<Datapath>>>,
}

/// The published table and bucket of a service.
fn slot(key: &ServiceKey) -> (Table, usize) {
    if key.fwmark() != 0 {
        (Table::Mark, mark_bucket(key.fwmark()))
    } else {
        (Table::Addr, addr_bucket(key.protocol(), &key.addr(), key.port()))
    }
}

fn is_service(rt: &ServiceRt, key: &ServiceKey) -> bool {
    rt.af == key.af() && rt.fwmark == key.fwmark() && rt.protocol == key.protocol() && rt.addr == key.addr() && rt.port == key.port()
}

/// The datapath's view of a service: its settings and its dests at this moment.
fn service_rt(s: &SvcEntry) -> Result<Arc<ServiceRt>> {
    let mut dests = KVec::with_capacity(s.dests.len(), GFP_KERNEL).map_err(enomem)?;
    for d in s.dests.iter() {
        dests.push(d.rt.clone(), GFP_KERNEL).map_err(enomem)?;
    }
    let rt = ServiceRt {
        af: s.conf.key.af(),
        protocol: s.conf.key.protocol(),
        addr: s.conf.key.addr(),
        port: s.conf.key.port(),
        fwmark: s.conf.key.fwmark(),
        flags: s.conf.flags,
        timeout: s.conf.timeout,
        netmask: s.conf.netmask,
        dests,
        sched: s.sched.clone(),
        stats: s.stats.clone(),
    };
    Arc::new(rt, GFP_KERNEL).map_err(enomem)
}

/// The IPv4 address at the front of a 16-byte address field.
fn v4(addr: &[u8; 16]) -> [u8; 4] {
    [addr[0], addr[1], addr[2], addr[3]]
}

fn enomem<E>(_: E) -> Errno {
    Errno::ENOMEM
}

fn view(s: &Stats) -> StatsView {
    s.view()
}

fn apply_conf(rt: &DestRt, conf: &DestConf) {
    rt.fwd.store(conf.fwd_method, Ordering::Relaxed);
    rt.weight.store(conf.weight, Ordering::Relaxed);
    rt.last_weight.store(conf.last_weight, Ordering::Relaxed);
    rt.set_thresholds(conf.u_threshold, conf.l_threshold);
    rt.tun_type.store(u32::from(conf.tun_type), Ordering::Relaxed);
    rt.tun_port.store(u32::from(u16::from_ne_bytes(conf.tun_port)), Ordering::Relaxed);
    rt.tun_flags.store(u32::from(conf.tun_flags), Ordering::Relaxed);
    rt.route.reset();
}

impl KernelStore {
    pub(crate) fn new(total: Arc<Stats>, lookups: NetLookups, hooks: Pin<KBox<Hooks<Datapath>>>) -> Result<Self> {
        let mut by_addr = KVec::with_capacity(SVC_BUCKETS, GFP_KERNEL).map_err(enomem)?;
        let mut by_mark = KVec::with_capacity(SVC_BUCKETS, GFP_KERNEL).map_err(enomem)?;
        for _ in 0..SVC_BUCKETS {
            by_addr.push(KVec::new(), GFP_KERNEL).map_err(enomem)?;
            by_mark.push(KVec::new(), GFP_KERNEL).map_err(enomem)?;
        }
        Ok(KernelStore { services: KVec::new(), trash: KVec::new(), total, by_addr, by_mark, dirty: KVec::new(), rebuild_all: false, dests_removed: false, lookups, hooks })
    }

    /// Netns teardown: no hook may run once the netns core's grace period after `pre_exit`
    /// has passed, services or not.
    pub(crate) fn unregister_hooks(&self) {
        self.hooks.unregister();
    }

    fn bucket_mut(&mut self, (table, i): (Table, usize)) -> Result<&mut KVec<Arc<ServiceRt>>> {
        let t = if table == Table::Addr { &mut self.by_addr } else { &mut self.by_mark };
        t.get_mut(i).ok_or(Errno::EINVAL)
    }

    fn mark_dirty(&mut self, at: (Table, usize)) -> Result<()> {
        if !self.dirty.contains(&at) {
            self.dirty.push(at, GFP_KERNEL).map_err(enomem)?;
        }
        Ok(())
    }

    /// Service `svc` changed: refresh its entry in its bucket.
    fn touch(&mut self, svc: usize) {
        let refreshed = (|| {
            let s = self.services.get(svc).ok_or(Errno::ENOENT)?;
            let (key, rt) = (s.conf.key, service_rt(s)?);
            let at = slot(&key);
            let bucket = self.bucket_mut(at)?;
            match bucket.iter_mut().find(|x| is_service(x, &key)) {
                Some(x) => *x = rt,
                None => bucket.push(rt, GFP_KERNEL).map_err(enomem)?,
            }
            self.mark_dirty(at)
        })();
        if refreshed.is_err() {
            self.rebuild_all = true;
        }
    }

    /// The service with `key` is gone: drop it from its bucket.
    fn forget(&mut self, key: &ServiceKey) {
        let at = slot(key);
        let removed = self.bucket_mut(at).map(|b| {
            if let Some(i) = b.iter().position(|x| is_service(x, key)) {
                drop(kvec::remove(b, i));
            }
        });
        if removed.and_then(|()| self.mark_dirty(at)).is_err() {
            self.rebuild_all = true;
        }
    }

    /// Publishes the changed buckets. On failure what is left stays pending.
    /// Whether dests were removed since the last call (their connections may have to go).
    pub(crate) fn take_dests_removed(&mut self) -> bool {
        core::mem::take(&mut self.dests_removed)
    }

    pub(crate) fn publish(&mut self, published: &Published) -> Result<()> {
        if self.rebuild_all {
            for b in Iterator::chain(self.by_addr.iter_mut(), self.by_mark.iter_mut()) {
                *b = KVec::new();
            }
            for i in 0..self.services.len() {
                let Some(s) = self.services.get(i) else { continue };
                let (key, rt) = (s.conf.key, service_rt(s)?);
                self.bucket_mut(slot(&key))?.push(rt, GFP_KERNEL).map_err(enomem)?;
            }
            self.dirty = KVec::new();
            for i in 0..SVC_BUCKETS {
                self.mark_dirty((Table::Addr, i))?;
                self.mark_dirty((Table::Mark, i))?;
            }
            self.rebuild_all = false;
        }
        while let Some(&at) = self.dirty.last() {
            let master = self.bucket_mut(at)?;
            let mut copy = KVec::with_capacity(master.len(), GFP_KERNEL).map_err(enomem)?;
            for rt in master.iter() {
                copy.push(rt.clone(), GFP_KERNEL).map_err(enomem)?;
            }
            published.publish(at.0, at.1, copy).map_err(enomem)?;
            let last = self.dirty.len() - 1;
            kvec::remove(&mut self.dirty, last);
        }
        Ok(())
    }

    fn svc(&self, svc: usize) -> Option<&SvcEntry> {
        self.services.get(svc).map(|s| &**s)
    }

    /// Drops trashed dests no connection uses any more (upstream's trash expiry).
    fn purge_trash(&mut self) {
        let mut i = 0;
        while i < self.trash.len() {
            let busy = self.trash.get(i).is_some_and(|t| {
                t.rt.total.load(Ordering::Relaxed) + t.rt.persist.load(Ordering::Relaxed) > 0
            });
            if busy {
                i += 1;
            } else {
                drop(kvec::remove(&mut self.trash, i));
            }
        }
    }
}

/// The store's dest list as the scheduler sees it (same order as the published snapshot).
struct EntryDests<'a>(&'a [DestEntry]);

impl DestSet for EntryDests<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, idx: usize) -> Option<crate::ipvs_core::sched::DestView> {
        self.0.get(idx).map(|d| d.rt.view())
    }
}

fn info(d: &DestEntry) -> DestInfo {
    let active = d.rt.active.load(Ordering::Relaxed);
    let inactive = d.rt.inact_conns();
    DestInfo {
        conf: d.conf,
        active_conns: active,
        inact_conns: inactive.max(0),
        persist_conns: d.rt.persist.load(Ordering::Relaxed),
        flags: d.rt.flags.load(Ordering::Relaxed),
    }
}

impl Store for KernelStore {
    fn has_netdev(&self, name: &[u8]) -> bool {
        self.lookups.has_netdev(name)
    }

    fn service_count(&self) -> usize {
        self.services.len()
    }

    fn service(&self, svc: usize) -> Option<ServiceConf> {
        self.svc(svc).map(|s| s.conf)
    }

    fn service_stats(&self, svc: usize) -> StatsView {
        self.svc(svc).map_or_else(StatsView::default, |s| view(&s.stats))
    }

    fn insert_service(&mut self, svc: usize, conf: &ServiceConf) -> Result<()> {
        support::check_service(conf)?;
        let entry = SvcEntry {
            conf: *conf,
            dests: KVec::new(),
            sched: Arc::pin_init(BhSpinLock::new(SchedState::Unbound, &SCHED_LOCK_CLASS), GFP_KERNEL).map_err(enomem)?,
            stats: Arc::new(Stats::new().map_err(enomem)?, GFP_KERNEL).map_err(enomem)?,
        };
        let entry = KBox::new(entry, GFP_KERNEL).map_err(enomem)?;
        let first = self.services.is_empty();
        if first {
            self.hooks.register().map_err(|e| Errno(-e.to_errno()))?;
        }
        if kvec::insert(&mut self.services, svc, entry).is_err() {
            if first {
                self.hooks.unregister();
            }
            return Err(Errno::ENOMEM);
        }
        self.touch(svc);
        Ok(())
    }

    fn update_service(&mut self, svc: usize, conf: &ServiceConf) -> Result<()> {
        support::check_service(conf)?;
        let s = self.services.get_mut(svc).ok_or(Errno::ESRCH)?;
        s.conf = *conf;
        self.touch(svc);
        Ok(())
    }

    fn remove_service(&mut self, svc: usize) {
        let Some(s) = kvec::remove(&mut self.services, svc) else { return };
        self.dests_removed |= !s.dests.is_empty();
        for d in s.dests.iter() {
            d.rt.available.store(0, Ordering::Relaxed);
            let _ = self.trash.push(Trashed { svc: s.conf.key, conf: d.conf, rt: d.rt.clone() }, GFP_KERNEL);
        }
        self.forget(&s.conf.key);
        self.purge_trash();
        if self.services.is_empty() {
            self.hooks.unregister();
        }
    }

    fn zero_stats(&mut self, svc: usize) {
        if let Some(s) = self.svc(svc) {
            s.stats.zero();
            for d in s.dests.iter() {
                d.rt.stats.zero();
            }
        }
    }

    fn zero_total_stats(&mut self) {
        self.total.zero();
    }

    fn dest_count(&self, svc: usize) -> usize {
        self.svc(svc).map_or(0, |s| s.dests.len())
    }

    fn dest(&self, svc: usize, dest: usize) -> Option<DestInfo> {
        self.svc(svc)?.dests.get(dest).map(info)
    }

    fn dest_stats(&self, svc: usize, dest: usize) -> StatsView {
        self.svc(svc).and_then(|s| s.dests.get(dest)).map_or_else(StatsView::default, |d| view(&d.rt.stats))
    }

    fn insert_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()> {
        support::check_dest(conf)?;
        let key = self.svc(svc).ok_or(Errno::ESRCH)?.conf.key;
        self.purge_trash();
        let revived = (0..self.trash.len()).find(|&i| {
            self.trash.get(i).is_some_and(|t| trash_matches(&t.svc, &t.conf, &key, conf.af, &conf.addr, conf.port))
        });
        let rt = match revived.and_then(|i| kvec::remove(&mut self.trash, i)) {
            Some(t) => {
                if t.svc != key {
                    t.rt.stats.zero();
                }
                t.rt
            }
            // A new dest: only a unicast or local IPv4 address (`ip_vs_new_dest`).
            None if conf.af == AF_INET && !self.lookups.v4_unicast_or_local(v4(&conf.addr)) => {
                return Err(Errno::EINVAL)
            }
            None => Arc::new(
                DestRt {
                    af: conf.af,
                    addr: conf.addr,
                    port: conf.port,
                    fwd: AtomicU32::new(0),
                    weight: AtomicI32::new(0),
                    last_weight: AtomicI32::new(0),
                    u_threshold: AtomicU32::new(0),
                    l_threshold: AtomicU32::new(0),
                    l_threshold_val: AtomicU32::new(0),
                    flags: AtomicU32::new(0),
                    tun_type: AtomicU32::new(0),
                    tun_port: AtomicU32::new(0),
                    tun_flags: AtomicU32::new(0),
                    active: AtomicI32::new(0),
                    total: AtomicI32::new(0),
                    persist: AtomicI32::new(0),
                    available: AtomicU32::new(1),
                    stats: Stats::new().map_err(enomem)?,
                    route: RouteCache::new(),
                },
                GFP_KERNEL,
            )
            .map_err(enomem)?,
        };
        apply_conf(&rt, conf);
        rt.available.store(1, Ordering::Relaxed);
        let s = self.services.get_mut(svc).ok_or(Errno::ESRCH)?;
        kvec::insert(&mut s.dests, dest, DestEntry { conf: *conf, rt }).map_err(enomem)?;
        self.touch(svc);
        Ok(())
    }

    fn update_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()> {
        support::check_dest(conf)?;
        let d = self.services.get_mut(svc).and_then(|s| s.dests.get_mut(dest)).ok_or(Errno::ENOENT)?;
        d.conf = *conf;
        // Settings live in the shared dest itself: nothing to republish.
        apply_conf(&d.rt, conf);
        Ok(())
    }

    fn remove_dest(&mut self, svc: usize, dest: usize) {
        let Some(s) = self.services.get_mut(svc) else { return };
        let key = s.conf.key;
        if let Some(d) = kvec::remove(&mut s.dests, dest) {
            d.rt.available.store(0, Ordering::Relaxed);
            self.dests_removed = true;
            let _ = self.trash.push(Trashed { svc: key, conf: d.conf, rt: d.rt }, GFP_KERNEL);
        }
        self.touch(svc);
        self.purge_trash();
    }

    type Storage = KernelStorage;

    fn with_sched<R>(
        &mut self,
        svc: usize,
        f: impl FnOnce(&mut SchedState<KernelStorage>, &dyn DestSet) -> R,
    ) -> Option<R> {
        let s = self.svc(svc)?;
        let mut state = s.sched.lock();
        Some(f(&mut state, &EntryDests(&s.dests)))
    }

    fn replace_sched(
        &mut self,
        svc: usize,
        state: SchedState<KernelStorage>,
    ) -> Option<SchedState<KernelStorage>> {
        let s = self.svc(svc)?;
        let mut guard = s.sched.lock();
        let old = core::mem::replace(&mut *guard, state);
        drop(guard);
        // The caller frees the old tables, outside the lock.
        Some(old)
    }
}
