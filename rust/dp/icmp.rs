// SPDX-License-Identifier: GPL-2.0
//! ICMP and ICMPv6 errors about packets of IPVS connections (upstream's `ip_vs_in_icmp`,
//! `ip_vs_out_icmp` and their IPv6 versions): the connection is found from the packet the
//! error quotes, the error is counted on it, and it goes where the connection's packets go:
//! translated for NAT, to the real server unchanged for DR and TUN. An error about one of the director's own IPIP
//! packets (from a router on the tunnel path) becomes one for the client about its own
//! packet, with the tunnel's overhead taken off a "fragmentation needed". An error does not
//! keep its connection alive.
//!
//! An error from the client's side that finds no connection is left to the stack, unless
//! `schedule_icmp` is set: then a connection is scheduled for the flow it quotes, as if the
//! client had opened it, and the error goes to the dest chosen (upstream's
//! `ip_vs_try_to_schedule` with the inverse header; for a director that did not see the
//! connection, behind ECMP or after a failover).

use super::reply::pass_reply;
use crate::conn::ConnData;
use super::request::{self, Conn};
use super::{count_in, count_out, IpvsNet, L4Packet};
use crate::ipvs_core::icmp::{self, Quoted, Wrap, WrapKind};
use crate::ipvs_core::ip::{IpHeader, IPV6_HLEN};
use crate::ipvs_core::packet::{conn_hash, TcpFlags};
use crate::ipvs_core::sysctl;
use crate::ipvs_core::uapi::{fwd, tun_type, AF_INET};
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{Skb, Verdict};
use crate::sys::NetRef;
use crate::xmit::{self, Tx};
use core::ops::ControlFlow;

/// An ICMP error about a TCP or UDP packet.
pub(super) struct IcmpError {
    quoted: Quoted,
    /// The quoted packet's ports.
    sport: [u8; 2],
    dport: [u8; 2],
}

/// An ICMP error about an IPv4 tunnel packet (IPIP, GUE or GRE), quoting the TCP or UDP
/// packet inside.
pub(super) struct TunnelError {
    icmp_type: u8,
    code: u8,
    /// The ICMP header's second word (a "fragmentation needed"'s next-hop MTU in its low half).
    info: [u8; 4],
    /// The tunnel packet's header, as quoted, and how it wraps the inner packet.
    outer: Quoted,
    wrap: Wrap,
    /// The packet it carried, and that packet's ports.
    inner: Quoted,
    sport: [u8; 2],
    dport: [u8; 2],
    /// The same error taken as one about the quoted packet itself, when that has ports: a
    /// UDP datagram that only looks like GUE is that, unless the director has a GUE tunnel
    /// to its destination port, or the error came elsewhere than to this host.
    pub(super) plain: Option<IcmpError>,
}

/// What an ICMP packet is to IPVS.
pub(super) enum Icmp {
    /// An error quoting a TCP or UDP packet: perhaps one of a connection.
    Error(IcmpError),
    /// An error quoting a tunnel packet: perhaps one the director sent to a real server.
    Tunnel(TunnelError),
    /// Anything else (queries, errors about other protocols, about later fragments, or too
    /// short to quote the ports): left to the stack.
    Unrelated,
    /// Too short for an ICMP header: dropped, as upstream drops it.
    Truncated,
    /// An ICMPv6 error in a fragmented packet (errors are never fragmented): dropped by the
    /// request hooks, as upstream's `ip_vs_in_icmp_v6` drops it.
    Fragmented,
}

/// The packet an ICMP (`ip` IPv4) or ICMPv6 (`ip` IPv6) error at `ip.l4_off` quotes.
fn quoted_packet(skb: &Skb<'_>, ip: &IpHeader) -> Option<Quoted> {
    let at = ip.l4_off + icmp::HEADER_LEN;
    if ip.is_v6() {
        let len = usize::try_from(skb.len()).ok()?.checked_sub(at)?;
        Quoted::parse_v6(ip.l4_off, &skb.read::<IPV6_HLEN>(at)?, len, |off| skb.read::<4>(at + off))
    } else {
        Quoted::parse(ip.l4_off, &skb.read::<20>(at)?)
    }
}

/// Sorts out the ICMP or ICMPv6 packet `skb`, whose network header is `ip`.
pub(super) fn classify(skb: &Skb<'_>, ip: &IpHeader) -> Icmp {
    let Some([icmp_type, code, _, _, i0, i1, i2, i3]) = skb.read::<{ icmp::HEADER_LEN }>(ip.l4_off) else {
        return Icmp::Truncated;
    };
    let error = if ip.is_v6() { icmp::is_error_v6(icmp_type) } else { icmp::is_error(icmp_type) };
    if !error {
        return Icmp::Unrelated;
    }
    if ip.is_v6() && ip.is_fragment {
        return Icmp::Fragmented;
    }
    let Some(quoted) = quoted_packet(skb, ip) else { return Icmp::Unrelated };
    let plain = quoted
        .ports_off()
        .and_then(|off| skb.read::<4>(off))
        .map(|[s0, s1, d0, d1]| IcmpError { quoted, sport: [s0, s1], dport: [d0, d1] });
    let after = quoted.off + quoted.ip.l4_off;
    let wrap = skb.read::<{ icmp::WRAP_PROBE_LEN }>(after).and_then(|b| quoted.wrap(&b));
    let inner = wrap.and_then(|w| Some((w, quoted.inner(&w, &skb.read::<20>(after + w.len)?)?)));
    if let Some((wrap, inner)) = inner {
        return match inner.ports_off().and_then(|off| skb.read::<4>(off)) {
            Some([s0, s1, d0, d1]) => Icmp::Tunnel(TunnelError {
                icmp_type,
                code,
                info: [i0, i1, i2, i3],
                outer: quoted,
                wrap,
                inner,
                sport: [s0, s1],
                dport: [d0, d1],
                plain,
            }),
            None => plain.map_or(Icmp::Unrelated, Icmp::Error),
        };
    }
    plain.map_or(Icmp::Unrelated, Icmp::Error)
}

/// An error arriving for a virtual service, from the client's side (a router on the way, or
/// the client), about a reply that went from the VIP to the client: relayed to the real
/// server.
pub(super) fn request(ipvs: &IpvsNet, net: NetRef<'_>, mut skb: Skb<'_>, ip: &IpHeader, err: &IcmpError, local: bool) -> Verdict {
    let q = &err.quoted.ip;
    // The quoted reply's destination is the client.
    let (client, virt) = ((q.daddr, err.dport), (q.saddr, err.sport));
    let hash = |key| conn_hash(q.protocol, (&client.0, client.1), (&virt.0, virt.1), key);
    let (conn, scheduled) = match ipvs.conns.lookup(hash, |c| c.matches_in(q.af, q.protocol, &client, &virt)) {
        Some(c) => (Conn::Table(c), false),
        None if ipvs.sysctls.get(sysctl::idx::SCHEDULE_ICMP) == 0 => return Verdict::Accept,
        None => match schedule(ipvs, net, &mut skb, err) {
            Ok(Some(c)) => (c, true),
            Ok(None) => return Verdict::Accept,
            Err(v) => return v,
        },
    };
    let verdict = relay_in(ipvs, net, skb, ip, err, local, conn.data());
    match conn {
        // A connection this error found: the error does not keep it alive. One it made
        // starts its timer now, as upstream's put of a new connection does.
        Conn::Table(c) if !scheduled => c.release_quietly(),
        Conn::Table(c) => drop(c),
        Conn::OnePacket(d) => d.discard(),
    }
    verdict
}

/// `schedule_icmp`: a connection for the flow an error quotes (a reply, VIP to client), made
/// as the client's packet opening it would make it (`ip_vs_try_to_schedule` with the inverse
/// header: TCP needs no SYN here, only the quoted ports).
fn schedule(ipvs: &IpvsNet, net: NetRef<'_>, skb: &mut Skb<'_>, err: &IcmpError) -> Result<Option<Conn>, Verdict> {
    let q = &err.quoted.ip;
    let opening = L4Packet {
        ip: IpHeader { saddr: q.daddr, daddr: q.saddr, ..*q },
        sport: err.dport,
        dport: err.sport,
        complete: true,
        tcp: TcpFlags { syn: true, ..TcpFlags::default() },
    };
    request::new_conn(ipvs, net, &ReadGuard::new(), skb, &opening, request::Opening::IcmpError)
}

/// Relays an error from the client's side to the real server of its connection `d`.
fn relay_in(ipvs: &IpvsNet, net: NetRef<'_>, mut skb: Skb<'_>, ip: &IpHeader, err: &IcmpError, local: bool, d: &ConnData) -> Verdict {
    // Only a translated error needs its checksum checked first (upstream checks it for NAT).
    if d.fwd == fwd::MASQ && !skb.icmp_csum_ok(ip.l4_off) {
        return Verdict::Drop;
    }
    let rcu = ReadGuard::new();
    count_in(ipvs, &rcu, d, skb.len());
    let tx = Tx { net, rcu: &rcu, conn: d, ip, local };
    if d.fwd == fwd::MASQ {
        return xmit::nat::xmit_icmp_in(&tx, skb, &err.quoted);
    }
    // The other methods forward the error as it is, and count it as a packet of the
    // connection.
    d.count_in_packet();
    xmit::forward(&tx, skb, ipvs.sysctls.get(sysctl::idx::PMTU_DISC) != 0)
}

/// An error on its way out to a client about a packet the client sent (from the real server
/// or a router between it and the director about a NAT request; for the other methods, an
/// error the director itself sends from the VIP): for NAT, translated to come from the
/// virtual service. An error about no connection's reply goes on (`Continue`), untouched.
pub(super) fn reply<'a>(
    ipvs: &IpvsNet,
    mut skb: Skb<'a>,
    ip: &IpHeader,
    err: &IcmpError,
    reroute: Option<NetRef<'_>>,
) -> ControlFlow<Verdict, Skb<'a>> {
    let q = &err.quoted.ip;
    // The quoted request went from the client to the real server.
    let (server, client) = ((q.daddr, err.dport), (q.saddr, err.sport));
    let hash = |key| conn_hash(q.protocol, (&client.0, client.1), (&server.0, server.1), key);
    let Some(conn) = ipvs.conns.lookup(hash, |c| c.matches_out(q.af, q.protocol, &server, &client)) else {
        return ControlFlow::Continue(skb);
    };
    let d = conn.data();
    let passes = d.fwd != fwd::MASQ
        || (skb.icmp_csum_ok(ip.l4_off) && xmit::nat::rewrite_icmp_out(&mut skb, ip, &err.quoted, d, reroute));
    if passes {
        count_out(ipvs, &ReadGuard::new(), d, skb.len());
        pass_reply(&mut skb, d);
    }
    conn.release_quietly();
    ControlFlow::Break(if passes { Verdict::Accept } else { Verdict::Drop })
}

/// An error from a router on the tunnel path about an IPv4 tunnel packet (IPIP, GUE or GRE)
/// the director sent to a real server (it arrives for this host, at LOCAL_IN): the client
/// hears of it about its own packet, which the tunnel packet carried. A "fragmentation
/// needed" also lowers this host's path MTU towards the real server, and reaches the client
/// (when its packet had DF set) with that MTU less the tunnel's headers.
pub(super) fn tunnel(ipvs: &IpvsNet, net: NetRef<'_>, mut skb: Skb<'_>, ip: &IpHeader, err: &TunnelError) -> Verdict {
    // Only for a tunnel the director has: a dest of that kind at the tunnel packet's
    // destination, a GUE one at its UDP port (the one indexed last, as upstream's
    // `ip_vs_find_tunnel`).
    let (want, port) = match err.wrap.kind {
        WrapKind::Ipip => (tun_type::IPIP, [0, 0]),
        WrapKind::Gue { port } => (tun_type::GUE, port),
        WrapKind::Gre => (tun_type::GRE, [0, 0]),
    };
    let known = ipvs
        .published
        .find_tunnel(&ReadGuard::new(), AF_INET, &err.outer.ip.daddr, port)
        .is_some_and(|d| d.tun_type() == want);
    if !known {
        return match &err.plain {
            Some(plain) => request(ipvs, net, skb, ip, plain, false),
            None => Verdict::Accept,
        };
    }
    // The quoted packet is a request (client to VIP), not a reply.
    let q = &err.inner.ip;
    let (client, virt) = ((q.saddr, err.sport), (q.daddr, err.dport));
    let hash = |key| conn_hash(q.protocol, (&client.0, client.1), (&virt.0, virt.1), key);
    let Some(conn) = ipvs.conns.lookup(hash, |c| c.matches_in(AF_INET, q.protocol, &client, &virt)) else {
        return Verdict::Accept;
    };
    if !skb.icmp_csum_ok(ip.l4_off) {
        conn.release_quietly();
        return Verdict::Drop;
    }
    let d = conn.data();
    let mut info = err.info;
    let mut inner_off = err.inner.off;
    if err.icmp_type == icmp::DEST_UNREACH && err.code == icmp::FRAG_NEEDED {
        let reported = u32::from(u16::from_be_bytes([err.info[2], err.info[3]]));
        if !skb.pull_to_quoted(err.outer.off, err.outer.ip.l4_off) {
            conn.release_quietly();
            return skb.consume();
        }
        inner_off -= err.outer.off;
        skb.update_pmtu(net, reported);
        // A client that does not do path MTU discovery has nothing to learn.
        if !q.dont_fragment {
            conn.release_quietly();
            return skb.consume();
        }
        // Upstream prefers the MTU of the dest's cached route, read without checking it: the
        // update just made that route stale, so this is usually the device's MTU, not the
        // one reported (the client learns the rest from the director's own "fragmentation
        // needed" on its next packet). Kept, so that clients hear what stock tells them.
        let path_mtu = d.dest.route.cached_mtu().unwrap_or(reported);
        let mtu = icmp::client_mtu(path_mtu, err.outer.ip.l4_off + err.wrap.len);
        info = mtu.to_be_bytes();
    }
    if skb.pull_to_quoted(inner_off, q.l4_off) {
        skb.icmp_send(err.icmp_type, err.code, info);
        // Counted as what it reports on: the client's packet, going back out.
        count_out(ipvs, &ReadGuard::new(), d, skb.len());
    }
    conn.release_quietly();
    skb.consume()
}
