// SPDX-License-Identifier: GPL-2.0
//! Real servers (dests) of a virtual service: their configuration, upstream's add / edit /
//! delete semantics (`ip_vs_add_dest()`, `ip_vs_edit_dest()`, `ip_vs_del_dest()`) with its
//! errnos in its order, and the pure rules the glue applies (trash reuse, overload flag).

use super::errno::{Errno, Result};
use super::request::{DestSettings, DestSpec};
use super::addr::addr_equal;
use super::service::{sched_dest_changed, ServiceKey, Store};
use super::uapi::{fwd, tun_type};
use super::sched::{DestChange, DestView};

/// A dest's configuration, as NEW_DEST / SET_DEST set it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestConf {
    pub af: u16,
    /// An IPv4 address has zeros after its first 4 bytes.
    pub addr: [u8; 16],
    /// Network byte order.
    pub port: [u8; 2],
    /// Forwarding method (`fwd::*`). Upstream's connection flags add INACTIVE, and NOOUTPUT
    /// for every method but MASQ.
    pub fwd_method: u32,
    pub weight: i32,
    /// The latest non-zero weight (the weight at creation, even 0).
    pub last_weight: i32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: u8,
    /// Network byte order.
    pub tun_port: [u8; 2],
    pub tun_flags: u16,
}

/// A dest with the counters the glue maintains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestInfo {
    pub conf: DestConf,
    pub active_conns: i32,
    /// `ip_vs_dest_inactconns()`: total less active, never below 0.
    pub inact_conns: i32,
    pub persist_conns: i32,
    /// `dest->flags` (`super::sched::DEST_F_OVERLOAD`).
    pub flags: u32,
}

impl DestInfo {
    /// What a scheduler sees of this dest.
    pub fn view(&self) -> DestView {
        DestView {
            af: self.conf.af,
            addr: self.conf.addr,
            port: self.conf.port,
            weight: self.conf.weight,
            last_weight: self.conf.last_weight,
            active_conns: self.active_conns,
            inact_conns: self.inact_conns,
            persist_conns: self.persist_conns,
            flags: self.flags,
            available: true,
        }
    }
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
        fwd_method: s.fwd_method & fwd::MASK,
        weight: s.weight,
        last_weight,
        u_threshold: s.u_threshold,
        l_threshold: s.l_threshold,
        tun_type: s.tun_type,
        tun_port: s.tun_port,
        tun_flags: s.tun_flags,
    }
}

// The dest commands take the request as decoding produced it (`super::request::parse_dest`),
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

/// The lower threshold in effect (`l_threshold_val`): 75% of the upper one when unset.
pub fn effective_l_threshold(u_threshold: u32, l_threshold: u32) -> u32 {
    if l_threshold != 0 {
        l_threshold
    } else {
        u_threshold - (u_threshold >> 2)
    }
}

/// `__ip_vs_dest_update_overload()`: the overload flag after a change, given the dest's total
/// connections. `mode` > 0 after a connection was added, < 0 after one was removed, 0 after
/// the thresholds changed. Without an upper threshold a dest is never overloaded.
pub fn overloaded(was: bool, total_conns: i32, u_threshold: u32, l_threshold_val: u32, mode: i32) -> bool {
    if u_threshold == 0 {
        return false;
    }
    // C compares the int count with the unsigned thresholds as unsigned.
    let conns = total_conns as u32;
    if conns >= (if mode > 0 { l_threshold_val } else { u_threshold }) {
        return true;
    }
    if conns >= (if mode < 0 { u_threshold } else { l_threshold_val }) {
        return was;
    }
    false
}
