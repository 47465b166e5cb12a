// SPDX-License-Identifier: GPL-2.0
//! Transmitters, one file per forwarding method, and what they share: the route to the real
//! server with upstream's TTL and MTU rules, and what is done to every packet before it is
//! sent on (conntrack, timestamps, early-demux sockets).

pub(crate) mod bypass;
pub(crate) mod dr;
pub(crate) mod nat;
pub(crate) mod tun;

use crate::conn::ConnData;
use crate::ipvs_core::ip::{csum_after_ttl_decrement, IpHeader, IPV4_CSUM_OFF};
use crate::ipvs_core::tunnel;
use crate::sys::rcu::ReadGuard;
use crate::sys::skb::{Route, RouteKind, Skb, Verdict};
use crate::ipvs_core::uapi::fwd;
use crate::sys::NetRef;

/// One request packet's transmission: where it goes and how it came.
pub(crate) struct Tx<'a> {
    pub(crate) net: NetRef<'a>,
    /// The read-side section the packet is sent in: cached routes are borrowed for it.
    pub(crate) rcu: &'a ReadGuard,
    pub(crate) conn: &'a ConnData,
    /// The packet's network header as parsed on entry.
    pub(crate) ip: &'a IpHeader,
    /// Seen at LOCAL_OUT (a local client): the packet continues on its new route by itself
    /// rather than being sent by us.
    pub(crate) local: bool,
}

/// Sends a packet of a connection whose method does not rewrite it (every method but NAT)
/// to that method's transmitter; `pmtu_disc` is the sysctl, for tunnels. A LOCALNODE
/// connection's packet is delivered here.
pub(crate) fn forward(tx: &Tx<'_>, skb: Skb<'_>, pmtu_disc: bool) -> Verdict {
    match tx.conn.fwd {
        fwd::DROUTE => dr::xmit(tx, skb),
        fwd::TUNNEL => tun::xmit(tx, skb, pmtu_disc),
        fwd::BYPASS => bypass::xmit(tx, skb),
        _ => Verdict::Accept,
    }
}

/// How the route is looked up.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteMode {
    /// To the packet's own destination address, uncached (a bypass connection's).
    Bypass,
    /// To the packet's new destination address (NAT).
    Direct,
    /// Via the real server as known next hop, destination unchanged (DR).
    KnownNextHop,
    /// To the tunnel endpoint; the inner packet must fit with the outer header and the
    /// `encap_len` bytes of UDP and GUE or GRE behind it.
    Tunnel { pmtu_disc: bool, encap_len: usize },
}

impl RouteMode {
    fn kind(self) -> RouteKind {
        match self {
            RouteMode::Direct | RouteMode::Bypass => RouteKind::Direct,
            RouteMode::KnownNextHop => RouteKind::KnownNextHop,
            RouteMode::Tunnel { .. } => RouteKind::Tunnel,
        }
    }
}

/// The route towards the connection's real server (of the dest's family, which for a tunnel
/// may differ from the packet's; cached per real server), after upstream's checks
/// (`__ip_vs_get_out_rt` and its IPv6 twin): local routes are refused (no LOCALNODE handling
/// yet), the TTL or hop limit is decremented (ICMP time exceeded at 1), a tunnel's route must
/// leave the inner packet at least its family's minimum MTU once the outer headers are off
/// (else the packet is dropped; a local sender's socket learns that MTU), then a packet that
/// would not fit gets ICMP fragmentation needed or ICMPv6 packet too big (an IPv4 packet only
/// with DF set, and for a tunnel only with `pmtu_disc`, as upstream: otherwise the outer
/// packet is sent without DF and may be fragmented).
pub(crate) fn route_out<'a>(tx: &Tx<'a>, skb: &mut Skb<'_>, mode: RouteMode) -> Result<Route<'a>, Verdict> {
    let (ip, conn) = (tx.ip, tx.conn);
    let rt = match mode {
        RouteMode::Bypass => Route::output(tx.net, ip.af, &ip.daddr, RouteKind::Direct),
        _ => conn.dest.route.route(tx.rcu, tx.net, conn.dest.af, &conn.daddr, mode.kind()),
    }
    .ok_or(Verdict::Drop)?;
    if rt.is_local() {
        return Err(Verdict::Drop);
    }
    if ip.ttl <= 1 {
        skb.icmp_ttl_exceeded();
        return Err(Verdict::Drop);
    }
    // Decrement the TTL (of the inner header when tunnelling), updating IPv4's checksum
    // rather than summing the header again; before the MTU check, as upstream's
    // `__ip_vs_get_out_rt`: a "fragmentation needed" quotes the packet with its TTL already
    // decremented.
    let ttl_done = skb.make_writable(ip.l4_off).is_some_and(|mut w| {
        w.write(ip.ttl_off(), &[ip.ttl - 1])
            && (ip.is_v6()
                || w.read::<2>(IPV4_CSUM_OFF).is_some_and(|c| w.write(IPV4_CSUM_OFF, &csum_after_ttl_decrement(c))))
    });
    if !ttl_done {
        return Err(Verdict::Drop);
    }
    let (mtu, honour_df) = match mode {
        RouteMode::Tunnel { pmtu_disc, encap_len } => {
            let Some(mtu) = tunnel::inner_mtu(rt.af(), rt.mtu(), encap_len) else { return Err(Verdict::Drop) };
            skb.update_sender_pmtu(mtu);
            (mtu, pmtu_disc)
        }
        _ => (rt.mtu(), true),
    };
    if ip.refuses_fragmentation(honour_df) && skb.exceeds_mtu(mtu) {
        skb.icmp_frag_needed(tx.net, mtu);
        return Err(Verdict::Drop);
    }
    Ok(rt)
}

/// Hands a rewritten request on (upstream's `ip_vs_send_or_cont`): the packet is marked as
/// IPVS's, may be fragmented by the stack (see [`Skb::allow_fragmentation`]) and is untracked
/// (unless the connection keeps conntrack, see [`ConnData::nfct`]); from LOCAL_OUT it simply
/// continues on its new route, otherwise it is sent out by us.
pub(crate) fn send(tx: &Tx<'_>, mut skb: Skb<'_>, rt: Route<'_>) -> Verdict {
    skb.set_ipvs_property();
    skb.allow_fragmentation();
    if tx.conn.nfct.is_none() {
        skb.untrack();
    }
    if tx.local {
        // The packet goes on after our hook, past the read-side section.
        let Some(rt) = rt.counted() else { return Verdict::Drop };
        skb.set_route(rt);
        Verdict::Accept
    } else {
        skb.prepare_forward();
        skb.send_on(tx.net, rt)
    }
}
