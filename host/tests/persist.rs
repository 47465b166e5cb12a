#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Persistence template keys and ports, as upstream's `ip_vs_sched_persist()` builds them.
use ipvs_core_host::ipvs_core::persist::{client_net, conn_dport, template_dport, template_key, PersistSvc, TemplateKey, TEMPLATE_PROTO_FWMARK};
use ipvs_core_host::ipvs_core::uapi::{AF_INET, AF_INET6};

const VIP: [u8; 16] = a([10, 0, 0, 100]);
const CLIENT: [u8; 16] = a([192, 168, 7, 33]);

/// An IPv4 address in the 16-byte form.
const fn a(v: [u8; 4]) -> [u8; 16] {
    [v[0], v[1], v[2], v[3], 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
}
const TCP: u8 = 6;

fn port(p: u16) -> [u8; 2] {
    p.to_be_bytes()
}

fn svc(p: u16, fwmark: u32, mask: [u8; 4]) -> PersistSvc {
    PersistSvc { port: port(p), fwmark, af: AF_INET, netmask: mask }
}

#[test]
fn own_port_template_keeps_vport_and_masks_the_client() {
    let s = svc(80, 0, [255, 255, 255, 0]);
    let k = template_key(&s, TCP, &CLIENT, &VIP, port(80));
    assert_eq!(k, TemplateKey { protocol: TCP, client_net: a([192, 168, 7, 0]), vaddr: VIP, vport: port(80) });
    // Same /24: same template.
    assert_eq!(template_key(&s, TCP, &a([192, 168, 7, 200]), &VIP, port(80)), k);
    // Another /24: another template.
    assert_ne!(template_key(&s, TCP, &a([192, 168, 8, 33]), &VIP, port(80)).client_net, k.client_net);
    assert_eq!(template_dport(&s, port(80), port(8080)), port(8080));
    assert_eq!(conn_dport(&s, port(80), port(8080)), port(8080));
    assert_eq!(conn_dport(&s, port(80), port(0)), port(80));
}

#[test]
fn ftp_templates_ignore_the_port() {
    let s = svc(21, 0, [255; 4]);
    let k = template_key(&s, TCP, &CLIENT, &VIP, port(21));
    assert_eq!(k.vport, port(0));
    assert_eq!(k.client_net, CLIENT);
    assert_eq!(template_dport(&s, port(21), port(21)), port(0));
}

#[test]
fn port_zero_service_shares_one_template_across_ports() {
    let s = svc(0, 0, [255; 4]);
    let a = template_key(&s, TCP, &CLIENT, &VIP, port(80));
    let b = template_key(&s, TCP, &CLIENT, &VIP, port(443));
    assert_eq!(a, b);
    assert_eq!(a.vport, port(0));
    assert_eq!(a.protocol, TCP);
    assert_eq!(template_dport(&s, port(443), port(0)), port(0));
    // A connection keeps the port the client asked for.
    assert_eq!(conn_dport(&s, port(443), port(0)), port(443));
}

#[test]
fn fwmark_template_is_protocol_ip_keyed_by_the_mark() {
    let s = svc(0, 0x0102_0304, [255, 255, 0, 0]);
    let tcp = template_key(&s, TCP, &CLIENT, &VIP, port(80));
    let udp = template_key(&s, 17, &CLIENT, &a([10, 0, 0, 101]), port(53));
    assert_eq!(tcp, TemplateKey { protocol: 0, client_net: a([192, 168, 0, 0]), vaddr: a([1, 2, 3, 4]), vport: port(0) });
    assert_eq!(tcp, udp, "one template for every protocol, address and port of the mark");
    assert_eq!(conn_dport(&s, port(80), port(0)), port(80));
    assert_eq!(conn_dport(&s, port(80), port(8080)), port(80), "fwmark connections keep the packet's port");
}


fn svc_af(af: u16, netmask: [u8; 4]) -> PersistSvc {
    PersistSvc { port: [0, 80], fwmark: 0, af, netmask }
}

#[test]
fn ipv4_netmask() {
    let mut a = [0u8; 16];
    a[..4].copy_from_slice(&[10, 1, 2, 3]);
    let net = client_net(&svc_af(AF_INET, [255, 255, 255, 0]), &a);
    assert_eq!(net[..4], [10, 1, 2, 0]);
    assert!(net[4..].iter().all(|&b| b == 0));
}

#[test]
fn ipv6_prefix() {
    let a = [0xffu8; 16];
    for (plen, expect_ones) in [(128u32, 128usize), (64, 64), (1, 1), (60, 60), (127, 127)] {
        let net = client_net(&svc_af(AF_INET6, plen.to_ne_bytes()), &a);
        let ones: usize = net.iter().map(|b| b.count_ones() as usize).sum();
        assert_eq!(ones, expect_ones, "prefix {plen}");
        // The ones are the leading bits.
        assert_eq!(u128::from_be_bytes(net).leading_ones() as usize, expect_ones);
    }
}

#[test]
fn fwmark_template_keeps_the_mark_in_the_address() {
    let s = PersistSvc { port: [0, 0], fwmark: 0x0102_0304, af: AF_INET6, netmask: 128u32.to_ne_bytes() };
    let k = template_key(&s, 6, &[1; 16], &[2; 16], [0, 80]);
    assert_eq!(k.protocol, TEMPLATE_PROTO_FWMARK);
    assert_eq!(k.vaddr[..4], [1, 2, 3, 4]);
    assert_eq!(k.client_net, [1; 16]);
}
