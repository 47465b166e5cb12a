// SPDX-License-Identifier: GPL-2.0
//! IP-in-IP tunnelling: the packet is wrapped in an outer IPv4 header to the real server,
//! which decapsulates it and answers the client directly.

use super::{route_out, RouteMode, Tx};
use crate::ipvs_core::packet::ipip_header;
use crate::sys::skb::{Skb, Verdict};

/// Room for the outer header and a link-layer header in front of it.
const HEADROOM: u32 = 20 + 32;

pub(crate) fn xmit(tx: &Tx<'_>, mut skb: Skb<'_>, pmtu_disc: bool) -> Verdict {
    let ip = tx.ip;
    let rt = match route_out(tx, &mut skb, RouteMode::Tunnel { pmtu_disc }) {
        Ok(rt) => rt,
        Err(v) => return v,
    };
    let Ok(inner_len) = u16::try_from(skb.len()) else { return Verdict::Drop };
    // The inner TTL was decremented by route_out; the outer header starts from it.
    let df = pmtu_disc && ip.dont_fragment;
    let v4 = |a: &[u8; 16]| [a[0], a[1], a[2], a[3]];
    let Some(outer) = ipip_header(ip.tos, ip.ttl.saturating_sub(1), inner_len, v4(&rt.saddr), v4(&tx.conn.daddr), df) else {
        return Verdict::Drop;
    };
    if !skb.push_ipv4_header(&outer, HEADROOM) || !skb.tunnel_offloads() {
        return Verdict::Drop;
    }
    skb.select_ident(tx.net);
    skb.set_route(rt);
    skb.set_ipvs_property();
    // The inner flow's conntrack entry is confirmed as it is (when kept), and the outer
    // packet starts without one (upstream's `ip_vs_tunnel_xmit_prepare`).
    if tx.conn.nfct.is_some() && !skb.confirm_conntrack() {
        return Verdict::Drop;
    }
    skb.reset_conntrack();
    skb.prepare_forward();
    skb.local_out(tx.net)
}
