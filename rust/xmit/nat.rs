// SPDX-License-Identifier: GPL-2.0
//! Masquerading (NAT): requests get the real server as destination, replies get the virtual
//! service as source, with the IP and L4 checksums updated (CHECKSUM_PARTIAL included).

use super::{route_out, send, RouteMode, Tx};
use crate::dp::conn::ConnData;
use crate::ipvs_core::packet::{l4_csum_offset, Ipv4, PROTO_UDP};
use crate::sys::skb::{ReplySide, Skb, Verdict};

/// Rewrites the address at `addr_off` and the port at L4 offset `port_off` (0 = source,
/// 2 = destination). Returns false if the packet could not be rewritten.
fn rewrite(skb: &mut Skb<'_>, ip: &Ipv4, addr_off: usize, old: ([u8; 4], [u8; 2]), new: ([u8; 4], [u8; 2]), port_off: usize) -> bool {
    let Some(csum_rel) = l4_csum_offset(ip.protocol) else { return false };
    let l4 = ip.ihl_bytes;
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
        if !w.l4_csum_replace(csum_at, &old.0, &new.0, true) {
            return false;
        }
        // CSUM_MANGLED_0: a computed zero is sent as all ones (the range was written just
        // above, so this write is within it too).
        if ip.protocol == PROTO_UDP && !w.csum_partial() && w.read::<2>(csum_at) == Some([0, 0]) && !w.write(csum_at, &[0xff, 0xff]) {
            return false;
        }
    }
    w.write(l4 + port_off, &new.1) && w.write(addr_off, &new.0) && (update_csum || w.udp_full_csum(l4)) && w.ip_send_check()
}

/// Client to real server: DNAT, then route to the real server. A connection that keeps
/// conntrack tells the packet's entry that replies come from the real server.
pub(crate) fn xmit_in(tx: &Tx<'_>, mut skb: Skb<'_>) -> Verdict {
    let (ip, conn) = (tx.ip, tx.conn);
    let rt = match route_out(tx, &mut skb, RouteMode::Direct) {
        Ok(rt) => rt,
        Err(v) => return v,
    };
    if !rewrite(&mut skb, ip, Ipv4::DADDR_OFF, (ip.daddr, conn.vport), (conn.daddr, conn.dport), 2) {
        return Verdict::Drop;
    }
    if conn.nfct.is_some() && !conn.is_one_packet() {
        skb.set_conntrack_reply(ReplySide::Source, conn.daddr, conn.dport);
    }
    send(tx, skb, rt)
}

/// Real server to client: SNAT to the virtual service; the packet continues on its way,
/// untracked or with its conntrack entry told about the SNAT (upstream's `handle_response`).
pub(crate) fn xmit_out(mut skb: Skb<'_>, ip: &Ipv4, conn: &ConnData) -> Verdict {
    if !rewrite(&mut skb, ip, Ipv4::SADDR_OFF, (ip.saddr, conn.dport), (conn.vaddr, conn.vport), 0) {
        return Verdict::Drop;
    }
    skb.set_ipvs_property();
    skb.forward_csum();
    if conn.nfct.is_some() {
        skb.set_conntrack_reply(ReplySide::Destination, conn.vaddr, conn.vport);
    } else {
        skb.untrack();
    }
    Verdict::Accept
}
