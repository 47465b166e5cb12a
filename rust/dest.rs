// SPDX-License-Identifier: GPL-2.0
//! A real server (dest) as the kernel keeps it: one object per dest, shared by the control
//! plane's service list, every published snapshot of its service, and its connections.
//!
//! Its identity (family, address, port) is fixed; its settings are atomics that the control
//! plane rewrites in place (under the netns control mutex) and the datapath reads without
//! locks. They are the dest's only copy of its configuration: [`Dest::conf`] reads it back.
//! Connection counters and the overload flag move with every connection bound to it.

use crate::ipvs_core::dest::{effective_l_threshold, overloaded, DestConf, DestInfo, DestSettings};
use crate::ipvs_core::sched::{DestSet, DestView, DEST_F_OVERLOAD};
use crate::ipvs_core::rs_filing::RsFiling;
use crate::ipvs_core::uapi::fwd;
use crate::stats::Stats;
use crate::sys::rcu::{RcuBox, ReadGuard};
use crate::sys::route_cache::RouteCache;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU16, AtomicU32, AtomicU8, Ordering};
use kernel::prelude::*;
use kernel::sync::Arc;

/// A real server.
pub(crate) struct Dest {
    pub(crate) af: u16,
    /// An IPv4 address has zeros after its first 4 bytes.
    pub(crate) addr: [u8; 16],
    /// Network byte order.
    pub(crate) port: [u8; 2],
    fwd_method: AtomicU32,
    weight: AtomicI32,
    last_weight: AtomicI32,
    u_threshold: AtomicU32,
    l_threshold: AtomicU32,
    /// The lower threshold in effect (75% of the upper one when unset).
    l_threshold_val: AtomicU32,
    /// `DEST_F_OVERLOAD`.
    flags: AtomicU32,
    tun_type: AtomicU8,
    /// Network byte order, as the bytes of a native `u16`.
    tun_port: AtomicU16,
    tun_flags: AtomicU16,
    /// Active connections (the protocol moves connections in and out).
    pub(crate) active: AtomicI32,
    /// Connections bound to this dest, active or not (templates excluded).
    total: AtomicI32,
    /// Persistence templates bound to this dest.
    persist: AtomicI32,
    /// Cleared when the dest is removed from its service; its connections keep it alive.
    available: AtomicBool,
    /// The dest of synced connections that named none of this director's dests: in no
    /// service, and replaced by a real one when one appears (see `Dest::new_unbound`).
    pub(crate) unbound: bool,
    pub(crate) stats: Stats,
    /// The counters of the service the dest is in, which its connections' packets count on
    /// too (upstream's `dest->svc`): set when the dest joins a service, replaced when it comes
    /// back from the trash into another one (a service deleted and added again, as by
    /// `ipvsadm -C; ipvsadm -R`), so that its old connections count on the new service. A
    /// dest in no service (the bypass and unbound stand-ins) has counters of its own that
    /// nothing shows.
    svc_stats: RcuBox<Arc<Stats>>,
    /// The route to it, reused between packets.
    pub(crate) route: RouteCache,
    /// Where the real-server index filed it (control plane only; see `rs_index`).
    pub(crate) rs_filing: RsFiling,
}

impl Dest {
    /// A new dest with `conf`, available, in the service whose counters are `svc_stats`
    /// (process context).
    pub(crate) fn new(conf: &DestConf, svc_stats: Arc<Stats>) -> Result<Arc<Self>> {
        Self::build(conf, false, svc_stats)
    }

    /// A dest of its own for a synced connection whose dest this director does not have (the
    /// backup's `unbound_dest`): it counts nowhere that the control plane or a scheduler sees.
    pub(crate) fn new_unbound(conf: &DestConf) -> Result<Arc<Self>> {
        Self::build(conf, true, Arc::new(Stats::new()?, GFP_KERNEL)?)
    }

    /// The stand-in dest of the connections `cache_bypass` makes (upstream's have none): the
    /// zero address and port of family `af`, forwarding by `fwd::BYPASS`, in no service.
    /// Its connections count nowhere (see `ConnData::counted`).
    pub(crate) fn new_bypass(af: u16) -> Result<Arc<Self>> {
        let settings = DestSettings { fwd_method: fwd::BYPASS, ..Default::default() };
        let own = Arc::new(Stats::new()?, GFP_KERNEL)?;
        Self::build(&DestConf { af, addr: [0; 16], port: [0, 0], settings, last_weight: 0 }, false, own)
    }

    fn build(conf: &DestConf, unbound: bool, svc_stats: Arc<Stats>) -> Result<Arc<Self>> {
        let dest = Arc::new(
            Dest {
                af: conf.af,
                addr: conf.addr,
                port: conf.port,
                fwd_method: AtomicU32::new(0),
                weight: AtomicI32::new(0),
                last_weight: AtomicI32::new(0),
                u_threshold: AtomicU32::new(0),
                l_threshold: AtomicU32::new(0),
                l_threshold_val: AtomicU32::new(0),
                flags: AtomicU32::new(0),
                tun_type: AtomicU8::new(0),
                tun_port: AtomicU16::new(0),
                tun_flags: AtomicU16::new(0),
                active: AtomicI32::new(0),
                total: AtomicI32::new(0),
                persist: AtomicI32::new(0),
                available: AtomicBool::new(true),
                unbound,
                stats: Stats::new()?,
                svc_stats: RcuBox::new(svc_stats)?,
                route: RouteCache::new(),
                rs_filing: RsFiling::new(),
            },
            GFP_KERNEL,
        )?;
        dest.configure(conf);
        Ok(dest)
    }

    /// Applies NEW_DEST / SET_DEST settings (control plane). The identity in `conf` is ours.
    pub(crate) fn configure(&self, conf: &DestConf) {
        let s = &conf.settings;
        self.fwd_method.store(s.fwd_method, Ordering::Relaxed);
        self.weight.store(s.weight, Ordering::Relaxed);
        self.last_weight.store(conf.last_weight, Ordering::Relaxed);
        self.set_thresholds(s.u_threshold, s.l_threshold);
        self.tun_type.store(s.tun_type, Ordering::Relaxed);
        self.tun_port.store(u16::from_ne_bytes(s.tun_port), Ordering::Relaxed);
        self.tun_flags.store(s.tun_flags, Ordering::Relaxed);
        // The next packet looks the route up again (the forwarding method may have changed).
        self.route.reset();
    }

    /// The settings as NEW_DEST / SET_DEST last set them.
    pub(crate) fn conf(&self) -> DestConf {
        DestConf {
            af: self.af,
            addr: self.addr,
            port: self.port,
            settings: DestSettings {
                fwd_method: self.fwd_method.load(Ordering::Relaxed),
                weight: self.weight(),
                u_threshold: self.u_threshold.load(Ordering::Relaxed),
                l_threshold: self.l_threshold.load(Ordering::Relaxed),
                tun_type: self.tun_type(),
                tun_port: self.tun_port(),
                tun_flags: self.tun_flags.load(Ordering::Relaxed),
            },
            last_weight: self.last_weight.load(Ordering::Relaxed),
        }
    }

    /// The settings and counters, as GET_DEST and /proc report them.
    pub(crate) fn info(&self) -> DestInfo {
        DestInfo {
            conf: self.conf(),
            active_conns: self.active.load(Ordering::Relaxed),
            inact_conns: self.inact_conns(),
            persist_conns: self.persist.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
        }
    }

    /// What a scheduler sees of this dest now.
    pub(crate) fn view(&self) -> DestView {
        DestView {
            af: self.af,
            addr: self.addr,
            port: self.port,
            weight: self.weight(),
            last_weight: self.last_weight.load(Ordering::Relaxed),
            active_conns: self.active.load(Ordering::Relaxed),
            inact_conns: self.inact_conns(),
            persist_conns: self.persist.load(Ordering::Relaxed),
            flags: self.flags.load(Ordering::Relaxed),
            available: self.is_available(),
        }
    }

    pub(crate) fn weight(&self) -> i32 {
        self.weight.load(Ordering::Relaxed)
    }

    /// The forwarding method (`uapi::fwd`) new connections get.
    pub(crate) fn fwd_method(&self) -> u32 {
        self.fwd_method.load(Ordering::Relaxed) & fwd::MASK
    }

    pub(crate) fn tun_type(&self) -> u8 {
        self.tun_type.load(Ordering::Relaxed)
    }

    /// Network byte order.
    pub(crate) fn tun_port(&self) -> [u8; 2] {
        self.tun_port.load(Ordering::Relaxed).to_ne_bytes()
    }

    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    pub(crate) fn tun_flags(&self) -> u16 {
        self.tun_flags.load(Ordering::Relaxed)
    }

    /// Whether the dest is still in its service's list.
    pub(crate) fn is_available(&self) -> bool {
        self.available.load(Ordering::Relaxed)
    }

    /// The counters of the dest's service, on which its connections' packets count.
    pub(crate) fn svc_stats<'g>(&self, rcu: &'g ReadGuard) -> &'g Stats {
        self.svc_stats.read(rcu)
    }

    /// The dest, back from the trash, joins the service whose counters are `svc_stats`: unless
    /// that is the service it left (the same object, not only the same address), its own
    /// counters start again from zero, as upstream's `__ip_vs_update_dest` does. Process
    /// context, under the control mutex.
    pub(crate) fn rejoin(&self, svc_stats: &Arc<Stats>) -> Result {
        if !Arc::ptr_eq(self.svc_stats.read(&ReadGuard::new()), svc_stats) {
            self.svc_stats.replace(svc_stats.clone())?;
            self.stats.zero();
        }
        Ok(())
    }

    /// The control plane linked (`true`) or unlinked (`false`) the dest.
    pub(crate) fn set_available(&self, available: bool) {
        self.available.store(available, Ordering::Relaxed);
    }

    /// Whether connections or templates still use the dest (its trash entry must stay).
    pub(crate) fn in_use(&self) -> bool {
        self.total.load(Ordering::Relaxed) + self.persist.load(Ordering::Relaxed) > 0
    }

    /// InActConn: the bound connections that are not active.
    fn inact_conns(&self) -> i32 {
        (self.total.load(Ordering::Relaxed) - self.active.load(Ordering::Relaxed)).max(0)
    }

    /// `__ip_vs_dest_update_overload()` for `mode` (+1 after a connection was bound at the
    /// upper threshold, -1 after one left at the lower, 0 after the thresholds changed).
    /// The flag is swapped in with a compare-and-swap that re-reads the counters, so
    /// concurrent updates cannot leave a stale decision behind (upstream takes `dst_lock`).
    fn update_overload(&self, mode: i32) {
        let mut flags = self.flags.load(Ordering::Acquire);
        loop {
            let overloaded = overloaded(
                flags & DEST_F_OVERLOAD != 0,
                self.total.load(Ordering::Relaxed),
                self.u_threshold.load(Ordering::Relaxed),
                self.l_threshold_val.load(Ordering::Relaxed),
                mode,
            );
            let new = if overloaded { flags | DEST_F_OVERLOAD } else { flags & !DEST_F_OVERLOAD };
            match self.flags.compare_exchange_weak(flags, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(now) => flags = now,
            }
        }
    }

    /// New thresholds; the flag is re-evaluated only if they changed.
    fn set_thresholds(&self, upper: u32, lower: u32) {
        if self.u_threshold.load(Ordering::Relaxed) == upper && self.l_threshold.load(Ordering::Relaxed) == lower {
            return;
        }
        self.u_threshold.store(upper, Ordering::Relaxed);
        self.l_threshold.store(lower, Ordering::Relaxed);
        self.l_threshold_val.store(effective_l_threshold(upper, lower), Ordering::Relaxed);
        self.update_overload(0);
    }

    /// A connection (`template` false) or a persistence template was bound to this dest.
    pub(crate) fn bind_conn(&self, template: bool) {
        if template {
            self.persist.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // New connections start inactive; the protocol moves them to ActiveConn.
        let total = self.total.fetch_add(1, Ordering::Relaxed) + 1;
        if total as u32 == self.u_threshold.load(Ordering::Relaxed) {
            self.update_overload(1);
        }
    }

    /// The reverse of [`Self::bind_conn`], when the connection expires.
    pub(crate) fn unbind_conn(&self, template: bool, active: bool) {
        if template {
            self.persist.fetch_sub(1, Ordering::Relaxed);
            return;
        }
        if active {
            self.active.fetch_sub(1, Ordering::Relaxed);
        }
        let before = self.total.fetch_sub(1, Ordering::Relaxed);
        if before as u32 == self.l_threshold_val.load(Ordering::Relaxed) {
            self.update_overload(-1);
        }
    }
}

/// A service's dests in list order, as its scheduler sees them.
pub(crate) struct Dests<'a>(pub(crate) &'a [Arc<Dest>]);

impl DestSet for Dests<'_> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn get(&self, idx: usize) -> Option<DestView> {
        self.0.get(idx).map(|d| d.view())
    }
}
