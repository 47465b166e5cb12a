// SPDX-License-Identifier: GPL-2.0
//! Maglev hashing (`mh`), as upstream's `ip_vs_mh.c`, bit for bit: a 4093-slot lookup table.
//!
//! Each dest gets a permutation of the slots from two `hsiphash()`es of its address and port
//! (upstream's fixed keys): `offset` and `skip`. Dests take turns in list order, each claiming
//! its next free slot `turns` times in a row, until every slot is taken. `turns` is the
//! dest's `last_weight` divided by the gcd of all positive last weights, shifted right so that
//! the largest fits in 6 bits (at least 1 for a non-zero last weight; a dest whose last weight
//! is 0 gets no slot). A quiesced dest (weight 0, last weight kept) keeps its slots but is
//! unavailable. A packet goes to slot `hsiphash(port + source address) % 4093`, the port being
//! the source port with `mh-port` (`SVC_F_SCHED2`); `mh-fallback` (`SVC_F_SCHED1`) walks on
//! to other slots when that dest is unavailable. Any dest change rebuilds the table.

use super::hash::{hsiphash_u32, HsipKey};
use super::sh::flow_port;
use super::slots::SlotTable;
use super::storage::{storage_traits, Gfp, Storage, StoreVec};
use super::wrr::gcd;
use super::{DestChange, DestSet, Flow, SchedCtx, Scheduler, SVC_F_SCHED1};
use crate::ipvs_core::addr;
use crate::ipvs_core::errno::{Errno, Result};

/// `primes[CONFIG_IP_VS_MH_TAB_INDEX - 8]` with the default index 12.
pub const TAB_SIZE: usize = 4093;
const TAB_SIZE_U32: u32 = TAB_SIZE as u32;
/// `IP_VS_MH_TAB_BITS`: the bits the largest `turns` may use.
const TAB_BITS: i32 = 6;

/// `generate_hash_secret()`: both words of each key are the same constant.
const HASH1: HsipKey = [2_654_435_761, 2_654_435_761];
const HASH2: HsipKey = [2_654_446_892, 2_654_446_892];

/// `ip_vs_mh_hashkey()`: `port` in host order.
pub fn hashkey(af: u16, addr: &[u8; 16], port: u16, key: &HsipKey, offset: u32) -> u32 {
    let v = offset.wrapping_add(u32::from(port)).wrapping_add(addr::fold(af, addr));
    hsiphash_u32(v, key)
}

/// `struct ip_vs_mh_dest_setup`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Setup {
    /// Next slot of the dest's permutation.
    perm: u32,
    skip: u32,
    last_weight: i32,
    turns: i32,
}

pub struct Maglev<A: Storage> {
    table: SlotTable<A>,
    gcd: i32,
    rshift: i32,
}

storage_traits!(Maglev { table: SlotTable<A>, gcd: i32, rshift: i32 });

/// `fls()`: the position of the highest set bit, 1-based; 0 for 0.
fn fls(x: i32) -> i32 {
    32 - (x as u32).leading_zeros() as i32
}

/// A bitmap of the table's slots.
struct Taken([u64; TAB_SIZE.div_ceil(64)]);

impl Taken {
    fn test(&self, slot: u32) -> bool {
        self.0.get(slot as usize / 64).is_some_and(|w| w & (1 << (slot % 64)) != 0)
    }
    fn set(&mut self, slot: u32) {
        if let Some(w) = self.0.get_mut(slot as usize / 64) {
            *w |= 1 << (slot % 64);
        }
    }
}

impl<A: Storage> Maglev<A> {
    /// The list index slot `slot` points to.
    #[cfg(ipvs_host)]
    pub fn slot(&self, slot: usize) -> Option<usize> {
        self.table.named(slot)
    }

    /// `(gcd, rshift)` of the last weights.
    #[cfg(ipvs_host)]
    pub fn weights(&self) -> (i32, i32) {
        (self.gcd, self.rshift)
    }

    /// `ip_vs_mh_populate()`: dests claim slots in turn until all are taken.
    fn populate(table: &mut SlotTable<A>, setups: &mut [Setup]) {
        if !setups.iter().any(|s| s.turns >= 1) {
            return; // nobody would claim a slot
        }
        let mut taken = Taken([0; TAB_SIZE.div_ceil(64)]);
        let mut filled = 0;
        let mut dt_count = 0;
        loop {
            let mut i = 0;
            while let Some(ds) = setups.get_mut(i) {
                if ds.turns < 1 {
                    i += 1;
                    continue;
                }
                let mut c = ds.perm;
                while taken.test(c) {
                    ds.perm += ds.skip;
                    if ds.perm >= TAB_SIZE_U32 {
                        ds.perm -= TAB_SIZE_U32;
                    }
                    c = ds.perm;
                }
                taken.set(c);
                table.set(c as usize, i);
                filled += 1;
                if filled == TAB_SIZE {
                    return;
                }
                dt_count += 1;
                if dt_count >= ds.turns {
                    dt_count = 0;
                    i += 1;
                }
            }
        }
    }
}

impl<A: Storage> Scheduler for Maglev<A> {
    fn init_service<D: DestSet + ?Sized>(dests: &D, af: u16) -> Result<Self> {
        let n = dests.len();
        if n > TAB_SIZE {
            return Err(Errno::EINVAL);
        }
        // One read of each dest: the weights cannot change between the passes.
        let mut setups = A::Vec::with_capacity(n, Gfp::Kernel)?;
        for i in 0..n {
            // `i < n = dests.len()`, so there is a view; a default one (weight 0) claims no slot.
            let d = dests.get(i).unwrap_or_default();
            let offset = hashkey(af, &d.addr, u16::from_be_bytes(d.port), &HASH1, 0) % TAB_SIZE_U32;
            let skip = hashkey(af, &d.addr, u16::from_be_bytes(d.port), &HASH2, 0) % (TAB_SIZE_U32 - 1) + 1;
            setups.try_push(Setup { perm: offset, skip, last_weight: d.last_weight, turns: 0 }, Gfp::Kernel)?;
        }
        // ip_vs_mh_gcd_weight() and ip_vs_mh_shift_weight().
        let g = setups.iter().map(|s| s.last_weight).filter(|&w| w > 0).fold(0, |g, w| if g > 0 { gcd(w, g) } else { w });
        let rshift = if g < 1 {
            0
        } else {
            let mw = setups.iter().map(|s| s.last_weight).fold(0, i32::max) / g;
            (fls(mw) - TAB_BITS).max(0)
        };
        if g < 1 {
            // No dest, or all last weights 0: every slot empty.
            return Ok(Maglev { table: SlotTable::new(TAB_SIZE, dests, 0)?, gcd: g, rshift });
        }
        for s in setups.iter_mut() {
            let turns = (s.last_weight / g) >> rshift;
            s.turns = if turns != 0 { turns } else { i32::from(s.last_weight != 0) };
        }
        let mut table = SlotTable::new(TAB_SIZE, dests, n)?;
        Self::populate(&mut table, &mut setups);
        Ok(Maglev { table, gcd: g, rshift })
    }

    fn rebuilds(_change: DestChange) -> bool {
        true
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize> {
        let port = flow_port(flow, ctx.svc_flags);
        let ihash = hashkey(flow.af, &flow.saddr, port, &HASH1, 0) % TAB_SIZE_U32;
        // Fallback: rehash with growing offsets.
        self.table.pick(dests, ihash as usize, ctx.svc_flags & SVC_F_SCHED1 != 0, |offset| {
            let roffset = (offset + ihash) % TAB_SIZE_U32;
            (hashkey(flow.af, &flow.saddr, port, &HASH1, roffset) % TAB_SIZE_U32) as usize
        })
    }
}
