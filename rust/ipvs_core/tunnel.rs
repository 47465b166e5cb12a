// SPDX-License-Identifier: GPL-2.0
//! The headers of a tunnelled request: the outer IP header, IPv4 or IPv6 by the real
//! server's family (the dest's, which may differ from the service's), and between it and the
//! client's IPv4 or IPv6 packet the dest's encapsulation: none (IPIP, IPv6 in IP), UDP with a
//! GUE header, or GRE. Upstream's `ip_vs_tunnel_xmit` (IPv4 outside) and
//! `ip_vs_tunnel_xmit_v6` (IPv6 outside) build the same from what
//! `ip_vs_prepare_tunneled_skb` reads of the inner header.

use super::ip::IpHeader;
use super::packet::{PROTO_IPIP, PROTO_UDP};
use super::uapi::{tun_type, AF_INET6};

/// IPv6 carried in IP (the outer protocol or next header of an IPv6 payload).
pub const PROTO_IPV6: u8 = 41;
/// The length of an outer header of each family (no options, no extension headers).
pub const IPV4_OUTER_LEN: usize = 20;
pub const IPV6_OUTER_LEN: usize = 40;
/// The smallest MTU a tunnel may leave the inner packet (upstream's 68 and `IPV6_MIN_MTU`).
const IPV4_MIN_MTU: u32 = 68;
const IPV6_MIN_MTU: u32 = 1280;

/// GRE carried in IP.
pub const PROTO_GRE: u8 = 47;
/// `IP_VS_TUNNEL_ENCAP_FLAG_CSUM` and `_REMCSUM` of a dest's `tun_flags`.
pub const ENCAP_FLAG_CSUM: u16 = 1 << 0;
pub const ENCAP_FLAG_REMCSUM: u16 = 1 << 1;
pub const UDP_HLEN: usize = 8;
/// A GUE header without options; the remote checksum option adds its private flags word and
/// the start and offset of the checksum.
pub const GUE_HLEN: usize = 4;
const GUE_REMCSUM_OPTLEN: usize = 8;
pub const GRE_HLEN: usize = 4;
pub const GRE_CSUM_LEN: usize = 4;
/// The longest encapsulation: UDP, GUE and the remote checksum option.
pub const ENCAP_MAX_LEN: usize = UDP_HLEN + GUE_HLEN + GUE_REMCSUM_OPTLEN;
pub const ETH_P_IP: u16 = 0x0800;
const ETH_P_IPV6: u16 = 0x86dd;

/// How a dest's tunnel carries the inner packet (its `tun_type`, `tun_port`, `tun_flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encap {
    /// Right behind the outer IP header.
    Ip,
    /// In a UDP datagram to `port` (network order), behind a GUE header of variant 0 whose
    /// protocol field names the inner packet. `csum`: the UDP checksum is filled, else zero.
    /// `remcsum`: so is the UDP checksum, and when the inner packet's transport checksum is
    /// left to offload the GUE header tells the receiver where it is, which completes it
    /// (remote checksum offload).
    Gue { port: [u8; 2], csum: bool, remcsum: bool },
    /// Behind a GRE header carrying the inner packet's ethertype, with the GRE checksum when
    /// `csum` (GRE has no remote checksum offload; that flag is ignored, as upstream does).
    Gre { csum: bool },
}

impl Encap {
    /// The encapsulation of a dest of tunnel type `ty` (an unknown type, which the control
    /// plane refuses, is taken as IPIP).
    pub fn of_dest(ty: u8, port: [u8; 2], flags: u16) -> Encap {
        match ty {
            tun_type::GUE => Encap::Gue {
                port,
                csum: flags & ENCAP_FLAG_CSUM != 0,
                remcsum: flags & ENCAP_FLAG_REMCSUM != 0,
            },
            tun_type::GRE => Encap::Gre { csum: flags & ENCAP_FLAG_CSUM != 0 },
            _ => Encap::Ip,
        }
    }

    /// Whether a packet whose transport checksum is left to offload (`partial`) carries the
    /// remote checksum option.
    pub fn uses_remcsum(&self, partial: bool) -> bool {
        matches!(self, Encap::Gue { remcsum: true, .. }) && partial
    }

    /// The bytes between the outer IP header and the inner packet.
    pub fn len(&self, partial: bool) -> usize {
        match *self {
            Encap::Ip => 0,
            Encap::Gue { .. } => {
                UDP_HLEN + GUE_HLEN + if self.uses_remcsum(partial) { GUE_REMCSUM_OPTLEN } else { 0 }
            }
            Encap::Gre { csum } => GRE_HLEN + if csum { GRE_CSUM_LEN } else { 0 },
        }
    }

    /// Whether the outer UDP datagram of a GUE tunnel carries a checksum.
    pub fn udp_csum(&self) -> bool {
        matches!(self, Encap::Gue { csum: true, .. } | Encap::Gue { remcsum: true, .. })
    }

    /// Whether the GRE header carries a checksum.
    pub fn gre_csum(&self) -> bool {
        matches!(self, Encap::Gre { csum: true })
    }
}

/// Where a packet's transport checksum is to be written, as left for offload: from the start
/// of the inner packet, where the sum starts and the offset of the field from there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PartialCsum {
    pub start: u16,
    pub offset: u16,
}

/// The encapsulation header of one packet, ready to be pushed in front of the inner packet
/// (checksums zero: the kernel's helpers fill them once it is in place).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncapHeader {
    bytes: [u8; ENCAP_MAX_LEN],
    len: usize,
    /// The outer IP header's protocol (next header): UDP or GRE; `None` when the inner
    /// packet follows the outer header directly.
    proto: Option<u8>,
}

impl EncapHeader {
    pub fn bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }

    /// What the outer IP header carries: UDP or GRE, or `None` for the inner packet itself.
    pub fn outer_proto(&self) -> Option<u8> {
        self.proto
    }

    /// Where the GRE checksum goes, from the start of the header.
    pub const GRE_CSUM_OFF: usize = GRE_HLEN;
}

/// The encapsulation header of a packet of `inner_len` bytes whose protocol in IP is
/// `inner_proto` ([`PROTO_IPIP`] or [`PROTO_IPV6`]). `sport` is the UDP source port of a GUE
/// tunnel (the kernel's flow hash of the inner packet), `partial` where the inner packet's
/// transport checksum is left to offload, if it is; `None` when the remote checksum option
/// cannot say where (its end past 64 KiB). The UDP length is zero when it does not fit, as for a GSO packet over 64 KiB
/// (segmentation writes each segment's).
pub fn encap_header(encap: &Encap, inner_proto: u8, inner_len: u32, sport: [u8; 2], partial: Option<PartialCsum>) -> Option<EncapHeader> {
    let mut h = EncapHeader { bytes: [0; ENCAP_MAX_LEN], len: encap.len(partial.is_some()), proto: None };
    match *encap {
        Encap::Ip => {}
        Encap::Gue { port, .. } => {
            h.proto = Some(PROTO_UDP);
            let remcsum = if encap.uses_remcsum(partial.is_some()) { partial } else { None };
            let total = inner_len.checked_add(h.len as u32);
            let [l0, l1] = total.and_then(|n| u16::try_from(n).ok()).unwrap_or(0).to_be_bytes();
            // The option length in 32-bit words (version 0 and C 0 in the top bits), and the
            // flags: only "private flags present", for the remote checksum option.
            let (hlen, flags) = if remcsum.is_some() { (2, 1) } else { (0, 0) };
            let gue = [hlen, inner_proto, 0, flags];
            let head = [sport[0], sport[1], port[0], port[1], l0, l1, 0, 0];
            let opts = match remcsum {
                Some(p) => {
                    let [s0, s1] = p.start.to_be_bytes();
                    let [o0, o1] = p.start.checked_add(p.offset)?.to_be_bytes();
                    // The private flags word with its remote-checksum bit, then the option.
                    [0x80, 0, 0, 0, s0, s1, o0, o1]
                }
                None => [0; GUE_REMCSUM_OPTLEN],
            };
            for (d, s) in h.bytes.iter_mut().zip(head.iter().chain(&gue).chain(&opts)) {
                *d = *s;
            }
        }
        Encap::Gre { csum } => {
            h.proto = Some(PROTO_GRE);
            let [e0, e1] = gre_ethertype(inner_proto).to_be_bytes();
            // The C bit (checksum present), version 0.
            let head = [if csum { 0x80 } else { 0 }, 0, e0, e1];
            for (d, s) in h.bytes.iter_mut().zip(head.iter()) {
                *d = *s;
            }
        }
    }
    Some(h)
}

/// The ethertype a GRE header names for an inner packet of protocol `inner_proto` in IP.
pub fn gre_ethertype(inner_proto: u8) -> u16 {
    if inner_proto == PROTO_IPV6 {
        ETH_P_IPV6
    } else {
        ETH_P_IP
    }
}

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

    /// Its source and destination addresses (4 or 16 bytes each).
    pub fn addrs(&self) -> (&[u8], &[u8]) {
        let (s, d) = if self.af == AF_INET6 { (8..24, 24..40) } else { (12..16, 16..20) };
        (self.bytes.get(s).unwrap_or(&[]), self.bytes.get(d).unwrap_or(&[]))
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
    /// What comes between the outer header and the inner packet.
    pub encap: &'a EncapHeader,
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
    let inner_proto = inner_proto(inner);
    let proto = t.encap.outer_proto().unwrap_or(inner_proto);
    let payload = t.inner_len.checked_add(t.encap.len as u32);
    let tos = ecn_encapsulate(inner.tos);
    let ttl = inner.ttl.saturating_sub(1);
    let mut b = [0u8; IPV6_OUTER_LEN];
    if t.outer_af == AF_INET6 {
        let [p0, p1] = payload.and_then(|n| u16::try_from(n).ok()).unwrap_or(0).to_be_bytes();
        let head = [0x60 | (tos >> 4), (tos & 0x0f) << 4, 0, 0, p0, p1, proto, ttl];
        for (d, s) in b.iter_mut().zip(head.iter().chain(t.saddr).chain(t.daddr)) {
            *d = *s;
        }
    } else {
        let total = payload.and_then(|n| n.checked_add(IPV4_OUTER_LEN as u32));
        let [l0, l1] = total.and_then(|n| u16::try_from(n).ok()).unwrap_or(0).to_be_bytes();
        let df = t.pmtu_disc && !inner.is_v6() && inner.dont_fragment;
        let frag = if df { 0x40 } else { 0 };
        let head = [0x45, tos, l0, l1, 0, 0, frag, 0, ttl, proto, 0, 0];
        let addrs = t.saddr.iter().take(4).chain(t.daddr.iter().take(4));
        for (d, s) in b.iter_mut().zip(head.iter().chain(addrs)) {
            *d = *s;
        }
    }
    Outer { bytes: b, af: t.outer_af, inner_proto }
}

/// The protocol in IP of the inner packet: [`PROTO_IPIP`] or [`PROTO_IPV6`].
pub fn inner_proto(inner: &IpHeader) -> u8 {
    if inner.is_v6() {
        PROTO_IPV6
    } else {
        PROTO_IPIP
    }
}

/// The MTU left to the inner packet on a route of MTU `route_mtu` through an outer header of
/// family `outer_af` and an encapsulation of `encap_len` bytes; `None` below the smallest MTU
/// of that family (upstream then drops the packet without telling the client).
pub fn inner_mtu(outer_af: u16, route_mtu: u32, encap_len: usize) -> Option<u32> {
    let (hlen, min) = if outer_af == AF_INET6 {
        (IPV6_OUTER_LEN, IPV6_MIN_MTU)
    } else {
        (IPV4_OUTER_LEN, IPV4_MIN_MTU)
    };
    let overhead = u32::try_from(hlen + encap_len).ok()?;
    route_mtu.checked_sub(overhead).filter(|&mtu| mtu >= min)
}
