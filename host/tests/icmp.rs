#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
//! Which ICMP messages the datapath relays, and where the quoted packet's ports are.

use ipvs_core_host::ipvs_core::icmp::{self, Quoted};
use ipvs_core_host::ipvs_core::packet::{PROTO_ICMP, PROTO_TCP, PROTO_UDP};

/// A quoted IPv4 header with `ihl` words, protocol `proto` and fragment field `frag`.
fn quoted_header(ihl: u8, proto: u8, frag: u16) -> [u8; 20] {
    let [f0, f1] = frag.to_be_bytes();
    [0x40 | ihl, 0, 5, 220, 0, 0, f0, f1, 63, proto, 0, 0, 10, 0, 0, 100, 10, 0, 0, 2]
}

#[test]
fn only_errors_about_packets_are_relayed() {
    for t in 0..=255u8 {
        assert_eq!(icmp::is_error(t), matches!(t, 3 | 4 | 11), "type {t}");
    }
}

#[test]
fn icmpv6_errors_are_the_types_below_128() {
    for t in 0..=255u8 {
        assert_eq!(icmp::is_error_v6(t), t < 128, "type {t}");
    }
}

#[test]
fn icmpv6_quotes_walk_extension_headers() {
    // Outer IPv6 header of 40 bytes: ICMPv6 at 40, the quoted header at 48; it carries a
    // destination-options header of 8 bytes, then UDP.
    let mut fixed = [0u8; 40];
    fixed[0] = 0x60;
    fixed[6] = 60;
    let ext = [17u8, 0, 0, 0];
    let q = Quoted::parse_v6(40, &fixed, 60, |off| (off == 40).then_some(ext)).expect("an IPv6 header");
    assert_eq!((q.off, q.ip.protocol, q.ip.l4_off), (48, PROTO_UDP, 48));
    assert_eq!(q.ports_off(), Some(96));
    assert_eq!(q.rewrite_len(), Some(100));
    // Not IPv6 inside: no quote.
    fixed[0] = 0x45;
    assert_eq!(Quoted::parse_v6(40, &fixed, 60, |_| None), None);
}

#[test]
fn ports_follow_the_quoted_header() {
    // Outer header of 20 bytes: the ICMP header at 20, the quoted header at 28.
    let q = Quoted::parse(20, &quoted_header(5, PROTO_UDP, 0x4000)).expect("an IPv4 header");
    assert_eq!(q.off, 28);
    assert_eq!(q.ports_off(), Some(48));
    assert_eq!(q.rewrite_len(), Some(52));
    // Quoted options move the ports; an outer header with options moves everything.
    let q = Quoted::parse(24, &quoted_header(7, PROTO_TCP, 0)).expect("an IPv4 header");
    assert_eq!((q.off, q.ports_off()), (32, Some(60)));
}

#[test]
fn no_ports_without_an_l4_header_we_know() {
    // A later fragment carries no L4 header; a first one with more to come does.
    let later = Quoted::parse(20, &quoted_header(5, PROTO_UDP, 0x2000 | 185)).expect("an IPv4 header");
    assert_eq!(later.ports_off(), None);
    let first = Quoted::parse(20, &quoted_header(5, PROTO_UDP, 0x2000)).expect("an IPv4 header");
    assert_eq!(first.ports_off(), Some(48));
    let other = Quoted::parse(20, &quoted_header(5, PROTO_ICMP, 0)).expect("an IPv4 header");
    assert_eq!(other.rewrite_len(), None);
}

#[test]
fn quoted_garbage_is_not_a_packet() {
    let mut h = quoted_header(5, PROTO_UDP, 0);
    h[0] = 0x65; // version 6
    assert_eq!(Quoted::parse(20, &h), None);
    assert_eq!(Quoted::parse(20, &quoted_header(4, PROTO_UDP, 0)), None); // IHL below 5
}

#[test]
fn protocols_with_an_upstream_handler() {
    use ipvs_core_host::ipvs_core::packet::ipvs_protocol;
    // TCP, UDP, SCTP, ESP, AH have one; ICMP has its own path; tunnels and the rest have none.
    for p in [6u8, 17, 132, 50, 51] {
        assert!(ipvs_protocol(p), "protocol {p}");
    }
    for p in [1u8, 4, 41, 47, 0, 255] {
        assert!(!ipvs_protocol(p), "protocol {p}");
    }
}

#[test]
fn tunnel_packets_the_director_sends() {
    use ipvs_core_host::ipvs_core::icmp::{client_mtu, Wrap, WrapKind};
    let q = |proto| Quoted::parse(20, &quoted_header(5, proto, 0)).unwrap();
    let gue = [0x30, 0x39, 0x17, 0xc0, 0x05, 0xdc, 0, 0, 0x00, 4, 0, 0];
    assert_eq!(q(4).wrap(&[0; 12]), Some(Wrap { kind: WrapKind::Ipip, len: 0 }));
    assert_eq!(q(17).wrap(&gue), Some(Wrap { kind: WrapKind::Gue { port: [0x17, 0xc0] }, len: 12 }));
    // GUE options (the remote checksum's, two words) come after its header.
    let mut opts = gue;
    opts[8] = 2;
    assert_eq!(q(17).wrap(&opts).map(|w| w.len), Some(20));
    // A control message, another version, or not IPv4 inside: an ordinary UDP datagram.
    for (i, b) in [(8, 0x20), (8, 0x40), (9, 41)] {
        let mut other = gue;
        other[i] = b;
        assert_eq!(q(17).wrap(&other), None);
    }
    assert_eq!(q(47).wrap(&[0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]), Some(Wrap { kind: WrapKind::Gre, len: 4 }));
    assert_eq!(q(47).wrap(&[0x80, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0]).map(|w| w.len), Some(8));
    // A key or sequence number, another version, IPv6 inside: not one of ours.
    for h in [[0x20, 0, 8, 0], [0x10, 0, 8, 0], [0, 1, 8, 0], [0, 0, 0x86, 0xdd]] {
        let mut b = [0; 12];
        b[..4].copy_from_slice(&h);
        assert_eq!(q(47).wrap(&b), None);
    }
    assert_eq!(q(6).wrap(&gue), None);
    // A later fragment has no tunnel header.
    assert_eq!(Quoted::parse(20, &quoted_header(5, 4, 0x10)).unwrap().wrap(&gue), None);
    // The inner packet behind the wrap.
    let w = q(17).wrap(&gue).unwrap();
    let inner = q(17).inner(&w, &quoted_header(5, 17, 0)).unwrap();
    assert_eq!(inner.off, 28 + 20 + 12);
    // The client hears the path MTU less the whole overhead, above IPv4's minimum.
    assert_eq!(client_mtu(1400, 20), 1380);
    assert_eq!(client_mtu(1400, 32), 1368);
    assert_eq!(client_mtu(100, 32), 100);
    assert_eq!(client_mtu(101, 32), 69);
}
