// SPDX-License-Identifier: GPL-2.0
//! The kernel's `Store`: a netns's services and dests, in KVecs under the netns control mutex,
//! and their publication to the datapath (`service::Published`).

use crate::dest::{Dest, Dests};
use crate::listing::Listing;
use crate::ipvs_core::dest::{DestConf, DestInfo};
use crate::ipvs_core::errno::{Errno, Result};
use crate::ipvs_core::estimator::StatsView;
use crate::ipvs_core::sched::{DestSet, SchedState};
use crate::ipvs_core::service::{ServiceConf, ServiceKey};
use crate::ipvs_core::store::{Store, TRASH_KEEP_SECS};
use crate::ipvs_core::support;
use crate::ipvs_core::addr::{addr_equal, v6_dest_needs_local};
use crate::ipvs_core::uapi::{AF_INET, AF_INET6};
use crate::rs_index::{RsIndex, RS_BUCKETS};
use crate::service::{copy, table_of, Entry, Published, Service, TableId};
use crate::ipvs_core::table_size::{self, MIN_BITS, SVC_MAX_BITS};
use crate::stats::Stats;
use crate::sys::{self, kvec};
use crate::sys::netfilter::Hooks;
use crate::sys::sched_storage::KernelStorage;
use crate::sys::NetLookups;
use crate::trash::Trash;
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::sync::Arc;

pub(crate) struct KernelStore {
    /// In listing order.
    services: Listing,
    trash: Trash,
    /// Netns totals, shared with the datapath.
    total: Arc<Stats>,
    /// What the published service tables hold, kept here so that a change copies only its
    /// bucket.
    by_addr: ServiceMirror,
    by_mark: ServiceMirror,
    /// The real-server index.
    real_servers: RsIndex,
    /// Buckets changed since they were last published (of a service table, at the size its
    /// mirror has).
    dirty: KVec<(TableId, usize)>,
    /// A change could not be recorded (out of memory): rebuild every bucket at the next publish.
    rebuild_all: bool,
    /// Dests were removed since [`KernelStore::take_dests_removed`] was last called.
    dests_removed: bool,
    /// The last dest put in the trash did not fit (no memory): the warning was given, and is
    /// not repeated for each dest of the same shortage (a flush of thousands of them).
    trash_short: bool,
    /// Which addresses may be real servers in this netns, and which devices it has.
    lookups: NetLookups,
    /// The datapath's netfilter hooks: registered with the first service and unregistered
    /// with the last (as upstream's `ip_vs_add_service` / `__ip_vs_del_service`), so that a
    /// netns without services pays nothing for IPVS, and a request refused before it could
    /// create one does not touch them.
    hooks: Pin<KBox<Hooks>>,
}

/// One service table as published, or as it is to be published whole.
struct ServiceMirror {
    /// `1 << bits` buckets.
    bits: u32,
    buckets: KVVec<KVec<Entry>>,
    /// Services in the table, which size it (`table_size::resize_to`).
    len: usize,
    /// The published table no longer matches this one's size or contents: it must be
    /// replaced whole (after a resize, a rebuild or a flush) rather than bucket by bucket.
    republish: bool,
    /// Flushed: the published buckets are to be emptied one by one before the table is
    /// replaced (see `Published::empty_services`).
    flushed: bool,
}

impl ServiceMirror {
    /// An empty table of `1 << bits` buckets.
    fn new(bits: u32) -> Result<Self> {
        let bits = bits.min(SVC_MAX_BITS);
        let n = 1usize << bits;
        let mut buckets = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            buckets.push(KVec::new(), GFP_KERNEL)?;
        }
        Ok(ServiceMirror { bits, buckets, len: 0, republish: true, flushed: false })
    }

    /// The bucket of the service with `key`.
    fn bucket_of(&self, key: &ServiceKey) -> usize {
        table_size::bucket(key.table_hash(), self.bits)
    }

    fn bucket_mut(&mut self, i: usize) -> Result<&mut KVec<Entry>> {
        self.buckets.get_mut(i).ok_or(Errno::EINVAL)
    }

    /// Puts `entry` in its bucket at this size (nothing moves on failure but what it pushed).
    fn add(&mut self, entry: Entry) -> Result<()> {
        let i = table_size::bucket(entry.hash(), self.bits);
        self.bucket_mut(i)?.push(entry, GFP_KERNEL)?;
        self.len = self.len.saturating_add(1);
        Ok(())
    }

    /// The size its services ask for, if not this one.
    fn wanted_bits(&self) -> Option<u32> {
        table_size::resize_to(u32::try_from(self.len).unwrap_or(u32::MAX), self.bits, SVC_MAX_BITS)
    }

    /// The same services in a table of `1 << bits` buckets, to be published whole. On
    /// failure this one is left as it was.
    fn resized(&self, bits: u32) -> Result<Self> {
        let mut new = ServiceMirror::new(bits)?;
        for e in self.buckets.iter().flat_map(|b| b.iter()) {
            new.add(e.clone())?;
        }
        Ok(new)
    }

    /// Empties every bucket, keeping the size; the published table is replaced whole.
    fn clear(&mut self) {
        for b in self.buckets.iter_mut() {
            *b = KVec::new();
        }
        self.len = 0;
        self.republish = true;
    }
}

/// The IPv4 address at the front of a 16-byte address field.
fn v4(addr: &[u8; 16]) -> [u8; 4] {
    [addr[0], addr[1], addr[2], addr[3]]
}

impl KernelStore {
    pub(crate) fn new(total: Arc<Stats>, lookups: NetLookups, hooks: Pin<KBox<Hooks>>) -> Result<Self> {
        Ok(KernelStore {
            services: Listing::new()?,
            trash: Trash::new(),
            total,
            // As `Published::new` makes them.
            by_addr: ServiceMirror { republish: false, ..ServiceMirror::new(MIN_BITS)? },
            by_mark: ServiceMirror { republish: false, ..ServiceMirror::new(MIN_BITS)? },
            real_servers: RsIndex::new()?,
            dirty: KVec::new(),
            rebuild_all: false,
            dests_removed: false,
            trash_short: false,
            lookups,
            hooks,
        })
    }

    /// Netns teardown: no hook may run once the netns core's grace period after `pre_exit`
    /// has passed, services or not.
    pub(crate) fn unregister_hooks(&self) {
        self.hooks.unregister_all();
    }

    fn mirror(&mut self, table: TableId) -> &mut ServiceMirror {
        if table == TableId::ByMark {
            &mut self.by_mark
        } else {
            &mut self.by_addr
        }
    }

    fn mark_dirty(&mut self, at: (TableId, usize)) -> Result<()> {
        if !self.dirty.contains(&at) {
            self.dirty.push(at, GFP_KERNEL)?;
        }
        Ok(())
    }

    /// Service `svc` changed: refresh its snapshot in its bucket. Out of memory, every bucket
    /// is rebuilt at the next publish.
    fn touch(&mut self, svc: usize) {
        let refreshed = (|| {
            let s = self.services.get(svc).ok_or(Errno::ENOENT)?;
            let (key, entry) = (*s.key(), Entry::new(s.snapshot()?));
            let table = table_of(&key);
            let mirror = self.mirror(table);
            let i = mirror.bucket_of(&key);
            let bucket = mirror.bucket_mut(i)?;
            match bucket.iter_mut().find(|x| *x.key() == key) {
                Some(x) => *x = entry,
                None => mirror.add(entry)?,
            }
            self.mark_dirty((table, i))
        })();
        if refreshed.is_err() {
            self.rebuild_all = true;
        }
    }

    /// The service with `key` is gone: drop it from its bucket.
    fn forget(&mut self, key: &ServiceKey) {
        let table = table_of(key);
        let mirror = self.mirror(table);
        let i = mirror.bucket_of(key);
        let removed = mirror.bucket_mut(i).map(|b| {
            b.iter().position(|x| x.key() == key).and_then(|at| kvec::remove(b, at)).is_some()
        });
        if let Ok(true) = removed {
            mirror.len = mirror.len.saturating_sub(1);
        }
        if removed.and_then(|_| self.mark_dirty((table, i))).is_err() {
            self.rebuild_all = true;
        }
    }

    /// Puts `dest` of the service with `key` in the real-server index, if its forwarding
    /// method is indexed.
    fn index_real_server(&mut self, dest: &Arc<Dest>, key: &ServiceKey) {
        let indexed = self
            .real_servers
            .index(dest, key)
            .and_then(|changed| changed.map_or(Ok(()), |i| self.mark_dirty((TableId::RealServers, i))));
        if indexed.is_err() {
            self.rebuild_all = true;
        }
    }

    /// Takes `dest` out of the real-server index, wherever it is.
    fn unindex_real_server(&mut self, dest: &Arc<Dest>) {
        if let Some(i) = self.real_servers.unindex(dest) {
            if self.mark_dirty((TableId::RealServers, i)).is_err() {
                self.rebuild_all = true;
            }
        }
    }

    /// Whether dests were removed since the last call (their connections may have to go).
    pub(crate) fn take_dests_removed(&mut self) -> bool {
        core::mem::take(&mut self.dests_removed)
    }

    /// Publishes the changed buckets, and a service table whole when its services ask for
    /// another size. On failure what is left stays pending.
    pub(crate) fn publish(&mut self, published: &Published) -> Result<()> {
        if self.rebuild_all {
            self.rebuild()?;
        }
        for table in [TableId::ByAddr, TableId::ByMark] {
            let mirror = self.mirror(table);
            if mirror.flushed {
                published.empty_services(table)?;
                mirror.flushed = false;
            }
            if let Some(bits) = mirror.wanted_bits() {
                // Re-slotted here first: if publishing fails, the next publish retries it
                // whole at the new size.
                *mirror = mirror.resized(bits)?;
            }
            if mirror.republish {
                published.publish_service_table(table, mirror.bits, &mirror.buckets)?;
                mirror.republish = false;
                kvec::retain(&mut self.dirty, |&mut (t, _)| t != table);
            }
        }
        while let Some(&(table, i)) = self.dirty.last() {
            match table {
                TableId::RealServers => published.publish_real_servers(i, self.real_servers.snapshot(i)?)?,
                _ => {
                    let mirror = self.mirror(table);
                    published.publish_services(table, mirror.bits, i, copy(mirror.bucket_mut(i)?)?)?
                }
            }
            let last = self.dirty.len() - 1;
            kvec::remove(&mut self.dirty, last);
        }
        Ok(())
    }

    /// Recomputes every bucket from the services, all to be published (the service tables
    /// whole; a resize may follow).
    fn rebuild(&mut self) -> Result<()> {
        self.by_addr.clear();
        self.by_mark.clear();
        self.real_servers.clear();
        for s in self.services.iter() {
            let (key, entry) = (*s.key(), Entry::new(s.snapshot()?));
            let mirror = if table_of(&key) == TableId::ByMark { &mut self.by_mark } else { &mut self.by_addr };
            mirror.add(entry)?;
            // Oldest first, so that each group's newest tunnel dest ends last, as insertions
            // leave it.
            for d in s.dests.iter().rev() {
                self.real_servers.index(d, &key)?;
            }
        }
        self.dirty = KVec::new();
        for i in 0..RS_BUCKETS {
            self.mark_dirty((TableId::RealServers, i))?;
        }
        self.rebuild_all = false;
        Ok(())
    }

    /// Drops every dest's cached route, the trash's included: a device went down, and a
    /// cached route through it would keep it from going away (see `sys::netdev`).
    pub(crate) fn forget_routes(&self) {
        for s in self.services.iter() {
            for d in s.dests.iter() {
                d.route.reset();
            }
        }
        for d in self.trash.dests() {
            d.route.reset();
        }
    }

    /// Whether a service of family `af` exists (its hooks are then registered).
    fn has_family(&self, af: u16) -> bool {
        self.services.has_family(af)
    }

    fn svc(&self, svc: usize) -> Option<&Service> {
        self.services.get(svc)
    }

    /// A dest left service `svc`: unlinked, and kept in the trash while connections use it.
    fn trash(&mut self, svc: ServiceKey, dest: Arc<Dest>) {
        self.unindex_real_server(&dest);
        self.trash_unindexed(svc, dest);
    }

    /// `trash` for a dest the real-server index no longer holds (a flush empties it whole).
    fn trash_unindexed(&mut self, svc: ServiceKey, dest: Arc<Dest>) {
        dest.set_available(false);
        dest.rs_filing.set(None);
        self.dests_removed = true;
        // Without memory, its connections still hold it; only a revival by a later NEW_DEST
        // (which would keep its counters) is lost: that NEW_DEST makes a fresh dest instead.
        let short = self.trash.put(svc, dest).is_err();
        if short && !self.trash_short {
            pr_warn!("out of memory: removed IPVS dests cannot be revived\n");
        }
        self.trash_short = short;
    }

    /// Drops the trashed dests no connection has used for [`TRASH_KEEP_SECS`] (upstream's
    /// trash expiry); every minute, from the netns's trash work.
    pub(crate) fn sweep_trash(&mut self) {
        self.trash.sweep(sys::jiffies(), u64::from(TRASH_KEEP_SECS) * u64::from(sys::hz()));
    }

    /// A matching dest from the trash (`ip_vs_trash_get_dest()`), for a new dest of the
    /// service `svc` whose counters are `svc_stats`: in that service now (see
    /// [`Dest::rejoin`]). `Ok(None)` when there is none; without memory for the move it stays
    /// in the trash.
    fn revive(&mut self, svc: &ServiceKey, svc_stats: &Arc<Stats>, conf: &DestConf) -> Result<Option<Arc<Dest>>> {
        let Some((old_svc, dest)) = self.trash.revive(svc, conf) else {
            return Ok(None);
        };
        if let Err(e) = dest.rejoin(svc_stats) {
            self.trash_unindexed(old_svc, dest);
            return Err(e.into());
        }
        Ok(Some(dest))
    }
}

impl Store for KernelStore {
    fn service_count(&self) -> usize {
        self.services.len()
    }

    fn service(&self, svc: usize) -> Option<ServiceConf> {
        self.svc(svc).map(|s| s.conf)
    }

    fn slot_start(&self, slot: (u8, u8), _salt: u32) -> usize {
        self.services.slot_start(slot)
    }

    fn find_in_slot(&self, key: &ServiceKey, slot: (u8, u8), _salt: u32) -> Option<usize> {
        self.services.find(key, slot)
    }

    fn service_stats(&self, svc: usize) -> StatsView {
        self.svc(svc).map_or_else(StatsView::default, |s| s.stats.view())
    }

    fn insert_service(&mut self, svc: usize, slot: (u8, u8), conf: &ServiceConf) -> Result<()> {
        support::check_service(conf)?;
        let service = KBox::new(Service::new(conf)?, GFP_KERNEL)?;
        let af = conf.key.af();
        if af == AF_INET6 {
            // IPv6 fragments are gathered by conntrack's defragmentation, which upstream
            // turns on for the netns with its first IPv6 service (kept until the netns goes).
            self.lookups.enable_ipv6_defrag()?;
        }
        let first = !self.has_family(af);
        if first {
            self.hooks.register(af)?;
        }
        if let Err(e) = self.services.insert(svc, slot, service) {
            if first {
                self.hooks.unregister(af);
            }
            return Err(e);
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
        let Some(mut s) = self.services.remove(svc) else { return };
        let key = *s.key();
        for d in core::mem::take(&mut s.dests) {
            self.trash(key, d);
        }
        self.forget(&key);
        if !self.has_family(key.af()) {
            self.hooks.unregister(key.af());
        }
    }

    fn remove_all_services(&mut self) {
        // The dests go to the trash in the order one removal at a time leaves them: the last
        // service first. The indexes are emptied whole rather than a dest at a time (a real
        // server shared by many services fills one bucket of the real-server index).
        let mut emptied: Result<()> = Ok(());
        while let Some(mut s) = self.services.pop_last() {
            let key = *s.key();
            for d in core::mem::take(&mut s.dests) {
                self.trash_unindexed(key, d);
            }
        }
        // Replaced whole at the next publish (shrunk back to the smallest size), once every
        // bucket is emptied.
        for mirror in [&mut self.by_addr, &mut self.by_mark] {
            mirror.clear();
            mirror.flushed = true;
        }
        for (i, held) in self.real_servers.clear().into_iter().enumerate() {
            if held {
                emptied = emptied.and(self.mark_dirty((TableId::RealServers, i)));
            }
        }
        if emptied.is_err() {
            self.rebuild_all = true;
        }
        self.hooks.unregister_all();
    }

    fn zero_stats(&mut self, svc: usize) {
        if let Some(s) = self.svc(svc) {
            s.stats.zero();
            for d in s.dests.iter() {
                d.stats.zero();
            }
        }
    }

    fn zero_total_stats(&mut self) {
        self.total.zero();
    }

    fn dest_count(&self, svc: usize) -> usize {
        self.svc(svc).map_or(0, |s| s.dests.len())
    }

    fn find_dest(&self, svc: usize, af: u16, addr: &[u8; 16], port: [u8; 2]) -> Option<usize> {
        // The identity is in the dest's plain fields: no settings to read back.
        self.svc(svc)?.dests.iter().position(|d| d.af == af && d.port == port && addr_equal(af, &d.addr, addr))
    }

    fn dest(&self, svc: usize, dest: usize) -> Option<DestInfo> {
        self.svc(svc)?.dests.get(dest).map(|d| d.info())
    }

    fn dest_stats(&self, svc: usize, dest: usize) -> StatsView {
        self.svc(svc).and_then(|s| s.dests.get(dest)).map_or_else(StatsView::default, |d| d.stats.view())
    }

    fn insert_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()> {
        let s = self.svc(svc).ok_or(Errno::ESRCH)?;
        let (key, svc_stats) = (*s.key(), s.stats.clone());
        let d = match self.revive(&key, &svc_stats, conf)? {
            Some(d) => {
                d.configure(conf);
                d.set_available(true);
                d
            }
            // A new dest: only a unicast or local IPv4 address (`ip_vs_new_dest`).
            None if conf.af == AF_INET && !self.lookups.v4_unicast_or_local(v4(&conf.addr)) => {
                return Err(Errno::EINVAL)
            }
            // IPv6: unicast and not link-local, unless local (`ip_vs_new_dest`).
            None if conf.af == AF_INET6 && v6_dest_needs_local(&conf.addr) && !self.lookups.v6_is_local(&conf.addr) => {
                return Err(Errno::EINVAL)
            }
            None => {
                // Conntrack's IPv6 defragmentation for a new IPv6 dest too (an IPv4 service's
                // tunnel dest among them), as upstream's `ip_vs_new_dest`.
                if conf.af == AF_INET6 {
                    self.lookups.enable_ipv6_defrag()?;
                }
                Dest::new(conf, svc_stats)?
            }
        };
        let s = self.services.get_mut(svc).ok_or(Errno::ESRCH)?;
        kvec::insert(&mut s.dests, dest, d.clone())?;
        self.index_real_server(&d, &key);
        self.touch(svc);
        Ok(())
    }

    fn update_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()> {
        let s = self.svc(svc).ok_or(Errno::ENOENT)?;
        let (key, d) = (*s.key(), s.dests.get(dest).ok_or(Errno::ENOENT)?.clone());
        let (old, new) = (d.conf().settings, &conf.settings);
        // The settings live in the shared dest itself: nothing to republish, unless the
        // real-server index files it elsewhere now (upstream rehashes on these changes).
        d.configure(conf);
        if (old.fwd_method, old.tun_type, old.tun_port) != (new.fwd_method, new.tun_type, new.tun_port) {
            self.unindex_real_server(&d);
            self.index_real_server(&d, &key);
        }
        Ok(())
    }

    fn remove_dest(&mut self, svc: usize, dest: usize) {
        let Some(s) = self.services.get_mut(svc) else { return };
        let key = *s.key();
        if let Some(d) = kvec::remove(&mut s.dests, dest) {
            self.trash(key, d);
        }
        self.touch(svc);
    }

    type Storage = KernelStorage;

    fn with_sched<R>(
        &mut self,
        svc: usize,
        f: impl FnOnce(&mut SchedState<KernelStorage>, &dyn DestSet) -> R,
    ) -> Option<R> {
        let s = self.svc(svc)?;
        let mut state = s.sched.lock();
        Some(f(&mut state, &Dests(&s.dests)))
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
