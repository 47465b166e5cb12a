// SPDX-License-Identifier: GPL-2.0
//! Packets from a real server back to a client through the director (at FORWARD, LOCAL_IN and
//! LOCAL_OUT): NAT replies get the VIP as their source; DR and TUN replies passing the
//! director are counted and tracked; a real server's packet without a connection may be
//! refused (`nat_icmp_send`).

use super::{count_out, track, L4Packet};
use crate::conn::ConnData;
use crate::ipvs_core::packet::{conn_hash, PROTO_TCP};
use crate::ipvs_core::proto_tcp::Direction;
use crate::ipvs_core::sysctl;
use crate::ipvs_core::uapi::fwd;
use crate::netns::IpvsNet;
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{Skb, Verdict};
use crate::sys::NetRef;
use core::ops::ControlFlow;

/// Lets a reply of `conn` that needs no rewrite go on: marked as IPVS's and untracked unless
/// the connection keeps conntrack (upstream's `handle_response` after its NAT step).
pub(super) fn pass_reply(skb: &mut Skb<'_>, conn: &ConnData) {
    skb.set_ipvs_property();
    if conn.nfct.is_none() {
        skb.untrack();
    }
}

/// A packet from a real server that belongs to no connection. With `nat_icmp_send`, one from
/// a NAT real server's service port (a TCP reset excepted) is dropped and answered "port
/// unreachable", so the real server learns at once that the director has no connection for
/// it (upstream's `ip_vs_out_hook`): whether it was.
fn refuse_unmatched(ipvs: &IpvsNet, net: NetRef<'_>, skb: &mut Skb<'_>, pkt: &L4Packet) -> bool {
    let ip = &pkt.ip;
    if ipvs.sysctls.get(sysctl::idx::NAT_ICMP_SEND) == 0 || (ip.protocol == PROTO_TCP && pkt.tcp.rst) {
        return false;
    }
    let from_real_server = ipvs.published.has_real_service(&ReadGuard::new(), ip.af, u16::from(ip.protocol), &ip.saddr, pkt.sport);
    if from_real_server {
        skb.icmp_port_unreachable(net);
    }
    from_real_server
}

/// A reply of a connection passing the director: a NAT reply gets the VIP as source; a DR or
/// TUN one (the director on its way) only counts and moves the connection's state, as
/// upstream's `handle_response` does with them. A packet that is no reply goes on
/// (`Continue`), untouched, to the request side of the hook if it has one.
pub(super) fn reply<'a>(
    ipvs: &IpvsNet,
    net: NetRef<'_>,
    rcu: &ReadGuard,
    mut skb: Skb<'a>,
    pkt: &L4Packet,
    reroute: Option<NetRef<'_>>,
) -> ControlFlow<Verdict, Skb<'a>> {
    let ip = &pkt.ip;
    let hash = |key| conn_hash(ip.protocol, (&ip.daddr, pkt.dport), (&ip.saddr, pkt.sport), key);
    let (server, client) = ((ip.saddr, pkt.sport), (ip.daddr, pkt.dport));
    let Some(conn) = ipvs.conns.lookup_in(rcu, hash, |c| c.matches_out(ip.af, ip.protocol, &server, &client)) else {
        if refuse_unmatched(ipvs, net, &mut skb, pkt) {
            return ControlFlow::Break(Verdict::Drop);
        }
        return ControlFlow::Continue(skb);
    };
    let d = conn.data();
    count_out(ipvs, rcu, d, skb.len());
    conn.set_timeout(track(ipvs, d, pkt, Direction::Output));
    if d.fwd == fwd::MASQ {
        return ControlFlow::Break(crate::xmit::nat::xmit_out(skb, ip, d, reroute));
    }
    pass_reply(&mut skb, d);
    ControlFlow::Break(Verdict::Accept)
}
