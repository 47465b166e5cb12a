// SPDX-License-Identifier: GPL-2.0
//! A virtual service as the kernel keeps it, and the per-netns tables in which the datapath
//! finds services.
//!
//! The control plane keeps one [`Service`] per virtual service and changes it in place; the
//! datapath sees immutable snapshots of it ([`Service::snapshot`]), published with RCU bucket
//! by bucket in [`Published`]. A snapshot copies the configuration and the dest list; the dests
//! themselves, the scheduler state and the counters are shared with the control plane's
//! service and with every other snapshot.

use crate::dest::{Dest, Dests};
use crate::ipvs_core::addr::fold;
use crate::ipvs_core::persist::PersistSvc;
use crate::ipvs_core::sched::{Flow, SchedCtx, SchedState};
use crate::ipvs_core::service::{ServiceConf, ServiceKey};
use crate::rs_index::{rs_bucket, RealServer, RS_BUCKETS};
use crate::ipvs_core::sysctl;
use crate::stats::Stats;
use crate::sys::rcu::{RcuBox, ReadGuard};
use crate::sys::sched_storage::KernelStorage;
use crate::sys::sync::{BhSpinLock, LockClass};
use crate::sys::sysctl::NetSysctls;
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

/// Buckets of each published service table (upstream's `IP_VS_SVC_TAB_SIZE`).
pub(crate) const SVC_BUCKETS: usize = 256;
/// The bucket of a service on `addr:port` (an IPv6 address folded, so that services of one
/// prefix spread, as upstream's `ip_vs_svc_hashkey`).
fn addr_bucket(af: u16, protocol: u16, addr: &[u8; 16], port: [u8; 2]) -> usize {
    let x = fold(af, addr) ^ (u32::from(u16::from_be_bytes(port)) << 16) ^ u32::from(protocol);
    (x.wrapping_mul(0x9e37_79b1) >> 24) as usize
}

/// The bucket of a firewall-mark service.
fn mark_bucket(mark: u32) -> usize {
    (mark.wrapping_mul(0x9e37_79b1) >> 24) as usize
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

/// The published table and bucket of the service with `key`.
pub(crate) fn slot(key: &ServiceKey) -> (TableId, usize) {
    match *key {
        ServiceKey::Fwmark { mark, .. } => (TableId::ByMark, mark_bucket(mark)),
        ServiceKey::Addr { af, protocol, addr, port } => (TableId::ByAddr, addr_bucket(af, protocol, &addr, port)),
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

/// What the datapath finds services and real servers by in a netns: the services by address
/// and port and by firewall mark, and the real-server index. Each bucket is published on its
/// own, so a change copies only the buckets it touches.
pub(crate) struct Published {
    by_addr: RcuBuckets<Service>,
    by_mark: RcuBuckets<Service>,
    real_servers: RcuBuckets<RealServer>,
}

impl Published {
    pub(crate) fn new() -> Result<Self> {
        Ok(Published {
            by_addr: RcuBuckets::new(SVC_BUCKETS)?,
            by_mark: RcuBuckets::new(SVC_BUCKETS)?,
            real_servers: RcuBuckets::new(RS_BUCKETS)?,
        })
    }

    /// The service with exactly `key`.
    fn get<'g>(&self, guard: &'g ReadGuard, key: &ServiceKey) -> Option<&'g Arc<Service>> {
        let (table, i) = slot(key);
        let t = if table == TableId::ByMark { &self.by_mark } else { &self.by_addr };
        t.get(i, guard).iter().find(|s| s.key() == key)
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
        let on = |port| self.get(guard, &ServiceKey::Addr { af, protocol, addr: *addr, port });
        (if mark != 0 { self.get(guard, &ServiceKey::Fwmark { af, mark }) } else { None })
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
    /// run in between (process context): a service published throughout is seen once.
    pub(crate) fn for_each_service(&self, mut f: impl FnMut(&Service)) {
        let mut guard = ReadGuard::new();
        for table in [&self.by_addr, &self.by_mark] {
            for i in 0..table.buckets.len() {
                for s in table.get(i, &guard) {
                    f(s);
                }
                guard.pause();
            }
        }
    }

    /// Replaces a bucket of services (process context, under the netns control mutex).
    pub(crate) fn publish_services(&self, (table, i): (TableId, usize), services: KVec<Arc<Service>>) -> Result {
        match table {
            TableId::ByAddr => self.by_addr.publish(i, services),
            TableId::ByMark => self.by_mark.publish(i, services),
            TableId::RealServers => Err(EINVAL),
        }
    }

    /// Replaces a bucket of the real-server index (process context, under the control mutex).
    pub(crate) fn publish_real_servers(&self, i: usize, entries: KVec<Arc<RealServer>>) -> Result {
        self.real_servers.publish(i, entries)
    }
}
