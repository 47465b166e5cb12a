// SPDX-License-Identifier: GPL-2.0
//! The datapath of both families: the netfilter hooks and what they share (parsing, state
//! tracking, counting); requests, replies and ICMP errors have a file each. A packet's
//! network header is parsed once into an [`IpHeader`]; what follows asks it rather than the
//! family. See docs/datapath.md for the
//! packet walk of each mode.

mod icmp;
mod reply;
mod request;

use crate::conn::ConnData;
use crate::ipvs_core::ip::{may_be_icmp, IpHeader, IPV6_HLEN};
use crate::ipvs_core::packet::{ipvs_protocol, Ipv4, TcpFlags, PROTO_ICMP, PROTO_ICMPV6, PROTO_SCTP, PROTO_TCP, PROTO_UDP};
use crate::ipvs_core::uapi::AF_INET6;
use crate::ipvs_core::proto_tcp::{self, Direction, TcpEvent, TcpState, TcpTables};
use crate::ipvs_core::sysctl;
use crate::netns::IpvsNet;
use crate::sys::netfilter::{self, HookId, HookSpec};
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{DefragUser, Gathered, Skb, Verdict};
use crate::sys::{pernet, NetRef};
use core::ops::ControlFlow;

/// Our hooks, at upstream's places relative to conntrack and NAT (each local pair of upstream's
/// as one hook at the pair's first priority, see [`HookId`]).
pub(crate) const HOOKS: [HookSpec; 4] = [
    HookSpec { id: HookId::LocalIn, hooknum: netfilter::NF_INET_LOCAL_IN, priority: netfilter::NF_IP_PRI_NAT_SRC - 2 },
    HookSpec { id: HookId::LocalOut, hooknum: netfilter::NF_INET_LOCAL_OUT, priority: netfilter::NF_IP_PRI_NAT_DST + 1 },
    HookSpec { id: HookId::ReplyForward, hooknum: netfilter::NF_INET_FORWARD, priority: 100 },
    // Errors about a connection to an address this host routes (a firewall-mark service
    // whose marked packets a policy rule delivers locally, as in a transparent cache
    // cluster): nothing marks the error, so it is forwarded, and caught here (upstream's
    // `ip_vs_forward_icmp`).
    HookSpec { id: HookId::IcmpForward, hooknum: netfilter::NF_INET_FORWARD, priority: netfilter::NF_IP_PRI_NAT_SRC - 1 },
];

/// What a hook does with a packet: first look for a connection it replies to, then treat
/// it as a request to a virtual service (each only where the hook does it).
#[derive(Clone, Copy)]
struct Roles {
    replies: bool,
    requests: bool,
    /// Requests from this host (LOCAL_OUT): they continue on their new route.
    local: bool,
}

impl Roles {
    fn of(id: HookId) -> Roles {
        match id {
            HookId::LocalIn => Roles { replies: true, requests: true, local: false },
            HookId::LocalOut => Roles { replies: true, requests: true, local: true },
            HookId::ReplyForward => Roles { replies: true, requests: false, local: false },
            HookId::IcmpForward => Roles { replies: false, requests: true, local: false },
        }
    }
}

/// The IPv4 header of a packet, if it has one.
#[inline]
fn parse_ipv4(skb: &Skb<'_>) -> Option<Ipv4> {
    Ipv4::parse(&skb.read::<20>(0)?)
}

/// The IPv6 header of a packet with its extension headers walked, if it has one.
fn parse_ipv6(skb: &Skb<'_>) -> Option<IpHeader> {
    let len = usize::try_from(skb.len()).ok()?;
    IpHeader::parse_v6(&skb.read::<IPV6_HLEN>(0)?, len, |off| skb.read::<4>(off))
}

/// A parsed TCP or UDP packet.
struct L4Packet {
    ip: IpHeader,
    sport: [u8; 2],
    dport: [u8; 2],
    /// The whole fixed header (20 bytes of TCP, 8 of UDP) is there, not just the ports.
    complete: bool,
    /// No flags when the TCP header is not complete.
    tcp: TcpFlags,
}

/// Like upstream, the ports are enough to find a connection; the rest of the header is
/// needed to schedule one, to change a TCP state or to rewrite the packet
/// (`tcp_conn_schedule`, `tcp_state_transition`, `tcp_dnat_handler` and the UDP ones).
///
/// IPv4 fragments are not parsed (the reply hooks gathered theirs; requests come whole). An
/// IPv6 first fragment is, as upstream handles it like a whole packet (its rewrite is an
/// incremental checksum update, right for the whole datagram); later ones carry no transport
/// header and belong to no connection (with conntrack loaded, nf_defrag_ipv6 reassembles
/// them before they get here).
fn parse(skb: &Skb<'_>, ip: IpHeader) -> Option<L4Packet> {
    let fragment = if ip.is_v6() { ip.later_fragment } else { ip.is_fragment };
    if fragment || (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP) {
        return None;
    }
    let ports = skb.read::<4>(ip.l4_off)?;
    let (complete, tcp) = if ip.protocol == PROTO_TCP {
        match skb.read::<20>(ip.l4_off) {
            Some(th) => (true, TcpFlags::from_byte(th[13])),
            None => (false, TcpFlags::default()),
        }
    } else {
        (skb.read::<8>(ip.l4_off).is_some(), TcpFlags::default())
    };
    Some(L4Packet { ip, sport: [ports[0], ports[1]], dport: [ports[2], ports[3]], complete, tcp })
}

/// Whether hook `id` gathers a packet with header `ip`, an IPv4 fragment: upstream's
/// `ip_vs_out_hook` gathers the fragments of every protocol it knows (TCP, UDP, SCTP) and, in
/// `ip_vs_out_icmp`, of ICMP, whether or not a connection turns out to need them;
/// `ip_vs_forward_icmp` those of ICMP.
fn fragment_to_gather(id: HookId, ip: &IpHeader) -> bool {
    !ip.is_v6()
        && ip.is_fragment
        && match id {
            HookId::IcmpForward => ip.protocol == PROTO_ICMP,
            _ => matches!(ip.protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_ICMP),
        }
}

/// The network header of a packet of family `af`, parsed.
fn parse_ip(af: u16, skb: &Skb<'_>) -> Option<IpHeader> {
    if af == AF_INET6 {
        parse_ipv6(skb)
    } else {
        parse_ipv4(skb).map(|v4| IpHeader::from(&v4))
    }
}

/// The reassembly queues of the hooks that can see fragments (LOCAL_IN gets whole packets
/// from the stack).
fn defrag_user(id: HookId) -> Option<DefragUser> {
    match id {
        HookId::ReplyForward | HookId::IcmpForward => Some(DefragUser::Forward),
        HookId::LocalOut => Some(DefragUser::LocalOut),
        HookId::LocalIn => None,
    }
}

/// The netfilter entry point.
pub(crate) struct Datapath;

impl netfilter::Handler for Datapath {
    fn hook(id: HookId, af: u16, net: NetRef<'_>, rcu: &ReadGuard, skb: Skb<'_>) -> Verdict {
        if skb.ipvs_property() {
            return Verdict::Accept;
        }
        let Some(ipvs) = pernet::state::<IpvsNet>(net) else {
            return Verdict::Accept;
        };
        let mut roles = Roles::of(id);
        // The request side is upstream's `ip_vs_in_hook` and, for ICMP, `ip_vs_forward_icmp`;
        // a backup director with `backup_only` leaves requests to the local stack.
        roles.requests &= !ipvs.backup_only();
        if !roles.replies && !roles.requests {
            return Verdict::Accept;
        }
        // Every packet forwarded through the director passes the ICMP hook: the rest go on
        // after a glance at the protocol, without the whole parse.
        if id == HookId::IcmpForward && !skb.read::<10>(0).is_some_and(|first| may_be_icmp(&first)) {
            return Verdict::Accept;
        }
        let parsed = parse_ip(af, &skb);
        // Replies of NAT connections may come fragmented from the real server (requests
        // reach LOCAL_IN whole): gather them first, or their fragments would leave with the
        // real server's address (upstream's `ip_vs_out_hook`).
        let (skb, ip) = match defrag_user(id) {
            Some(user) if parsed.as_ref().is_some_and(|ip| fragment_to_gather(id, ip)) => {
                match skb.gather_fragments(net, user) {
                    Gathered::Whole(skb) => {
                        let ip = parse_ip(af, &skb);
                        (skb, ip)
                    }
                    Gathered::Consumed => return Verdict::Stolen,
                    Gathered::Failed(_) => return Verdict::Drop,
                }
            }
            _ => (skb, parsed),
        };
        let Some(ip) = ip else {
            return Verdict::Accept;
        };
        let icmp_protocol = if ip.is_v6() { PROTO_ICMPV6 } else { PROTO_ICMP };
        if id == HookId::IcmpForward && ip.protocol != icmp_protocol {
            return Verdict::Accept;
        }
        if roles.requests && ip.protocol != icmp_protocol && !ipvs_protocol(ip.protocol) {
            // `ignore_tunneled`: a packet IPVS has no handler for (IPIP, GRE, ...) is marked as
            // IPVS's, as upstream's `ip_vs_in_hook` marks it. (In 6.12 a tunnel's decapsulation
            // clears the mark again, so the packet it carried is not spared; xt_ipvs sees it.)
            let mut skb = skb;
            if ipvs.sysctls.get(sysctl::idx::IGNORE_TUNNELED) != 0 {
                skb.set_ipvs_property();
            }
            return Verdict::Accept;
        }
        // Replies delivered here are not routed again; those leaving are, from the virtual
        // address, with `snat_reroute` (upstream's `ip_vs_route_me_harder`).
        let reroute = match id {
            HookId::ReplyForward | HookId::LocalOut => (ipvs.sysctls.get(sysctl::idx::SNAT_REROUTE) != 0).then_some(net),
            HookId::LocalIn | HookId::IcmpForward => None,
        };
        if ip.protocol == icmp_protocol {
            // IPv4 fragments reach the request side only from this host, which sends no
            // fragmented errors (the reply side and the forward hook gathered theirs above).
            if ip.is_fragment && !ip.is_v6() {
                return Verdict::Accept;
            }
            return icmp_error(ipvs, net, id, roles, skb, &ip, reroute);
        }
        let Some(pkt) = parse(&skb, ip) else {
            return Verdict::Accept;
        };
        let skb = if roles.replies {
            match reply::reply(ipvs, net, rcu, skb, &pkt, reroute) {
                ControlFlow::Break(verdict) => return verdict,
                ControlFlow::Continue(skb) => skb,
            }
        } else {
            skb
        };
        if roles.requests {
            request::request(ipvs, net, rcu, skb, &pkt, roles.local)
        } else {
            Verdict::Accept
        }
    }
}

/// An ICMP or ICMPv6 packet at hook `id`: an error about a reply of a connection (reply
/// side), then about a request (request side; at LOCAL_IN also an error about one of our
/// tunnel packets).
fn icmp_error(
    ipvs: &IpvsNet,
    net: NetRef<'_>,
    id: HookId,
    roles: Roles,
    skb: Skb<'_>,
    ip: &IpHeader,
    reroute: Option<NetRef<'_>>,
) -> Verdict {
    let class = icmp::classify(&skb, ip);
    let skb = match &class {
        // One about a tunnel packet is, on the reply side, about the packet it quotes, if that
        // has ports (UDP like GUE).
        icmp::Icmp::Error(err) | icmp::Icmp::Tunnel(icmp::TunnelError { plain: Some(err), .. }) if roles.replies => {
            match icmp::reply(ipvs, skb, ip, err, reroute) {
                ControlFlow::Break(verdict) => return verdict,
                ControlFlow::Continue(skb) => skb,
            }
        }
        _ => skb,
    };
    if !roles.requests {
        return match class {
            icmp::Icmp::Truncated => Verdict::Drop,
            _ => Verdict::Accept,
        };
    }
    let err = match class {
        icmp::Icmp::Error(err) => err,
        // Errors about our tunnel packets come to this host, at LOCAL_IN.
        icmp::Icmp::Tunnel(err) if id == HookId::LocalIn => return icmp::tunnel(ipvs, net, skb, ip, &err),
        icmp::Icmp::Tunnel(icmp::TunnelError { plain: Some(err), .. }) => err,
        icmp::Icmp::Tunnel(_) | icmp::Icmp::Unrelated => return Verdict::Accept,
        icmp::Icmp::Fragmented | icmp::Icmp::Truncated => return Verdict::Drop,
    };
    icmp::request(ipvs, net, skb, ip, &err, roles.local)
}

/// Applies one packet to a connection's protocol state; the new expiry delay in jiffies.
fn track(ipvs: &IpvsNet, conn: &ConnData, pkt: &L4Packet, dir: Direction) -> u32 {
    let t = ipvs.dp.timeouts();
    let secs = if conn.is_tcp() {
        let tables = if ipvs.defense.secure_tcp() {
            TcpTables::Secure
        } else {
            TcpTables::Normal
        };
        let ev = TcpEvent::from_flags(pkt.tcp.syn, pkt.tcp.fin, pkt.tcp.ack, pkt.tcp.rst);
        // Without a whole TCP header the state stays as it is (upstream returns early).
        let tr = if pkt.complete {
            conn.tcp_transition(|c| proto_tcp::transition(tables, dir, c, ev))
        } else {
            conn.tcp_transition(|c| proto_tcp::TcpTransition { conn: c, active: proto_tcp::ActiveChange::None, established: false })
        };
        if tr.conn.state == TcpState::Established {
            conn.assure_template();
        }
        tr.conn.state.timeout(&t)
    } else {
        if dir == Direction::Output {
            conn.assure_template();
        }
        proto_tcp::udp::timeout(&t)
    };
    secs.saturating_mul(crate::sys::hz())
}

/// Counts a packet of `conn` going to the real server side on its dest, its service and
/// the netns totals.
fn count_in(ipvs: &IpvsNet, rcu: &ReadGuard, conn: &ConnData, len: u32) {
    if !conn.counted() {
        return;
    }
    conn.dest.stats.count_in(len);
    conn.dest.svc_stats(rcu).count_in(len);
    ipvs.dp.total.count_in(len);
}

/// Counts a packet of `conn` going to the client side, as [`count_in`].
fn count_out(ipvs: &IpvsNet, rcu: &ReadGuard, conn: &ConnData, len: u32) {
    if !conn.counted() {
        return;
    }
    conn.dest.stats.count_out(len);
    conn.dest.svc_stats(rcu).count_out(len);
    ipvs.dp.total.count_out(len);
}
