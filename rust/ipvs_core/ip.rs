// SPDX-License-Identifier: GPL-2.0
//! The network header of a packet, IPv4 or IPv6, as the datapath uses it: one type for both
//! families, so that the glue asks the header (where its addresses are, whether it needs a
//! header checksum) instead of testing the family.
//!
//! Addresses are upstream's 16-byte `union nf_inet_addr`: an IPv4 address in the first 4 bytes
//! and zeros after (see `addr`).

use super::packet::Ipv4;
use super::uapi::{AF_INET, AF_INET6};

/// IPv6 next-header values of the extension headers `ipv6_find_hdr` walks over.
const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_ROUTING: u8 = 43;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_AUTH: u8 = 51;
const NEXTHDR_NONE: u8 = 59;
const NEXTHDR_DEST: u8 = 60;

/// The fixed IPv6 header's length.
pub const IPV6_HLEN: usize = 40;
/// Offset of IPv4's header checksum (IPv6 has none).
pub const IPV4_CSUM_OFF: usize = 10;

/// An IPv4 header checksum after the TTL went down by one, updated rather than recomputed (RFC
/// 1624, as the kernel's `ip_decrease_ttl`): the TTL is the high byte of its 16-bit word, so
/// the one's-complement sum falls by 0x0100 and its complement, the checksum, rises by as much
/// (with the end-around carry; a result of 0xffff, negative zero, is written as 0).
pub fn csum_after_ttl_decrement(check: [u8; 2]) -> [u8; 2] {
    let c = u32::from(u16::from_be_bytes(check)) + 0x0100;
    ((c + u32::from(c >= 0xffff)) as u16).to_be_bytes()
}

fn is_ext_header(nexthdr: u8) -> bool {
    matches!(nexthdr, NEXTHDR_HOP | NEXTHDR_ROUTING | NEXTHDR_FRAGMENT | NEXTHDR_AUTH | NEXTHDR_NONE | NEXTHDR_DEST)
}

/// Whether a packet whose network header starts with `first` (at least IPv6's first 8 bytes,
/// IPv4's first 10) may carry ICMP or ICMPv6: IPv4's protocol, or IPv6's first next header
/// when it is ICMPv6 or an extension header (which may lead to ICMPv6). A look before the whole
/// parse, for a hook that handles nothing else; a header of neither version is no ICMP.
pub fn may_be_icmp(first: &[u8; 10]) -> bool {
    match first[0] >> 4 {
        4 => first[9] == super::packet::PROTO_ICMP,
        6 => first[6] == super::packet::PROTO_ICMPV6 || is_ext_header(first[6]),
        _ => false,
    }
}

/// A parsed network header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpHeader {
    /// `AF_INET` or `AF_INET6`.
    pub af: u16,
    pub saddr: [u8; 16],
    pub daddr: [u8; 16],
    /// The transport protocol: IPv4's protocol field; for IPv6 the first header after the
    /// extension headers.
    pub protocol: u8,
    /// Where the transport header starts, from the network header.
    pub l4_off: usize,
    /// IPv4's TOS, IPv6's traffic class.
    pub tos: u8,
    /// TTL or hop limit.
    pub ttl: u8,
    /// A packet too big for the next link must be answered rather than fragmented: IPv4 with
    /// DF set, and every IPv6 packet (routers never fragment IPv6).
    pub dont_fragment: bool,
    /// A fragment: IPv4's MF or offset; for IPv6 a fragment header on the way.
    pub is_fragment: bool,
    /// A fragment other than the first: its transport header is in the first.
    pub later_fragment: bool,
}

impl IpHeader {
    pub fn is_v6(&self) -> bool {
        self.af == AF_INET6
    }

    /// Offset of the source address in the header.
    pub fn saddr_off(&self) -> usize {
        if self.is_v6() {
            8
        } else {
            Ipv4::SADDR_OFF
        }
    }

    /// Offset of the destination address in the header.
    pub fn daddr_off(&self) -> usize {
        if self.is_v6() {
            24
        } else {
            Ipv4::DADDR_OFF
        }
    }

    /// Offset of the TTL / hop limit.
    pub fn ttl_off(&self) -> usize {
        if self.is_v6() {
            7
        } else {
            8
        }
    }

    /// Whether this packet, too big for the next link, is refused with an ICMP or ICMPv6
    /// error rather than fragmented on the way. `honour_df` is false for a tunnel whose
    /// `pmtu_disc` is off: IPv4's DF is then ignored (the outer packet goes without DF and may
    /// be fragmented). IPv6 is always refused: only its source may fragment it.
    pub fn refuses_fragmentation(&self, honour_df: bool) -> bool {
        self.dont_fragment && (honour_df || self.is_v6())
    }

    /// The bytes of an address of this family as they sit in the header (4 or 16).
    pub fn wire<'a>(&self, addr: &'a [u8; 16]) -> &'a [u8] {
        addr_wire(self.af, addr)
    }

    /// Parses an IPv6 packet: the fixed header, then the extension headers as
    /// `ipv6_find_hdr(skb, &off, -1, &fragoffs, NULL)` walks them. `read(off)` gives 4 bytes
    /// at `off` from the network header, `len` is the packet's length from there. `None` for
    /// a packet that is not IPv6 or whose extension headers run past its end.
    pub fn parse_v6(h: &[u8; IPV6_HLEN], len: usize, mut read: impl FnMut(usize) -> Option<[u8; 4]>) -> Option<IpHeader> {
        if h[0] >> 4 != 6 {
            return None;
        }
        let mut saddr = [0u8; 16];
        let mut daddr = [0u8; 16];
        saddr.copy_from_slice(h.get(8..24)?);
        daddr.copy_from_slice(h.get(24..40)?);
        let mut ip = IpHeader {
            af: AF_INET6,
            saddr,
            daddr,
            protocol: h[6],
            l4_off: IPV6_HLEN,
            tos: (h[0] << 4) | (h[1] >> 4),
            ttl: h[7],
            dont_fragment: true,
            is_fragment: false,
            later_fragment: false,
        };
        // Every extension header is at least 8 bytes long, so the packet's length bounds
        // the walk.
        while is_ext_header(ip.protocol) && ip.protocol != NEXTHDR_NONE {
            let [next, hdrlen, f0, f1] = read(ip.l4_off)?;
            let size = match ip.protocol {
                NEXTHDR_FRAGMENT => {
                    ip.is_fragment = true;
                    if u16::from_be_bytes([f0, f1]) & !0x7 != 0 {
                        // A later fragment: upstream stops here, the transport header is in
                        // the first fragment.
                        ip.later_fragment = true;
                        ip.protocol = next;
                        return Some(ip);
                    }
                    8
                }
                NEXTHDR_AUTH => (usize::from(hdrlen) + 2) * 4,
                _ => (usize::from(hdrlen) + 1) * 8,
            };
            if len.checked_sub(ip.l4_off)? < size {
                return None;
            }
            ip.protocol = next;
            ip.l4_off += size;
        }
        Some(ip)
    }
}

/// The bytes of an address of family `af` as packets carry it (4 or 16).
pub fn addr_wire(af: u16, addr: &[u8; 16]) -> &[u8] {
    if af == AF_INET6 {
        addr
    } else {
        addr.get(..4).unwrap_or(addr)
    }
}

/// An IPv4 address in IPVS's 16-byte form.
pub fn v4_to_16(a: [u8; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (d, s) in out.iter_mut().zip(a) {
        *d = s;
    }
    out
}

impl From<&Ipv4> for IpHeader {
    fn from(ip: &Ipv4) -> Self {
        IpHeader {
            af: AF_INET,
            saddr: v4_to_16(ip.saddr),
            daddr: v4_to_16(ip.daddr),
            protocol: ip.protocol,
            l4_off: ip.ihl_bytes,
            tos: ip.tos,
            ttl: ip.ttl,
            dont_fragment: ip.dont_fragment,
            is_fragment: ip.is_fragment,
            later_fragment: ip.later_fragment,
        }
    }
}
