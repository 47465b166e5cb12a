// SPDX-License-Identifier: GPL-2.0
//! The outer header of a tunnelled request: IPv4 or IPv6 by the real server's family (the
//! dest's, which may differ from the service's), carrying the client's IPv4 or IPv6 packet.
//! Four combinations, as upstream's `ip_vs_tunnel_xmit` (IPv4 outside) and
//! `ip_vs_tunnel_xmit_v6` (IPv6 outside) build them from what `ip_vs_prepare_tunneled_skb`
//! reads of the inner header.

use super::ip::IpHeader;
use super::packet::PROTO_IPIP;
use super::uapi::AF_INET6;

/// IPv6 carried in IP (the outer protocol or next header of an IPv6 payload).
pub const PROTO_IPV6: u8 = 41;
/// The length of an outer header of each family (no options, no extension headers).
pub const IPV4_OUTER_LEN: usize = 20;
pub const IPV6_OUTER_LEN: usize = 40;
/// The smallest MTU a tunnel may leave the inner packet (upstream's 68 and `IPV6_MIN_MTU`).
const IPV4_MIN_MTU: u32 = 68;
const IPV6_MIN_MTU: u32 = 1280;

/// An outer header, ready to be pushed in front of the inner packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outer {
    bytes: [u8; IPV6_OUTER_LEN],
    af: u16,
    inner_proto: u8,
}

impl Outer {
    /// The header's family.
    pub fn af(&self) -> u16 {
        self.af
    }

    /// What it carries: [`PROTO_IPIP`] (an IPv4 packet) or [`PROTO_IPV6`].
    pub fn inner_proto(&self) -> u8 {
        self.inner_proto
    }

    /// The header's bytes (20 for IPv4, 40 for IPv6).
    pub fn bytes(&self) -> &[u8] {
        let len = if self.af == AF_INET6 { IPV6_OUTER_LEN } else { IPV4_OUTER_LEN };
        self.bytes.get(..len).unwrap_or(&self.bytes)
    }
}

/// What the outer header is made of.
pub struct Tunnel<'a> {
    /// The outer family: the real server's.
    pub outer_af: u16,
    /// The inner packet's header as parsed (its TTL before the director decremented it).
    pub inner: &'a IpHeader,
    /// The inner packet's length.
    pub inner_len: u32,
    /// The route's source address and the real server's, 16-byte form.
    pub saddr: &'a [u8; 16],
    pub daddr: &'a [u8; 16],
    /// The `pmtu_disc` sysctl: an IPv4 outer header copies the inner IPv4 packet's DF only
    /// with it.
    pub pmtu_disc: bool,
}

/// The ECN bits of the outer header (`INET_ECN_encapsulate(tos, tos)`): the inner packet's
/// DSCP and ECN codepoint, except that "congestion experienced" becomes ECT(0).
pub fn ecn_encapsulate(tos: u8) -> u8 {
    const ECN_MASK: u8 = 3;
    const ECN_CE: u8 = 3;
    const ECN_ECT_0: u8 = 2;
    let ecn = if tos & ECN_MASK == ECN_CE { ECN_ECT_0 } else { tos & ECN_MASK };
    (tos & !ECN_MASK) | ecn
}

/// The outer header of a tunnelled packet. The TTL or hop limit is the inner packet's after
/// the director's decrement, the TOS or traffic class the inner one's (ECN encapsulated), the
/// IPv6 flow label zero. The IPv4 header's id and checksum are left zero (the output path's
/// `ip_select_ident` and `ip_send_check` fill them); its DF is the inner IPv4 packet's with
/// `pmtu_disc`, never set for an inner IPv6 packet. A length field that cannot hold the
/// length (a GSO packet over 64 KiB) is zero, as the output path writes it.
pub fn outer_header(t: &Tunnel<'_>) -> Outer {
    let inner = t.inner;
    let inner_proto = if inner.is_v6() { PROTO_IPV6 } else { PROTO_IPIP };
    let tos = ecn_encapsulate(inner.tos);
    let ttl = inner.ttl.saturating_sub(1);
    let mut b = [0u8; IPV6_OUTER_LEN];
    if t.outer_af == AF_INET6 {
        let [p0, p1] = u16::try_from(t.inner_len).unwrap_or(0).to_be_bytes();
        let head = [0x60 | (tos >> 4), (tos & 0x0f) << 4, 0, 0, p0, p1, inner_proto, ttl];
        for (d, s) in b.iter_mut().zip(head.iter().chain(t.saddr).chain(t.daddr)) {
            *d = *s;
        }
    } else {
        let total = t.inner_len.checked_add(IPV4_OUTER_LEN as u32);
        let [l0, l1] = total.and_then(|n| u16::try_from(n).ok()).unwrap_or(0).to_be_bytes();
        let df = t.pmtu_disc && !inner.is_v6() && inner.dont_fragment;
        let frag = if df { 0x40 } else { 0 };
        let head = [0x45, tos, l0, l1, 0, 0, frag, 0, ttl, inner_proto, 0, 0];
        let addrs = t.saddr.iter().take(4).chain(t.daddr.iter().take(4));
        for (d, s) in b.iter_mut().zip(head.iter().chain(addrs)) {
            *d = *s;
        }
    }
    Outer { bytes: b, af: t.outer_af, inner_proto }
}

/// The MTU left to the inner packet on a route of MTU `route_mtu` through an outer header of
/// family `outer_af`; `None` below the smallest MTU of that family (upstream then drops the
/// packet without telling the client).
pub fn inner_mtu(outer_af: u16, route_mtu: u32) -> Option<u32> {
    let (hlen, min) = if outer_af == AF_INET6 {
        (IPV6_OUTER_LEN as u32, IPV6_MIN_MTU)
    } else {
        (IPV4_OUTER_LEN as u32, IPV4_MIN_MTU)
    };
    route_mtu.checked_sub(hlen).filter(|&mtu| mtu >= min)
}
