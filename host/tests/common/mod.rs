//! A Vec-backed `Store` for host tests, playing the glue's part (trash included).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use ipvs_core_host::ipvs_core::dest::{DestConf, DestInfo};
use ipvs_core_host::ipvs_core::store::{trash_matches, Store};
use ipvs_core_host::ipvs_core::errno::{Errno, Result};
use ipvs_core_host::ipvs_core::env::Env;
use ipvs_core_host::ipvs_core::nlattr::align;
use ipvs_core_host::ipvs_core::estimator::StatsView;
use ipvs_core_host::ipvs_core::service::{ServiceConf, ServiceKey};
use ipvs_core_host::sched::{DestSet, DestView};
use ipvs_core_host::storage::HostVecs;

pub type SchedState = ipvs_core_host::sched::SchedState<HostVecs>;

pub const ENV: Env = Env { hz: 1000, conn_tab_size: 4096, ipv6_enabled: true };

#[derive(Clone, Debug, PartialEq)]
pub struct TestDest {
    pub info: DestInfo,
    pub stats: StatsView,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TestService {
    pub conf: ServiceConf,
    pub stats: StatsView,
    pub sched: SchedState,
    pub dests: Vec<TestDest>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct VecStore {
    pub services: Vec<TestService>,
    /// Removed dests with the key of the service they belonged to.
    pub trash: Vec<(ServiceKey, TestDest)>,
    pub total: StatsView,
    /// Make the next insert fail with this errno (as the glue would on ENOMEM).
    pub fail_next_insert: Option<Errno>,
}

impl VecStore {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn views(&self, svc: usize) -> Vec<DestView> {
        self.services[svc].dests.iter().map(|d| d.info.view()).collect()
    }
}

impl Store for VecStore {
    fn service_count(&self) -> usize {
        self.services.len()
    }
    fn service(&self, svc: usize) -> Option<ServiceConf> {
        self.services.get(svc).map(|s| s.conf)
    }
    fn service_stats(&self, svc: usize) -> StatsView {
        self.services.get(svc).map(|s| s.stats).unwrap_or_default()
    }
    fn insert_service(&mut self, svc: usize, _slot: (u8, u8), conf: &ServiceConf) -> Result<()> {
        if let Some(e) = self.fail_next_insert.take() {
            return Err(e);
        }
        assert!(svc <= self.services.len());
        self.services.insert(
            svc,
            TestService { conf: *conf, stats: StatsView::default(), sched: SchedState::default(), dests: vec![] },
        );
        Ok(())
    }
    fn update_service(&mut self, svc: usize, conf: &ServiceConf) -> Result<()> {
        let s = &mut self.services[svc];
        assert_eq!(s.conf.key, conf.key);
        s.conf = *conf;
        Ok(())
    }
    fn remove_service(&mut self, svc: usize) {
        let s = self.services.remove(svc);
        for d in s.dests {
            self.trash.push((s.conf.key, d));
        }
    }
    fn zero_stats(&mut self, svc: usize) {
        let s = &mut self.services[svc];
        s.stats = StatsView::default();
        for d in &mut s.dests {
            d.stats = StatsView::default();
        }
    }
    fn zero_total_stats(&mut self) {
        self.total = StatsView::default();
    }
    fn dest_count(&self, svc: usize) -> usize {
        self.services.get(svc).map_or(0, |s| s.dests.len())
    }
    fn dest(&self, svc: usize, dest: usize) -> Option<DestInfo> {
        self.services.get(svc)?.dests.get(dest).map(|d| d.info)
    }
    fn dest_stats(&self, svc: usize, dest: usize) -> StatsView {
        self.services[svc].dests[dest].stats
    }
    fn insert_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()> {
        if let Some(e) = self.fail_next_insert.take() {
            return Err(e);
        }
        let key = self.services[svc].conf.key;
        let revived = self
            .trash
            .iter()
            .rposition(|(k, d)| trash_matches(k, &d.info.conf, &key, conf.af, &conf.addr, conf.port));
        let mut d = match revived {
            Some(i) => {
                let (old_key, mut d) = self.trash.remove(i);
                if old_key != key {
                    d.stats = StatsView::default();
                }
                d
            }
            None => TestDest {
                info: DestInfo { conf: *conf, active_conns: 0, inact_conns: 0, persist_conns: 0, flags: 0 },
                stats: StatsView::default(),
            },
        };
        d.info.conf = *conf;
        self.services[svc].dests.insert(dest, d);
        Ok(())
    }
    fn update_dest(&mut self, svc: usize, dest: usize, conf: &DestConf) -> Result<()> {
        self.services[svc].dests[dest].info.conf = *conf;
        Ok(())
    }
    fn remove_dest(&mut self, svc: usize, dest: usize) {
        let key = self.services[svc].conf.key;
        let d = self.services[svc].dests.remove(dest);
        self.trash.push((key, d));
    }
    type Storage = HostVecs;

    fn replace_sched(&mut self, svc: usize, state: SchedState) -> Option<SchedState> {
        self.services.get_mut(svc).map(|s| core::mem::replace(&mut s.sched, state))
    }

    fn with_sched<R>(&mut self, svc: usize, f: impl FnOnce(&mut SchedState, &dyn DestSet) -> R) -> Option<R> {
        if svc >= self.services.len() {
            return None;
        }
        let views = self.views(svc);
        let s = self.services.get_mut(svc)?;
        Some(f(&mut s.sched, &views.as_slice()))
    }
}

/// One netlink attribute, padded.
pub fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    v.resize(align(v.len()), 0);
    v
}

pub fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

pub fn addr16(prefix: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    a[..prefix.len()].copy_from_slice(prefix);
    a
}

/// A Weyl sequence: not random, but never stuck (twos rejects some values and draws again).
fn weyl_random() -> u32 {
    static STATE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    STATE.fetch_add(0x9e37_79b9, std::sync::atomic::Ordering::Relaxed)
}

/// A scheduling context for tests: no service flags, time 0, HZ 1000, default expirations,
/// a shared Weyl sequence for random numbers.
pub fn ctx() -> ipvs_core_host::sched::SchedCtx<'static> {
    ipvs_core_host::sched::SchedCtx {
        svc_flags: 0,
        now: 0,
        hz: 1000,
        lblc_expiration: 24 * 60 * 60 * 1000,
        lblcr_expiration: 24 * 60 * 60 * 1000,
        random: &weyl_random,
    }
}
