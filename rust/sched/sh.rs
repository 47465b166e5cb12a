// SPDX-License-Identifier: GPL-2.0
//! Source hashing (`sh`), as upstream's `ip_vs_sh.c`: 256 slots filled with the dests in list
//! order, each dest taking as many consecutive slots as its weight (at least one), round and
//! round. A packet goes to slot `hash_32(port + source address, 8)`, the port being the
//! source port with `sh-port` (`SVC_F_SCHED2`) and 0 otherwise. A quiesced (weight <= 0) or
//! overloaded dest means no dest, unless `sh-fallback` (`SVC_F_SCHED1`) walks on through the
//! table from there. Any dest change refills the table.

use super::hash::hash_32;
use super::slots::SlotTable;
use super::storage::{storage_traits, Storage};
use super::{DestChange, DestSet, Flow, SchedCtx, Scheduler, SVC_F_SCHED1, SVC_F_SCHED2};
use crate::ipvs_core::addr;
use crate::ipvs_core::errno::Result;
use crate::ipvs_core::uapi::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};

const TAB_BITS: u32 = 8;
pub const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: u32 = TAB_SIZE as u32 - 1;

pub struct SourceHash<A: Storage> {
    table: SlotTable<A>,
}

storage_traits!(SourceHash { table: SlotTable<A> });

#[cfg(ipvs_host)]
impl<A: Storage> SourceHash<A> {
    /// The list index slot `slot` was filled with.
    pub fn slot(&self, slot: usize) -> Option<usize> {
        self.table.named(slot)
    }
}

/// `ip_vs_sh_hashkey()`: `port` in host order.
pub fn hashkey(af: u16, addr: &[u8; 16], port: u16, offset: u32) -> usize {
    let h = hash_32(u32::from(port).wrapping_add(addr::fold(af, addr)), TAB_BITS);
    (offset.wrapping_add(h) & TAB_MASK) as usize
}

/// `ip_vs_sh_get_port()`: the source port of TCP, UDP and SCTP packets with `sh-port`.
pub(super) fn flow_port(flow: &Flow, svc_flags: u32) -> u16 {
    let has_ports = matches!(flow.protocol, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP);
    if svc_flags & SVC_F_SCHED2 != 0 && has_ports {
        u16::from_be_bytes(flow.sport)
    } else {
        0
    }
}

impl<A: Storage> Scheduler for SourceHash<A> {
    fn init_service<D: DestSet + ?Sized>(dests: &D, _af: u16) -> Result<Self> {
        let n = dests.len();
        let mut table = SlotTable::new(TAB_SIZE, dests, n.min(TAB_SIZE))?;
        if n > 0 {
            let mut dest = 0;
            let mut filled: i32 = 0;
            for slot in 0..TAB_SIZE {
                table.set(slot, dest);
                filled += 1;
                // Stay on a dest until it has `weight` slots.
                if filled >= dests.get(dest).map_or(0, |d| d.weight) {
                    dest = (dest + 1) % n;
                    filled = 0;
                }
            }
        }
        Ok(SourceHash { table })
    }

    fn rebuilds(_change: DestChange) -> bool {
        true
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize> {
        let port = flow_port(flow, ctx.svc_flags);
        let ihash = hashkey(flow.af, &flow.saddr, port, 0);
        // Fallback: walk the table from the original slot.
        self.table.pick(dests, ihash, ctx.svc_flags & SVC_F_SCHED1 != 0, |offset| {
            let roffset = offset.wrapping_add(ihash as u32) % TAB_SIZE as u32;
            hashkey(flow.af, &flow.saddr, port, roffset)
        })
    }
}
