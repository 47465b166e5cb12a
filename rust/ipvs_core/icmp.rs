// SPDX-License-Identifier: GPL-2.0
//! ICMP and ICMPv6 errors about packets of IPVS connections: which messages the datapath
//! relays (as upstream's `ip_vs_in_icmp`, `ip_vs_out_icmp` and their IPv6 versions), and where
//! the packet they quote sits.

use super::ip::{IpHeader, IPV6_HLEN};
use super::packet::{Ipv4, PROTO_IPIP, PROTO_TCP, PROTO_UDP};

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
/// the outer IPv4 header, unless that would leave less than the minimum IPv4 MTU (68).
pub fn client_mtu(path_mtu: u32) -> u32 {
    if path_mtu > 68 + 20 {
        path_mtu - 20
    } else {
        path_mtu
    }
}

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

    /// The packet an IPIP packet quoted here carries (for an error about a tunnel packet):
    /// its header is `header`, the 20 bytes after the quoted IPIP header. `None` unless this
    /// quotes the start of an IPIP packet.
    pub fn inner(&self, header: &[u8; 20]) -> Option<Quoted> {
        if self.ip.is_v6() || self.ip.protocol != PROTO_IPIP || self.ip.later_fragment {
            return None;
        }
        Some(Quoted { ip: IpHeader::from(&Ipv4::parse(header)?), off: self.off + self.ip.l4_off })
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
