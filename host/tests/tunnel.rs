#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The outer header of a tunnelled request, for the four family combinations, and the MTU a
//! tunnel leaves (upstream's `ip_vs_tunnel_xmit`, `ip_vs_tunnel_xmit_v6`,
//! `ip_vs_prepare_tunneled_skb`, `__ip_vs_get_out_rt(_v6)`).
use ipvs_core_host::ipvs_core::ip::{v4_to_16, IpHeader};
use ipvs_core_host::ipvs_core::tunnel::{
    ecn_encapsulate, encap_header, inner_mtu, outer_header, Encap, EncapHeader, PartialCsum, Tunnel, PROTO_GRE,
    PROTO_IPV6,
};
use ipvs_core_host::ipvs_core::uapi::tun_type;
use ipvs_core_host::ipvs_core::uapi::{AF_INET, AF_INET6};

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn inner(af: u16, tos: u8, ttl: u8, df: bool) -> IpHeader {
    let (saddr, daddr) = if af == AF_INET6 {
        (v6("2001:db8::2"), v6("2001:db8::100"))
    } else {
        (v4_to_16([10, 0, 0, 2]), v4_to_16([10, 0, 0, 100]))
    };
    IpHeader {
        af,
        saddr,
        daddr,
        protocol: 6,
        l4_off: if af == AF_INET6 { 40 } else { 20 },
        tos,
        ttl,
        dont_fragment: df,
        is_fragment: false,
        later_fragment: false,
    }
}

fn tunnel<'a>(outer_af: u16, ip: &'a IpHeader, len: u32, s: &'a [u8; 16], d: &'a [u8; 16], pmtu_disc: bool) -> Tunnel<'a> {
    Tunnel { outer_af, inner: ip, inner_len: len, saddr: s, daddr: d, pmtu_disc, encap: &IPIP }
}

/// No encapsulation: the inner packet right behind the outer header.
static IPIP: std::sync::LazyLock<EncapHeader> =
    std::sync::LazyLock::new(|| encap_header(&Encap::Ip, 4, 0, [0, 0], None).unwrap());

#[test]
fn ipip_header_as_before() {
    let ip = inner(AF_INET, 0x10, 64, true);
    let (s, d) = (v4_to_16([172, 16, 1, 1]), v4_to_16([172, 16, 1, 2]));
    let o = outer_header(&tunnel(AF_INET, &ip, 300, &s, &d, true));
    assert_eq!(o.af(), AF_INET);
    assert_eq!(o.inner_proto(), 4);
    assert_eq!(
        o.bytes(),
        &[0x45, 0x10, 0x01, 0x40, 0, 0, 0x40, 0, 63, 4, 0, 0, 172, 16, 1, 1, 172, 16, 1, 2]
    );
    // DF is copied only with pmtu_disc, and only from an IPv4 packet with DF.
    assert_eq!(outer_header(&tunnel(AF_INET, &ip, 300, &s, &d, false)).bytes()[6], 0);
    let no_df = inner(AF_INET, 0x10, 64, false);
    assert_eq!(outer_header(&tunnel(AF_INET, &no_df, 300, &s, &d, true)).bytes()[6], 0);
}

#[test]
fn ipv6_in_ipv4() {
    // An IPv6 packet is "dont_fragment" (never fragmented on the way), yet its outer IPv4
    // header never gets DF (upstream's prepare sets df = 0 for it).
    let ip = inner(AF_INET6, 0xb8, 2, true);
    let (s, d) = (v4_to_16([172, 16, 1, 1]), v4_to_16([172, 16, 1, 2]));
    let o = outer_header(&tunnel(AF_INET, &ip, 1000, &s, &d, true));
    assert_eq!(o.inner_proto(), PROTO_IPV6);
    assert_eq!(o.bytes(), &[0x45, 0xb8, 0x03, 0xfc, 0, 0, 0, 0, 1, 41, 0, 0, 172, 16, 1, 1, 172, 16, 1, 2]);
}

#[test]
fn ipv6_outer_headers() {
    let (s, d) = (v6("2001:db8:1::1"), v6("2001:db8:1::2"));
    for (af, proto, df) in [(AF_INET6, 41, true), (AF_INET, 4, true), (AF_INET, 4, false)] {
        let ip = inner(af, 0xb9, 64, df);
        let o = outer_header(&tunnel(AF_INET6, &ip, 1280, &s, &d, true));
        assert_eq!(o.af(), AF_INET6);
        assert_eq!(o.inner_proto(), proto);
        let b = o.bytes();
        assert_eq!(b.len(), 40);
        // Version 6, traffic class 0xb9 (ECN ECT(1) kept), flow label 0.
        assert_eq!(&b[..4], &[0x6b, 0x90, 0, 0]);
        assert_eq!(&b[4..8], &[0x05, 0x00, proto, 63]);
        assert_eq!(&b[8..24], &s);
        assert_eq!(&b[24..40], &d);
    }
}

#[test]
fn lengths_that_do_not_fit_are_zero() {
    let (s, d) = (v6("2001:db8:1::1"), v6("2001:db8:1::2"));
    let ip = inner(AF_INET6, 0, 64, true);
    assert_eq!(&outer_header(&tunnel(AF_INET6, &ip, 65535, &s, &d, true)).bytes()[4..6], &[0xff, 0xff]);
    assert_eq!(&outer_header(&tunnel(AF_INET6, &ip, 65536, &s, &d, true)).bytes()[4..6], &[0, 0]);
    assert_eq!(&outer_header(&tunnel(AF_INET, &ip, 65515, &s, &d, true)).bytes()[2..4], &[0xff, 0xff]);
    assert_eq!(&outer_header(&tunnel(AF_INET, &ip, 65516, &s, &d, true)).bytes()[2..4], &[0, 0]);
}

#[test]
fn ecn_congestion_experienced_becomes_ect0() {
    assert_eq!(ecn_encapsulate(0x00), 0x00);
    assert_eq!(ecn_encapsulate(0x01), 0x01);
    assert_eq!(ecn_encapsulate(0x02), 0x02);
    assert_eq!(ecn_encapsulate(0x03), 0x02);
    assert_eq!(ecn_encapsulate(0xbb), 0xba);
    assert_eq!(ecn_encapsulate(0xb8), 0xb8);
}

#[test]
fn tunnel_mtu_and_family_minimum() {
    assert_eq!(inner_mtu(AF_INET, 1500, 0), Some(1480));
    assert_eq!(inner_mtu(AF_INET, 88, 0), Some(68));
    assert_eq!(inner_mtu(AF_INET, 87, 0), None);
    assert_eq!(inner_mtu(AF_INET, 10, 0), None);
    assert_eq!(inner_mtu(AF_INET6, 1500, 0), Some(1460));
    assert_eq!(inner_mtu(AF_INET6, 1320, 0), Some(1280));
    assert_eq!(inner_mtu(AF_INET6, 1319, 0), None);
}

#[test]
fn which_packets_refuse_fragmentation() {
    let v4_df = inner(AF_INET, 0, 64, true);
    let v4 = inner(AF_INET, 0, 64, false);
    let v6p = inner(AF_INET6, 0, 64, true);
    assert!(v4_df.refuses_fragmentation(true));
    assert!(!v4_df.refuses_fragmentation(false), "tunnel without pmtu_disc");
    assert!(!v4.refuses_fragmentation(true));
    assert!(v6p.refuses_fragmentation(true));
    assert!(v6p.refuses_fragmentation(false), "IPv6 whatever pmtu_disc says");
}

#[test]
fn encapsulation_of_dest() {
    assert_eq!(Encap::of_dest(tun_type::IPIP, [0, 0], 3), Encap::Ip);
    assert_eq!(
        Encap::of_dest(tun_type::GUE, [0x17, 0xc0], 2),
        Encap::Gue { port: [0x17, 0xc0], csum: false, remcsum: true }
    );
    assert_eq!(Encap::of_dest(tun_type::GRE, [0, 0], 1), Encap::Gre { csum: true });
    // GRE has no remote checksum offload.
    assert_eq!(Encap::of_dest(tun_type::GRE, [0, 0], 2), Encap::Gre { csum: false });
    // Upstream's overheads (`__ip_vs_get_out_rt`): UDP and GUE 12, remote checksum 8 more for
    // a packet whose checksum is left to offload; GRE 4, 8 with its checksum.
    let gue = Encap::Gue { port: [0, 1], csum: false, remcsum: true };
    assert_eq!((gue.len(false), gue.len(true)), (12, 20));
    assert_eq!(Encap::Gre { csum: true }.len(false), 8);
    assert_eq!(Encap::Gre { csum: false }.len(true), 4);
    assert_eq!(inner_mtu(AF_INET, 1500, 12), Some(1468));
    assert_eq!(inner_mtu(AF_INET6, 1500, 8), Some(1452));
    assert_eq!(inner_mtu(AF_INET6, 1327, 8), None);
}

#[test]
fn gue_header() {
    let gue = Encap::Gue { port: [0x17, 0xc0], csum: true, remcsum: false };
    let h = encap_header(&gue, 4, 300, [0xc3, 0x51], None).unwrap();
    assert_eq!(h.outer_proto(), Some(17));
    // UDP (length 8 + 4 + 300), then GUE: version 0, no options, protocol IPIP, no flags.
    assert_eq!(h.bytes(), &[0xc3, 0x51, 0x17, 0xc0, 0x01, 0x38, 0, 0, 0, 4, 0, 0]);
    // Remote checksum offload only for a packet whose checksum is left to offload: the
    // private flags word and the start and position of the checksum in the inner packet.
    let rem = Encap::Gue { port: [0x17, 0xc0], csum: false, remcsum: true };
    let p = PartialCsum { start: 20, offset: 16 };
    let h = encap_header(&rem, PROTO_IPV6, 1000, [1, 2], Some(p)).unwrap();
    assert_eq!(
        h.bytes(),
        &[1, 2, 0x17, 0xc0, 0x03, 0xfc, 0, 0, 2, 41, 0, 1, 0x80, 0, 0, 0, 0, 20, 0, 36]
    );
    let h = encap_header(&rem, 4, 1000, [1, 2], None).unwrap();
    assert_eq!(h.bytes().len(), 12);
    assert!(encap_header(&rem, 4, 10, [1, 2], Some(PartialCsum { start: 0xfff0, offset: 0x20 })).is_none());
    // A GSO packet too long for the UDP length: zero (segmentation writes each segment's).
    let h = encap_header(&gue, 4, 70000, [1, 2], None).unwrap();
    assert_eq!(&h.bytes()[4..6], &[0, 0]);
}

#[test]
fn gre_header() {
    let h = encap_header(&Encap::Gre { csum: false }, 4, 300, [9, 9], None).unwrap();
    assert_eq!(h.outer_proto(), Some(PROTO_GRE));
    assert_eq!(h.bytes(), &[0, 0, 0x08, 0x00]);
    let h = encap_header(&Encap::Gre { csum: true }, PROTO_IPV6, 300, [9, 9], None).unwrap();
    assert_eq!(h.bytes(), &[0x80, 0, 0x86, 0xdd, 0, 0, 0, 0]);
}

#[test]
fn outer_header_counts_the_encapsulation() {
    let ip = inner(AF_INET, 0, 64, false);
    let (s, d) = (v4_to_16([172, 16, 1, 1]), v4_to_16([172, 16, 1, 2]));
    let gre = encap_header(&Encap::Gre { csum: true }, 4, 300, [0, 0], None).unwrap();
    let t = Tunnel { outer_af: AF_INET, inner: &ip, inner_len: 300, saddr: &s, daddr: &d, pmtu_disc: true, encap: &gre };
    let o = outer_header(&t);
    // Total length 20 + 8 + 300, protocol GRE; the inner protocol stays IPIP.
    assert_eq!(&o.bytes()[2..4], &[0x01, 0x48]);
    assert_eq!(o.bytes()[9], PROTO_GRE);
    assert_eq!(o.inner_proto(), 4);
    let ip6 = inner(AF_INET6, 0, 64, true);
    let (s6, d6) = (v6("2001:db8:1::1"), v6("2001:db8:1::2"));
    let gue = encap_header(&Encap::Gue { port: [0, 1], csum: false, remcsum: false }, 41, 300, [0, 0], None).unwrap();
    let t = Tunnel { outer_af: AF_INET6, inner: &ip6, inner_len: 300, saddr: &s6, daddr: &d6, pmtu_disc: true, encap: &gue };
    let o = outer_header(&t);
    // Payload length 12 + 300, next header UDP.
    assert_eq!(&o.bytes()[4..7], &[0x01, 0x38, 17]);
    assert_eq!(o.inner_proto(), PROTO_IPV6);
}
