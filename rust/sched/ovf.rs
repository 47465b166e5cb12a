// SPDX-License-Identifier: GPL-2.0
//! Overflow-connection (`ovf`), as upstream's `ip_vs_ovf.c`: the highest-weight dest whose
//! active connections do not exceed its weight, skipping overloaded and weight-0 dests; the
//! first in list order (the newest) wins ties.

use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Overflow;

impl Scheduler for Overflow {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(Overflow)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        let mut best: Option<(usize, i32)> = None;
        for i in 0..dests.len() {
            let Some(d) = dests.get(i) else { break };
            let w = d.weight;
            if d.overloaded() || d.active_conns > w || w == 0 {
                continue;
            }
            let better = match best {
                None => true,
                Some((_, hw)) => w > hw,
            };
            if better {
                best = Some((i, w));
            }
        }
        best.map(|(i, _)| i)
    }
}
