// SPDX-License-Identifier: GPL-2.0
//! Real servers (dests) of a virtual service: their configuration, upstream's add / edit /
//! delete semantics (`ip_vs_add_dest()`, `ip_vs_edit_dest()`, `ip_vs_del_dest()`) with its
//! errnos in its order, and the pure rules the glue applies (trash reuse, overload flag).

use super::errno::{Errno, Result};
use super::service::{addr_equal, sched_dest_changed, ServiceKey, Store};
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

/// A NEW_DEST / SET_DEST / DEL_DEST request, decoded (`ip_vs_dest_user_kern`), with its
/// family resolved and its address normalized.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestUser {
    pub af: u16,
    pub addr: [u8; 16],
    pub port: [u8; 2],
    pub fwd_method: u32,
    pub weight: i32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: u8,
    pub tun_port: [u8; 2],
    pub tun_flags: u16,
}

/// The checks add and edit share, in upstream's order.
fn check(u: &DestUser) -> Result<()> {
    if u.weight < 0 {
        return Err(Errno::ERANGE);
    }
    if u.l_threshold > u.u_threshold {
        return Err(Errno::ERANGE);
    }
    if u.u_threshold > i32::MAX as u32 {
        return Err(Errno::EINVAL);
    }
    if u.tun_type == tun_type::GUE && u.tun_port == [0, 0] {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn conf(u: &DestUser, last_weight: i32) -> DestConf {
    DestConf {
        af: u.af,
        addr: u.addr,
        port: u.port,
        fwd_method: u.fwd_method & fwd::MASK,
        weight: u.weight,
        last_weight,
        u_threshold: u.u_threshold,
        l_threshold: u.l_threshold,
        tun_type: u.tun_type,
        tun_port: u.tun_port,
        tun_flags: u.tun_flags,
    }
}

/// `ip_vs_add_dest()`: the new dest goes first in the list, then the scheduler hears of it.
pub fn add_dest<S: Store>(store: &mut S, svc: usize, u: &DestUser) -> Result<()> {
    check(u)?;
    if store.find_dest(svc, u.af, &u.addr, u.port).is_some() {
        return Err(Errno::EEXIST);
    }
    store.insert_dest(svc, 0, &conf(u, u.weight))?;
    sched_dest_changed(store, svc, DestChange::Added(0));
    Ok(())
}

/// `ip_vs_edit_dest()`.
pub fn edit_dest<S: Store>(store: &mut S, svc: usize, u: &DestUser) -> Result<()> {
    check(u)?;
    let idx = store.find_dest(svc, u.af, &u.addr, u.port).ok_or(Errno::ENOENT)?;
    let old = store.dest(svc, idx).ok_or(Errno::ENOENT)?;
    // Keep the last non-zero weight.
    let last_weight = if u.weight != 0 { u.weight } else { old.conf.last_weight };
    store.update_dest(svc, idx, &conf(u, last_weight))?;
    sched_dest_changed(store, svc, DestChange::Updated(idx));
    Ok(())
}

/// `ip_vs_del_dest()`.
pub fn del_dest<S: Store>(store: &mut S, svc: usize, u: &DestUser) -> Result<()> {
    let idx = store.find_dest(svc, u.af, &u.addr, u.port).ok_or(Errno::ENOENT)?;
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
