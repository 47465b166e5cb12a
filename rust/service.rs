// SPDX-License-Identifier: GPL-2.0
//! A virtual service as the kernel keeps it, and the per-netns tables in which the datapath
//! finds services.
//!
//! The control plane keeps one [`Service`] per virtual service and changes it in place; the
//! datapath sees immutable snapshots of it ([`Service::snapshot`]), published with RCU bucket
//! by bucket in [`Published`], whose service tables are replaced whole when the number of
//! services asks for another size. A snapshot copies the configuration and the dest list; the
//! dests themselves, the scheduler state and the counters are shared with the control plane's
//! service and with every other snapshot.

use crate::dest::{Dest, Dests};
use crate::ipvs_core::persist::PersistSvc;
use crate::ipvs_core::sched::{Flow, SchedCtx, SchedState};
use crate::ipvs_core::service::{ServiceConf, ServiceKey};
use crate::rs_index::{rs_bucket, RealServer, RS_BUCKETS};
use crate::ipvs_core::sysctl;
use crate::ipvs_core::table_size::{bucket, HashWalk, MIN_BITS, SVC_MAX_BITS};
use crate::stats::Stats;
use crate::sys::rcu::{RcuBox, ReadGuard, Staged};
use crate::sys::sched_storage::KernelStorage;
use crate::sys::sync::{BhSpinLock, LockClass};
use crate::sys::sysctl::NetSysctls;
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Each service's scheduler state lock.
static SCHED_LOCK_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_sched_state"));

/// A virtual service: its configuration, its dests in list order (newest first), its scheduler
/// state and its counters.
pub(crate) struct Service {
    pub(crate) conf: ServiceConf,
    pub(crate) dests: KVec<Arc<Dest>>,
    /// Taken in softirq (scheduling) and process context (dest changes), hence BH-disabling.
    pub(crate) sched: Arc<BhSpinLock<SchedState<KernelStorage>>>,
    pub(crate) stats: Arc<Stats>,
}

impl Service {
    /// A new service with no dests and no scheduler bound yet (process context).
    pub(crate) fn new(conf: &ServiceConf) -> Result<Self> {
        Ok(Service {
            conf: *conf,
            dests: KVec::new(),
            sched: Arc::pin_init(BhSpinLock::new(SchedState::Unbound, &SCHED_LOCK_CLASS), GFP_KERNEL)?,
            stats: Arc::new(Stats::new()?, GFP_KERNEL)?,
        })
    }

    /// What the datapath gets to see of the service at this moment.
    pub(crate) fn snapshot(&self) -> Result<Arc<Service>> {
        let mut dests = KVec::with_capacity(self.dests.len(), GFP_KERNEL)?;
        for d in self.dests.iter() {
            dests.push(d.clone(), GFP_KERNEL)?;
        }
        let copy = Service { conf: self.conf, dests, sched: self.sched.clone(), stats: self.stats.clone() };
        Ok(Arc::new(copy, GFP_KERNEL)?)
    }

    pub(crate) fn key(&self) -> &ServiceKey {
        &self.conf.key
    }

    /// Whether any of `IP_VS_SVC_F_*` `flags` is set.
    pub(crate) fn has_flag(&self, flags: u32) -> bool {
        self.conf.flags & flags != 0
    }

    /// What persistence looks at: the port, the mark and the netmask.
    pub(crate) fn persist(&self) -> PersistSvc {
        PersistSvc {
            port: self.conf.key.port(),
            fwmark: self.conf.key.fwmark(),
            af: self.conf.key.af(),
            netmask: self.conf.netmask,
        }
    }

    /// Picks a dest for a new connection (softirq), with the netns's sysctls.
    pub(crate) fn schedule(&self, flow: &Flow, sysctls: &NetSysctls) -> Option<Arc<Dest>> {
        let ctx = SchedCtx {
            svc_flags: self.conf.flags,
            now: crate::sys::jiffies(),
            hz: crate::sys::hz(),
            lblc_expiration: sysctls.get(sysctl::idx::LBLC_EXPIRATION),
            lblcr_expiration: sysctls.get(sysctl::idx::LBLCR_EXPIRATION),
            random: &crate::sys::random_u32,
        };
        let idx = self.sched.lock().schedule(&Dests(&self.dests), flow, &ctx)?;
        self.dests.get(idx).cloned()
    }
}

/// A published service with the hash that placed it ([`ServiceKey::table_hash`]): a lookup
/// compares the hashes in the bucket's array and follows the pointer only of a service whose
/// hash matches, rather than every service it passes.
#[derive(Clone)]
pub(crate) struct Entry {
    hash: u32,
    svc: Arc<Service>,
}

impl Entry {
    pub(crate) fn new(svc: Arc<Service>) -> Self {
        Entry { hash: svc.key().table_hash(), svc }
    }

    pub(crate) fn hash(&self) -> u32 {
        self.hash
    }

    pub(crate) fn key(&self) -> &ServiceKey {
        self.svc.key()
    }
}

/// One of the tables in [`Published`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TableId {
    /// Services by address, protocol and port.
    ByAddr,
    /// Services by firewall mark.
    ByMark,
    /// Real servers (see [`RealServer`]).
    RealServers,
}

/// The service table that holds the service with `key`.
pub(crate) fn table_of(key: &ServiceKey) -> TableId {
    match key {
        ServiceKey::Fwmark { .. } => TableId::ByMark,
        ServiceKey::Addr { .. } => TableId::ByAddr,
    }
}

/// A hash table of `Arc<T>` whose buckets are published with RCU one by one (process
/// context, under the netns control mutex) and read without locks.
struct RcuBuckets<T: Send + Sync + 'static> {
    buckets: KVec<RcuBox<KVec<Arc<T>>>>,
}

impl<T: Send + Sync + 'static> RcuBuckets<T> {
    fn new(n: usize) -> Result<Self> {
        let mut buckets = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            buckets.push(RcuBox::new(KVec::new())?, GFP_KERNEL)?;
        }
        Ok(RcuBuckets { buckets })
    }

    fn get<'g>(&self, i: usize, guard: &'g ReadGuard) -> &'g [Arc<T>] {
        self.buckets.get(i).map_or(&[], |b| &b.read(guard)[..])
    }

    fn publish(&self, i: usize, entries: KVec<Arc<T>>) -> Result {
        self.buckets.get(i).ok_or(EINVAL)?.replace(entries)
    }
}

/// One generation of a service table: `1 << bits` buckets, each published on its own.
struct ServiceBuckets {
    bits: u32,
    /// Up to 2^16 buckets (512 KiB of pointers), past what kmalloc gives reliably.
    buckets: KVVec<RcuBox<KVec<Entry>>>,
}

impl ServiceBuckets {
    /// The entries whose hash falls in bucket `i`.
    fn bucket<'g>(&'g self, i: usize, guard: &'g ReadGuard) -> &'g [Entry] {
        self.buckets.get(i).map_or(&[], |b| &b.read(guard)[..])
    }
}

/// A service table that grows and shrinks with the services it holds: its bucket array is
/// itself published with RCU, so that a resize replaces it whole while a change replaces
/// one bucket. Written in process context under the netns control mutex, which serialises
/// writers; read without locks.
///
/// A reader loads the array once and finds the bucket count beside the buckets, so it sees
/// the old array or the new one, whole, never a mix of sizes. A replaced array is freed by
/// `call_rcu` ([`RcuBox::replace`]) with the buckets it holds, a grace period after it
/// became unreachable, when no reader can still be in it; a bucket replaced in an array is
/// freed likewise.
struct ServiceTable {
    array: RcuBox<ServiceBuckets>,
}

impl ServiceTable {
    fn new(bits: u32) -> Result<Self> {
        Ok(ServiceTable { array: RcuBox::new(Self::array(bits, |_| Ok(KVec::new()))?)? })
    }

    /// An array of `1 << bits` buckets, bucket `i` holding `fill(i)`.
    fn array(bits: u32, mut fill: impl FnMut(usize) -> Result<KVec<Entry>>) -> Result<ServiceBuckets> {
        let bits = bits.min(SVC_MAX_BITS);
        let n = 1usize << bits;
        let mut buckets = KVVec::with_capacity(n, GFP_KERNEL)?;
        for i in 0..n {
            buckets.push(RcuBox::new(fill(i)?)?, GFP_KERNEL)?;
        }
        Ok(ServiceBuckets { bits, buckets })
    }

    fn current<'g>(&self, guard: &'g ReadGuard) -> &'g ServiceBuckets {
        self.array.read(guard)
    }

    /// The service with exactly `key`.
    fn get<'g>(&self, guard: &'g ReadGuard, key: &ServiceKey) -> Option<&'g Arc<Service>> {
        let t = self.current(guard);
        let hash = key.table_hash();
        t.bucket(bucket(hash, t.bits), guard).iter().find(|e| e.hash == hash && e.key() == key).map(|e| &e.svc)
    }

    /// Replaces bucket `i` of the array of `1 << bits` buckets (refused if the array in place
    /// has another size: the caller's index is for that size).
    fn publish(&self, bits: u32, i: usize, entries: KVec<Entry>) -> Result {
        // Allocated outside the read-side section, which may not sleep.
        let entries = Staged::new(entries)?;
        // The section keeps the array in place alive while we reach its bucket (writers are
        // serialised, so none replaces it meanwhile; the section makes that no soundness
        // matter).
        let guard = ReadGuard::new();
        let t = self.current(&guard);
        if t.bits != bits {
            return Err(EINVAL);
        }
        t.buckets.get(i).ok_or(EINVAL)?.replace_staged(entries);
        Ok(())
    }

    /// Empties every occupied bucket of the array in place, one at a time (a flush, before the
    /// array is replaced): each bucket's services then go by a `call_rcu` of their own, as a
    /// change's do, rather than all of them in the one callback that frees a replaced array,
    /// which would hold a CPU in softirq as long as freeing ten thousand services takes.
    fn empty_each_bucket(&self) -> Result {
        let mut i = 0usize;
        loop {
            let (bits, occupied) = {
                let guard = ReadGuard::new();
                let t = self.current(&guard);
                if i >= t.buckets.len() {
                    return Ok(());
                }
                (t.bits, !t.bucket(i, &guard).is_empty())
            };
            if occupied {
                self.publish(bits, i, KVec::new())?;
            }
            i += 1;
        }
    }

    /// Replaces the whole array by one of `1 << bits` buckets with copies of `buckets`.
    fn publish_all(&self, bits: u32, buckets: &[KVec<Entry>]) -> Result {
        let array = Self::array(bits, |i| buckets.get(i).map_or_else(|| Ok(KVec::new()), copy))?;
        self.array.replace(array)
    }

    /// Buckets now.
    fn size(&self) -> usize {
        let guard = ReadGuard::new();
        self.current(&guard).buckets.len()
    }

    /// Every service in the table, a bucket at a time, letting other tasks run in between
    /// (process context).
    ///
    /// A resize between two buckets replaces the array, so the walk keeps its place as a hash
    /// ([`HashWalk`]), not a bucket index, and reads the array in place again after each
    /// pause: a service in the table throughout the walk (its hash never changes, and its
    /// snapshots replace each other in place) is visited exactly once, at whichever size;
    /// one added or removed meanwhile may be visited or not.
    fn for_each(&self, guard: &mut ReadGuard, f: &mut impl FnMut(&Service)) {
        let mut walk = HashWalk::new();
        loop {
            let t = self.current(guard);
            let Some((i, from)) = walk.step(t.bits) else { break };
            for e in t.bucket(i, guard).iter().filter(|e| e.hash >= from) {
                f(&e.svc);
            }
            guard.pause();
        }
    }
}

/// A copy of a bucket, to publish.
pub(crate) fn copy<T: Clone>(bucket: &KVec<T>) -> Result<KVec<T>> {
    let mut copy = KVec::with_capacity(bucket.len(), GFP_KERNEL)?;
    for entry in bucket.iter() {
        copy.push(entry.clone(), GFP_KERNEL)?;
    }
    Ok(copy)
}

/// What the datapath finds services and real servers by in a netns: the services by address
/// and port and by firewall mark, and the real-server index. Each bucket is published on its
/// own, so a change copies only the buckets it touches; a service table is published whole
/// when it is resized.
pub(crate) struct Published {
    by_addr: ServiceTable,
    by_mark: ServiceTable,
    real_servers: RcuBuckets<RealServer>,
}

impl Published {
    pub(crate) fn new() -> Result<Self> {
        Ok(Published {
            by_addr: ServiceTable::new(MIN_BITS)?,
            by_mark: ServiceTable::new(MIN_BITS)?,
            real_servers: RcuBuckets::new(RS_BUCKETS)?,
        })
    }

    /// `ip_vs_service_find()`: a firewall-mark service for a marked packet first, then the
    /// service on `addr:port`, then a port-zero service on `addr`.
    pub(crate) fn find<'g>(
        &self,
        guard: &'g ReadGuard,
        af: u16,
        protocol: u16,
        addr: &[u8; 16],
        port: [u8; 2],
        mark: u32,
    ) -> Option<&'g Arc<Service>> {
        let on = |port| self.by_addr.get(guard, &ServiceKey::Addr { af, protocol, addr: *addr, port });
        (if mark != 0 { self.by_mark.get(guard, &ServiceKey::Fwmark { af, mark }) } else { None })
            .or_else(|| on(port))
            .or_else(|| if port != [0, 0] { on([0, 0]) } else { None })
    }

    /// `ip_vs_has_real_service()`: whether `addr:port` is a NAT dest of a service of this
    /// protocol (or of a firewall-mark service).
    pub(crate) fn has_real_service(&self, guard: &ReadGuard, af: u16, protocol: u16, addr: &[u8; 16], port: [u8; 2]) -> bool {
        self.real_servers.get(rs_bucket(af, addr, port), guard).iter().any(|rs| rs.serves_nat(af, protocol, addr, port))
    }

    /// `ip_vs_find_tunnel()`: the most recently indexed tunnel dest at `addr` with this tunnel
    /// port.
    pub(crate) fn find_tunnel<'g>(&self, guard: &'g ReadGuard, af: u16, addr: &[u8; 16], tun_port: [u8; 2]) -> Option<&'g Dest> {
        self.real_servers.get(rs_bucket(af, addr, tun_port), guard).iter().find_map(|rs| rs.tunnel(af, addr, tun_port))
    }

    /// Every published service (for the estimator), a bucket at a time, letting other tasks
    /// run in between (process context): a service published throughout is seen once, even
    /// if its table is resized meanwhile (see `ServiceTable::for_each`).
    pub(crate) fn for_each_service(&self, mut f: impl FnMut(&Service)) {
        let mut guard = ReadGuard::new();
        self.by_addr.for_each(&mut guard, &mut f);
        self.by_mark.for_each(&mut guard, &mut f);
    }

    /// The buckets of the tables by address and by firewall mark now (for /proc).
    pub(crate) fn service_buckets(&self) -> (usize, usize) {
        (self.by_addr.size(), self.by_mark.size())
    }

    fn services(&self, table: TableId) -> Result<&ServiceTable> {
        match table {
            TableId::ByAddr => Ok(&self.by_addr),
            TableId::ByMark => Ok(&self.by_mark),
            TableId::RealServers => Err(EINVAL),
        }
    }

    /// Replaces bucket `i` of a service table of `1 << bits` buckets (process context, under
    /// the netns control mutex).
    pub(crate) fn publish_services(&self, table: TableId, bits: u32, i: usize, services: KVec<Entry>) -> Result {
        self.services(table)?.publish(bits, i, services)
    }

    /// Empties every bucket of a service table, one at a time (a flush; process context, under
    /// the netns control mutex).
    pub(crate) fn empty_services(&self, table: TableId) -> Result {
        self.services(table)?.empty_each_bucket()
    }

    /// Replaces a service table whole, by one of `1 << bits` buckets holding copies of
    /// `buckets` (process context, under the netns control mutex): a resize.
    pub(crate) fn publish_service_table(&self, table: TableId, bits: u32, buckets: &[KVec<Entry>]) -> Result {
        self.services(table)?.publish_all(bits, buckets)
    }

    /// Replaces a bucket of the real-server index (process context, under the control mutex).
    pub(crate) fn publish_real_servers(&self, i: usize, entries: KVec<Arc<RealServer>>) -> Result {
        self.real_servers.publish(i, entries)
    }
}
