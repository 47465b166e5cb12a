// SPDX-License-Identifier: GPL-2.0
//! Packets towards a virtual service (client to VIP, at LOCAL_IN and LOCAL_OUT): the
//! connection is found, or made by scheduling ([`new_conn`], with persistence templates), and
//! the packet goes to the connection's transmitter.

use super::{count_in, track, L4Packet};
use crate::conn::{ConnData, ConnKind, ConnTuple};
use crate::dest::Dest;
use crate::ipvs_core::packet::{conn_hash, PROTO_TCP, PROTO_UDP};
use crate::ipvs_core::persist::{self, FTP_PORT};
use crate::ipvs_core::proto_tcp::Direction;
use crate::ipvs_core::sched::Flow;
use crate::ipvs_core::sysctl;
use crate::ipvs_core::uapi::{fwd, svc_flags};
use crate::netns::IpvsNet;
use crate::service::Service;
use crate::sys::conntab::ConnRef;
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{Skb, Verdict};
use crate::sys::NetRef;
use kernel::prelude::*;
use kernel::sync::Arc;

/// A connection found or made for a packet.
pub(super) enum Conn {
    /// In the table.
    Table(ConnRef<ConnData>),
    /// One-packet scheduling: lives for this packet only.
    OnePacket(ConnData),
}

impl Conn {
    pub(super) fn data(&self) -> &ConnData {
        match self {
            Conn::Table(c) => c.data(),
            Conn::OnePacket(d) => d,
        }
    }
}

/// A new flow replaces connection `c` (same tuple): `c` expires now. If the packet carries
/// the old flow's conntrack entry (confirmed, its reply tuple altered for the old dest), the
/// packet is dropped, so that the entry goes with the old connection and the client's
/// retransmission starts a fresh one; otherwise the entry is the new flow's, and the old
/// connection must leave it alone (upstream's `ip_vs_conn_uses_old_conntrack` dance).
fn replace_conn(c: ConnRef<ConnData>, skb: &Skb<'_>) -> Option<Verdict> {
    let old_ct = skb.has_confirmed_conntrack();
    if !old_ct {
        c.data().disown_conntrack();
    }
    c.expire_now();
    old_ct.then_some(Verdict::Drop)
}

/// A packet towards a virtual service (client to VIP): its connection found, or made by
/// scheduling, then sent on by the connection's transmitter.
pub(super) fn request(ipvs: &IpvsNet, net: NetRef<'_>, rcu: &ReadGuard, mut skb: Skb<'_>, pkt: &L4Packet, local: bool) -> Verdict {
    let ip = &pkt.ip;
    let hash = |key| conn_hash(ip.protocol, (&ip.saddr, pkt.sport), (&ip.daddr, pkt.dport), key);
    let (client, virt) = ((ip.saddr, pkt.sport), (ip.daddr, pkt.dport));
    let mut found = ipvs.conns.lookup_in(rcu, hash, |c| c.matches_in(ip.af, ip.protocol, &client, &virt));
    // A SYN on an old connection: reschedule when its dest is quiesced and
    // expire_nodest_conn is set, or when conn_reuse_mode expects a new connection here.
    if ip.protocol == PROTO_TCP && pkt.tcp.syn {
        if let Some(c) = found.take() {
            let d = c.data();
            let quiesced =
                ipvs.sysctls.get(sysctl::idx::EXPIRE_NODEST_CONN) != 0 && !d.is_bypass() && d.dest.weight() == 0;
            let reuse = ipvs.sysctls.get(sysctl::idx::CONN_REUSE_MODE);
            if quiesced || (reuse != 0 && d.new_conn_expected(reuse as u32)) {
                if let Some(verdict) = replace_conn(c, &skb) {
                    return verdict;
                }
            } else {
                found = Some(c);
            }
        }
    }
    let found = match found {
        // The dest was removed from its service: like upstream, either expire the connection
        // and schedule afresh (expire_nodest_conn), or silently drop without keeping it alive.
        Some(c) if !c.data().dest.is_available() => {
            if ipvs.sysctls.get(sysctl::idx::EXPIRE_NODEST_CONN) == 0 {
                c.release_quietly();
                return Verdict::Drop;
            }
            if let Some(verdict) = replace_conn(c, &skb) {
                return verdict;
            }
            None
        }
        other => other,
    };
    let conn = match found {
        Some(c) => Conn::Table(c),
        // Upstream's `*_conn_schedule` drops a packet too short for its L4 header.
        None if !pkt.complete => return Verdict::Drop,
        None => match new_conn(ipvs, net, rcu, &mut skb, pkt, Opening::Packet) {
            Ok(Some(c)) => c,
            Ok(None) => return Verdict::Accept,
            Err(v) => return v,
        },
    };
    let d = conn.data();
    let len = skb.len();
    let tx = crate::xmit::Tx { net, rcu, conn: d, ip, local };
    count_in(ipvs, rcu, d, len);
    let timeout = track(ipvs, d, pkt, Direction::Input);
    if let Conn::Table(c) = &conn {
        c.set_timeout(timeout);
    }
    let verdict = match d.fwd {
        fwd::MASQ => crate::xmit::nat::xmit_in(&tx, skb),
        _ => crate::xmit::forward(&tx, skb, ipvs.sysctls.get(sysctl::idx::PMTU_DISC) != 0),
    };
    count_and_sync(ipvs, d, timeout);
    if let Conn::OnePacket(d) = conn {
        d.discard();
    }
    verdict
}

/// After the transmit, as upstream: the packet is counted on the connection (a one-packet
/// connection's on its template) and, on a sync master, the connection and its template
/// are offered to the sync daemon with that count (a one-packet connection with the
/// threshold, as it is synced only through its template).
fn count_and_sync(ipvs: &IpvsNet, d: &ConnData, timeout: u32) {
    let master = ipvs.sync.is_master();
    if d.is_one_packet() {
        if master {
            // `sync_conn` counts the packet on the template.
            ipvs.sync_conn(d, timeout, ipvs.sysctls.pair(sysctl::idx::SYNC_THRESHOLD).0);
        } else {
            d.count_in_packet();
        }
    } else {
        let pkts = d.count_in_packet_for_sync();
        if master {
            ipvs.sync_conn(d, timeout, pkts);
        }
    }
}

/// What a connection is scheduled for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Opening {
    /// A client's packet.
    Packet,
    /// An ICMP error quoting a reply of the flow (`schedule_icmp`).
    IcmpError,
}

/// `ip_vs_leave()`: a packet for service `svc` that no dest takes. With `cache_bypass`, a
/// firewall-mark service lets a client's packet to a unicast address go on there, unchanged,
/// under a bypass connection that its flow's later packets find (`Ok`). Otherwise the packet
/// is refused with ICMP port unreachable, except for other ports of a virtual FTP service,
/// which pass (`Err` with the verdict).
fn leave(
    ipvs: &IpvsNet,
    svc: &Service,
    net: NetRef<'_>,
    rcu: &ReadGuard,
    skb: &mut Skb<'_>,
    pkt: &L4Packet,
    opening: Opening,
) -> Result<Conn, Verdict> {
    let ip = &pkt.ip;
    if ipvs.sysctls.get(sysctl::idx::CACHE_BYPASS) != 0
        && svc.key().fwmark() != 0
        && opening == Opening::Packet
        && ipvs.dp.conntrack.is_unicast(ip.af, &ip.daddr)
    {
        return bypass_conn(ipvs, svc, rcu, skb.mark(), pkt);
    }
    if svc.key().port() == FTP_PORT && pkt.dport != FTP_PORT {
        return Err(Verdict::Accept);
    }
    skb.icmp_port_unreachable(net);
    Err(Verdict::Drop)
}

/// A `cache_bypass` connection for the flow of `pkt` (upstream's has no dest and the zero
/// address and port as the real server's; a stand-in dest, forwarding by `fwd::BYPASS`, plays
/// that part here). It counts in no stats, as upstream's.
fn bypass_conn(ipvs: &IpvsNet, svc: &Service, rcu: &ReadGuard, mark: u32, pkt: &L4Packet) -> Result<Conn, Verdict> {
    open_conn(ipvs, svc, rcu, mark, pkt, ipvs.dp.bypass_dest(pkt.ip.af).clone(), [0, 0], None)
}

/// The connection of `pkt`'s flow to `dest` (on port `dport`), forwarding by the dest's
/// method and controlled by `control` if persistent: in the table, or for this packet only
/// (one-packet scheduling). `mark` is the packet's firewall mark.
#[allow(clippy::too_many_arguments)]
fn open_conn(
    ipvs: &IpvsNet,
    svc: &Service,
    rcu: &ReadGuard,
    mark: u32,
    pkt: &L4Packet,
    dest: Arc<Dest>,
    dport: [u8; 2],
    control: Option<ConnRef<ConnData>>,
) -> Result<Conn, Verdict> {
    let ip = &pkt.ip;
    let one_packet = svc.has_flag(svc_flags::ONEPACKET) && ip.protocol == PROTO_UDP;
    let kind = if one_packet { ConnKind::OnePacket } else { ConnKind::Normal };
    let method = dest.fwd_method();
    let tuple = ConnTuple { af: ip.af, protocol: ip.protocol, client: (ip.saddr, pkt.sport), virt: (ip.daddr, pkt.dport), dport, fwmark: mark };
    // The connection holds its own reference on the template; dropping ours afterwards
    // refreshes the template's timer, as upstream's put after `ip_vs_control_add` does.
    let nfct = (ipvs.sysctls.get(sysctl::idx::CONNTRACK) != 0).then(|| ipvs.dp.conntrack.share());
    let data = ConnData::new(tuple, kind, dest, method, nfct, control.as_ref().map(ConnRef::clone_ref));
    drop(control);
    if one_packet {
        return Ok(Conn::OnePacket(data));
    }
    let initial = 3u32.saturating_mul(crate::sys::hz());
    let conn = ipvs.conns.insert_in(rcu, initial, data).map_err(|data| {
        data.discard();
        Verdict::Drop
    })?;
    Ok(Conn::Table(conn))
}

/// Schedules a new connection (`*_conn_schedule` and `ip_vs_schedule`): `Ok(None)` when the
/// packet is not for a virtual service, `Err` with the verdict when it must not pass.
pub(super) fn new_conn(
    ipvs: &IpvsNet,
    net: NetRef<'_>,
    rcu: &ReadGuard,
    skb: &mut Skb<'_>,
    pkt: &L4Packet,
    opening: Opening,
) -> Result<Option<Conn>, Verdict> {
    let ip = &pkt.ip;
    // Only a SYN opens a TCP connection (any non-RST packet with sloppy_tcp); anything else
    // is left to the local stack.
    if ip.protocol == PROTO_TCP
        && (pkt.tcp.rst || !(pkt.tcp.syn || ipvs.sysctls.get(sysctl::idx::SLOPPY_TCP) != 0))
    {
        return Ok(None);
    }
    let mark = skb.mark();
    let Some(svc) = ipvs.published.find(rcu, ip.af, u16::from(ip.protocol), &ip.daddr, pkt.dport, mark) else {
        return Ok(None);
    };
    let flow = Flow { af: ip.af, protocol: u16::from(ip.protocol), saddr: ip.saddr, sport: pkt.sport, daddr: ip.daddr, dport: pkt.dport };
    // `ip_vs_todrop()`: under memory pressure (drop_packet) one new connection in the drop
    // rate is refused before it is scheduled.
    if ipvs.defense.todrop() {
        return Err(Verdict::Drop);
    }
    let (dest, dport, control) = if svc.has_flag(svc_flags::PERSISTENT) {
        let Some((template, dest)) = persistent_dest(ipvs, svc, rcu, mark, pkt, &flow)? else {
            return leave(ipvs, svc, net, rcu, skb, pkt, opening).map(Some);
        };
        let dport = persist::conn_dport(&svc.persist(), pkt.dport, dest.port);
        (dest, dport, Some(template))
    } else {
        // A port-zero service only serves persistent connections (upstream logs an error).
        if svc.key().fwmark() == 0 && pkt.dport != svc.key().port() {
            return leave(ipvs, svc, net, rcu, skb, pkt, opening).map(Some);
        }
        let Some(dest) = svc.schedule(&flow, &ipvs.sysctls) else {
            return leave(ipvs, svc, net, rcu, skb, pkt, opening).map(Some);
        };
        let dport = if dest.port != [0, 0] { dest.port } else { pkt.dport };
        (dest, dport, None)
    };
    let conn = open_conn(ipvs, svc, rcu, mark, pkt, dest, dport, control)?;
    // Counted once it exists, as upstream counts in `ip_vs_conn_stats` after creating it.
    conn.data().dest.stats.count_conn();
    svc.stats.count_conn();
    ipvs.dp.total.count_conn();
    Ok(Some(conn))
}

/// A persistent client's template, and the dest it names.
type Persisted = (ConnRef<ConnData>, Arc<Dest>);

/// `ip_vs_sched_persist()`: the client's template (found, or made for a freshly scheduled
/// dest) and its dest; `None` when no dest takes the client. `mark` is the packet's firewall
/// mark.
fn persistent_dest(
    ipvs: &IpvsNet,
    svc: &Service,
    rcu: &ReadGuard,
    mark: u32,
    pkt: &L4Packet,
    flow: &Flow,
) -> Result<Option<Persisted>, Verdict> {
    let ip = &pkt.ip;
    let psvc = svc.persist();
    let tk = persist::template_key(&psvc, ip.protocol, &ip.saddr, &ip.daddr, pkt.dport);
    let key = ConnTuple { af: ip.af, protocol: tk.protocol, client: (tk.client_net, [0, 0]), virt: (tk.vaddr, tk.vport), dport: [0, 0], fwmark: mark };
    let hash = |key| conn_hash(tk.protocol, (&tk.client_net, [0, 0]), (&tk.vaddr, tk.vport), key);
    if let Some(ct) = ipvs.conns.lookup_in(rcu, hash, |c| c.is_template_for(&key)) {
        let d = &ct.data().dest;
        let quiescent_expired =
            ipvs.sysctls.get(sysctl::idx::EXPIRE_QUIESCENT_TEMPLATE) != 0 && d.weight() == 0;
        if d.is_available() && !quiescent_expired {
            let dest = d.clone();
            return Ok(Some((ct, dest)));
        }
        // `ip_vs_check_template()`: the dest is gone or quiesced; retire the template
        // without refreshing it, and schedule afresh.
        ct.data().invalidate_template();
        ct.release_quietly();
    }
    let Some(dest) = svc.schedule(flow, &ipvs.sysctls) else {
        return Ok(None);
    };
    let dport = persist::template_dport(&psvc, pkt.dport, dest.port);
    let method = dest.fwd_method();
    let conntrack = ipvs.sysctls.get(sysctl::idx::CONNTRACK) != 0;
    let template = ConnData::new(ConnTuple { dport, ..key }, ConnKind::Template, dest.clone(), method, None, None)
        .with_conntrack_flag(conntrack);
    if svc.has_flag(svc_flags::ONEPACKET) {
        template.set_one_packet_template();
    }
    let ct = ipvs.conns.insert_in(rcu, svc.conf.timeout, template).map_err(|template| {
        template.discard();
        Verdict::Drop
    })?;
    Ok(Some((ct, dest)))
}
