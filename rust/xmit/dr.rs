// SPDX-License-Identifier: GPL-2.0
//! Direct routing: the packet goes to the real server unchanged at L3 (it still carries the
//! VIP, which the real server has on a loopback), with the real server as next hop.

use super::{route_out, send, RouteMode, Tx};
use crate::sys::skb::{Skb, Verdict};

pub(crate) fn xmit(tx: &Tx<'_>, mut skb: Skb<'_>) -> Verdict {
    match route_out(tx, &mut skb, RouteMode::KnownNextHop) {
        Ok(rt) => send(tx, skb, rt),
        Err(v) => v,
    }
}
