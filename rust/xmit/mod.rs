// SPDX-License-Identifier: GPL-2.0
//! Transmitters, one file per forwarding method, and what they share: the route to the real
//! server with upstream's TTL and MTU rules.

pub(crate) mod dr;
pub(crate) mod nat;
pub(crate) mod tun;

use crate::dp::conn::ConnData;
use crate::ipvs_core::packet::Ipv4;
use crate::sys::skb::{Route, Skb, Verdict};
use crate::sys::NetRef;

/// How the route is looked up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteMode {
    /// To the packet's new destination address (NAT).
    Direct,
    /// Via the real server as known next hop, destination unchanged (DR).
    KnownNextHop,
    /// To the tunnel endpoint; the inner packet must fit with the outer header.
    Tunnel,
}

/// The route towards the connection's real server (cached per real server), after upstream's checks: local routes are refused (no
/// LOCALNODE handling yet), the TTL is decremented (ICMP time exceeded at 1), and a packet
/// with DF set that would not fit gets ICMP fragmentation needed.
pub(crate) fn route_out(
    net: NetRef<'_>,
    skb: &mut Skb<'_>,
    ip: &Ipv4,
    conn: &ConnData,
    mode: RouteMode,
) -> Result<Route, Verdict> {
    let known_nh = mode == RouteMode::KnownNextHop;
    let rt = conn.dest.route.route(net, conn.daddr, known_nh).ok_or(Verdict::Drop)?;
    if rt.is_local() {
        return Err(Verdict::Drop);
    }
    if ip.ttl <= 1 {
        skb.icmp_ttl_exceeded();
        return Err(Verdict::Drop);
    }
    let overhead = if mode == RouteMode::Tunnel { 20 } else { 0 };
    let mtu = rt.mtu().saturating_sub(overhead);
    if skb.len() > mtu && ip.dont_fragment && !skb.is_gso() {
        skb.icmp_frag_needed(mtu);
        return Err(Verdict::Drop);
    }
    // Decrement the TTL (of the inner header when tunnelling), keeping the checksum right.
    if !skb.make_writable(20) || !skb.write(8, &[ip.ttl - 1], 20) || !skb.ip_send_check(20) {
        return Err(Verdict::Drop);
    }
    Ok(rt)
}

/// Hands a rewritten packet on: from LOCAL_OUT it simply continues on its new route,
/// otherwise it is sent out by us.
pub(crate) fn send(net: NetRef<'_>, skb: &mut Skb<'_>, rt: Route, local: bool) -> Verdict {
    skb.set_route(rt);
    skb.mark_ipvs();
    if local {
        Verdict::Accept
    } else {
        skb.local_out(net)
    }
}
