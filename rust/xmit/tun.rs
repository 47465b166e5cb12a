// SPDX-License-Identifier: GPL-2.0
//! Tunnelling: the packet is wrapped in an outer header to the real server, which
//! decapsulates it and answers the client directly. The outer header is of the real server's
//! family, the inner packet of the service's: IPv4 in IPv4 (IPIP), IPv6 in IPv6, IPv4 in
//! IPv6 and IPv6 in IPv4 all take this one path (upstream's `ip_vs_tunnel_xmit` and
//! `ip_vs_tunnel_xmit_v6`), with the dest's encapsulation between the two headers: none, UDP
//! to its tunnel port with a GUE header, or GRE.

use super::{route_out, RouteMode, Tx};
use crate::ipvs_core::tunnel::{encap_header, inner_proto, outer_header, Encap, Tunnel};
use crate::sys::skb::{Skb, Verdict};

pub(crate) fn xmit(tx: &Tx<'_>, mut skb: Skb<'_>, pmtu_disc: bool) -> Verdict {
    let dest = &tx.conn.dest;
    let encap = Encap::of_dest(dest.tun_type(), dest.tun_port(), dest.tun_flags());
    // Where the inner checksum is, for remote checksum offload; a packet whose checksum
    // starts before it cannot say (upstream drops it).
    let partial = skb.partial_csum();
    let remcsum = match partial {
        Some(p) if encap.uses_remcsum(true) => match p {
            Some(p) => Some(p),
            None => return Verdict::Drop,
        },
        _ => None,
    };
    let encap_len = encap.len(partial.is_some());
    let rt = match route_out(tx, &mut skb, RouteMode::Tunnel { pmtu_disc, encap_len }) {
        Ok(rt) => rt,
        Err(v) => return v,
    };
    let sport = if let Encap::Gue { .. } = encap { skb.flow_src_port(tx.net) } else { [0, 0] };
    let Some(middle) = encap_header(&encap, inner_proto(tx.ip), skb.len(), sport, remcsum) else {
        return Verdict::Drop;
    };
    // The route is of the real server's family and chose the outer source address; the
    // inner TTL was decremented by route_out, and the outer header starts from it.
    let outer = outer_header(&Tunnel {
        outer_af: rt.af(),
        inner: tx.ip,
        inner_len: skb.len(),
        saddr: &rt.saddr,
        daddr: &tx.conn.daddr,
        pmtu_disc,
        encap: &middle,
    });
    if !skb.encapsulate(tx.net, &outer, &middle, &encap) {
        return Verdict::Drop;
    }
    skb.set_ipvs_property();
    skb.allow_fragmentation();
    // The inner flow's conntrack entry is confirmed as it is (when kept), and the outer
    // packet starts without one (upstream's `ip_vs_tunnel_xmit_prepare`).
    if tx.conn.nfct.is_some() && !skb.confirm_conntrack() {
        return Verdict::Drop;
    }
    skb.reset_conntrack();
    skb.prepare_forward();
    // Sent by the outer header's family (`ip_local_out` or `ip6_local_out`).
    skb.send_on(tx.net, rt)
}
