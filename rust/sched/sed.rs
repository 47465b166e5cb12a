// SPDX-License-Identifier: GPL-2.0
//! Shortest expected delay (`sed`), as upstream's `ip_vs_sed.c`: wlc's scan with the overhead
//! `activeconns + 1` (inactive connections do not count).

use super::wlc::weighted_least;
use super::{DestSet, DestView, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

/// `ip_vs_sed_dest_overhead()`.
pub(super) fn expected_delay(d: &DestView) -> i32 {
    d.active_conns.wrapping_add(1)
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShortestExpectedDelay;

impl Scheduler for ShortestExpectedDelay {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(ShortestExpectedDelay)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, _ctx: &SchedCtx<'_>) -> Option<usize> {
        weighted_least(dests, expected_delay)
    }
}
