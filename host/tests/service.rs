#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The service/dest control plane through its genl entry points: upstream's semantics and
//! errno order, listing order, and reply bytes built by hand from upstream's fill functions.
mod common;
use common::{addr16, attr, cat, ctx, SchedState, VecStore, ENV};
use ipvs_core_host::ipvs_core::dest::{effective_l_threshold, overloaded, DestConf, DestInfo, DestSettings};
use ipvs_core_host::ipvs_core::store::{self, trash_hash, trash_matches};
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::control::ControlPlane;
use ipvs_core_host::ipvs_core::daemon::DaemonRequest;
use ipvs_core_host::ipvs_core::env::Env;
use ipvs_core_host::ipvs_core::policy::{CmdAttrs, CMD_POLICY};
use ipvs_core_host::ipvs_core::nlattr::{Full, Table, Writer};
use ipvs_core_host::ipvs_core::estimator::StatsView;
use ipvs_core_host::ipvs_core::service::{PeKind, ServiceKey};
use ipvs_core_host::ipvs_core::uapi::{
    cmd, cmd_attr, daemon_attr, dest_attr, stats_attr, svc_attr, svc_flags, AF_INET, AF_INET6,
};
use ipvs_core_host::sched::{Flow, SchedKind};

type Cp = ControlPlane<VecStore>;

fn cp() -> Cp {
    ControlPlane::new(VecStore::new(), 0)
}

#[derive(Clone)]
struct Svc {
    af: u16,
    proto: u16,
    addr: Vec<u8>,
    port: u16,
    fwmark: Option<u32>,
    sched: &'static str,
    pe: Option<&'static str>,
    flags: u32,
    mask: u32,
    timeout: u32,
    netmask: [u8; 4],
}

fn tcp(addr: [u8; 4], port: u16) -> Svc {
    Svc {
        af: AF_INET,
        proto: 6,
        addr: addr16(&addr).to_vec(),
        port,
        fwmark: None,
        sched: "rr",
        pe: None,
        flags: 0,
        mask: !0,
        timeout: 0,
        netmask: [255; 4],
    }
}

fn fwm(af: u16, mark: u32) -> Svc {
    Svc { af, fwmark: Some(mark), ..tcp([0; 4], 0) }
}

fn v6(addr: [u8; 16], port: u16) -> Svc {
    Svc { af: AF_INET6, addr: addr.to_vec(), netmask: 128u32.to_ne_bytes(), ..tcp([0; 4], port) }
}

impl Svc {
    fn nest(&self, full: bool) -> Vec<u8> {
        let mut p = vec![attr(svc_attr::AF, &self.af.to_ne_bytes())];
        match self.fwmark {
            Some(m) => p.push(attr(svc_attr::FWMARK, &m.to_ne_bytes())),
            None => {
                p.push(attr(svc_attr::PROTOCOL, &self.proto.to_ne_bytes()));
                p.push(attr(svc_attr::ADDR, &self.addr));
                p.push(attr(svc_attr::PORT, &self.port.to_be_bytes()));
            }
        }
        if full {
            p.push(attr(svc_attr::SCHED_NAME, &[self.sched.as_bytes(), b"\0"].concat()));
            if let Some(pe) = self.pe {
                p.push(attr(svc_attr::PE_NAME, &[pe.as_bytes(), b"\0"].concat()));
            }
            p.push(attr(svc_attr::FLAGS, &[self.flags.to_ne_bytes(), self.mask.to_ne_bytes()].concat()));
            p.push(attr(svc_attr::TIMEOUT, &self.timeout.to_ne_bytes()));
            p.push(attr(svc_attr::NETMASK, &self.netmask));
        }
        attr(cmd_attr::SERVICE, &cat(&p))
    }
}

#[derive(Clone)]
struct Dst {
    af: Option<u16>,
    addr: Vec<u8>,
    port: u16,
    fwd: u32,
    weight: i32,
    u: u32,
    l: u32,
    tun: Option<(u8, u16, u16)>,
}

fn dst(addr: [u8; 4], port: u16, weight: i32) -> Dst {
    Dst { af: Some(AF_INET), addr: addr16(&addr).to_vec(), port, fwd: 0, weight, u: 0, l: 0, tun: Some((0, 0, 0)) }
}

impl Dst {
    fn nest(&self, full: bool) -> Vec<u8> {
        let mut p = vec![attr(dest_attr::ADDR, &self.addr), attr(dest_attr::PORT, &self.port.to_be_bytes())];
        if let Some(af) = self.af {
            p.push(attr(dest_attr::ADDR_FAMILY, &af.to_ne_bytes()));
        }
        if full {
            p.push(attr(dest_attr::FWD_METHOD, &self.fwd.to_ne_bytes()));
            p.push(attr(dest_attr::WEIGHT, &self.weight.to_ne_bytes()));
            p.push(attr(dest_attr::U_THRESH, &self.u.to_ne_bytes()));
            p.push(attr(dest_attr::L_THRESH, &self.l.to_ne_bytes()));
            if let Some((ty, port, flags)) = self.tun {
                p.push(attr(dest_attr::TUN_TYPE, &[ty]));
                p.push(attr(dest_attr::TUN_PORT, &port.to_be_bytes()));
                p.push(attr(dest_attr::TUN_FLAGS, &flags.to_ne_bytes()));
            }
        }
        attr(cmd_attr::DEST, &cat(&p))
    }
}

fn set(cp: &mut Cp, command: u8, msg: &[u8]) -> Result<(), Errno> {
    set_env(cp, command, msg, &ENV)
}

fn set_env(cp: &mut Cp, command: u8, msg: &[u8], env: &Env) -> Result<(), Errno> {
    let attrs: CmdAttrs<'_> = Table::parse(msg, &CMD_POLICY).unwrap();
    cp.set_cmd(command, &attrs, env)
}

fn add_svc(cp: &mut Cp, s: &Svc) -> Result<(), Errno> {
    set(cp, cmd::NEW_SERVICE, &s.nest(true))
}

fn dest_cmd(cp: &mut Cp, command: u8, s: &Svc, d: &Dst) -> Result<(), Errno> {
    let full = command != cmd::DEL_DEST;
    set(cp, command, &cat(&[s.nest(false), d.nest(full)]))
}

fn services(cp: &Cp) -> Vec<ServiceKey> {
    cp.store.services.iter().map(|s| s.conf.key).collect()
}

fn dest_ports(cp: &Cp, svc: usize) -> Vec<u16> {
    cp.store.services[svc].dests.iter().map(|d| u16::from_be_bytes(d.info.conf.port)).collect()
}

// ---------------------------------------------------------------------------------------------
// NEW_SERVICE

#[test]
fn new_service_stores_upstreams_view() {
    let mut cp = cp();
    let s = Svc { flags: svc_flags::PERSISTENT | svc_flags::HASHED, timeout: 300, netmask: [255, 255, 255, 0], ..tcp([10, 0, 0, 1], 80) };
    add_svc(&mut cp, &s).unwrap();
    let c = cp.store.services[0].conf;
    assert_eq!(c.key, ServiceKey::Addr { af: AF_INET, protocol: 6, addr: addr16(&[10, 0, 0, 1]), port: [0, 80] });
    assert_eq!(c.sched, Some(SchedKind::Rr));
    assert_eq!(c.pe, None);
    assert_eq!(c.flags, svc_flags::PERSISTENT | svc_flags::HASHED);
    assert_eq!(c.timeout, 300 * 1000, "kept in jiffies");
    assert_eq!(c.netmask, [255, 255, 255, 0]);
    assert_eq!(cp.store.services[0].sched.kind(), Some(SchedKind::Rr));
    assert_eq!(add_svc(&mut cp, &s), Err(Errno::EEXIST));
    // HASHED is set even if the client did not send it.
    add_svc(&mut cp, &Svc { flags: 0, ..tcp([10, 0, 0, 2], 80) }).unwrap();
    assert!(cp.store.services.iter().all(|s| s.conf.flags & svc_flags::HASHED != 0));
}

#[test]
fn new_service_flags_under_mask_only() {
    let mut cp = cp();
    // flags 0x1f under mask 0x05: ONEPACKET and PERSISTENT only.
    add_svc(&mut cp, &Svc { flags: 0x1f, mask: 0x05, ..tcp([10, 0, 0, 1], 80) }).unwrap();
    assert_eq!(cp.store.services[0].conf.flags, 0x05 | svc_flags::HASHED);
}

#[test]
fn new_service_scheduler_and_pe_lookup() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    assert_eq!(add_svc(&mut cp, &Svc { sched: "nosuch", ..s.clone() }), Err(Errno::ENOENT));
    assert_eq!(add_svc(&mut cp, &Svc { sched: "WLC", ..s.clone() }), Err(Errno::ENOENT), "names are case-sensitive");
    assert_eq!(add_svc(&mut cp, &Svc { pe: Some("sip"), ..s.clone() }), Err(Errno::ENOENT));
    assert_eq!(add_svc(&mut cp, &Svc { pe: Some("nosuch"), ..s.clone() }), Err(Errno::ENOENT));
    assert!(cp.store.services.is_empty());
    add_svc(&mut cp, &Svc { pe: Some(""), sched: "none", ..s.clone() }).unwrap();
    assert_eq!(cp.store.services[0].conf.sched, None);
    assert_eq!(cp.store.services[0].sched, SchedState::Unbound);
    add_svc(&mut cp, &Svc { sched: "wrr", ..tcp([10, 0, 0, 2], 80) }).unwrap();
    assert_eq!(cp.store.services[0].sched.kind(), Some(SchedKind::Wrr));
}

#[test]
fn new_service_ipv6_prefix_length() {
    let mut cp = cp();
    let a = addr16(&[0x20, 0x01, 0x0d, 0xb8]);
    for bad in [0u32, 129, u32::MAX] {
        assert_eq!(add_svc(&mut cp, &Svc { netmask: bad.to_ne_bytes(), ..v6(a, 80) }), Err(Errno::EINVAL));
    }
    // The scheduler is looked up first.
    assert_eq!(add_svc(&mut cp, &Svc { netmask: [0; 4], sched: "x", ..v6(a, 80) }), Err(Errno::ENOENT));
    add_svc(&mut cp, &Svc { netmask: 1u32.to_ne_bytes(), ..v6(a, 80) }).unwrap();
    add_svc(&mut cp, &Svc { netmask: 128u32.to_ne_bytes(), ..v6(a, 81) }).unwrap();
    // No netmask check for IPv4.
    add_svc(&mut cp, &Svc { netmask: [0; 4], ..tcp([1, 2, 3, 4], 1) }).unwrap();
    // IPv6 needs the stack.
    let no_v6 = Env { ipv6_enabled: false, ..ENV };
    assert_eq!(set_env(&mut cp, cmd::NEW_SERVICE, &v6(a, 82).nest(true), &no_v6), Err(Errno::EAFNOSUPPORT));
}

#[test]
fn new_service_any_protocol_and_wrapping_timeout() {
    // Netlink (unlike sockopt) does not check the protocol.
    let mut cp = cp();
    add_svc(&mut cp, &Svc { proto: 253, ..tcp([10, 0, 0, 1], 80) }).unwrap();
    add_svc(&mut cp, &Svc { proto: 17, timeout: u32::MAX, ..tcp([10, 0, 0, 1], 80) }).unwrap();
    let udp = cp.store.services.iter().find(|s| s.conf.key.protocol() == 17).unwrap();
    assert_eq!(udp.conf.timeout, u32::MAX.wrapping_mul(1000));
}

#[test]
fn new_service_ipv4_address_keeps_4_bytes() {
    let mut cp = cp();
    let mut s = tcp([10, 0, 0, 1], 80);
    s.addr = vec![10, 0, 0, 1, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9];
    add_svc(&mut cp, &s).unwrap();
    assert_eq!(cp.store.services[0].conf.key.addr(), addr16(&[10, 0, 0, 1]));
    // And a short address is zero-filled: same service.
    let short = Svc { addr: vec![10, 0, 0, 1], ..tcp([0; 4], 80) };
    assert_eq!(add_svc(&mut cp, &short), Err(Errno::EEXIST));
}

#[test]
fn new_service_store_failure_leaves_nothing() {
    let mut cp = cp();
    cp.store.fail_next_insert = Some(Errno::ENOMEM);
    assert_eq!(add_svc(&mut cp, &tcp([10, 0, 0, 1], 80)), Err(Errno::ENOMEM));
    assert!(cp.store.services.is_empty());
}

#[test]
fn fwmark_services_are_per_family() {
    let mut cp = cp();
    add_svc(&mut cp, &fwm(AF_INET, 1)).unwrap();
    add_svc(&mut cp, &Svc { netmask: 128u32.to_ne_bytes(), ..fwm(AF_INET6, 1) }).unwrap();
    assert_eq!(add_svc(&mut cp, &fwm(AF_INET, 1)), Err(Errno::EEXIST));
    assert_eq!(cp.store.services.len(), 2);
    assert_eq!(cp.store.services[0].conf.key.protocol(), 6, "fwmark services are TCP");
}

// ---------------------------------------------------------------------------------------------
// Listing order

#[test]
fn services_are_listed_in_upstreams_hash_order() {
    let mut cp = cp();
    // Buckets (salt 0): (6 ^ 0x0a000001 ^ 0 ^ 80) & 0xff = 0x57; port 81 -> 0x56.
    add_svc(&mut cp, &fwm(AF_INET, 3)).unwrap(); // fwmark table, bucket 3
    add_svc(&mut cp, &tcp([10, 0, 0, 1], 80)).unwrap(); // bucket 0x57
    add_svc(&mut cp, &tcp([10, 0, 0, 1], 81)).unwrap(); // bucket 0x56
    add_svc(&mut cp, &fwm(AF_INET, 1)).unwrap(); // fwmark bucket 1
    add_svc(&mut cp, &Svc { proto: 7, ..tcp([10, 0, 0, 1], 86) }).unwrap(); // 7^1^86=0x50
    add_svc(&mut cp, &Svc { proto: 17, ..tcp([10, 0, 0, 1], 80) }).unwrap(); // 17^1^80=0x40
    add_svc(&mut cp, &Svc { proto: 6, ..tcp([10, 0, 0, 0x11], 80) }).unwrap(); // 6^0x11^80=0x47
    add_svc(&mut cp, &Svc { proto: 17, ..tcp([10, 0, 0, 0x17], 86) }).unwrap(); // 17^0x17^86=0x50
    let slots: Vec<(u8, u8)> = cp.store.services.iter().map(|s| s.conf.key.list_slot(0)).collect();
    assert_eq!(slots, [(0, 0x40), (0, 0x47), (0, 0x50), (0, 0x50), (0, 0x56), (0, 0x57), (1, 1), (1, 3)]);
    // Newest first within a bucket.
    assert_eq!(cp.store.services[2].conf.key.protocol(), 17);
    assert_eq!(cp.store.services[3].conf.key.protocol(), 7);
    // The salt permutes buckets like upstream's netns pointer.
    assert_eq!(ServiceKey::Fwmark { af: AF_INET, mark: 1 }.list_slot(0x1234_5603), (1, 2));
    let v6key = ServiceKey::Addr { af: AF_INET6, protocol: 6, addr: [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], port: [0x12, 0x34] };
    // fold = 0x20010db8 ^ 1; (6 ^ 0x20010db9 ^ 0x12 ^ 0x1234) & 0xff = 0xb9 ^ 6 ^ 0x12 ^ 0x34 = 0x99.
    assert_eq!(v6key.list_slot(0), (0, 0x99));
}

#[test]
fn dests_are_listed_newest_first() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    for port in [1, 2, 3] {
        dest_cmd(&mut cp, cmd::NEW_DEST, &s, &dst([10, 0, 1, 1], port, 1)).unwrap();
    }
    assert_eq!(dest_ports(&cp, 0), [3, 2, 1]);
}

// ---------------------------------------------------------------------------------------------
// SET_SERVICE / DEL_SERVICE / FLUSH / ZERO

#[test]
fn set_service_edits_and_rebinds_scheduler() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    for port in [1, 2, 3] {
        dest_cmd(&mut cp, cmd::NEW_DEST, &s, &dst([10, 0, 1, 1], port, port as i32)).unwrap();
    }
    let views = cp.store.views(0);
    assert_eq!(cp.store.services[0].sched.schedule(&views[..], &Flow::default(), &ctx()), Some(0));
    // Same scheduler: state kept.
    set(&mut cp, cmd::SET_SERVICE, &Svc { timeout: 10, flags: svc_flags::PERSISTENT, mask: svc_flags::PERSISTENT, ..s.clone() }.nest(true)).unwrap();
    let before = cp.store.services[0].sched.clone();
    assert!(matches!(before, SchedState::Rr(r) if r.position() == Some(0)));
    let c = cp.store.services[0].conf;
    assert_eq!((c.flags, c.timeout), (svc_flags::PERSISTENT | svc_flags::HASHED, 10_000));
    // Partial mask: the existing flags outside it stay.
    set(&mut cp, cmd::SET_SERVICE, &Svc { flags: svc_flags::ONEPACKET, mask: svc_flags::ONEPACKET, ..s.clone() }.nest(true)).unwrap();
    assert_eq!(cp.store.services[0].conf.flags, svc_flags::PERSISTENT | svc_flags::ONEPACKET | svc_flags::HASHED);
    // Mask 0 keeps everything, HASHED included.
    set(&mut cp, cmd::SET_SERVICE, &Svc { flags: 0, mask: 0, ..s.clone() }.nest(true)).unwrap();
    assert_eq!(cp.store.services[0].conf.flags, svc_flags::PERSISTENT | svc_flags::ONEPACKET | svc_flags::HASHED);
    // New scheduler: bound afresh over the current dests (weights 3, 2, 1).
    set(&mut cp, cmd::SET_SERVICE, &Svc { sched: "wrr", ..s.clone() }.nest(true)).unwrap();
    match &cp.store.services[0].sched {
        SchedState::Wrr(w) => assert_eq!(w.mark(), (None, 3, 3, 1)),
        other => panic!("{other:?}"),
    }
    set(&mut cp, cmd::SET_SERVICE, &Svc { sched: "none", ..s.clone() }.nest(true)).unwrap();
    assert_eq!(cp.store.services[0].sched, SchedState::Unbound);
    assert_eq!(cp.store.services[0].conf.sched_name(), "none");
}

#[test]
fn set_service_errors_in_upstreams_order() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    assert_eq!(set(&mut cp, cmd::SET_SERVICE, &s.nest(true)), Err(Errno::ESRCH));
    assert_eq!(set(&mut cp, cmd::SET_SERVICE, &s.nest(false)), Err(Errno::EINVAL), "parse before lookup");
    add_svc(&mut cp, &s).unwrap();
    let before = cp.store.clone();
    assert_eq!(set(&mut cp, cmd::SET_SERVICE, &Svc { sched: "lcx", ..s.clone() }.nest(true)), Err(Errno::ENOENT));
    assert_eq!(set(&mut cp, cmd::SET_SERVICE, &Svc { pe: Some("sip"), ..s.clone() }.nest(true)), Err(Errno::ENOENT));
    assert_eq!(cp.store, before, "a failed edit changes nothing");
    let a = addr16(&[0x20, 1]);
    add_svc(&mut cp, &v6(a, 80)).unwrap();
    let before = cp.store.clone();
    assert_eq!(set(&mut cp, cmd::SET_SERVICE, &Svc { netmask: [0; 4], ..v6(a, 80) }.nest(true)), Err(Errno::EINVAL));
    assert_eq!(cp.store, before);
}

#[test]
fn del_flush_zero() {
    let mut cp = cp();
    let a = tcp([10, 0, 0, 1], 80);
    let b = fwm(AF_INET, 5);
    add_svc(&mut cp, &a).unwrap();
    add_svc(&mut cp, &b).unwrap();
    dest_cmd(&mut cp, cmd::NEW_DEST, &a, &dst([10, 0, 1, 1], 80, 1)).unwrap();
    for s in &mut cp.store.services {
        s.stats.conns = 5;
        for d in &mut s.dests {
            d.stats.inpkts = 9;
        }
    }
    cp.store.total.conns = 7;
    // ZERO of one service.
    set(&mut cp, cmd::ZERO, &a.nest(false)).unwrap();
    assert_eq!(cp.store.services[0].stats, StatsView::default());
    assert_eq!(cp.store.services[0].dests[0].stats, StatsView::default());
    assert_eq!(cp.store.services[1].stats.conns, 5);
    assert_eq!(cp.store.total.conns, 7);
    assert_eq!(set(&mut cp, cmd::ZERO, &tcp([9, 9, 9, 9], 1).nest(false)), Err(Errno::ESRCH));
    // ZERO of everything.
    set(&mut cp, cmd::ZERO, &[]).unwrap();
    assert_eq!(cp.store.services[1].stats, StatsView::default());
    assert_eq!(cp.store.total, StatsView::default());
    // DEL_SERVICE: its dests go to the trash.
    set(&mut cp, cmd::DEL_SERVICE, &a.nest(false)).unwrap();
    assert_eq!(services(&cp), [ServiceKey::Fwmark { af: AF_INET, mark: 5 }]);
    assert_eq!(cp.store.trash.len(), 1);
    assert_eq!(set(&mut cp, cmd::DEL_SERVICE, &a.nest(false)), Err(Errno::ESRCH));
    set(&mut cp, cmd::FLUSH, &[]).unwrap();
    assert!(cp.store.services.is_empty());
    set(&mut cp, cmd::FLUSH, &[]).unwrap();
}

#[test]
fn unknown_command_on_set_path() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    assert_eq!(set(&mut cp, cmd::GET_SERVICE, &s.nest(false)), Err(Errno::ESRCH), "service checked first");
    add_svc(&mut cp, &s).unwrap();
    assert_eq!(set(&mut cp, cmd::GET_SERVICE, &s.nest(false)), Err(Errno::EINVAL));
}

// ---------------------------------------------------------------------------------------------
// Dests

#[test]
fn new_dest_checks_in_upstreams_order() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    let d = dst([10, 0, 1, 1], 8080, 1);
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &d), Err(Errno::ESRCH));
    add_svc(&mut cp, &s).unwrap();
    // Dest attribute parsing.
    assert_eq!(set(&mut cp, cmd::NEW_DEST, &s.nest(false)), Err(Errno::EINVAL));
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { tun: None, ..d.clone() }).map(|_| ()), Ok(()), "TUN_* optional");
    set(&mut cp, cmd::DEL_DEST, &cat(&[s.nest(false), d.nest(false)])).unwrap();
    assert_eq!(set(&mut cp, cmd::NEW_DEST, &cat(&[s.nest(false), d.nest(false)])), Err(Errno::EINVAL), "not full");
    // Family.
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { af: Some(7), ..d.clone() }), Err(Errno::EAFNOSUPPORT));
    let v6d = Dst { af: Some(AF_INET6), addr: addr16(&[0x20, 1]).to_vec(), ..d.clone() };
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &v6d), Err(Errno::EINVAL), "mixed family needs TUNNEL");
    // Value checks, in order.
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { weight: -1, l: 5, u: 1, ..d.clone() }), Err(Errno::ERANGE));
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { l: 5, u: 1, ..d.clone() }), Err(Errno::ERANGE));
    assert_eq!(
        dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { u: 0x8000_0000, tun: Some((1, 0, 0)), ..d.clone() }),
        Err(Errno::EINVAL)
    );
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { tun: Some((1, 0, 0)), ..d.clone() }), Err(Errno::EINVAL), "GUE needs a port");
    assert!(cp.store.services[0].dests.is_empty());
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { u: i32::MAX as u32, tun: Some((1, 6080, 0)), ..d.clone() }).unwrap();
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &d), Err(Errno::EEXIST));
    // Without ADDR_FAMILY, the service's family.
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { af: None, ..d.clone() }), Err(Errno::EEXIST));
    // An IPv4 dest address is compared on 4 bytes.
    let mut long = d.clone();
    long.addr = vec![10, 0, 1, 1, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7];
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &long), Err(Errno::EEXIST));
    // Store failure (address type, ENOMEM) is passed on.
    cp.store.fail_next_insert = Some(Errno::EINVAL);
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &dst([10, 0, 1, 2], 1, 1)), Err(Errno::EINVAL));
    assert_eq!(cp.store.services[0].dests.len(), 1);
}

#[test]
fn new_dest_stores_settings() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    let d = Dst { fwd: 0x1000 | 2, weight: 0, u: 100, l: 10, tun: Some((1, 6080, 1)), ..dst([10, 0, 1, 1], 8080, 0) };
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &d).unwrap();
    let c = cp.store.services[0].dests[0].info.conf;
    assert_eq!(
        c,
        DestConf {
            af: AF_INET,
            addr: addr16(&[10, 0, 1, 1]),
            port: 8080u16.to_be_bytes(),
            settings: DestSettings {
                fwd_method: 2,
                weight: 0,
                u_threshold: 100,
                l_threshold: 10,
                tun_type: 1,
                tun_port: 6080u16.to_be_bytes(),
                tun_flags: 1,
            },
            last_weight: 0,
        }
    );
}

#[test]
fn mixed_family_dests_need_tunnel_and_block_the_sync_daemon() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    let v6d = Dst { af: Some(AF_INET6), addr: addr16(&[0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]).to_vec(), fwd: 2, ..dst([0; 4], 80, 1) };
    cp.sync_state = 1;
    assert_eq!(dest_cmd(&mut cp, cmd::NEW_DEST, &s, &v6d), Err(Errno::EINVAL));
    cp.sync_state = 0;
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &v6d).unwrap();
    assert_eq!(cp.mixed_family_dests(), 1);
    let daemon = attr(
        cmd_attr::DAEMON,
        &cat(&[
            attr(daemon_attr::STATE, &1u32.to_ne_bytes()),
            attr(daemon_attr::MCAST_IFN, b"lo\0"),
            attr(daemon_attr::SYNC_ID, &1u32.to_ne_bytes()),
        ]),
    );
    let attrs: CmdAttrs<'_> = Table::parse(&daemon, &CMD_POLICY).unwrap();
    assert_eq!(cp.daemon_cmd(cmd::NEW_DAEMON, &attrs), Err(Errno::EINVAL));
    // DEL_DEST of a mixed dest needs no TUNNEL method.
    dest_cmd(&mut cp, cmd::DEL_DEST, &s, &Dst { fwd: 0, ..v6d.clone() }).unwrap();
    assert_eq!(cp.mixed_family_dests(), 0);
    assert!(matches!(cp.daemon_cmd(cmd::NEW_DAEMON, &attrs), Ok(DaemonRequest::Start { state: 1, .. })));
}

#[test]
fn set_dest_and_last_weight() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    let d = dst([10, 0, 1, 1], 8080, 5);
    assert_eq!(dest_cmd(&mut cp, cmd::SET_DEST, &s, &d), Err(Errno::ENOENT));
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &d).unwrap();
    dest_cmd(&mut cp, cmd::SET_DEST, &s, &Dst { weight: 0, ..d.clone() }).unwrap();
    let c = cp.store.services[0].dests[0].info.conf;
    assert_eq!((c.settings.weight, c.last_weight), (0, 5), "weight 0 keeps the last non-zero weight");
    dest_cmd(&mut cp, cmd::SET_DEST, &s, &Dst { weight: 7, fwd: 3, ..d.clone() }).unwrap();
    let c = cp.store.services[0].dests[0].info.conf;
    assert_eq!((c.settings.weight, c.last_weight, c.settings.fwd_method), (7, 7, 3));
    assert_eq!(dest_cmd(&mut cp, cmd::SET_DEST, &s, &Dst { weight: -5, ..d.clone() }), Err(Errno::ERANGE));
    assert_eq!(dest_cmd(&mut cp, cmd::SET_DEST, &s, &Dst { l: 2, u: 1, ..d.clone() }), Err(Errno::ERANGE));
    assert_eq!(dest_cmd(&mut cp, cmd::SET_DEST, &s, &Dst { port: 1, ..d.clone() }), Err(Errno::ENOENT));
    // Checks come before the lookup.
    assert_eq!(dest_cmd(&mut cp, cmd::SET_DEST, &s, &Dst { port: 1, weight: -1, ..d.clone() }), Err(Errno::ERANGE));
}

#[test]
fn del_dest_and_trash_revival() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    let d = dst([10, 0, 1, 1], 8080, 5);
    assert_eq!(dest_cmd(&mut cp, cmd::DEL_DEST, &s, &d), Err(Errno::ENOENT));
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &d).unwrap();
    cp.store.services[0].dests[0].stats.conns = 42;
    cp.store.services[0].dests[0].info.active_conns = 3;
    // DEL_DEST needs only the identity, and ignores bad settings.
    dest_cmd(&mut cp, cmd::DEL_DEST, &s, &Dst { weight: -1, ..d.clone() }).unwrap();
    assert!(cp.store.services[0].dests.is_empty());
    // Re-adding picks the dest back from the trash, counters and stats included.
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { weight: 2, ..d.clone() }).unwrap();
    let back = &cp.store.services[0].dests[0];
    assert_eq!((back.stats.conns, back.info.active_conns, back.info.conf.settings.weight), (42, 3, 2));
    assert!(cp.store.trash.is_empty());
}

#[test]
fn trash_matching_rules() {
    let conf = |af: u16, a: &[u8], port: u16| DestConf {
        af,
        addr: addr16(a),
        port: port.to_be_bytes(),
        settings: DestSettings { weight: 1, ..DestSettings::default() },
        last_weight: 1,
    };
    let svc = ServiceKey::Addr { af: AF_INET, protocol: 6, addr: addr16(&[10, 0, 0, 1]), port: [0, 80] };
    let d = conf(AF_INET, &[10, 0, 1, 1], 80);
    let a = addr16(&[10, 0, 1, 1]);
    assert!(trash_matches(&svc, &d, &svc, AF_INET, &a, [0, 80]));
    assert!(!trash_matches(&svc, &d, &svc, AF_INET, &a, [0, 81]));
    assert!(!trash_matches(&svc, &d, &svc, AF_INET6, &a, [0, 80]));
    let udp = ServiceKey::Addr { af: AF_INET, protocol: 17, addr: addr16(&[10, 0, 0, 1]), port: [0, 80] };
    assert!(!trash_matches(&svc, &d, &udp, AF_INET, &a, [0, 80]));
    let other_port = ServiceKey::Addr { af: AF_INET, protocol: 6, addr: addr16(&[10, 0, 0, 1]), port: [0, 81] };
    assert!(!trash_matches(&svc, &d, &other_port, AF_INET, &a, [0, 80]));
    // Fwmark: mark and protocol only, across families.
    let f4 = ServiceKey::Fwmark { af: AF_INET, mark: 3 };
    let f6 = ServiceKey::Fwmark { af: AF_INET6, mark: 3 };
    assert!(trash_matches(&f4, &d, &f6, AF_INET, &a, [0, 80]));
    assert!(!trash_matches(&f4, &d, &ServiceKey::Fwmark { af: AF_INET, mark: 4 }, AF_INET, &a, [0, 80]));
    assert!(!trash_matches(&f4, &d, &svc, AF_INET, &a, [0, 80]));
}

/// Every pair `trash_matches` pairs hashes alike under `trash_hash` (the trash looks only in
/// the new dest's bucket), over services and dests of both families, with addresses that agree
/// in their first four bytes only, and ports, protocols and marks that agree or not.
#[test]
fn trash_hash_agrees_with_trash_matching() {
    let addrs = [addr16(&[10, 0, 0, 1]), { let mut a = addr16(&[10, 0, 0, 1]); a[15] = 9; a }, addr16(&[10, 0, 0, 2])];
    let mut services = Vec::new();
    for af in [AF_INET, AF_INET6] {
        for protocol in [6, 17] {
            for addr in addrs {
                for port in [[0, 80], [0, 81]] {
                    services.push(ServiceKey::Addr { af, protocol, addr, port });
                }
            }
        }
        for mark in [3, 4] {
            services.push(ServiceKey::Fwmark { af, mark });
        }
    }
    let mut dests = Vec::new();
    for af in [AF_INET, AF_INET6] {
        for addr in addrs {
            for port in [80u16, 8080] {
                dests.push(DestConf {
                    af,
                    addr,
                    port: port.to_be_bytes(),
                    settings: DestSettings { weight: 1, ..DestSettings::default() },
                    last_weight: 1,
                });
            }
        }
    }
    let (mut matched, mut spread) = (0, std::collections::HashSet::new());
    for old in &services {
        for d in &dests {
            let filed = trash_hash(old, d.af, &d.addr, d.port);
            spread.insert(filed);
            for new in &services {
                for n in &dests {
                    if trash_matches(old, d, new, n.af, &n.addr, n.port) {
                        matched += 1;
                        assert_eq!(filed, trash_hash(new, n.af, &n.addr, n.port), "{old:?} {d:?} / {new:?} {n:?}");
                    }
                }
            }
        }
    }
    assert!(matched > services.len() * dests.len(), "the cases must include matches across services: {matched}");
    // And no more alike than that: 10 service classes (2 protocols x 2 addresses by their
    // first four bytes x 2 ports, the family aside, and 2 marks) times 10 dests (2 IPv4
    // addresses by their four bytes and 3 IPv6 ones, x 2 ports) hash apart.
    assert_eq!(spread.len(), 100);
}

#[test]
fn overload_rules() {
    assert_eq!(effective_l_threshold(100, 0), 75);
    assert_eq!(effective_l_threshold(100, 10), 10);
    assert_eq!(effective_l_threshold(3, 0), 3);
    // No upper threshold: never overloaded.
    assert!(!overloaded(true, 1000, 0, 0, 1));
    // Threshold change (mode 0): set at >= u, kept between l and u, cleared below l.
    assert!(overloaded(false, 100, 100, 75, 0));
    assert!(overloaded(true, 80, 100, 75, 0));
    assert!(!overloaded(false, 80, 100, 75, 0));
    assert!(!overloaded(true, 74, 100, 75, 0));
    // Added (mode > 0): set from l up.
    assert!(overloaded(false, 75, 100, 75, 1));
    assert!(!overloaded(true, 74, 100, 75, 1));
    // Removed (mode < 0): set at >= u, kept only at >= u.
    assert!(overloaded(false, 100, 100, 75, -1));
    assert!(!overloaded(true, 99, 100, 75, -1));
    // A negative count compares as a huge unsigned value, as in C.
    assert!(overloaded(false, -1, 100, 75, 0));
}

#[test]
fn scheduler_hooks_follow_dest_changes() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    for port in [1, 2, 3] {
        dest_cmd(&mut cp, cmd::NEW_DEST, &s, &dst([10, 0, 1, 1], port, 1)).unwrap();
    }
    // List: 3 2 1. rr picks 3 then 2.
    let pick = |cp: &mut Cp| {
        let views = cp.store.views(0);
        let i = cp.store.services[0].sched.schedule(&views[..], &Flow::default(), &ctx()).unwrap();
        u16::from_be_bytes(views[i].port)
    };
    assert_eq!((pick(&mut cp), pick(&mut cp)), (3, 2));
    // Adding 4 (first in the list) leaves rr on 2: next is 1, then 4.
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &dst([10, 0, 1, 1], 4, 1)).unwrap();
    assert_eq!((pick(&mut cp), pick(&mut cp)), (1, 4));
    // Deleting 4 (the current one) steps back to the head: 3 next.
    dest_cmd(&mut cp, cmd::DEL_DEST, &s, &dst([10, 0, 1, 1], 4, 1)).unwrap();
    assert_eq!(pick(&mut cp), 3);
    // wrr: a weight change recomputes.
    set(&mut cp, cmd::SET_SERVICE, &Svc { sched: "wrr", ..s.clone() }.nest(true)).unwrap();
    dest_cmd(&mut cp, cmd::SET_DEST, &s, &dst([10, 0, 1, 1], 2, 4)).unwrap();
    match &cp.store.services[0].sched {
        SchedState::Wrr(w) => assert_eq!(w.mark(), (None, 1, 4, 1)),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Replies

fn stats(base: u64) -> StatsView {
    StatsView {
        conns: base + 1,
        inpkts: base + 2,
        outpkts: base + 3,
        inbytes: base + 4,
        outbytes: base + 5,
        cps: base + 6,
        inpps: base + 7,
        outpps: base + 8,
        inbps: base + 9,
        outbps: base + 10,
    }
}

/// STATS and STATS64, built attribute by attribute from ip_vs_genl_fill_stats{,64}().
fn stats_attrs(kind32: u16, kind64: u16, s: &StatsView) -> Vec<u8> {
    let v = [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes, s.cps, s.inpps, s.outpps, s.inbps, s.outbps];
    let mut s32 = vec![];
    for (i, &x) in v.iter().enumerate() {
        let kind = stats_attr::CONNS + i as u16;
        if kind == stats_attr::INBYTES || kind == stats_attr::OUTBYTES {
            s32.push(attr(kind, &x.to_ne_bytes()));
        } else {
            s32.push(attr(kind, &(x as u32).to_ne_bytes()));
        }
    }
    let s64: Vec<Vec<u8>> = v.iter().enumerate().map(|(i, &x)| attr(stats_attr::CONNS + i as u16, &x.to_ne_bytes())).collect();
    cat(&[attr(kind32, &cat(&s32)), attr(kind64, &cat(&s64))])
}

fn get_service(cp: &Cp, s: &Svc) -> Result<Vec<u8>, Errno> {
    let msg = s.nest(false);
    let attrs: CmdAttrs<'_> = Table::parse(&msg, &CMD_POLICY).unwrap();
    let mut out = vec![0u8; 4096];
    let mut w = Writer::new(&mut out);
    let reply = cp.get_cmd(cmd::GET_SERVICE, &attrs, &ENV, &mut w)?;
    assert_eq!(reply, cmd::NEW_SERVICE);
    Ok(w.written().to_vec())
}

#[test]
fn get_service_reply_literal_bytes() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    cp.store.services[0].stats = StatsView { conns: 0x1_0000_0005, inbytes: 0x1_0000_0000, ..Default::default() };
    let got = get_service(&cp, &s).unwrap();
    #[rustfmt::skip]
    let mut want: Vec<u8> = vec![
        0x2c, 0x01, 0x01, 0x00,                         // SERVICE, 300 bytes, no NLA_F_NESTED
        0x06, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, // AF = AF_INET
        0x06, 0x00, 0x02, 0x00, 0x06, 0x00, 0x00, 0x00, // PROTOCOL = TCP
        0x14, 0x00, 0x03, 0x00, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // ADDR, 16 bytes
        0x06, 0x00, 0x04, 0x00, 0x00, 0x50, 0x00, 0x00, // PORT = htons(80)
        0x07, 0x00, 0x06, 0x00, b'r', b'r', 0x00, 0x00, // SCHED_NAME "rr"
        0x0c, 0x00, 0x07, 0x00, 0x02, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, // FLAGS {HASHED, ~0}
        0x08, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, // TIMEOUT = 0
        0x08, 0x00, 0x09, 0x00, 0xff, 0xff, 0xff, 0xff, // NETMASK
        0x5c, 0x00, 0x0a, 0x00,                         // STATS, 92 bytes
        0x08, 0x00, 0x01, 0x00, 0x05, 0x00, 0x00, 0x00, //   CONNS (u32, truncated)
        0x08, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, //   INPKTS
        0x08, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, //   OUTPKTS
        0x0c, 0x00, 0x04, 0x00, 0, 0, 0, 0, 1, 0, 0, 0, //   INBYTES (u64, no PAD on x86-64)
        0x0c, 0x00, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, //   OUTBYTES
    ];
    for kind in 6..=10u8 {
        want.extend_from_slice(&[0x08, 0x00, kind, 0x00, 0, 0, 0, 0]); // CPS .. OUTBPS
    }
    want.extend_from_slice(&[0x7c, 0x00, 0x0c, 0x00]); // STATS64, 124 bytes
    want.extend_from_slice(&[0x0c, 0x00, 0x01, 0x00, 5, 0, 0, 0, 1, 0, 0, 0]); // CONNS
    want.extend_from_slice(&[0x0c, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[0x0c, 0x00, 0x03, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[0x0c, 0x00, 0x04, 0x00, 0, 0, 0, 0, 1, 0, 0, 0]); // INBYTES
    for kind in 5..=10u8 {
        want.extend_from_slice(&[0x0c, 0x00, kind, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    assert_eq!(want.len(), 300);
    assert_eq!(got, want);
}

#[test]
fn get_service_reply_fwmark_ipv6_persistent_pe() {
    let mut cp = cp();
    let s = Svc { timeout: 10800, flags: svc_flags::PERSISTENT, ..fwm(AF_INET6, 0x42) };
    add_svc(&mut cp, &Svc { netmask: 64u32.to_ne_bytes(), sched: "wrr", ..s.clone() }).unwrap();
    cp.store.services[0].stats = stats(1 << 32);
    // No PE can be created through commands yet; the encoding is ready for one.
    cp.store.services[0].conf.pe = Some(PeKind::Sip);
    let got = get_service(&cp, &s).unwrap();
    let want = attr(
        cmd_attr::SERVICE,
        &cat(&[
            attr(svc_attr::AF, &AF_INET6.to_ne_bytes()),
            attr(svc_attr::FWMARK, &0x42u32.to_ne_bytes()),
            attr(svc_attr::SCHED_NAME, b"wrr\0"),
            attr(svc_attr::PE_NAME, b"sip\0"),
            attr(svc_attr::FLAGS, &[(svc_flags::PERSISTENT | svc_flags::HASHED).to_ne_bytes(), [0xff; 4]].concat()),
            attr(svc_attr::TIMEOUT, &10800u32.to_ne_bytes()),
            attr(svc_attr::NETMASK, &64u32.to_ne_bytes()),
            stats_attrs(svc_attr::STATS, svc_attr::STATS64, &stats(1 << 32)),
        ]),
    );
    assert_eq!(got, want);
}

#[test]
fn get_service_errors() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    assert_eq!(get_service(&cp, &s), Err(Errno::ESRCH));
    add_svc(&mut cp, &s).unwrap();
    let attrs: CmdAttrs<'_> = Table::parse(&[], &CMD_POLICY).unwrap();
    let mut out = vec![0u8; 4096];
    assert_eq!(cp.get_cmd(cmd::GET_SERVICE, &attrs, &ENV, &mut Writer::new(&mut out)), Err(Errno::EINVAL));
    let msg = s.nest(false);
    let attrs: CmdAttrs<'_> = Table::parse(&msg, &CMD_POLICY).unwrap();
    let mut small = vec![0u8; 100];
    assert_eq!(cp.get_cmd(cmd::GET_SERVICE, &attrs, &ENV, &mut Writer::new(&mut small)), Err(Errno::EMSGSIZE));
}

/// Runs a dump with `room` bytes per batch; returns each batch's messages.
fn dump_batches(cp: &Cp, dests_of: Option<&Svc>, room: usize) -> Vec<Vec<(u8, Vec<u8>)>> {
    let request = dests_of.map(|s| s.nest(false)).unwrap_or_default();
    let mut batches = vec![];
    let mut start = 0;
    loop {
        let mut batch = vec![];
        let mut left = room;
        let mut entry = |command: u8, fill: &mut ipvs_core_host::ipvs_core::encode::FillFn<'_>| {
            let mut buf = vec![0u8; left];
            let mut w = Writer::new(&mut buf);
            fill(&mut w)?;
            left -= w.len();
            batch.push((command, w.written().to_vec()));
            Ok::<(), Full>(())
        };
        let next = match dests_of {
            Some(_) => cp.dump_dests(&request, start, &ENV, &mut entry),
            None => cp.dump_services(start, &ENV, &mut entry),
        };
        let done = batch.is_empty();
        if !done {
            batches.push(batch);
        }
        if done || next == start {
            return batches;
        }
        start = next;
    }
}

#[test]
fn service_dump_resumes_where_the_skb_filled() {
    let mut cp = cp();
    for i in 0..5u8 {
        add_svc(&mut cp, &tcp([10, 0, 0, i], 80)).unwrap();
    }
    let one = get_service(&cp, &tcp([10, 0, 0, 0], 80)).unwrap().len();
    assert_eq!(one, 300);
    // Room for two entries per batch.
    let batches = dump_batches(&cp, None, 2 * one + 10);
    assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2, 1]);
    let all: Vec<(u8, Vec<u8>)> = batches.concat();
    for (i, (command, bytes)) in all.iter().enumerate() {
        assert_eq!(*command, cmd::NEW_SERVICE);
        let mut out = vec![0u8; 400];
        let mut w = Writer::new(&mut out);
        cp.fill_service(i, &ENV, &mut w).unwrap();
        assert_eq!(bytes, w.written());
    }
    // Listing order, not insertion order.
    let keys: Vec<u8> = cp.store.services.iter().map(|s| s.conf.key.addr()[3]).collect();
    // Buckets 6 ^ i ^ 80: 0x56, 0x57, 0x54, 0x55, 0x52 for i = 0..5.
    assert_eq!(keys, [4, 2, 3, 0, 1]);
    // Starting past the end gives nothing.
    let mut calls = 0;
    assert_eq!(cp.dump_services(9, &ENV, |_, _| { calls += 1; Ok(()) }), 9);
    assert_eq!(calls, 0);
    // No room at all: the cursor stays.
    assert_eq!(cp.dump_services(1, &ENV, |_, _| Err(Full)), 1);
}

#[test]
fn dest_dump_bytes_and_resumption() {
    let mut cp = cp();
    let s = tcp([10, 0, 0, 1], 80);
    add_svc(&mut cp, &s).unwrap();
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &Dst { fwd: 3, weight: 3, u: 50, l: 20, ..dst([10, 0, 1, 1], 8080, 3) }).unwrap();
    let v6 = Dst {
        af: Some(AF_INET6),
        addr: addr16(&[0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9]).to_vec(),
        fwd: 2,
        tun: Some((1, 6080, 1)),
        ..dst([0; 4], 443, 1)
    };
    dest_cmd(&mut cp, cmd::NEW_DEST, &s, &v6).unwrap();
    {
        let d = &mut cp.store.services[0].dests[1]; // the IPv4 one (older)
        d.info.active_conns = 7;
        d.info.inact_conns = 8;
        d.info.persist_conns = 9;
        d.stats = stats(100);
    }
    let batches = dump_batches(&cp, Some(&s), 4096);
    assert_eq!(batches.len(), 1);
    let msgs = &batches[0];
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|(c, _)| *c == cmd::NEW_DEST));
    let want_v6 = attr(
        cmd_attr::DEST,
        &cat(&[
            attr(dest_attr::ADDR, &v6.addr),
            attr(dest_attr::PORT, &443u16.to_be_bytes()),
            attr(dest_attr::FWD_METHOD, &2u32.to_ne_bytes()),
            attr(dest_attr::WEIGHT, &1u32.to_ne_bytes()),
            attr(dest_attr::TUN_TYPE, &[1]),
            attr(dest_attr::TUN_PORT, &6080u16.to_be_bytes()),
            attr(dest_attr::TUN_FLAGS, &1u16.to_ne_bytes()),
            attr(dest_attr::U_THRESH, &0u32.to_ne_bytes()),
            attr(dest_attr::L_THRESH, &0u32.to_ne_bytes()),
            attr(dest_attr::ACTIVE_CONNS, &0u32.to_ne_bytes()),
            attr(dest_attr::INACT_CONNS, &0u32.to_ne_bytes()),
            attr(dest_attr::PERSIST_CONNS, &0u32.to_ne_bytes()),
            attr(dest_attr::ADDR_FAMILY, &AF_INET6.to_ne_bytes()),
            stats_attrs(dest_attr::STATS, dest_attr::STATS64, &StatsView::default()),
        ]),
    );
    assert_eq!(msgs[0].1, want_v6, "newest first");
    let want_v4 = attr(
        cmd_attr::DEST,
        &cat(&[
            attr(dest_attr::ADDR, &addr16(&[10, 0, 1, 1])),
            attr(dest_attr::PORT, &8080u16.to_be_bytes()),
            attr(dest_attr::FWD_METHOD, &3u32.to_ne_bytes()),
            attr(dest_attr::WEIGHT, &3u32.to_ne_bytes()),
            attr(dest_attr::TUN_TYPE, &[0]),
            attr(dest_attr::TUN_PORT, &[0, 0]),
            attr(dest_attr::TUN_FLAGS, &0u16.to_ne_bytes()),
            attr(dest_attr::U_THRESH, &50u32.to_ne_bytes()),
            attr(dest_attr::L_THRESH, &20u32.to_ne_bytes()),
            attr(dest_attr::ACTIVE_CONNS, &7u32.to_ne_bytes()),
            attr(dest_attr::INACT_CONNS, &8u32.to_ne_bytes()),
            attr(dest_attr::PERSIST_CONNS, &9u32.to_ne_bytes()),
            attr(dest_attr::ADDR_FAMILY, &AF_INET.to_ne_bytes()),
            stats_attrs(dest_attr::STATS, dest_attr::STATS64, &stats(100)),
        ]),
    );
    assert_eq!(msgs[1].1, want_v4);
    // One per batch.
    let one = dump_batches(&cp, Some(&s), want_v4.len().max(want_v6.len()) + 4);
    assert_eq!(one.iter().map(Vec::len).collect::<Vec<_>>(), [1, 1]);
    // Unknown service: empty dump, cursor kept.
    let req = tcp([9, 9, 9, 9], 1).nest(false);
    assert_eq!(cp.dump_dests(&req, 4, &ENV, |_, _| panic!("no entries")), 4);
}

#[test]
fn empty_service_nest_dumps_all_services() {
    // moby/ipvs sends an empty nested SERVICE with its GET_SERVICE dump: it is ignored.
    let mut cp = cp();
    add_svc(&mut cp, &tcp([10, 0, 0, 1], 80)).unwrap();
    let mut n = 0;
    assert_eq!(cp.dump_services(0, &ENV, |_, _| { n += 1; Ok(()) }), 1);
    assert_eq!(n, 1);
}

// ---------------------------------------------------------------------------------------------
// /proc/net/ip_vs

#[test]
fn proc_ip_vs_lines() {
    let mut cp = cp();
    let a = Svc { flags: svc_flags::ONEPACKET, ..tcp([10, 0, 0, 1], 80) };
    add_svc(&mut cp, &a).unwrap();
    let b = Svc { proto: 17, flags: svc_flags::PERSISTENT, timeout: 300, netmask: [255, 255, 255, 0], sched: "wrr", ..tcp([192, 168, 1, 10], 53) };
    add_svc(&mut cp, &b).unwrap();
    let c = Svc { flags: svc_flags::ONEPACKET | svc_flags::PERSISTENT, timeout: 60, sched: "none", ..fwm(AF_INET, 0x10) };
    add_svc(&mut cp, &c).unwrap();
    let v6a = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd];
    let d = Svc { flags: svc_flags::PERSISTENT | svc_flags::ONEPACKET, timeout: 10, ..v6(v6a, 443) };
    add_svc(&mut cp, &d).unwrap();
    add_svc(&mut cp, &Svc { proto: 200, ..tcp([10, 0, 0, 2], 1) }).unwrap();
    dest_cmd(&mut cp, cmd::NEW_DEST, &a, &dst([10, 0, 1, 1], 8080, 1)).unwrap();
    dest_cmd(&mut cp, cmd::NEW_DEST, &a, &Dst { fwd: 3, ..dst([10, 0, 1, 2], 8080, 100) }).unwrap();
    dest_cmd(&mut cp, cmd::NEW_DEST, &a, &Dst { fwd: 1, ..dst([127, 0, 0, 1], 80, 0) }).unwrap();
    let v6dest = Dst { af: Some(AF_INET6), addr: addr16(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]).to_vec(), fwd: 2, ..dst([0; 4], 443, 2) };
    dest_cmd(&mut cp, cmd::NEW_DEST, &d, &v6dest).unwrap();
    let ai = store::find_service(&cp.store, &ServiceKey::Addr { af: AF_INET, protocol: 6, addr: addr16(&[10, 0, 0, 1]), port: [0, 80] }, cp.hash_salt).unwrap();
    cp.store.services[ai].dests[1].info.active_conns = 12;
    cp.store.services[ai].dests[1].info.inact_conns = 345;

    let mut text = String::new();
    cp.write_proc_ip_vs(&mut text, 4096).unwrap();
    // Buckets: b 0x11^0xc0a8010a^0^53 -> 0x2e, a 0x57, d (v6, fold 0x20010db8^0xabcd) 6^0x75^1^0x1bb -> 0xc9,
    // proto 200: 200^2^0^1 -> 0xcb; then the fwmark table.
    let want = "\
IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
UDP  C0A8010A:0035 wrr  persistent 300000 FFFFFF00
TCP  0A000001:0050 rr ops  
  -> 7F000001:0050      Local   0      0          0         
  -> 0A000102:1F90      Route   100    12         345       
  -> 0A000101:1F90      Masq    1      0          0         
TCP  [2001:0db8:0000:0000:0000:0000:0000:abcd]:01BB rr persistent 10000 80000000
  -> [2001:0db8:0000:0000:0000:0000:0000:0002]:01BB      Tunnel  2      0          0         
IP_200  0A000002:0001 rr  
FWM  00000010 none ops persistent 60000 FFFFFFFF
";
    assert_eq!(text, want);
}

#[test]
fn proc_protocol_names() {
    use ipvs_core_host::ipvs_core::proc_text::write_proto_name;
    let names: Vec<String> = [0u16, 1, 6, 17, 58, 132, 50, 255]
        .iter()
        .map(|&p| {
            let mut s = String::new();
            write_proto_name(&mut s, p).unwrap();
            s
        })
        .collect();
    assert_eq!(names, ["IP", "ICMP", "TCP", "UDP", "ICMPv6", "SCTP", "IP_50", "IP_255"]);
}

#[test]
fn dest_info_view_for_schedulers() {
    let info = DestInfo {
        conf: DestConf {
            af: AF_INET,
            addr: addr16(&[1, 2, 3, 4]),
            port: [0, 80],
            settings: DestSettings { weight: 3, ..DestSettings::default() },
            last_weight: 3,
        },
        active_conns: 1,
        inact_conns: 2,
        persist_conns: 3,
        flags: 2,
    };
    let v = info.view();
    assert_eq!((v.weight, v.active_conns, v.inact_conns, v.persist_conns), (3, 1, 2, 3));
    assert!(v.overloaded() && v.available);
}

#[test]
fn zero_fwmark_is_a_tcp_service_to_the_zero_address() {
    let mut cp = cp();
    // Whatever PROTOCOL/ADDR/PORT say, a FWMARK attribute (even 0) wins, as upstream.
    let mut s = fwm(AF_INET, 0);
    s.proto = 17;
    s.addr = addr16(&[1, 2, 3, 4]).to_vec();
    s.port = 99;
    add_svc(&mut cp, &s).unwrap();
    assert_eq!(services(&cp), [ServiceKey::Addr { af: AF_INET, protocol: 6, addr: [0; 16], port: [0, 0] }]);
    assert_eq!(add_svc(&mut cp, &Svc { fwmark: None, proto: 6, addr: vec![0; 16], port: 0, ..s.clone() }), Err(Errno::EEXIST));
    let mut text = String::new();
    cp.write_proc_ip_vs(&mut text, 4096).unwrap();
    assert!(text.ends_with("TCP  00000000:0000 rr  \n"), "{text}");
}
