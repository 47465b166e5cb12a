// SPDX-License-Identifier: GPL-2.0
//! Round-robin (`rr`): the next available dest after the last one chosen, circularly.
//!
//! A dest is available when it has a positive weight and is not overloaded; weight 0 means
//! quiesced. The position survives dest changes the way upstream's list pointer does: adding
//! or editing a dest keeps it on the same dest, and deleting the dest it is on moves it back
//! to the previous one (or to the list head).

use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RoundRobin {
    /// Index of the last dest chosen; `None` is the list head (start from the first dest).
    pos: Option<usize>,
}

#[cfg(ipvs_host)]
impl RoundRobin {
    /// The index of the last dest chosen, if any.
    pub fn position(&self) -> Option<usize> {
        self.pos
    }
}

impl Scheduler for RoundRobin {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(RoundRobin { pos: None })
    }

    fn add_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, idx: usize) {
        // Upstream has no hook: its pointer stays on the same dest, whose index moved up.
        if let Some(p) = self.pos {
            if idx <= p {
                self.pos = p.checked_add(1);
            }
        }
    }

    fn del_dest<D: DestSet + ?Sized>(&mut self, _dests: &D, idx: usize) {
        if let Some(p) = self.pos {
            if p == idx {
                // On the removed dest: step back to its predecessor, or the head.
                self.pos = idx.checked_sub(1);
            } else if p > idx {
                self.pos = Some(p - 1);
            }
        }
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        let n = dests.len();
        if n == 0 {
            return None;
        }
        // From the head: one pass over all dests. From a dest: the ones after it, then from
        // the head up to and including it.
        let start = self.pos.map_or(0, |p| p.saturating_add(1) % n);
        let found = (0..n).map(|k| (start + k) % n).find(|&i| {
            dests.get(i).is_some_and(|d| !d.overloaded() && d.weight > 0)
        })?;
        self.pos = Some(found);
        Some(found)
    }
}
