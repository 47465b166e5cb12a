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
use crate::ipvs_core::persist::PersistSvc;
use crate::ipvs_core::sched::{Flow, SchedCtx, SchedState};
use crate::ipvs_core::service::{ServiceConf, ServiceKey};
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
        PersistSvc { port: self.conf.key.port(), fwmark: self.conf.key.fwmark(), netmask: self.conf.netmask }
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

/// The bucket of a service on `addr:port` (any family; IPv4 addresses use the first word).
fn addr_bucket(protocol: u16, addr: &[u8; 16], port: [u8; 2]) -> usize {
    let a = u32::from_be_bytes([addr[0], addr[1], addr[2], addr[3]]);
    let x = a ^ (u32::from(u16::from_be_bytes(port)) << 16) ^ u32::from(protocol);
    (x.wrapping_mul(0x9e37_79b1) >> 24) as usize
}

/// The bucket of a firewall-mark service.
fn mark_bucket(mark: u32) -> usize {
    (mark.wrapping_mul(0x9e37_79b1) >> 24) as usize
}

/// Which published table a service is in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SvcTable {
    ByAddr,
    ByMark,
}

/// The published table and bucket of the service with `key`.
pub(crate) fn slot(key: &ServiceKey) -> (SvcTable, usize) {
    match *key {
        ServiceKey::Fwmark { mark, .. } => (SvcTable::ByMark, mark_bucket(mark)),
        ServiceKey::Addr { protocol, addr, port, .. } => (SvcTable::ByAddr, addr_bucket(protocol, &addr, port)),
    }
}

/// The services of one bucket at one moment.
#[derive(Default)]
pub(crate) struct Bucket {
    pub(crate) services: KVec<Arc<Service>>,
}

/// The services of a netns as the datapath sees them: two hash tables (by address and port,
/// and by firewall mark) whose buckets are published with RCU one by one, so a change to one
/// service copies only its bucket.
pub(crate) struct Published {
    by_addr: KVec<RcuBox<Bucket>>,
    by_mark: KVec<RcuBox<Bucket>>,
}

impl Published {
    pub(crate) fn new() -> Result<Self> {
        let mut by_addr = KVec::with_capacity(SVC_BUCKETS, GFP_KERNEL)?;
        let mut by_mark = KVec::with_capacity(SVC_BUCKETS, GFP_KERNEL)?;
        for _ in 0..SVC_BUCKETS {
            by_addr.push(RcuBox::new(Bucket::default())?, GFP_KERNEL)?;
            by_mark.push(RcuBox::new(Bucket::default())?, GFP_KERNEL)?;
        }
        Ok(Published { by_addr, by_mark })
    }

    fn bucket<'g>(&self, (table, i): (SvcTable, usize), guard: &'g ReadGuard) -> &'g [Arc<Service>] {
        let t = if table == SvcTable::ByAddr { &self.by_addr } else { &self.by_mark };
        t.get(i).map_or(&[], |b| &b.read(guard).services[..])
    }

    /// The service with exactly `key`.
    fn get<'g>(&self, guard: &'g ReadGuard, key: &ServiceKey) -> Option<&'g Arc<Service>> {
        self.bucket(slot(key), guard).iter().find(|s| s.key() == key)
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

    /// Every published service (for the estimator).
    pub(crate) fn for_each(&self, guard: &ReadGuard, mut f: impl FnMut(&Service)) {
        for b in Iterator::chain(self.by_addr.iter(), self.by_mark.iter()) {
            for s in b.read(guard).services.iter() {
                f(s);
            }
        }
    }

    /// Replaces one bucket (process context, under the netns control mutex).
    pub(crate) fn publish(&self, (table, i): (SvcTable, usize), services: KVec<Arc<Service>>) -> Result {
        let t = if table == SvcTable::ByAddr { &self.by_addr } else { &self.by_mark };
        match t.get(i) {
            Some(b) => b.replace(Bucket { services }),
            None => Err(EINVAL),
        }
    }
}
