//! The connection table's bucket hash (`ipvs_core::packet::conn_hash`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
use ipvs_core_host::ipvs_core::packet::{conn_hash, PROTO_TCP, PROTO_UDP};

fn v4(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0u8; 16];
    x[..4].copy_from_slice(&a);
    x
}

/// The most entries any of `1 << bits` buckets gets.
fn longest_chain(hashes: impl Iterator<Item = u32>, bits: u32) -> usize {
    let mut load = vec![0usize; 1 << bits];
    for h in hashes {
        load[(h & ((1 << bits) - 1)) as usize] += 1;
    }
    load.into_iter().max().unwrap_or(0)
}

#[test]
fn one_client_port_to_many_services_spreads() {
    // A client that keeps its source port (NTP, a DNS forwarder, a NAT gateway's one
    // mapping) talking to 4096 ports of a firewall-mark or port-zero service: with the client's
    // end alone all would share one bucket.
    let (client, vip) = (v4([192, 0, 2, 7]), v4([10, 10, 10, 10]));
    let hashes = (0..4096u16).map(|p| conn_hash(PROTO_UDP, (&client, [0, 123]), (&vip, p.to_be_bytes()), 0x1234_5678));
    assert!(longest_chain(hashes, 12) <= 12);
    // The same for 4096 VIPs on one port.
    let hashes = (0..4096u32).map(|i| {
        let vip = v4([10, 20, (i >> 8) as u8, i as u8]);
        conn_hash(PROTO_UDP, (&client, [0, 123]), (&vip, [0, 53]), 0x1234_5678)
    });
    assert!(longest_chain(hashes, 12) <= 12);
}

#[test]
fn ipv6_clients_of_one_prefix_spread() {
    let vip: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    let hashes = (0..4096u32).map(|i| {
        let mut c = vip;
        c[8..12].copy_from_slice(&i.to_be_bytes());
        conn_hash(PROTO_TCP, (&c, [0x30, 0x39]), (&vip, [0, 80]), 7)
    });
    assert!(longest_chain(hashes, 12) <= 12);
}

#[test]
fn every_field_and_the_seed_count() {
    let (c, v, d) = (v4([192, 0, 2, 1]), v4([10, 0, 0, 1]), v4([172, 16, 0, 2]));
    let h = |proto, cport: u16, far: &[u8; 16], fport: u16, seed| {
        conn_hash(proto, (&c, cport.to_be_bytes()), (far, fport.to_be_bytes()), seed)
    };
    let base = h(PROTO_TCP, 40000, &v, 80, 1);
    assert_eq!(base, h(PROTO_TCP, 40000, &v, 80, 1));
    assert_ne!(base, h(PROTO_UDP, 40000, &v, 80, 1));
    assert_ne!(base, h(PROTO_TCP, 40001, &v, 80, 1));
    assert_ne!(base, h(PROTO_TCP, 40000, &d, 80, 1));
    assert_ne!(base, h(PROTO_TCP, 40000, &v, 8080, 1));
    assert_ne!(base, h(PROTO_TCP, 40000, &v, 80, 2));
    // The two ends are not interchangeable: a reply's key names the client first too.
    assert_ne!(
        conn_hash(PROTO_TCP, (&c, [1, 2]), (&v, [3, 4]), 9),
        conn_hash(PROTO_TCP, (&v, [3, 4]), (&c, [1, 2]), 9)
    );
}
