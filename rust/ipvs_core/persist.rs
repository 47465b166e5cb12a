// SPDX-License-Identifier: GPL-2.0
//! Persistence: which template a new connection of a persistent service looks for
//! (`ip_vs_sched_persist()`), and which ports its template and connection get.

use super::uapi::AF_INET6;

/// Upstream's virtual FTP port, whose templates ignore the port (FTP data ports vary).
pub const FTP_PORT: [u8; 2] = 21u16.to_be_bytes();

/// `IPPROTO_IP`: the protocol of a firewall-mark template.
pub const TEMPLATE_PROTO_FWMARK: u8 = 0;

/// What identifies a template: <protocol, client net, port 0, vaddr, vport>.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateKey {
    pub protocol: u8,
    /// The client address masked with the service's netmask.
    pub client_net: [u8; 16],
    /// The packet's destination, or the firewall mark in network order (in the first 4
    /// bytes, as upstream keeps it in the address).
    pub vaddr: [u8; 16],
    pub vport: [u8; 2],
}

/// The parts of a persistent service the choice depends on.
#[derive(Clone, Copy, Debug)]
pub struct PersistSvc {
    /// Network order; 0 for a port-zero or firewall-mark service.
    pub port: [u8; 2],
    pub fwmark: u32,
    /// `AF_INET` or `AF_INET6`.
    pub af: u16,
    /// The NETMASK attribute as the service keeps it: an IPv4 netmask in network order, or an
    /// IPv6 prefix length in host order.
    pub netmask: [u8; 4],
}

/// `ip_vs_svc_netmask` applied: the client's address masked with an IPv4 netmask, or cut to
/// an IPv6 prefix (`ipv6_addr_prefix`).
pub fn client_net(svc: &PersistSvc, saddr: &[u8; 16]) -> [u8; 16] {
    let mut net = *saddr;
    if svc.af == AF_INET6 {
        let plen = u32::from_ne_bytes(svc.netmask).min(128) as usize;
        for (i, b) in net.iter_mut().enumerate() {
            let keep = plen.saturating_sub(i * 8).min(8);
            *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
        }
    } else {
        for (b, m) in net.iter_mut().zip(svc.netmask) {
            *b &= m;
        }
    }
    net
}

/// The template a packet `protocol` `saddr` -> `daddr:dport` looks for:
/// - on the service's own port: <protocol, net, 0, vaddr, vport> (vport 0 for FTP);
/// - on another port of a firewall-mark service: <IP, net, 0, mark, 0>;
/// - on another port of a port-zero service: <protocol, net, 0, vaddr, 0>.
pub fn template_key(svc: &PersistSvc, protocol: u8, saddr: &[u8; 16], daddr: &[u8; 16], dport: [u8; 2]) -> TemplateKey {
    let client_net = client_net(svc, saddr);
    let daddr = *daddr;
    if dport == svc.port {
        let vport = if svc.port != FTP_PORT { dport } else { [0, 0] };
        TemplateKey { protocol, client_net, vaddr: daddr, vport }
    } else if svc.fwmark != 0 {
        let mut vaddr = [0u8; 16];
        for (d, s) in vaddr.iter_mut().zip(svc.fwmark.to_be_bytes()) {
            *d = s;
        }
        TemplateKey { protocol: TEMPLATE_PROTO_FWMARK, client_net, vaddr, vport: [0, 0] }
    } else {
        TemplateKey { protocol, client_net, vaddr: daddr, vport: [0, 0] }
    }
}

/// The destination port a new template records: the dest's port for a template of the
/// service's own (non-FTP) port, else 0.
pub fn template_dport(svc: &PersistSvc, dport: [u8; 2], dest_port: [u8; 2]) -> [u8; 2] {
    if dport == svc.port && svc.port != FTP_PORT {
        dest_port
    } else {
        [0, 0]
    }
}

/// The destination port of a connection scheduled through a template: the dest's port when
/// the packet is for the service's own port and the dest has one, else the packet's port.
pub fn conn_dport(svc: &PersistSvc, dport: [u8; 2], dest_port: [u8; 2]) -> [u8; 2] {
    if dport == svc.port && dest_port != [0, 0] {
        dest_port
    } else {
        dport
    }
}
