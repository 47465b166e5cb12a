// SPDX-License-Identifier: GPL-2.0
//! ICMP and ICMPv6 errors about packets of IPVS connections: which messages the datapath
//! relays (as upstream's `ip_vs_in_icmp`, `ip_vs_out_icmp` and their IPv6 versions), and where
//! the packet they quote sits.

use super::ip::{IpHeader, IPV6_HLEN};
use super::packet::{Ipv4, PROTO_IPIP, PROTO_TCP, PROTO_UDP};
use super::tunnel::{ETH_P_IP, GRE_CSUM_LEN, GRE_HLEN, GUE_HLEN, PROTO_GRE, UDP_HLEN};

pub const DEST_UNREACH: u8 = 3;
pub const SOURCE_QUENCH: u8 = 4;
pub const TIME_EXCEEDED: u8 = 11;
/// The code of destination unreachable that carries the next hop's MTU.
pub const FRAG_NEEDED: u8 = 4;

/// Bytes of the ICMP header (type, code, checksum and four more) before the quoted packet.
pub const HEADER_LEN: usize = 8;
/// Offset of the checksum in the ICMP header.
pub const CSUM_OFF: usize = 2;

/// The MTU a tunnel error reports to the client: the path MTU towards the real server less
/// the tunnel's `overhead` (the outer IPv4 header and any UDP and GUE or GRE header), unless
/// that would leave less than the minimum IPv4 MTU (68).
pub fn client_mtu(path_mtu: u32, overhead: usize) -> u32 {
    match u32::try_from(overhead) {
        Ok(o) if path_mtu > 68 + o => path_mtu - o,
        _ => path_mtu,
    }
}

/// How a tunnel packet that an ICMP error quotes wraps the IPv4 packet it carries, as the
/// director's tunnels wrap it: the tunnel's kind and the bytes between the quoted outer
/// header and the inner one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Wrap {
    pub kind: WrapKind,
    pub len: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WrapKind {
    /// IPIP: nothing between the headers.
    Ipip,
    /// UDP to this port (network order) with a GUE header.
    Gue { port: [u8; 2] },
    Gre,
}

/// Bytes of a quoted tunnel packet after its outer header that [`Quoted::wrap`] reads.
pub const WRAP_PROBE_LEN: usize = UDP_HLEN + GUE_HLEN;

/// Whether a message of this type is an error about a packet: destination unreachable
/// (fragmentation needed among its codes), source quench or time exceeded. Only these are
/// related to connections; every other ICMP message is left to the stack.
pub fn is_error(icmp_type: u8) -> bool {
    matches!(icmp_type, DEST_UNREACH | SOURCE_QUENCH | TIME_EXCEEDED)
}

/// Whether an ICMPv6 message of this type is an error (types below 128: destination
/// unreachable, packet too big, time exceeded, parameter problem and the unassigned ones, as
/// upstream tests `ICMPV6_INFOMSG_MASK`); informational messages, neighbour discovery among
/// them, are left to the stack.
pub fn is_error_v6(icmp_type: u8) -> bool {
    icmp_type & 0x80 == 0
}

/// The packet an ICMP error quotes, as the datapath needs it: its network header, where that
/// header starts in the outer packet, and where its ports are (TCP and UDP: the first four
/// bytes of the L4 header, which every error quotes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// The quoted header; its `l4_off` is from the quoted header's start.
    pub ip: IpHeader,
    /// Offset of the quoted header from the outer network header.
    pub off: usize,
}

impl Quoted {
    /// The quoted packet of the ICMP message at `icmp_off`, from the 20 bytes after the ICMP
    /// header; `None` unless they are an IPv4 header.
    pub fn parse(icmp_off: usize, header: &[u8; 20]) -> Option<Quoted> {
        Some(Quoted { ip: IpHeader::from(&Ipv4::parse(header)?), off: icmp_off + HEADER_LEN })
    }

    /// The quoted packet of the ICMPv6 message at `icmp_off`, its extension headers walked:
    /// `fixed` is the 40 bytes after the ICMPv6 header, `len` what the packet has from there,
    /// `read(off)` 4 bytes at `off` from the quoted header. `None` unless it is IPv6.
    pub fn parse_v6(
        icmp_off: usize,
        fixed: &[u8; IPV6_HLEN],
        len: usize,
        read: impl FnMut(usize) -> Option<[u8; 4]>,
    ) -> Option<Quoted> {
        Some(Quoted { ip: IpHeader::parse_v6(fixed, len, read)?, off: icmp_off + HEADER_LEN })
    }

    /// How the quoted packet wraps an IPv4 packet, if it is the start of an IPv4 tunnel
    /// packet of a kind the director sends (upstream's `ip_vs_in_icmp` with
    /// `ipvs_udp_decap` and `ipvs_gre_decap`): IPIP; UDP whose GUE header is of version 0, a
    /// data message, carrying IPv4; GRE of version 0 with no flag but the checksum's,
    /// carrying IPv4. `after` is the first bytes after the quoted outer header. Whether the
    /// director has such a tunnel to the quoted destination is for the caller to ask.
    pub fn wrap(&self, after: &[u8; WRAP_PROBE_LEN]) -> Option<Wrap> {
        if self.ip.is_v6() || self.ip.later_fragment {
            return None;
        }
        match self.ip.protocol {
            PROTO_IPIP => Some(Wrap { kind: WrapKind::Ipip, len: 0 }),
            PROTO_UDP => {
                let [_, _, p0, p1, _, _, _, _, gue0, proto, _, _] = *after;
                // Version and C (control message) are the top three bits; then the option
                // length in 32-bit words.
                (gue0 & 0xe0 == 0 && proto == PROTO_IPIP)
                    .then_some(Wrap { kind: WrapKind::Gue { port: [p0, p1] }, len: UDP_HLEN + GUE_HLEN + usize::from(gue0 & 0x1f) * 4 })
            }
            PROTO_GRE => {
                let [f0, f1, e0, e1, ..] = *after;
                let csum = f0 & 0x80 != 0;
                (f0 & 0x7f == 0 && f1 == 0 && u16::from_be_bytes([e0, e1]) == ETH_P_IP)
                    .then_some(Wrap { kind: WrapKind::Gre, len: GRE_HLEN + if csum { GRE_CSUM_LEN } else { 0 } })
            }
            _ => None,
        }
    }

    /// The packet a tunnel packet quoted here carries (for an error about a tunnel packet),
    /// `wrap` being how it is wrapped: its header is `header`, the 20 bytes after the wrap.
    pub fn inner(&self, wrap: &Wrap, header: &[u8; 20]) -> Option<Quoted> {
        let off = self.off + self.ip.l4_off + wrap.len;
        Some(Quoted { ip: IpHeader::from(&Ipv4::parse(header)?), off })
    }

    /// Offset of the quoted ports (source, then destination) from the outer network header,
    /// for a TCP or UDP packet whose L4 header can be there (not a later fragment).
    pub fn ports_off(&self) -> Option<usize> {
        let has_ports = matches!(self.ip.protocol, PROTO_TCP | PROTO_UDP) && !self.ip.later_fragment;
        has_ports.then_some(self.off + self.ip.l4_off)
    }

    /// Bytes from the outer network header up to the end of the quoted ports: what a
    /// rewrite of the quoted packet needs writable.
    pub fn rewrite_len(&self) -> Option<usize> {
        Some(self.ports_off()? + 4)
    }
}
