// SPDX-License-Identifier: GPL-2.0
//! IPv4 and L4 header views and builders for the datapath, on plain byte arrays.

use super::addr;

/// IP protocol numbers the datapath handles.
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_IPIP: u8 = 4;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_ICMPV6: u8 = 58;
pub const PROTO_SCTP: u8 = 132;
pub const PROTO_ESP: u8 = 50;
pub const PROTO_AH: u8 = 51;

/// Whether upstream IPVS has a protocol handler for `protocol` (TCP, UDP, SCTP, AH, ESP; ICMP
/// has its own path). Packets of other protocols are not IPVS's (`ignore_tunneled` marks
/// them).
pub fn ipvs_protocol(protocol: u8) -> bool {
    matches!(protocol, PROTO_TCP | PROTO_UDP | PROTO_SCTP | PROTO_AH | PROTO_ESP)
}

/// The fields of an IPv4 header the datapath uses. Addresses are in network byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4 {
    pub ihl_bytes: usize,
    pub tos: u8,
    pub tot_len: u16,
    /// The DF bit.
    pub dont_fragment: bool,
    /// A fragment other than the first, or a first fragment with more to come.
    pub is_fragment: bool,
    /// A fragment other than the first: its L4 header is in the first.
    pub later_fragment: bool,
    pub ttl: u8,
    pub protocol: u8,
    pub saddr: [u8; 4],
    pub daddr: [u8; 4],
}

impl Ipv4 {
    /// Parses the fixed 20-byte header; `None` unless version 4 with a sane IHL.
    pub fn parse(h: &[u8; 20]) -> Option<Ipv4> {
        let [vihl, tos, l0, l1, _, _, f0, f1, ttl, protocol, _, _, s0, s1, s2, s3, d0, d1, d2, d3] = *h;
        if vihl >> 4 != 4 || (vihl & 0x0f) < 5 {
            return None;
        }
        let frag = u16::from_be_bytes([f0, f1]);
        Some(Ipv4 {
            ihl_bytes: usize::from(vihl & 0x0f) * 4,
            tos,
            tot_len: u16::from_be_bytes([l0, l1]),
            dont_fragment: frag & 0x4000 != 0,
            is_fragment: frag & 0x3fff != 0,
            later_fragment: frag & 0x1fff != 0,
            ttl,
            protocol,
            saddr: [s0, s1, s2, s3],
            daddr: [d0, d1, d2, d3],
        })
    }

    /// Offset of the source and destination addresses in the header.
    pub const SADDR_OFF: usize = 12;
    pub const DADDR_OFF: usize = 16;
}

/// TCP flags of a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TcpFlags {
    pub syn: bool,
    pub ack: bool,
    pub fin: bool,
    pub rst: bool,
}

impl TcpFlags {
    /// From the 13th byte of the TCP header.
    pub fn from_byte(b: u8) -> Self {
        TcpFlags { fin: b & 0x01 != 0, syn: b & 0x02 != 0, rst: b & 0x04 != 0, ack: b & 0x10 != 0 }
    }
}

/// Where the checksum sits in each L4 header.
pub fn l4_csum_offset(protocol: u8) -> Option<usize> {
    match protocol {
        PROTO_TCP => Some(16),
        PROTO_UDP => Some(6),
        _ => None,
    }
}

/// Bob Jenkins' lookup3 final mix over three words, as the kernel's jhash_3words, so bucket
/// spreading matches what operators know from upstream.
pub fn jhash_3words(a: u32, b: u32, c: u32, initval: u32) -> u32 {
    const GOLDEN: u32 = 0xdeadbeef;
    let mut a = a.wrapping_add(initval).wrapping_add(GOLDEN).wrapping_add(12);
    let mut b = b.wrapping_add(initval).wrapping_add(GOLDEN).wrapping_add(12);
    let mut c = c.wrapping_add(initval).wrapping_add(GOLDEN).wrapping_add(12);
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(14));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(11));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(25));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(16));
    a ^= c;
    a = a.wrapping_sub(c.rotate_left(4));
    b ^= a;
    b = b.wrapping_sub(a.rotate_left(14));
    c ^= b;
    c = c.wrapping_sub(b.rotate_left(24));
    c
}

/// One end of a flow: a 16-byte address (an IPv4 one in its first 4 bytes) and a port.
pub type End<'a> = (&'a [u8; 16], [u8; 2]);

/// The bucket hash of a connection under one of its keys: the client's end and the far end
/// the key is for (the virtual service for requests, and for the replies of DR and TUN
/// connections, which come from it; the real server for a NAT connection's replies, its
/// second key). Both ends count, so the flows of one client address and port to many
/// services spread over the table. IPv4 ends (zeros after their 4 bytes) hash in one round;
/// the other words of an IPv6 address are mixed in first under the same secret seed, so that
/// hosts choosing their addresses in a /64 cannot aim them all at one bucket.
pub fn conn_hash(protocol: u8, client: End<'_>, far: End<'_>, seed: u32) -> u32 {
    let word = |a, i| addr::word(a, i);
    let mut seed = seed ^ u32::from(protocol);
    for a in [client.0, far.0] {
        let (w1, w2, w3) = (word(a, 1), word(a, 2), word(a, 3));
        if (w1 | w2 | w3) != 0 {
            seed = jhash_3words(w1, w2, w3, seed);
        }
    }
    let ports = (u32::from(u16::from_ne_bytes(client.1)) << 16) | u32::from(u16::from_ne_bytes(far.1));
    jhash_3words(word(client.0, 0), word(far.0, 0), ports, seed)
}
