// SPDX-License-Identifier: GPL-2.0
//! The IPv4 datapath: netfilter hooks, connection lookup and creation, state tracking, and
//! dispatch to a transmitter. See docs/datapath.md for the packet walk of each mode.

mod icmp;

use crate::conn::{ConnData, ConnKind, ConnTuple};
use crate::dest::Dest;
use crate::netns::IpvsNet;
use crate::service::Service;
use crate::ipvs_core::packet::{conn_hash, Ipv4, TcpFlags, PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP};
use crate::ipvs_core::proto_tcp::{self, Direction, TcpEvent, TcpState, TcpTables};
use crate::ipvs_core::persist::{self, FTP_PORT};
use crate::ipvs_core::sysctl;
use crate::ipvs_core::uapi::{fwd, svc_flags, AF_INET};
use crate::ipvs_core::sched::Flow;
use crate::sys::conntab::ConnRef;
use crate::sys::netfilter::{self, HookId, HookSpec};
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{DefragUser, Gathered, Skb, Verdict};
use crate::sys::{pernet, NetRef};
use kernel::sync::Arc;
use kernel::prelude::*;

/// Our hooks, at upstream's places relative to conntrack and NAT.
pub(crate) const HOOKS: [HookSpec; 5] = [
    HookSpec { id: HookId::ReplyLocalIn, hooknum: netfilter::NF_INET_LOCAL_IN, priority: netfilter::NF_IP_PRI_NAT_SRC - 2 },
    HookSpec { id: HookId::RequestLocalIn, hooknum: netfilter::NF_INET_LOCAL_IN, priority: netfilter::NF_IP_PRI_NAT_SRC - 1 },
    HookSpec { id: HookId::ReplyLocalOut, hooknum: netfilter::NF_INET_LOCAL_OUT, priority: netfilter::NF_IP_PRI_NAT_DST + 1 },
    HookSpec { id: HookId::RequestLocalOut, hooknum: netfilter::NF_INET_LOCAL_OUT, priority: netfilter::NF_IP_PRI_NAT_DST + 2 },
    HookSpec { id: HookId::ReplyForward, hooknum: netfilter::NF_INET_FORWARD, priority: 100 },
];

/// The IPv4 header of a packet, if it has one.
fn parse_ip(skb: &Skb<'_>) -> Option<Ipv4> {
    Ipv4::parse(&skb.read::<20>(0)?)
}

/// A parsed TCP or UDP packet.
struct L4Packet {
    ip: Ipv4,
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
fn parse(skb: &Skb<'_>, ip: Ipv4) -> Option<L4Packet> {
    if ip.is_fragment || (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP) {
        return None;
    }
    let ports = skb.read::<4>(ip.ihl_bytes)?;
    let (complete, tcp) = if ip.protocol == PROTO_TCP {
        match skb.read::<20>(ip.ihl_bytes) {
            Some(th) => (true, TcpFlags::from_byte(th[13])),
            None => (false, TcpFlags::default()),
        }
    } else {
        (skb.read::<8>(ip.ihl_bytes).is_some(), TcpFlags::default())
    };
    Some(L4Packet { ip, sport: [ports[0], ports[1]], dport: [ports[2], ports[3]], complete, tcp })
}

/// Whether the reply hooks gather `skb`, an IPv4 fragment: upstream's `ip_vs_out_hook`
/// gathers the fragments of every protocol it knows (TCP, UDP, SCTP) and, in
/// `ip_vs_out_icmp`, of ICMP, whether or not a connection turns out to need them.
fn fragment_to_gather(skb: &Skb<'_>) -> bool {
    skb.read::<20>(0).and_then(|h| Ipv4::parse(&h)).is_some_and(|ip| {
        ip.is_fragment && matches!(ip.protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_ICMP)
    })
}

/// The reassembly queues of the reply hooks that can see fragments (LOCAL_IN gets whole
/// packets from the stack).
fn defrag_user(id: HookId) -> Option<DefragUser> {
    match id {
        HookId::ReplyForward => Some(DefragUser::Forward),
        HookId::ReplyLocalOut => Some(DefragUser::LocalOut),
        _ => None,
    }
}

fn v4_to_16(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a);
    out
}

/// The netfilter entry point.
pub(crate) struct Datapath;

impl netfilter::Handler for Datapath {
    fn hook(id: HookId, net: NetRef<'_>, skb: Skb<'_>) -> Verdict {
        if skb.ipvs_property() {
            return Verdict::Accept;
        }
        let Some(ipvs) = pernet::state::<IpvsNet>(net) else {
            return Verdict::Accept;
        };
        // Replies of NAT connections may come fragmented from the real server (requests
        // reach LOCAL_IN whole): gather them first, or their fragments would leave with the
        // real server's address (upstream's `ip_vs_out_hook`).
        let skb = match defrag_user(id) {
            Some(user) if fragment_to_gather(&skb) => match skb.gather_fragments(net, user) {
                Gathered::Whole(skb) => skb,
                Gathered::Consumed => return Verdict::Stolen,
                Gathered::Failed(_) => return Verdict::Drop,
            },
            _ => skb,
        };
        let Some(ip) = parse_ip(&skb) else {
            return Verdict::Accept;
        };
        // Replies delivered here are not routed again; those leaving are, from the virtual
        // address, with `snat_reroute` (upstream's `ip_vs_route_me_harder`).
        let reroute = match id {
            HookId::ReplyForward | HookId::ReplyLocalOut => {
                (ipvs.sysctls.get(sysctl::idx::SNAT_REROUTE) != 0).then_some(net)
            }
            _ => None,
        };
        if ip.protocol == PROTO_ICMP {
            // Fragments reach the request hooks only from this host, which sends no
            // fragmented errors (the reply hooks gathered theirs above).
            if ip.is_fragment {
                return Verdict::Accept;
            }
            let err = match icmp::classify(&skb, &ip) {
                icmp::Icmp::Error(err) => err,
                // Errors about our tunnel packets come to this host, at LOCAL_IN.
                icmp::Icmp::Tunnel(err) if id == HookId::RequestLocalIn => return icmp::tunnel(ipvs, net, skb, &ip, &err),
                icmp::Icmp::Tunnel(_) | icmp::Icmp::Unrelated => return Verdict::Accept,
                icmp::Icmp::Truncated => return Verdict::Drop,
            };
            return match id {
                HookId::RequestLocalIn => icmp::request(ipvs, net, skb, &ip, &err, false),
                HookId::RequestLocalOut => icmp::request(ipvs, net, skb, &ip, &err, true),
                HookId::ReplyForward | HookId::ReplyLocalIn | HookId::ReplyLocalOut => {
                    icmp::reply(ipvs, skb, &ip, &err, reroute)
                }
            };
        }
        let Some(pkt) = parse(&skb, ip) else {
            return Verdict::Accept;
        };
        match id {
            HookId::RequestLocalIn => request(ipvs, net, skb, &pkt, false),
            HookId::RequestLocalOut => request(ipvs, net, skb, &pkt, true),
            HookId::ReplyForward | HookId::ReplyLocalIn | HookId::ReplyLocalOut => reply(ipvs, skb, &pkt, reroute),
        }
    }
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

/// A connection found or made for a packet.
enum Conn {
    /// In the table.
    Table(ConnRef<ConnData>),
    /// One-packet scheduling: lives for this packet only.
    OnePacket(ConnData),
}

impl Conn {
    fn data(&self) -> &ConnData {
        match self {
            Conn::Table(c) => c.data(),
            Conn::OnePacket(d) => d,
        }
    }
}

/// A packet towards a virtual service (client to VIP).
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

fn request(ipvs: &IpvsNet, net: NetRef<'_>, skb: Skb<'_>, pkt: &L4Packet, local: bool) -> Verdict {
    let ip = &pkt.ip;
    let hash = conn_hash(ip.protocol, ip.saddr, pkt.sport, ipvs.dp.seed);
    let mut found = ipvs.conns.lookup(hash, |c| c.matches_in(ip.protocol, (ip.saddr, pkt.sport), (ip.daddr, pkt.dport)));
    // A SYN on an old connection: reschedule when its dest is quiesced and
    // expire_nodest_conn is set, or when conn_reuse_mode expects a new connection here.
    if ip.protocol == PROTO_TCP && pkt.tcp.syn {
        if let Some(c) = found.take() {
            let d = c.data();
            let quiesced = ipvs.sysctls.get(sysctl::idx::EXPIRE_NODEST_CONN) != 0 && d.dest.weight() == 0;
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
        None => match new_conn(ipvs, &skb, pkt, hash) {
            Ok(Some(c)) => c,
            Ok(None) => return Verdict::Accept,
            Err(v) => return v,
        },
    };
    let d = conn.data();
    d.count_in_packet();
    let len = skb.len();
    let tx = crate::xmit::Tx { net, conn: d, ip, local };
    count_in(ipvs, d, len);
    let timeout = track(ipvs, d, pkt, Direction::Input);
    if let Conn::Table(c) = &conn {
        c.set_timeout(timeout);
    }
    let verdict = match d.fwd {
        fwd::MASQ => crate::xmit::nat::xmit_in(&tx, skb),
        fwd::DROUTE => crate::xmit::dr::xmit(&tx, skb),
        fwd::TUNNEL => crate::xmit::tun::xmit(&tx, skb, ipvs.sysctls.get(sysctl::idx::PMTU_DISC) != 0),
        // LOCALNODE: deliver here.
        _ => Verdict::Accept,
    };
    if let Conn::OnePacket(d) = conn {
        d.discard();
    }
    verdict
}

/// `ip_vs_leave()` without a connection: ICMP port unreachable and drop, except for other
/// ports of a virtual FTP service, which pass.
fn leave(svc: &Service, skb: &Skb<'_>, dport: [u8; 2]) -> Verdict {
    if svc.key().port() == FTP_PORT && dport != FTP_PORT {
        return Verdict::Accept;
    }
    skb.icmp_port_unreachable();
    Verdict::Drop
}

/// Schedules a new connection (`*_conn_schedule` and `ip_vs_schedule`): `Ok(None)` when the
/// packet is not for a virtual service, `Err` with the verdict when it must not pass.
fn new_conn(ipvs: &IpvsNet, skb: &Skb<'_>, pkt: &L4Packet, hash: u32) -> Result<Option<Conn>, Verdict> {
    let ip = &pkt.ip;
    // Only a SYN opens a TCP connection (any non-RST packet with sloppy_tcp); anything else
    // is left to the local stack.
    if ip.protocol == PROTO_TCP
        && (pkt.tcp.rst || !(pkt.tcp.syn || ipvs.sysctls.get(sysctl::idx::SLOPPY_TCP) != 0))
    {
        return Ok(None);
    }
    let guard = ReadGuard::new();
    let Some(svc) = ipvs.published.find(&guard, AF_INET, u16::from(ip.protocol), &v4_to_16(ip.daddr), pkt.dport, skb.mark()) else {
        return Ok(None);
    };
    let flow = Flow {
        af: AF_INET,
        protocol: u16::from(ip.protocol),
        saddr: v4_to_16(ip.saddr),
        sport: pkt.sport,
        daddr: v4_to_16(ip.daddr),
        dport: pkt.dport,
    };
    // `ip_vs_todrop()`: under memory pressure (drop_packet) one new connection in the drop
    // rate is refused before it is scheduled.
    if ipvs.defense.todrop() {
        return Err(Verdict::Drop);
    }
    let one_packet = svc.has_flag(svc_flags::ONEPACKET) && ip.protocol == PROTO_UDP;
    let kind = if one_packet { ConnKind::OnePacket } else { ConnKind::Normal };
    let (dest, dport, control) = if svc.has_flag(svc_flags::PERSISTENT) {
        let (template, dest) = persistent_dest(ipvs, svc, skb, pkt, &flow)?;
        let dport = persist::conn_dport(&svc.persist(), pkt.dport, dest.port);
        (dest, dport, Some(template))
    } else {
        // A port-zero service only serves persistent connections (upstream logs an error).
        if svc.key().fwmark() == 0 && pkt.dport != svc.key().port() {
            return Err(leave(svc, skb, pkt.dport));
        }
        let Some(dest) = svc.schedule(&flow, &ipvs.sysctls) else {
            return Err(leave(svc, skb, pkt.dport));
        };
        let dport = if dest.port != [0, 0] { dest.port } else { pkt.dport };
        (dest, dport, None)
    };
    let method = dest.fwd_method();
    let tuple = ConnTuple { protocol: ip.protocol, client: (ip.saddr, pkt.sport), virt: (ip.daddr, pkt.dport), dport };
    // The connection holds its own reference on the template; dropping ours afterwards
    // refreshes the template's timer, as upstream's put after `ip_vs_control_add` does.
    let nfct = (ipvs.sysctls.get(sysctl::idx::CONNTRACK) != 0).then(|| ipvs.dp.conntrack.share());
    let data = ConnData::new(tuple, kind, dest, method, nfct, svc.stats.clone(), control.as_ref().map(ConnRef::clone_ref));
    drop(control);
    let conn = if one_packet {
        Conn::OnePacket(data)
    } else {
        let initial = 3u32.saturating_mul(crate::sys::hz());
        Conn::Table(ipvs.conns.insert(hash, initial, data, GFP_ATOMIC).map_err(|data| {
            data.discard();
            Verdict::Drop
        })?)
    };
    // Counted once it exists, as upstream counts in `ip_vs_conn_stats` after creating it.
    conn.data().dest.stats.count_conn();
    svc.stats.count_conn();
    ipvs.dp.total.count_conn();
    drop(guard);
    Ok(Some(conn))
}

/// `ip_vs_sched_persist()`: the client's template (found, or made for a freshly scheduled
/// dest) and its dest.
fn persistent_dest(
    ipvs: &IpvsNet,
    svc: &Service,
    skb: &Skb<'_>,
    pkt: &L4Packet,
    flow: &Flow,
) -> Result<(ConnRef<ConnData>, Arc<Dest>), Verdict> {
    let ip = &pkt.ip;
    let psvc = svc.persist();
    let tk = persist::template_key(&psvc, ip.protocol, ip.saddr, ip.daddr, pkt.dport);
    let key = ConnTuple { protocol: tk.protocol, client: (tk.client_net, [0, 0]), virt: (tk.vaddr, tk.vport), dport: [0, 0] };
    let hash = conn_hash(tk.protocol, tk.client_net, [0, 0], ipvs.dp.seed);
    if let Some(ct) = ipvs.conns.lookup(hash, |c| c.is_template_for(&key)) {
        let d = &ct.data().dest;
        let quiescent_expired =
            ipvs.sysctls.get(sysctl::idx::EXPIRE_QUIESCENT_TEMPLATE) != 0 && d.weight() == 0;
        if d.is_available() && !quiescent_expired {
            let dest = d.clone();
            return Ok((ct, dest));
        }
        // `ip_vs_check_template()`: the dest is gone or quiesced; retire the template
        // without refreshing it, and schedule afresh.
        ct.data().invalidate_template();
        ct.release_quietly();
    }
    let Some(dest) = svc.schedule(flow, &ipvs.sysctls) else {
        return Err(leave(svc, skb, pkt.dport));
    };
    let dport = persist::template_dport(&psvc, pkt.dport, dest.port);
    let method = dest.fwd_method();
    let template = ConnData::new(ConnTuple { dport, ..key }, ConnKind::Template, dest.clone(), method, None, svc.stats.clone(), None);
    if svc.has_flag(svc_flags::ONEPACKET) {
        template.set_one_packet_template();
    }
    let ct = ipvs.conns.insert(hash, svc.conf.timeout, template, GFP_ATOMIC).map_err(|template| {
        template.discard();
        Verdict::Drop
    })?;
    Ok((ct, dest))
}

/// A packet from a real server back to a client through the director (NAT replies).
/// Counts a packet of `conn` going to the real server side on its dest, its service and
/// the netns totals.
fn count_in(ipvs: &IpvsNet, conn: &ConnData, len: u32) {
    conn.dest.stats.count_in(len);
    conn.svc_stats.count_in(len);
    ipvs.dp.total.count_in(len);
}

/// Counts a packet of `conn` going to the client side, as [`count_in`].
fn count_out(ipvs: &IpvsNet, conn: &ConnData, len: u32) {
    conn.dest.stats.count_out(len);
    conn.svc_stats.count_out(len);
    ipvs.dp.total.count_out(len);
}

/// Lets a reply of `conn` that needs no rewrite go on: marked as IPVS's and untracked unless
/// the connection keeps conntrack (upstream's `handle_response` after its NAT step).
fn pass_reply(skb: &mut Skb<'_>, conn: &ConnData) {
    skb.set_ipvs_property();
    if conn.nfct.is_none() {
        skb.untrack();
    }
}

/// A reply of a connection passing the director: a NAT reply gets the VIP as source; a DR or
/// TUN one (the director on its way) only counts and moves the connection's state, as
/// upstream's `handle_response` does with them.
fn reply(ipvs: &IpvsNet, mut skb: Skb<'_>, pkt: &L4Packet, reroute: Option<NetRef<'_>>) -> Verdict {
    let ip = &pkt.ip;
    let hash = conn_hash(ip.protocol, ip.daddr, pkt.dport, ipvs.dp.seed);
    let Some(conn) = ipvs.conns.lookup(hash, |c| c.matches_out(ip.protocol, (ip.saddr, pkt.sport), (ip.daddr, pkt.dport)))
    else {
        return Verdict::Accept;
    };
    let d = conn.data();
    count_out(ipvs, d, skb.len());
    conn.set_timeout(track(ipvs, d, pkt, Direction::Output));
    if d.fwd == fwd::MASQ {
        return crate::xmit::nat::xmit_out(skb, ip, d, reroute);
    }
    pass_reply(&mut skb, d);
    Verdict::Accept
}
