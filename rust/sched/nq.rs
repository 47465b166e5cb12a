// SPDX-License-Identifier: GPL-2.0
//! Never queue (`nq`), as upstream's `ip_vs_nq.c`: the first idle dest (no active
//! connection) in list order, else sed's choice. Overloaded and weight-0 dests are skipped
//! throughout; ties go to the earlier dest.

use super::sed::expected_delay;
use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeverQueue;

impl Scheduler for NeverQueue {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(NeverQueue)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        // (index, overhead, weight) of the least loaded so far.
        let mut least: Option<(usize, i32, i32)> = None;
        for i in 0..dests.len() {
            let Some(d) = dests.get(i) else { break };
            if d.overloaded() || d.weight == 0 {
                continue;
            }
            if d.active_conns == 0 {
                return Some(i);
            }
            let doh = expected_delay(&d);
            let better = match least {
                None => true,
                Some((_, loh, lw)) => i64::from(loh) * i64::from(d.weight) > i64::from(doh) * i64::from(lw),
            };
            if better {
                least = Some((i, doh, d.weight));
            }
        }
        least.map(|(i, _, _)| i)
    }
}
