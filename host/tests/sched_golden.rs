#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Golden vectors captured from the stock module (sh, mh, dh): each scenario builds a UDP
//! service 10.0.0.100:80 (dh-fwmark.txt: fwmark 1, packets to many addresses) through the
//! pure control plane, adds the dests in the order `ipvsadm -a` added them (so the list is
//! their reverse), and checks that every flow line ("client dest" or "client daddr dest")
//! gets the dest stock chose ("-" for none).
mod common;
use common::{ctx, VecStore};
use ipvs_core_host::ipvs_core::store::{add_dest, add_service};
use ipvs_core_host::ipvs_core::decode::DestSpec;
use ipvs_core_host::ipvs_core::dest::DestSettings;
use ipvs_core_host::ipvs_core::service::{ServiceKey, ServiceUser};
use ipvs_core_host::ipvs_core::uapi::{fwd, AF_INET, IPPROTO_UDP};
use ipvs_core_host::sched::{Flow, SchedCtx, SVC_F_SCHED1, SVC_F_SCHED2};
use std::net::SocketAddrV4;

const VIP: [u8; 4] = [10, 0, 0, 100];

fn addr16(a: [u8; 4]) -> [u8; 16] {
    let mut x = [0; 16];
    x[..4].copy_from_slice(&a);
    x
}

fn sock(s: &str) -> SocketAddrV4 {
    s.parse().unwrap_or_else(|e| panic!("bad address {s:?}: {e}"))
}

/// `ipvsadm -b` flag names.
fn flag_bits(flags: &str) -> u32 {
    if flags == "-" {
        return 0;
    }
    flags
        .split(',')
        .map(|f| match f {
            "sh-fallback" | "mh-fallback" | "flag-1" => SVC_F_SCHED1,
            "sh-port" | "mh-port" | "flag-2" => SVC_F_SCHED2,
            other => panic!("unknown flag {other:?}"),
        })
        .fold(0, |a, b| a | b)
}

struct Scenario {
    header: String,
    store: VecStore,
    /// Client, destination address, the dest stock chose.
    flows: Vec<(SocketAddrV4, [u8; 4], Option<SocketAddrV4>)>,
}

fn build(header: &str, fwmark: bool) -> Scenario {
    let mut sched = None;
    let mut flags = None;
    let mut dests = None;
    for field in header.split_whitespace() {
        let (k, v) = field.split_once('=').unwrap_or_else(|| panic!("bad header {header:?}"));
        match k {
            "sched" => sched = Some(v),
            "flags" => flags = Some(flag_bits(v)),
            "dests" => dests = Some(v),
            other => panic!("unknown header field {other:?}"),
        }
    }
    let (sched, flags, dests) = (sched.unwrap(), flags.unwrap(), dests.unwrap());
    let mut store = VecStore::new();
    let key = if fwmark {
        ServiceKey::Fwmark { af: AF_INET, mark: 1 }
    } else {
        ServiceKey::Addr { af: AF_INET, protocol: IPPROTO_UDP, addr: addr16(VIP), port: 80u16.to_be_bytes() }
    };
    let u = ServiceUser {
        key,
        sched_name: sched.as_bytes(),
        pe_name: None,
        flags,
        timeout: 0,
        netmask: [0xff; 4],
    };
    let svc = add_service(&mut store, &u, 1000, 0).unwrap();
    for d in dests.split(',') {
        let (addr, weight) = d.rsplit_once(':').unwrap();
        let a = sock(addr);
        let settings = DestSettings {
            fwd_method: fwd::MASQ,
            weight: weight.parse().unwrap(),
            u_threshold: 0,
            l_threshold: 0,
            tun_type: 0,
            tun_port: [0; 2],
            tun_flags: 0,
        };
        let u = DestSpec { af: AF_INET, addr: addr16(a.ip().octets()), port: a.port().to_be_bytes(), settings: Some(settings) };
        add_dest(&mut store, svc, &u).unwrap();
    }
    Scenario { header: header.to_string(), store, flows: vec![] }
}

fn parse(text: &str, fwmark: bool) -> Vec<Scenario> {
    let mut out: Vec<Scenario> = vec![];
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with("sched=") {
            out.push(build(line, fwmark));
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (client, daddr, dest) = match fields[..] {
            [c, d] => (sock(c), VIP, d),
            [c, a, d] => (sock(c), sock(a).ip().octets(), d),
            _ => panic!("bad flow line {line:?}"),
        };
        let dest = if dest == "-" { None } else { Some(sock(dest)) };
        out.last_mut().expect("a flow line before any scenario header").flows.push((client, daddr, dest));
    }
    out
}

fn check(name: &str, text: &str, fwmark: bool) {
    let scenarios = parse(text, fwmark);
    let flows: usize = scenarios.iter().map(|s| s.flows.len()).sum();
    assert!(flows > 0, "golden file {name} has no flow lines");
    for sc in scenarios {
        assert!(!sc.flows.is_empty(), "{name}: scenario without flows: {}", sc.header);
        let mut store = sc.store;
        let views = store.views(0);
        let svc = &mut store.services[0];
        let c = SchedCtx { svc_flags: svc.conf.flags, ..ctx() };
        for (client, daddr, want) in &sc.flows {
            let flow = Flow {
                af: AF_INET,
                protocol: IPPROTO_UDP,
                saddr: addr16(client.ip().octets()),
                sport: client.port().to_be_bytes(),
                daddr: addr16(*daddr),
                dport: 80u16.to_be_bytes(),
            };
            let got = svc.sched.schedule(&views[..], &flow, &c).map(|i| {
                let d = &views[i];
                SocketAddrV4::new([d.addr[0], d.addr[1], d.addr[2], d.addr[3]].into(), u16::from_be_bytes(d.port))
            });
            assert_eq!(got, *want, "{name}: {} flow {client}", sc.header);
        }
    }
}

#[test]
fn golden_sh() {
    check("sh.txt", include_str!("golden/sh.txt"), false);
}

#[test]
fn golden_mh() {
    check("mh.txt", include_str!("golden/mh.txt"), false);
}

#[test]
fn golden_dh() {
    check("dh.txt", include_str!("golden/dh.txt"), false);
}

#[test]
fn golden_dh_fwmark() {
    check("dh-fwmark.txt", include_str!("golden/dh-fwmark.txt"), true);
}
