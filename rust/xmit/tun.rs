// SPDX-License-Identifier: GPL-2.0
//! IP-in-IP tunnelling: the packet is wrapped in an outer IPv4 header to the real server,
//! which decapsulates it and answers the client directly.

use super::{route_out, RouteMode};
use crate::dp::conn::ConnData;
use crate::ipvs_core::packet::{ipip_header, Ipv4};
use crate::sys::skb::{Skb, Verdict};
use crate::sys::NetRef;

/// Room for the outer header and a link-layer header in front of it.
const HEADROOM: u32 = 20 + 32;

pub(crate) fn xmit(net: NetRef<'_>, skb: &mut Skb<'_>, ip: &Ipv4, conn: &ConnData, pmtu_disc: bool) -> Verdict {
    let rt = match route_out(net, skb, ip, conn, RouteMode::Tunnel) {
        Ok(rt) => rt,
        Err(v) => return v,
    };
    let Ok(inner_len) = u16::try_from(skb.len()) else { return Verdict::Drop };
    // The inner TTL was decremented by route_out; the outer header starts from it.
    let inner = Ipv4 { ttl: ip.ttl.saturating_sub(1), ..*ip };
    let df = pmtu_disc && ip.dont_fragment;
    let Some(outer) = ipip_header(&inner, inner_len, rt.saddr, conn.daddr, df) else {
        return Verdict::Drop;
    };
    if !skb.push_ipv4_header(&outer, HEADROOM) || !skb.tunnel_offloads() {
        return Verdict::Drop;
    }
    skb.select_ident(net);
    skb.set_route(rt);
    skb.mark_ipvs();
    skb.local_out(net)
}
