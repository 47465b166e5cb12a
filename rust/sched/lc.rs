// SPDX-License-Identifier: GPL-2.0
//! Least-connection (`lc`), as upstream's `ip_vs_lc.c`: the dest with the smallest
//! `(activeconns << 8) + totalconns`, compared as `unsigned int`, skipping overloaded and
//! quiesced (weight 0) dests. On a tie the first in list order (the newest) wins.

use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LeastConn;

impl Scheduler for LeastConn {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(LeastConn)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        let mut least: Option<(usize, u32)> = None;
        for i in 0..dests.len() {
            let Some(d) = dests.get(i) else { break };
            if d.overloaded() || d.weight == 0 {
                continue;
            }
            // C converts the int overhead to unsigned int.
            let doh = d.conn_overhead() as u32;
            let better = match least {
                None => true,
                Some((_, loh)) => doh < loh,
            };
            if better {
                least = Some((i, doh));
            }
        }
        least.map(|(i, _)| i)
    }
}
