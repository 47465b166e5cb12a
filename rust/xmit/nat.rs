// SPDX-License-Identifier: GPL-2.0
//! Masquerading (NAT): requests get the real server as destination, replies get the virtual
//! service as source, with the IP and L4 checksums updated (CHECKSUM_PARTIAL included); ICMP
//! errors about them are translated the same way. Both families.

use super::{route_out, send, RouteMode, Tx};
use crate::conn::ConnData;
use crate::ipvs_core::icmp::Quoted;
use crate::ipvs_core::ip::IpHeader;
use crate::ipvs_core::packet::{l4_csum_offset, PROTO_UDP};
use crate::sys::skb::{ReplySide, Skb, Verdict};
use crate::sys::NetRef;

/// Which end of a packet a NAT rewrite changes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    Source,
    Destination,
}

/// Rewrites the source or destination address and port of a TCP or UDP packet, from `old`
/// to `new` (16-byte addresses of the packet's family). Returns false if the packet could
/// not be rewritten.
fn rewrite(skb: &mut Skb<'_>, ip: &IpHeader, end: End, old: &([u8; 16], [u8; 2]), new: &([u8; 16], [u8; 2])) -> bool {
    let Some(csum_rel) = l4_csum_offset(ip.protocol) else { return false };
    let (addr_off, port_off) = match end {
        End::Source => (ip.saddr_off(), 0),
        End::Destination => (ip.daddr_off(), 2),
    };
    let (old_addr, new_addr) = (ip.wire(&old.0), ip.wire(&new.0));
    let l4 = ip.l4_off;
    let csum_at = l4 + csum_rel;
    // The whole fixed L4 header must be there, as upstream's `tcp_dnat_handler` (and the
    // other three handlers) require, not just the ports and the checksum.
    let header = if ip.protocol == PROTO_UDP { 8 } else { 20 };
    let Some(mut w) = skb.make_writable((l4 + header).max(csum_at + 2)) else { return false };
    // A UDP datagram without checksum gets a whole one computed after the rewrite, as
    // upstream's udp_dnat_handler and udp_snat_handler do.
    let update_csum = match w.read::<2>(csum_at) {
        Some(c) => ip.protocol != PROTO_UDP || c != [0, 0] || w.csum_partial(),
        None => return false,
    };
    if update_csum {
        if old.1 != new.1 && !w.l4_csum_replace(csum_at, &old.1, &new.1, false) {
            return false;
        }
        if !w.l4_csum_replace(csum_at, old_addr, new_addr, true) {
            return false;
        }
        // CSUM_MANGLED_0: a computed zero is sent as all ones (the range was written just
        // above, so this write is within it too).
        if ip.protocol == PROTO_UDP && !w.csum_partial() && w.read::<2>(csum_at) == Some([0, 0]) && !w.write(csum_at, &[0xff, 0xff]) {
            return false;
        }
    }
    w.write(l4 + port_off, &new.1) && w.write(addr_off, new_addr) && (update_csum || w.udp_full_csum(l4)) && w.ip_send_check()
}

/// Client to real server: DNAT, then route to the real server. A connection that keeps
/// conntrack tells the packet's entry that replies come from the real server.
pub(crate) fn xmit_in(tx: &Tx<'_>, mut skb: Skb<'_>) -> Verdict {
    let (ip, conn) = (tx.ip, tx.conn);
    let rt = match route_out(tx, &mut skb, RouteMode::Direct) {
        Ok(rt) => rt,
        Err(v) => return v,
    };
    if !rewrite(&mut skb, ip, End::Destination, &(ip.daddr, conn.vport), &(conn.daddr, conn.dport)) {
        return Verdict::Drop;
    }
    if conn.nfct.is_some() && !conn.is_one_packet() {
        skb.set_conntrack_reply(ReplySide::Source, &conn.daddr, conn.dport);
    }
    send(tx, skb, rt)
}

/// Which side of a NAT connection an ICMP error is translated for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum IcmpSide {
    /// An error from the client's side about a reply: it goes to the real server.
    ToRealServer,
    /// An error from the real server's side about a request: it goes to the client.
    ToClient,
}

/// Translates an ICMP or ICMPv6 error about a packet of `conn` (upstream's `ip_vs_nat_icmp`
/// and `ip_vs_nat_icmp_v6`) whose outer header is `outer`: the outer address on the real
/// server's side, the quoted packet's address and port on that side, both IPv4 header
/// checksums (IPv6 has none) and the ICMP checksum (ICMPv6's over its pseudo-header). The
/// quoted packet's own L4 checksum is left as it is, as upstream leaves it.
fn rewrite_icmp(skb: &mut Skb<'_>, outer: &IpHeader, quoted: &Quoted, conn: &ConnData, side: IcmpSide) -> bool {
    let (Some(len), Some(ports)) = (quoted.rewrite_len(), quoted.ports_off()) else { return false };
    let Some(mut w) = skb.make_writable(len) else { return false };
    let q = &quoted.ip;
    let (outer_off, inner_off, port, new_addr, new_port) = match side {
        IcmpSide::ToRealServer => (outer.daddr_off(), q.saddr_off(), ports, &conn.daddr, conn.dport),
        IcmpSide::ToClient => (outer.saddr_off(), q.daddr_off(), ports + 2, &conn.vaddr, conn.vport),
    };
    let new_addr = outer.wire(new_addr);
    w.write(outer_off, new_addr)
        && w.ip_send_check()
        && w.write(quoted.off + inner_off, new_addr)
        && (q.is_v6() || w.ipv4_send_check_at(quoted.off))
        && w.write(port, &new_port)
        && w.icmp_csum_fill(outer.l4_off)
}

/// An ICMP error from the client's side (a router on the way, or the client itself) about a
/// reply of `tx.conn`: translated to the real server's address and sent there, as requests
/// are.
pub(crate) fn xmit_icmp_in(tx: &Tx<'_>, mut skb: Skb<'_>, quoted: &Quoted) -> Verdict {
    let rt = match route_out(tx, &mut skb, RouteMode::Direct) {
        Ok(rt) => rt,
        Err(v) => return v,
    };
    if !rewrite_icmp(&mut skb, tx.ip, quoted, tx.conn, IcmpSide::ToRealServer) {
        return Verdict::Drop;
    }
    send(tx, skb, rt)
}

/// An ICMP error from the real server's side about a request of `conn`: translated to the
/// virtual service, to go on to the client like the connection's replies (routed again from
/// the VIP with `reroute`). False if it must be dropped.
pub(crate) fn rewrite_icmp_out(skb: &mut Skb<'_>, ip: &IpHeader, quoted: &Quoted, conn: &ConnData, reroute: Option<NetRef<'_>>) -> bool {
    rewrite_icmp(skb, ip, quoted, conn, IcmpSide::ToClient) && reroute.map_or(true, |net| skb.reroute_as_local(net))
}

/// Real server to client: SNAT to the virtual service; the packet continues on its way,
/// untracked or with its conntrack entry told about the SNAT (upstream's `handle_response`).
/// With `reroute` (`snat_reroute`, for a packet leaving this host) it is routed again from
/// its new source address.
pub(crate) fn xmit_out(mut skb: Skb<'_>, ip: &IpHeader, conn: &ConnData, reroute: Option<NetRef<'_>>) -> Verdict {
    if !rewrite(&mut skb, ip, End::Source, &(ip.saddr, conn.dport), &(conn.vaddr, conn.vport)) {
        return Verdict::Drop;
    }
    if let Some(net) = reroute {
        if !skb.reroute_as_local(net) {
            return Verdict::Drop;
        }
    }
    skb.set_ipvs_property();
    skb.forward_csum();
    if conn.nfct.is_some() {
        skb.set_conntrack_reply(ReplySide::Destination, &conn.vaddr, conn.vport);
    } else {
        skb.untrack();
    }
    Verdict::Accept
}
