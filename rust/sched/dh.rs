// SPDX-License-Identifier: GPL-2.0
//! Destination hashing (`dh`), as upstream's `ip_vs_dh.c`: 256 slots filled with the dests in
//! list order, one slot each, round and round; a packet goes to the slot of
//! `hash_32(destination address, 8)`, and gets no dest if that one is quiesced (weight <= 0),
//! overloaded or gone. Adding or deleting a dest refills the table; editing one does not.

use super::hash::hash_32;
use super::slots::{Slot, SlotTable};
use super::storage::{storage_traits, Storage};
use super::{DestChange, DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::addr;
use crate::ipvs_core::errno::Result;

const TAB_BITS: u32 = 8;
pub const TAB_SIZE: usize = 1 << TAB_BITS;

pub struct DestHash<A: Storage> {
    table: SlotTable<A>,
}

storage_traits!(DestHash { table: SlotTable<A> });

#[cfg(ipvs_host)]
impl<A: Storage> DestHash<A> {
    /// The list index slot `slot` was filled with.
    pub fn slot(&self, slot: usize) -> Option<usize> {
        self.table.named(slot)
    }
}

/// `ip_vs_dh_hashkey()`.
pub fn hashkey(af: u16, addr: &[u8; 16]) -> usize {
    hash_32(addr::fold(af, addr), TAB_BITS) as usize
}

impl<A: Storage> Scheduler for DestHash<A> {
    fn init_service<D: DestSet + ?Sized>(dests: &D, _af: u16) -> Result<Self> {
        let n = dests.len();
        let mut table = SlotTable::new(TAB_SIZE, dests, n.min(TAB_SIZE))?;
        if n > 0 {
            for slot in 0..TAB_SIZE {
                table.set(slot, slot % n);
            }
        }
        Ok(DestHash { table })
    }

    fn rebuilds(change: DestChange) -> bool {
        // Upstream has no upd_dest hook (the fill ignores weights anyway).
        !matches!(change, DestChange::Updated(_))
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        match self.table.lookup(hashkey(flow.af, &flow.daddr), dests) {
            Slot::Dest(i, d) if d.weight > 0 && !d.overloaded() => Some(i),
            _ => None,
        }
    }
}
