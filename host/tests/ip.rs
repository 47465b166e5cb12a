#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The network header of either family: IPv6's extension-header walk as `ipv6_find_hdr` does
//! it, and where each family keeps its fields.
use ipvs_core_host::ipvs_core::ip::{may_be_icmp, IpHeader};

const NEXTHDR_HOP: u8 = 0;
const NEXTHDR_FRAGMENT: u8 = 44;
const NEXTHDR_AUTH: u8 = 51;
const NEXTHDR_NONE: u8 = 59;
const NEXTHDR_DEST: u8 = 60;
fn v6_packet(nexthdr: u8, ext: &[u8], tail: usize) -> ([u8; 40], [u8; 256], usize) {
    let mut h = [0u8; 40];
    h[0] = 0x60 | 0x0a;
    h[1] = 0xb0;
    h[6] = nexthdr;
    h[7] = 64;
    h[8] = 0x20;
    h[23] = 1;
    h[24] = 0x20;
    h[39] = 2;
    let mut body = [0u8; 256];
    body[40..40 + ext.len()].copy_from_slice(ext);
    (h, body, 40 + ext.len() + tail)
}

fn parse(h: &[u8; 40], body: &[u8; 256], len: usize) -> Option<IpHeader> {
    IpHeader::parse_v6(h, len, |off| {
        if off + 4 > len {
            return None;
        }
        body.get(off..off + 4).map(|s| [s[0], s[1], s[2], s[3]])
    })
}

#[test]
fn plain_tcp() {
    let (h, b, len) = v6_packet(6, &[], 20);
    let ip = parse(&h, &b, len).unwrap();
    assert_eq!((ip.protocol, ip.l4_off, ip.ttl, ip.tos), (6, 40, 64, 0xab));
    assert!(ip.dont_fragment && !ip.is_fragment);
    assert_eq!(ip.saddr[15], 1);
    assert_eq!(ip.daddr[15], 2);
    assert_eq!((ip.saddr_off(), ip.daddr_off(), ip.ttl_off()), (8, 24, 7));
}

#[test]
fn walks_extension_headers() {
    // Hop-by-hop (8 bytes) -> destination options (16 bytes) -> AH (12 bytes) -> UDP.
    let mut ext = [0u8; 36];
    ext[0] = NEXTHDR_DEST;
    ext[8] = NEXTHDR_AUTH;
    ext[9] = 1;
    ext[24] = 17;
    ext[25] = 1;
    let (h, b, len) = v6_packet(NEXTHDR_HOP, &ext, 8);
    let ip = parse(&h, &b, len).unwrap();
    assert_eq!((ip.protocol, ip.l4_off), (17, 76));
}

#[test]
fn fragments() {
    // First fragment: offset 0, M set: walked through, the transport header follows.
    let first = [6u8, 0, 0, 1, 0, 0, 0, 7];
    let (h, b, len) = v6_packet(NEXTHDR_FRAGMENT, &first, 20);
    let ip = parse(&h, &b, len).unwrap();
    assert_eq!((ip.protocol, ip.l4_off, ip.is_fragment, ip.later_fragment), (6, 48, true, false));
    // A later one: offset 185 * 8.
    let later = [6u8, 0, 0x05, 0xc8, 0, 0, 0, 7];
    let (h, b, len) = v6_packet(NEXTHDR_FRAGMENT, &later, 20);
    let ip = parse(&h, &b, len).unwrap();
    assert_eq!((ip.protocol, ip.is_fragment, ip.later_fragment), (6, true, true));
}

#[test]
fn truncated_or_not_v6() {
    // An extension header longer than what is left of the packet.
    let ext = [6u8, 3, 0, 0, 0, 0, 0, 0];
    let (h, b, len) = v6_packet(NEXTHDR_DEST, &ext, 0);
    assert_eq!(parse(&h, &b, len), None);
    let (mut h, b, len) = v6_packet(6, &[], 20);
    h[0] = 0x45;
    assert_eq!(parse(&h, &b, len), None);
    // No next header: the walk stops there.
    let (h, b, len) = v6_packet(NEXTHDR_NONE, &[], 0);
    assert_eq!(parse(&h, &b, len).map(|ip| ip.protocol), Some(NEXTHDR_NONE));
}

/// The IPv4 header checksum of `h` (20 bytes, its checksum field counted as zero).
fn ipv4_csum(h: &[u8; 20]) -> [u8; 2] {
    let mut sum: u32 = 0;
    for (i, w) in h.chunks(2).enumerate() {
        if i != 5 {
            sum += u32::from(u16::from_be_bytes([w[0], w[1]]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    (!(sum as u16)).to_be_bytes()
}

proptest::proptest! {
    /// The TTL decrement's incremental checksum update gives what summing the header again
    /// gives.
    #[test]
    fn ttl_decrement_updates_the_checksum(mut h in proptest::array::uniform20(proptest::num::u8::ANY), ttl in 2u8..=255) {
        h[0] = 0x45;
        h[8] = ttl;
        let before = ipv4_csum(&h);
        h[10..12].copy_from_slice(&before);
        h[8] = ttl - 1;
        proptest::prop_assert_eq!(ipvs_core_host::ipvs_core::ip::csum_after_ttl_decrement(before), ipv4_csum(&h));
    }
}

/// The forward ICMP hook's quick look agrees with the whole parse: every packet whose parse
/// says ICMP (or ICMPv6) passes it, and so does one whose IPv6 extension headers hide what
/// follows; TCP, UDP and headers of neither version do not.
#[test]
fn may_be_icmp_agrees_with_the_parse() {
    let mut v4 = [0u8; 20];
    v4[0] = 0x45;
    for protocol in 0..=255u8 {
        v4[9] = protocol;
        let first: [u8; 10] = v4[..10].try_into().unwrap();
        assert_eq!(may_be_icmp(&first), protocol == 1, "IPv4 protocol {protocol}");
    }
    for nexthdr in 0..=255u8 {
        let (h, b, len) = v6_packet(nexthdr, &[58, 0, 0, 0, 0, 0, 0, 0], 8);
        let first: [u8; 10] = h[..10].try_into().unwrap();
        let parsed_icmp = parse(&h, &b, len).is_some_and(|ip| ip.protocol == 58);
        if parsed_icmp {
            assert!(may_be_icmp(&first), "IPv6 next header {nexthdr} parses as ICMPv6");
        }
        let want = nexthdr == 58 || [0, 43, 44, 51, 59, 60].contains(&nexthdr);
        assert_eq!(may_be_icmp(&first), want, "IPv6 next header {nexthdr}");
    }
    let mut other = [0u8; 10];
    other[0] = 0x55;
    other[9] = 1;
    assert!(!may_be_icmp(&other));
}
