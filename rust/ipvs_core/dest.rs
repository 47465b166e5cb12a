// SPDX-License-Identifier: GPL-2.0
//! Real servers (dests) of a virtual service: their configuration, what the control plane
//! reports of one, and the overload rules the glue applies. The dest commands are in
//! [`super::store`].

use super::sched::DestView;

/// A dest's settings, as NEW_DEST and SET_DEST carry them in full (DEST attributes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestSettings {
    /// Forwarding method (`fwd::*`), masked. Upstream's connection flags add INACTIVE, and
    /// NOOUTPUT for every method but MASQ.
    pub fwd_method: u32,
    /// Signed, as upstream keeps it: a negative weight is -ERANGE.
    pub weight: i32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: u8,
    /// Network byte order.
    pub tun_port: [u8; 2],
    pub tun_flags: u16,
}

/// A dest's configuration: its identity, its settings as the last NEW_DEST / SET_DEST gave
/// them, and the latest non-zero weight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestConf {
    pub af: u16,
    /// An IPv4 address has zeros after its first 4 bytes.
    pub addr: [u8; 16],
    /// Network byte order.
    pub port: [u8; 2],
    pub settings: DestSettings,
    /// The latest non-zero weight (the weight at creation, even 0).
    pub last_weight: i32,
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
            weight: self.conf.settings.weight,
            last_weight: self.conf.last_weight,
            active_conns: self.active_conns,
            inact_conns: self.inact_conns,
            persist_conns: self.persist_conns,
            flags: self.flags,
            available: true,
        }
    }
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
