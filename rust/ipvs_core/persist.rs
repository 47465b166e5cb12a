// SPDX-License-Identifier: GPL-2.0
//! Persistence: which template a new connection of a persistent service looks for
//! (`ip_vs_sched_persist()`), and which ports its template and connection get.

/// Upstream's virtual FTP port, whose templates ignore the port (FTP data ports vary).
pub const FTP_PORT: [u8; 2] = 21u16.to_be_bytes();

/// `IPPROTO_IP`: the protocol of a firewall-mark template.
pub const TEMPLATE_PROTO_FWMARK: u8 = 0;

/// What identifies a template: <protocol, client net, port 0, vaddr, vport>.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateKey {
    pub protocol: u8,
    /// The client address masked with the service's netmask.
    pub client_net: [u8; 4],
    /// The packet's destination, or the firewall mark in network order.
    pub vaddr: [u8; 4],
    pub vport: [u8; 2],
}

/// The parts of a persistent service the choice depends on.
#[derive(Clone, Copy, Debug)]
pub struct PersistSvc {
    /// Network order; 0 for a port-zero or firewall-mark service.
    pub port: [u8; 2],
    pub fwmark: u32,
    /// IPv4 netmask, network order.
    pub netmask: [u8; 4],
}

/// The template a packet `protocol` `saddr` -> `daddr:dport` looks for:
/// - on the service's own port: <protocol, net, 0, vaddr, vport> (vport 0 for FTP);
/// - on another port of a firewall-mark service: <IP, net, 0, mark, 0>;
/// - on another port of a port-zero service: <protocol, net, 0, vaddr, 0>.
pub fn template_key(svc: &PersistSvc, protocol: u8, saddr: [u8; 4], daddr: [u8; 4], dport: [u8; 2]) -> TemplateKey {
    let mut client_net = saddr;
    for (b, m) in client_net.iter_mut().zip(svc.netmask) {
        *b &= m;
    }
    if dport == svc.port {
        let vport = if svc.port != FTP_PORT { dport } else { [0, 0] };
        TemplateKey { protocol, client_net, vaddr: daddr, vport }
    } else if svc.fwmark != 0 {
        TemplateKey { protocol: TEMPLATE_PROTO_FWMARK, client_net, vaddr: svc.fwmark.to_be_bytes(), vport: [0, 0] }
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
