#![allow(clippy::expect_used, clippy::indexing_slicing)]
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
