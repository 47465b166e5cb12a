// SPDX-License-Identifier: GPL-2.0
//! Direct routing: the packet goes to the real server unchanged at L3 (it still carries the
//! VIP, which the real server has on a loopback), with the real server as next hop.

use super::{route_out, send, RouteMode};
use crate::dp::conn::ConnData;
use crate::ipvs_core::packet::Ipv4;
use crate::sys::skb::{Skb, Verdict};
use crate::sys::NetRef;

pub(crate) fn xmit(net: NetRef<'_>, skb: &mut Skb<'_>, ip: &Ipv4, conn: &ConnData, local: bool) -> Verdict {
    match route_out(net, skb, ip, conn, RouteMode::KnownNextHop) {
        Ok(rt) => send(net, skb, rt, local),
        Err(v) => v,
    }
}
