// SPDX-License-Identifier: GPL-2.0
//! Weighted failover (`fo`), as upstream's `ip_vs_fo.c`: the non-overloaded dest with the
//! highest weight; the first in list order (the newest) wins ties, weight 0 never.

use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WeightedFailover;

impl Scheduler for WeightedFailover {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(WeightedFailover)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        let mut best = None;
        let mut hw = 0;
        for i in 0..dests.len() {
            let Some(d) = dests.get(i) else { break };
            if !d.overloaded() && d.weight > hw {
                best = Some(i);
                hw = d.weight;
            }
        }
        best
    }
}
