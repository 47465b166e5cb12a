// SPDX-License-Identifier: GPL-2.0
//! Power of two choices (`twos`), as upstream's `ip_vs_twos.c`: two weighted random picks
//! among the non-overloaded dests with a positive weight, keeping the second only if its
//! overhead per weight is strictly lower. The random numbers come from `SchedCtx::random`.

use super::{DestSet, Flow, SchedCtx, Scheduler};
use crate::ipvs_core::errno::Result;

/// `get_random_u32_below(ceil)`: Lemire's multiply-shift with rejection, as the kernel does.
pub fn random_below(ceil: u32, random: &dyn Fn() -> u32) -> u32 {
    if ceil == 0 {
        return random();
    }
    let mut mult = u64::from(ceil) * u64::from(random());
    if (mult as u32) < ceil {
        let bound = ceil.wrapping_neg() % ceil;
        while (mult as u32) < bound {
            mult = u64::from(ceil) * u64::from(random());
        }
    }
    (mult >> 32) as u32
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TwoChoices;

/// One of the two picks: (index, weight, overhead).
type Pick = Option<(usize, i32, i32)>;

impl Scheduler for TwoChoices {
    fn init_service<D: DestSet + ?Sized>(_dests: &D, _af: u16) -> Result<Self> {
        Ok(TwoChoices)
    }

    fn schedule<D: DestSet + ?Sized>(&mut self, dests: &D, _flow: &Flow, ctx: &SchedCtx<'_>) -> Option<usize> {
        let n = dests.len();
        let usable = |i: usize| dests.get(i).filter(|d| !d.overloaded() && d.weight > 0);
        let mut total_weight: i32 = 0;
        // Upstream's fallback choice: the last usable dest.
        let mut last = None;
        for i in 0..n {
            if let Some(d) = usable(i) {
                total_weight = total_weight.wrapping_add(d.weight);
                last = Some(i);
            }
        }
        let last = last?;
        // Inclusive of total_weight, as upstream.
        let ceil = total_weight.wrapping_add(1) as u32;
        let mut rweight1 = random_below(ceil, ctx.random) as i32;
        let mut rweight2 = random_below(ceil, ctx.random) as i32;
        let (mut pick1, mut pick2): (Pick, Pick) = (None, None);
        for i in 0..n {
            let Some(d) = usable(i) else { continue };
            rweight1 = rweight1.wrapping_sub(d.weight);
            rweight2 = rweight2.wrapping_sub(d.weight);
            if rweight1 <= 0 && pick1.is_none() {
                pick1 = Some((i, d.weight, d.conn_overhead()));
            }
            if rweight2 <= 0 && pick2.is_none() {
                pick2 = Some((i, d.weight, d.conn_overhead()));
            }
            if pick1.is_some() && pick2.is_some() {
                break;
            }
        }
        // Without a first pick (the weights changed under us) upstream compares against
        // weight -1 and overhead 0.
        let (choice1, weight1, overhead1) = pick1.unwrap_or((last, -1, 0));
        match pick2 {
            Some((choice2, weight2, overhead2))
                if weight2.wrapping_mul(overhead1) > weight1.wrapping_mul(overhead2) =>
            {
                Some(choice2)
            }
            _ => Some(choice1),
        }
    }
}
