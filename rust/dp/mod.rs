// SPDX-License-Identifier: GPL-2.0
//! The IPv4 datapath: netfilter hooks, connection lookup and creation, state tracking, and
//! dispatch to a transmitter. See docs/datapath.md for the packet walk of each mode.

pub(crate) mod conn;
pub(crate) mod service;

use crate::ctl::IpvsNet;
use crate::ipvs_core::packet::{conn_hash, Ipv4, TcpFlags, PROTO_TCP, PROTO_UDP};
use crate::ipvs_core::proto_tcp::{self, Direction, TcpEvent, TcpTables};
use crate::ipvs_core::sysctl;
use crate::ipvs_core::timeouts::Timeouts;
use crate::ipvs_core::uapi::{fwd, AF_INET};
use crate::sched::Flow;
use crate::sys::conntab::{ConnRef, Table};
use crate::sys::netfilter::{self, HookId, HookSpec};
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{Skb, Verdict};
use crate::sys::{pernet, NetRef};
use conn::ConnData;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::prelude::*;

/// The connection table of a netns.
pub(crate) type ConnTable = Table<ConnData>;

/// Our hooks, at upstream's places relative to conntrack and NAT.
pub(crate) const HOOKS: [HookSpec; 5] = [
    HookSpec { id: HookId::ReplyLocalIn, hooknum: netfilter::NF_INET_LOCAL_IN, priority: netfilter::NF_IP_PRI_NAT_SRC - 2 },
    HookSpec { id: HookId::RequestLocalIn, hooknum: netfilter::NF_INET_LOCAL_IN, priority: netfilter::NF_IP_PRI_NAT_SRC - 1 },
    HookSpec { id: HookId::ReplyLocalOut, hooknum: netfilter::NF_INET_LOCAL_OUT, priority: netfilter::NF_IP_PRI_NAT_DST + 1 },
    HookSpec { id: HookId::RequestLocalOut, hooknum: netfilter::NF_INET_LOCAL_OUT, priority: netfilter::NF_IP_PRI_NAT_DST + 2 },
    HookSpec { id: HookId::ReplyForward, hooknum: netfilter::NF_INET_FORWARD, priority: 100 },
];

/// Per-netns datapath state that is not the connection table itself.
pub(crate) struct DpState {
    /// Timeouts in seconds (TCP, TCP FIN, UDP), mirrored from the control plane for softirq
    /// readers.
    timeouts: [AtomicU32; 3],
    /// Seed of the connection hash.
    pub(crate) seed: u32,
    /// Netns totals (/proc/net/ip_vs_stats), shared with the control plane's store.
    pub(crate) total: kernel::sync::Arc<service::Stats>,
}

impl DpState {
    pub(crate) fn new() -> Result<Self> {
        let t = Timeouts::default();
        Ok(DpState {
            timeouts: [AtomicU32::new(t.tcp), AtomicU32::new(t.tcp_fin), AtomicU32::new(t.udp)],
            seed: crate::sys::random_u32(),
            total: kernel::sync::Arc::new(service::Stats::new()?, GFP_KERNEL)?,
        })
    }

    pub(crate) fn set_timeouts(&self, t: &Timeouts) {
        self.timeouts[0].store(t.tcp, Ordering::Relaxed);
        self.timeouts[1].store(t.tcp_fin, Ordering::Relaxed);
        self.timeouts[2].store(t.udp, Ordering::Relaxed);
    }

    fn timeouts(&self) -> Timeouts {
        Timeouts {
            tcp: self.timeouts[0].load(Ordering::Relaxed),
            tcp_fin: self.timeouts[1].load(Ordering::Relaxed),
            udp: self.timeouts[2].load(Ordering::Relaxed),
        }
    }
}

/// A parsed TCP or UDP packet.
struct L4Packet {
    ip: Ipv4,
    sport: [u8; 2],
    dport: [u8; 2],
    tcp: TcpFlags,
}

fn parse(skb: &Skb<'_>) -> Option<L4Packet> {
    let ip = Ipv4::parse(&skb.read::<20>(0)?)?;
    if ip.is_fragment || (ip.protocol != PROTO_TCP && ip.protocol != PROTO_UDP) {
        return None;
    }
    let ports = skb.read::<4>(ip.ihl_bytes)?;
    let tcp = if ip.protocol == PROTO_TCP {
        TcpFlags::from_byte(skb.read::<1>(ip.ihl_bytes + 13)?[0])
    } else {
        TcpFlags::default()
    };
    Some(L4Packet { ip, sport: [ports[0], ports[1]], dport: [ports[2], ports[3]], tcp })
}

fn v4_to_16(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&a);
    out
}

/// The netfilter entry point.
pub(crate) struct Datapath;

impl netfilter::Handler for Datapath {
    fn hook(id: HookId, net: NetRef<'_>, skb: &mut Skb<'_>) -> Verdict {
        if skb.ipvs_property() {
            return Verdict::Accept;
        }
        let Some(ipvs) = pernet::state::<IpvsNet>(net) else {
            return Verdict::Accept;
        };
        let Some(pkt) = parse(skb) else {
            return Verdict::Accept;
        };
        match id {
            HookId::RequestLocalIn => request(ipvs, net, skb, &pkt, false),
            HookId::RequestLocalOut => request(ipvs, net, skb, &pkt, true),
            HookId::ReplyForward | HookId::ReplyLocalIn | HookId::ReplyLocalOut => reply(ipvs, skb, &pkt),
        }
    }
}

/// Applies one packet to a connection's protocol state and sets its timeout.
fn track(ipvs: &IpvsNet, conn: &ConnRef<ConnData>, pkt: &L4Packet, dir: Direction) {
    let t = ipvs.dp.timeouts();
    let secs = if conn.data().is_tcp() {
        let tables = if ipvs.sysctls.get(sysctl::idx::SECURE_TCP) != 0 {
            TcpTables::Secure
        } else {
            TcpTables::Normal
        };
        let ev = TcpEvent::from_flags(pkt.tcp.syn, pkt.tcp.fin, pkt.tcp.ack, pkt.tcp.rst);
        let tr = conn.data().tcp_transition(|c| proto_tcp::transition(tables, dir, c, ev));
        tr.conn.state.timeout(&t)
    } else {
        proto_tcp::udp::timeout(&t)
    };
    conn.set_timeout(secs.saturating_mul(crate::sys::hz()));
}

/// A packet towards a virtual service (client to VIP).
fn request(ipvs: &IpvsNet, net: NetRef<'_>, skb: &mut Skb<'_>, pkt: &L4Packet, local: bool) -> Verdict {
    let ip = &pkt.ip;
    let hash = conn_hash(ip.protocol, ip.saddr, pkt.sport, ipvs.dp.seed);
    let found = ipvs.conns.lookup(hash, |c| {
        c.protocol == ip.protocol && c.caddr == ip.saddr && c.cport == pkt.sport && c.vaddr == ip.daddr && c.vport == pkt.dport
    });
    let found = match found {
        // The dest was removed from its service: like upstream, either expire the connection
        // and schedule afresh (expire_nodest_conn), or silently drop without keeping it alive.
        Some(c) if c.data().dest.available.load(Ordering::Relaxed) == 0 => {
            if ipvs.sysctls.get(sysctl::idx::EXPIRE_NODEST_CONN) == 0 {
                c.release_quietly();
                return Verdict::Drop;
            }
            c.expire_now();
            None
        }
        other => other,
    };
    let conn = match found {
        Some(c) => c,
        None => match new_conn(ipvs, skb, pkt, hash) {
            Some(Ok(c)) => c,
            Some(Err(v)) => return v,
            None => return Verdict::Accept,
        },
    };
    let len = skb.len();
    conn.data().dest.stats.count_in(len);
    conn.data().svc_stats.count_in(len);
    ipvs.dp.total.count_in(len);
    track(ipvs, &conn, pkt, Direction::Input);
    let d = conn.data();
    match d.fwd {
        fwd::MASQ => crate::xmit::nat::xmit_in(net, skb, ip, d, local),
        fwd::DROUTE => crate::xmit::dr::xmit(net, skb, ip, d, local),
        fwd::TUNNEL => crate::xmit::tun::xmit(net, skb, ip, d, ipvs.sysctls.get(sysctl::idx::PMTU_DISC) != 0),
        // LOCALNODE: deliver here.
        _ => Verdict::Accept,
    }
}

/// Schedules a new connection: `None` when the packet is not for us, `Some(Err)` to drop.
fn new_conn(ipvs: &IpvsNet, skb: &Skb<'_>, pkt: &L4Packet, hash: u32) -> Option<Result<ConnRef<ConnData>, Verdict>> {
    let ip = &pkt.ip;
    // Only a SYN opens a TCP connection; anything else is left to the local stack.
    if ip.protocol == PROTO_TCP && (!pkt.tcp.syn || pkt.tcp.rst) {
        return None;
    }
    let guard = ReadGuard::new();
    let snap = ipvs.published.read(&guard);
    let svc = snap.find(AF_INET, u16::from(ip.protocol), &v4_to_16(ip.daddr), pkt.dport)?;
    let flow = Flow {
        af: AF_INET,
        protocol: u16::from(ip.protocol),
        saddr: v4_to_16(ip.saddr),
        sport: pkt.sport,
        daddr: v4_to_16(ip.daddr),
        dport: pkt.dport,
    };
    let Some(dest) = svc.schedule(&flow, &ipvs.sysctls) else {
        // No dest available: upstream answers with ICMP port unreachable and drops.
        skb.icmp_port_unreachable();
        return Some(Err(Verdict::Drop));
    };
    let method = dest.fwd.load(Ordering::Relaxed) & fwd::MASK;
    dest.stats.count_conn();
    svc.stats.count_conn();
    ipvs.dp.total.count_conn();
    let data = ConnData::new(ip.protocol, (ip.saddr, pkt.sport), (ip.daddr, pkt.dport), dest, method, svc.stats.clone());
    drop(guard);
    let initial = crate::sys::hz();
    Some(ipvs.conns.insert(hash, initial, data, GFP_ATOMIC).map_err(|_| Verdict::Drop))
}

/// A packet from a real server back to a client through the director (NAT replies).
fn reply(ipvs: &IpvsNet, skb: &mut Skb<'_>, pkt: &L4Packet) -> Verdict {
    let ip = &pkt.ip;
    let hash = conn_hash(ip.protocol, ip.daddr, pkt.dport, ipvs.dp.seed);
    let Some(conn) = ipvs.conns.lookup(hash, |c| {
        c.fwd == fwd::MASQ
            && c.protocol == ip.protocol
            && c.caddr == ip.daddr
            && c.cport == pkt.dport
            && c.daddr == ip.saddr
            && c.dport == pkt.sport
    }) else {
        return Verdict::Accept;
    };
    let len = skb.len();
    conn.data().dest.stats.count_out(len);
    conn.data().svc_stats.count_out(len);
    ipvs.dp.total.count_out(len);
    track(ipvs, &conn, pkt, Direction::Output);
    crate::xmit::nat::xmit_out(skb, ip, conn.data())
}
