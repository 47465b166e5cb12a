// SPDX-License-Identifier: GPL-2.0
//! Schedulers: one file per algorithm behind the [`Scheduler`] trait, and the name registry.
//!
//! Pure code, like `ipvs_core`: no allocation, no `kernel::`. A scheduler keeps its state in a
//! plain per-service value (no `void *sched_data`), is shown the service's dests as plain
//! [`DestView`]s through a [`DestSet`], and answers with the index of its choice. Refcounts,
//! RCU publication and the per-service lock that serialises `schedule` stay in the glue.
//!
//! Dest indices follow upstream's `svc->destinations` list order: the newest dest is first
//! (`list_add_rcu` at the head), and the control plane calls the hooks with the index a dest
//! was inserted at or removed from, so index-based state tracks upstream's list pointers.

pub mod rr;
pub mod wrr;

use crate::ipvs_core::errno::{Errno, Result};

/// `IP_VS_DEST_F_OVERLOAD`: the dest reached its upper connection threshold.
pub const DEST_F_OVERLOAD: u32 = 0x0002;

/// What a scheduler may know about one dest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestView {
    pub af: u16,
    /// `union nf_inet_addr`; an IPv4 address is in the first 4 bytes.
    pub addr: [u8; 16],
    /// Network byte order.
    pub port: [u8; 2],
    pub weight: i32,
    /// The latest non-zero weight (used by mh).
    pub last_weight: i32,
    pub active_conns: i32,
    pub inact_conns: i32,
    pub persist_conns: i32,
    /// `dest->flags` (`DEST_F_OVERLOAD`).
    pub flags: u32,
    /// `IP_VS_DEST_CF_AVAILABLE`: still linked to its service.
    pub available: bool,
}

impl DestView {
    pub fn overloaded(&self) -> bool {
        self.flags & DEST_F_OVERLOAD != 0
    }
}

/// The dests of one service, in list order. The glue implements it over its own dest list
/// (reading the counters as it goes); a slice of views is one too.
pub trait DestSet {
    fn len(&self) -> usize;
    fn get(&self, idx: usize) -> Option<DestView>;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl DestSet for [DestView] {
    fn len(&self) -> usize {
        <[DestView]>::len(self)
    }
    fn get(&self, idx: usize) -> Option<DestView> {
        <[DestView]>::get(self, idx).copied()
    }
}

/// A slice reference is sized, so it can stand behind a `&dyn DestSet`.
impl DestSet for &[DestView] {
    fn len(&self) -> usize {
        <[DestView]>::len(self)
    }
    fn get(&self, idx: usize) -> Option<DestView> {
        <[DestView]>::get(self, idx).copied()
    }
}

/// What the packet being scheduled looks like (hashing schedulers use it).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flow {
    pub af: u16,
    pub protocol: u16,
    pub saddr: [u8; 16],
    /// Network byte order.
    pub sport: [u8; 2],
    pub daddr: [u8; 16],
    /// Network byte order.
    pub dport: [u8; 2],
}

/// One scheduling algorithm; a value of the implementing type is one service's state.
///
/// Hooks run after the dest list changed (`idx` is where the dest was inserted, updated or
/// removed from); they default to no-ops, like upstream's NULL hooks.
pub trait Scheduler: Sized {
    /// The name users give (`ipvsadm -s NAME`).
    const NAME: &'static str;
    /// `init_service`: binds the scheduler to a service that has `dests`.
    fn init_service<D: DestSet + ?Sized>(dests: &D) -> Self;
    fn add_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, _idx: usize) {}
    fn del_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, _idx: usize) {}
    fn upd_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, _idx: usize) {}
    /// Picks a dest for a new connection, or `None` when none is available.
    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow) -> Option<usize>;
}

/// Every scheduler upstream ships, by name. Only some are implemented yet: the others are
/// refused with -ENOENT, exactly as stock answers when `ip_vs_<name>.ko` is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SchedKind {
    Rr,
    Wrr,
    Lc,
    Wlc,
    Lblc,
    Lblcr,
    Dh,
    Sh,
    Sed,
    Nq,
    Fo,
    Ovf,
    Mh,
    Twos,
}

impl SchedKind {
    pub const ALL: [SchedKind; 14] = [
        SchedKind::Rr,
        SchedKind::Wrr,
        SchedKind::Lc,
        SchedKind::Wlc,
        SchedKind::Lblc,
        SchedKind::Lblcr,
        SchedKind::Dh,
        SchedKind::Sh,
        SchedKind::Sed,
        SchedKind::Nq,
        SchedKind::Fo,
        SchedKind::Ovf,
        SchedKind::Mh,
        SchedKind::Twos,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            SchedKind::Rr => rr::RoundRobin::NAME,
            SchedKind::Wrr => wrr::WeightedRoundRobin::NAME,
            SchedKind::Lc => "lc",
            SchedKind::Wlc => "wlc",
            SchedKind::Lblc => "lblc",
            SchedKind::Lblcr => "lblcr",
            SchedKind::Dh => "dh",
            SchedKind::Sh => "sh",
            SchedKind::Sed => "sed",
            SchedKind::Nq => "nq",
            SchedKind::Fo => "fo",
            SchedKind::Ovf => "ovf",
            SchedKind::Mh => "mh",
            SchedKind::Twos => "twos",
        }
    }

    /// Whether this module carries the algorithm (a "loaded scheduler module").
    pub const fn implemented(self) -> bool {
        matches!(self, SchedKind::Rr | SchedKind::Wrr)
    }

    /// The upstream scheduler of that exact name (`strcmp`), implemented or not.
    pub fn from_name(name: &[u8]) -> Option<SchedKind> {
        Self::ALL.iter().copied().find(|k| k.name().as_bytes() == name)
    }

    /// `ip_vs_scheduler_get()`: -ENOENT unless the scheduler exists here.
    pub fn lookup(name: &[u8]) -> Result<SchedKind> {
        match Self::from_name(name) {
            Some(kind) if kind.implemented() => Ok(kind),
            _ => Err(Errno::ENOENT),
        }
    }
}

/// One service's scheduler state: which algorithm, and its data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SchedState {
    /// No scheduler bound (`-s none`, or not yet bound).
    #[default]
    Unbound,
    Rr(rr::RoundRobin),
    Wrr(wrr::WeightedRoundRobin),
}

impl SchedState {
    /// `ip_vs_bind_scheduler()`: a fresh state for `kind` over the service's current dests.
    pub fn bind<D: DestSet + ?Sized>(kind: SchedKind, dests: &D) -> Result<SchedState> {
        match kind {
            SchedKind::Rr => Ok(SchedState::Rr(rr::RoundRobin::init_service(dests))),
            SchedKind::Wrr => Ok(SchedState::Wrr(wrr::WeightedRoundRobin::init_service(dests))),
            _ => Err(Errno::ENOENT),
        }
    }

    pub fn kind(&self) -> Option<SchedKind> {
        match self {
            SchedState::Unbound => None,
            SchedState::Rr(_) => Some(SchedKind::Rr),
            SchedState::Wrr(_) => Some(SchedKind::Wrr),
        }
    }

    pub fn add_dest<D: DestSet + ?Sized>(&mut self, dests: &D, idx: usize) {
        match self {
            SchedState::Unbound => {}
            SchedState::Rr(s) => s.add_dest(dests, idx),
            SchedState::Wrr(s) => s.add_dest(dests, idx),
        }
    }

    pub fn del_dest<D: DestSet + ?Sized>(&mut self, dests: &D, idx: usize) {
        match self {
            SchedState::Unbound => {}
            SchedState::Rr(s) => s.del_dest(dests, idx),
            SchedState::Wrr(s) => s.del_dest(dests, idx),
        }
    }

    pub fn upd_dest<D: DestSet + ?Sized>(&mut self, dests: &D, idx: usize) {
        match self {
            SchedState::Unbound => {}
            SchedState::Rr(s) => s.upd_dest(dests, idx),
            SchedState::Wrr(s) => s.upd_dest(dests, idx),
        }
    }

    pub fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow) -> Option<usize> {
        match self {
            SchedState::Unbound => None,
            SchedState::Rr(s) => s.schedule(dests, flow),
            SchedState::Wrr(s) => s.schedule(dests, flow),
        }
    }
}
