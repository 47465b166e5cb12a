#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The outer header of a tunnelled request, for the four family combinations, and the MTU a
//! tunnel leaves (upstream's `ip_vs_tunnel_xmit`, `ip_vs_tunnel_xmit_v6`,
//! `ip_vs_prepare_tunneled_skb`, `__ip_vs_get_out_rt(_v6)`).
use ipvs_core_host::ipvs_core::ip::{v4_to_16, IpHeader};
use ipvs_core_host::ipvs_core::tunnel::{ecn_encapsulate, inner_mtu, outer_header, Tunnel, PROTO_IPV6};
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
    Tunnel { outer_af, inner: ip, inner_len: len, saddr: s, daddr: d, pmtu_disc }
}

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
    assert_eq!(inner_mtu(AF_INET, 1500), Some(1480));
    assert_eq!(inner_mtu(AF_INET, 88), Some(68));
    assert_eq!(inner_mtu(AF_INET, 87), None);
    assert_eq!(inner_mtu(AF_INET, 10), None);
    assert_eq!(inner_mtu(AF_INET6, 1500), Some(1460));
    assert_eq!(inner_mtu(AF_INET6, 1320), Some(1280));
    assert_eq!(inner_mtu(AF_INET6, 1319), None);
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
