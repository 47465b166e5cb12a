// SPDX-License-Identifier: GPL-2.0
//! Schedulers: one file per algorithm behind the [`Scheduler`] trait, and the name registry.
//!
//! Pure code, like `ipvs_core`: no `kernel::`, no alloc crate. A scheduler keeps its state in a
//! plain per-service value (no `void *sched_data`); what does not fit in a few words lives in
//! vectors of the glue's [`Storage`]. It is shown the service's dests as plain [`DestView`]s
//! through a [`DestSet`], and answers with the index of its choice. Refcounts, RCU publication
//! and the per-service lock that serialises `schedule` stay in the glue.
//!
//! Dest indices follow upstream's `svc->destinations` list order: the newest dest is first
//! (`list_add_rcu` at the head), and the control plane calls the hooks with the index a dest
//! was inserted at or removed from, so index-based state tracks upstream's list pointers.
//! State that remembers dests across changes (hash tables, lblc/lblcr caches) keeps a
//! [`DestRef`]: the dest's identity plus where it was last seen, checked on every use.

pub mod storage;
pub mod hash;
pub mod addrmap;
pub mod slots;

pub mod rr;
pub mod wrr;
pub mod lc;
pub mod wlc;
pub mod lblc;
pub mod lblcr;
pub mod dh;
pub mod sh;
pub mod sed;
pub mod nq;
pub mod fo;
pub mod ovf;
pub mod mh;
pub mod twos;

use crate::ipvs_core::errno::{Errno, Result};
pub use storage::{Storage, StoreVec};

/// `IP_VS_DEST_F_OVERLOAD`: the dest reached its upper connection threshold.
pub const DEST_F_OVERLOAD: u32 = 0x0002;

/// The scheduler flags of a service (`IP_VS_SVC_F_SCHED1`, `_SCHED2`), under the names the
/// schedulers use.
pub use crate::ipvs_core::uapi::svc_flags::{SCHED1 as SVC_F_SCHED1, SCHED2 as SVC_F_SCHED2};

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
    /// Connections not active: upstream's `totalconns - activeconns`.
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

    /// Upstream's `dest->totalconns`.
    pub fn total_conns(&self) -> i32 {
        self.active_conns.wrapping_add(self.inact_conns)
    }

    /// `ip_vs_dest_conn_overhead()`: `(activeconns << 8) + totalconns`, in C's `int`.
    pub fn conn_overhead(&self) -> i32 {
        self.active_conns.wrapping_mul(256).wrapping_add(self.total_conns())
    }

    pub fn id(&self) -> DestId {
        DestId { af: self.af, addr: self.addr, port: self.port }
    }
}

/// The dests of one service, in list order. The glue implements it over its own dest list
/// (reading the counters as it goes); a slice of views is one too.
pub trait DestSet {
    fn len(&self) -> usize;
    fn get(&self, idx: usize) -> Option<DestView>;
    /// For clippy's `len_without_is_empty`, which asks for it where the trait is exported (the
    /// host crate); nothing calls it.
    #[cfg(ipvs_host)]
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

/// What identifies a dest within its service (`ip_vs_lookup_dest()`'s key).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestId {
    pub af: u16,
    pub addr: [u8; 16],
    pub port: [u8; 2],
}

/// A dest remembered by a scheduler: upstream keeps a counted pointer, which stays valid (and
/// becomes available again if the dest is re-added from the trash); we keep the identity and
/// the index where the dest was last seen, and look it up again when the list has moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DestRef {
    id: DestId,
    hint: u32,
}

impl DestRef {
    pub fn new(view: &DestView, idx: usize) -> Self {
        DestRef { id: view.id(), hint: u32::try_from(idx).unwrap_or(u32::MAX) }
    }

    pub fn id(&self) -> &DestId {
        &self.id
    }

    /// The dest's current index and view, `None` if it is not in the list (any more).
    pub fn resolve<D: DestSet + ?Sized>(&self, dests: &D) -> Option<(usize, DestView)> {
        let hint = self.hint as usize;
        if let Some(v) = dests.get(hint) {
            if v.id() == self.id {
                return Some((hint, v));
            }
        }
        (0..dests.len()).find_map(|i| dests.get(i).filter(|v| v.id() == self.id).map(|v| (i, v)))
    }

    /// As [`DestRef::resolve`], remembering the new index.
    pub fn resolve_mut<D: DestSet + ?Sized>(&mut self, dests: &D) -> Option<(usize, DestView)> {
        let found = self.resolve(dests)?;
        self.hint = u32::try_from(found.0).unwrap_or(u32::MAX);
        Some(found)
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

/// What `schedule` may need beyond the packet, filled in by the glue.
#[derive(Clone, Copy)]
pub struct SchedCtx<'a> {
    /// The service's `IP_VS_SVC_F_*` flags (`SVC_F_SCHED1`, `SVC_F_SCHED2`).
    pub svc_flags: u32,
    /// `jiffies`.
    pub now: u64,
    pub hz: u32,
    /// The netns's `lblc_expiration` sysctl, in jiffies.
    pub lblc_expiration: i32,
    /// The netns's `lblcr_expiration` sysctl, in jiffies.
    pub lblcr_expiration: i32,
    /// `get_random_u32()`; only twos draws from it.
    pub random: &'a dyn Fn() -> u32,
}

impl core::fmt::Debug for SchedCtx<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SchedCtx")
            .field("svc_flags", &self.svc_flags)
            .field("now", &self.now)
            .field("hz", &self.hz)
            .field("lblc_expiration", &self.lblc_expiration)
            .field("lblcr_expiration", &self.lblcr_expiration)
            .finish_non_exhaustive()
    }
}

/// A change of a service's dest list, with the index it happened at (after the change).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DestChange {
    Added(usize),
    Updated(usize),
    Removed(usize),
}

/// One scheduling algorithm; a value of the implementing type is one service's state.
///
/// Hooks run after the dest list changed (`idx` is where the dest was inserted, updated or
/// removed from); they default to no-ops, like upstream's NULL hooks. Schedulers whose hooks
/// recompute everything from the dest list (sh, dh, mh) say so in [`Scheduler::rebuilds`]:
/// the control plane then binds a fresh state outside the scheduler lock and swaps it in.
pub trait Scheduler: Sized {
    /// `init_service`: binds the scheduler to a service of family `af` that has `dests`.
    /// Runs in process context without the scheduler lock (allocations use `Gfp::Kernel`).
    fn init_service<D: DestSet + ?Sized>(dests: &D, af: u16) -> Result<Self>;
    /// Whether the hook for `change` is a full rebuild (`init_service` over the new list).
    fn rebuilds(_change: DestChange) -> bool {
        false
    }
    fn add_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, _idx: usize) {}
    fn del_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, _idx: usize) {}
    fn upd_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, _idx: usize) {}
    /// Picks a dest for a new connection, or `None` when upstream returns NULL. Runs under
    /// the scheduler lock with BHs disabled (allocations use `Gfp::Atomic`).
    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize>;
}

/// Every scheduler upstream ships, all 14 implemented here. A name not among them is refused
/// with -ENOENT, as stock answers when there is no `ip_vs_<name>.ko`.
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
            SchedKind::Rr => "rr",
            SchedKind::Wrr => "wrr",
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

    /// The scheduler of that exact name (`strcmp`).
    pub fn from_name(name: &[u8]) -> Option<SchedKind> {
        Self::ALL.iter().copied().find(|k| k.name().as_bytes() == name)
    }

    /// `ip_vs_scheduler_get()`: -ENOENT unless the scheduler exists here.
    pub fn lookup(name: &[u8]) -> Result<SchedKind> {
        Self::from_name(name).ok_or(Errno::ENOENT)
    }
}

/// Generates [`SchedState`] and its dispatch from one list of `Kind(type)` pairs.
macro_rules! registry {
    ($($kind:ident($ty:ty)),* $(,)?) => {
        /// One service's scheduler state: which algorithm, and its data. Small (a few words)
        /// for every algorithm: tables live in `A`'s vectors.
        #[derive(Default)]
        pub enum SchedState<A: Storage> {
            /// No scheduler bound (`-s none`, or not yet bound).
            #[default]
            Unbound,
            $($kind($ty),)*
        }

        impl<A: Storage> SchedState<A> {
            /// `ip_vs_bind_scheduler()`: a fresh state for `kind` over the service's current
            /// dests (process context, no scheduler lock held).
            pub fn bind<D: DestSet + ?Sized>(kind: SchedKind, dests: &D, af: u16) -> Result<Self> {
                match kind {
                    $(SchedKind::$kind => Ok(SchedState::$kind(<$ty>::init_service(dests, af)?)),)*
                }
            }

            /// Whether `kind`'s hook for `change` is a full rebuild (see [`Scheduler::rebuilds`]).
            pub fn rebuilds(kind: SchedKind, change: DestChange) -> bool {
                match kind {
                    $(SchedKind::$kind => <$ty>::rebuilds(change),)*
                }
            }

            #[cfg(ipvs_host)]
            pub fn kind(&self) -> Option<SchedKind> {
                match self {
                    SchedState::Unbound => None,
                    $(SchedState::$kind(_) => Some(SchedKind::$kind),)*
                }
            }

            /// Runs the in-place hook for `change` (rebuilding schedulers are swapped instead).
            pub fn dest_changed<D: DestSet + ?Sized>(&mut self, dests: &D, change: DestChange) {
                match self {
                    SchedState::Unbound => {}
                    $(SchedState::$kind(s) => match change {
                        DestChange::Added(i) => s.add_dest(dests, i),
                        DestChange::Updated(i) => s.upd_dest(dests, i),
                        DestChange::Removed(i) => s.del_dest(dests, i),
                    },)*
                }
            }

            pub fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize> {
                match self {
                    SchedState::Unbound => None,
                    $(SchedState::$kind(s) => s.schedule(dests, flow, ctx),)*
                }
            }
        }

        impl<A: Storage> Clone for SchedState<A> where $($ty: Clone),* {
            fn clone(&self) -> Self {
                match self {
                    SchedState::Unbound => SchedState::Unbound,
                    $(SchedState::$kind(s) => SchedState::$kind(s.clone()),)*
                }
            }
        }

        impl<A: Storage> PartialEq for SchedState<A> where $($ty: PartialEq),* {
            fn eq(&self, other: &Self) -> bool {
                match (self, other) {
                    (SchedState::Unbound, SchedState::Unbound) => true,
                    $((SchedState::$kind(a), SchedState::$kind(b)) => a == b,)*
                    _ => false,
                }
            }
        }

        impl<A: Storage> Eq for SchedState<A> where $($ty: Eq),* {}

        impl<A: Storage> core::fmt::Debug for SchedState<A> where $($ty: core::fmt::Debug),* {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                match self {
                    SchedState::Unbound => f.write_str("Unbound"),
                    $(SchedState::$kind(s) => f.debug_tuple(stringify!($kind)).field(s).finish(),)*
                }
            }
        }
    };
}

registry! {
    Rr(rr::RoundRobin),
    Wrr(wrr::WeightedRoundRobin),
    Lc(lc::LeastConn),
    Wlc(wlc::WeightedLeastConn),
    Lblc(lblc::LocalityLeastConn<A>),
    Lblcr(lblcr::LocalityLeastConnRepl<A>),
    Dh(dh::DestHash<A>),
    Sh(sh::SourceHash<A>),
    Sed(sed::ShortestExpectedDelay),
    Nq(nq::NeverQueue),
    Fo(fo::WeightedFailover),
    Ovf(ovf::Overflow),
    Mh(mh::Maglev<A>),
    Twos(twos::TwoChoices),
}
