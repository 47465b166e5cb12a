#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Stateful fuzzing of the control plane: random sequences of service/dest commands from a
//! small universe (so they collide), checking invariants after each step. Bounded by
//! PROPTEST_CASES.
mod common;
use common::{addr16, attr, cat, ctx, VecStore, ENV};
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::control::ControlPlane;
use ipvs_core_host::ipvs_core::policy::{CmdAttrs, CMD_POLICY};
use ipvs_core_host::ipvs_core::encode::FillFn;
use ipvs_core_host::ipvs_core::nlattr::{Attrs, Full, Table, Writer};
use ipvs_core_host::ipvs_core::service::ServiceKey;
use ipvs_core_host::ipvs_core::store::{self, Store};
use ipvs_core_host::ipvs_core::uapi::{cmd, cmd_attr, dest_attr, svc_attr, AF_INET, AF_INET6};
use ipvs_core_host::sched::Flow;
use proptest::prelude::*;
use std::collections::HashSet;

#[derive(Clone, Debug)]
struct SvcSpec {
    af6: bool,
    fwmark: Option<u32>,
    proto: u16,
    host: u8,
    port: u16,
    sched: &'static str,
    flags: u32,
    mask: u32,
    timeout: u32,
    plen: u32,
}

#[derive(Clone, Debug)]
struct DestSpec {
    af: Option<u16>,
    host: u8,
    port: u16,
    fwd: u32,
    weight: i32,
    u: u32,
    l: u32,
    tun_type: u8,
    tun_port: u16,
}

#[derive(Clone, Debug)]
enum Op {
    Svc(u8, SvcSpec),
    Dest(u8, SvcSpec, DestSpec),
    Zero(Option<SvcSpec>),
    Flush,
    FailNextInsert,
}

/// Identities come from a pool of 4 services so that commands collide.
fn svc_spec() -> impl Strategy<Value = SvcSpec> {
    let ids = vec![
        (false, None, 6u16, 1u8, 80u16),
        (false, None, 17, 1, 80),
        (true, None, 6, 1, 443),
        (false, Some(1u32), 6, 0, 0),
    ];
    (
        prop::sample::select(ids),
        prop::sample::select(vec![
            "rr", "rr", "wrr", "wrr", "none", "x", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos",
        ]),
        0u32..0x40,
        prop::sample::select(vec![0u32, 1, 0x3f, !0]),
        0u32..5,
        prop::sample::select(vec![64u32, 128, 128, 0, 129]),
    )
        .prop_map(|((af6, fwmark, proto, host, port), sched, flags, mask, timeout, plen)| SvcSpec {
            af6,
            fwmark,
            proto,
            host,
            port,
            sched,
            flags,
            mask,
            timeout,
            plen,
        })
}

fn dest_spec() -> impl Strategy<Value = DestSpec> {
    (
        prop::sample::select(vec![None, None, Some(AF_INET), Some(AF_INET), Some(AF_INET6), Some(7)]),
        1u8..3,
        prop::sample::select(vec![80u16, 8080]),
        0u32..5,
        prop::sample::select(vec![-1i32, 0, 1, 1, 2, 3, 3, 5]),
        0u32..3,
        0u32..3,
        0u8..3,
        0u16..2,
    )
        .prop_map(|(af, host, port, fwd, weight, u, l, tun_type, tun_port)| DestSpec {
            af,
            host,
            port,
            fwd,
            weight,
            u,
            l,
            tun_type,
            tun_port,
        })
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => svc_spec().prop_map(|s| Op::Svc(cmd::NEW_SERVICE, s)),
        2 => (prop::sample::select(vec![cmd::SET_SERVICE, cmd::DEL_SERVICE]), svc_spec())
            .prop_map(|(c, s)| Op::Svc(c, s)),
        12 => (prop::sample::select(vec![cmd::NEW_DEST, cmd::SET_DEST, cmd::DEL_DEST]), svc_spec(), dest_spec())
            .prop_map(|(c, s, d)| Op::Dest(c, s, d)),
        1 => prop::option::of(svc_spec()).prop_map(Op::Zero),
        1 => Just(Op::Flush),
        1 => Just(Op::FailNextInsert),
    ]
}

fn svc_nest(s: &SvcSpec, full: bool) -> Vec<u8> {
    let af = if s.af6 { AF_INET6 } else { AF_INET };
    let addr = if s.af6 { addr16(&[0x20, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, s.host]) } else { addr16(&[10, 0, 0, s.host]) };
    let mut p = vec![attr(svc_attr::AF, &af.to_ne_bytes())];
    match s.fwmark {
        Some(m) => p.push(attr(svc_attr::FWMARK, &m.to_ne_bytes())),
        None => {
            p.push(attr(svc_attr::PROTOCOL, &s.proto.to_ne_bytes()));
            p.push(attr(svc_attr::ADDR, &addr));
            p.push(attr(svc_attr::PORT, &s.port.to_be_bytes()));
        }
    }
    if full {
        p.push(attr(svc_attr::SCHED_NAME, &[s.sched.as_bytes(), b"\0"].concat()));
        p.push(attr(svc_attr::FLAGS, &[s.flags.to_ne_bytes(), s.mask.to_ne_bytes()].concat()));
        p.push(attr(svc_attr::TIMEOUT, &s.timeout.to_ne_bytes()));
        let nm = if s.af6 { s.plen.to_ne_bytes() } else { [255, 255, 255, 0] };
        p.push(attr(svc_attr::NETMASK, &nm));
    }
    attr(cmd_attr::SERVICE, &cat(&p))
}

fn key_nest(key: &ServiceKey) -> Vec<u8> {
    let mut p = vec![attr(svc_attr::AF, &key.af().to_ne_bytes())];
    match *key {
        ServiceKey::Fwmark { mark, .. } => p.push(attr(svc_attr::FWMARK, &mark.to_ne_bytes())),
        ServiceKey::Addr { protocol, addr, port, .. } => {
            p.push(attr(svc_attr::PROTOCOL, &protocol.to_ne_bytes()));
            p.push(attr(svc_attr::ADDR, &addr));
            p.push(attr(svc_attr::PORT, &port));
        }
    }
    attr(cmd_attr::SERVICE, &cat(&p))
}

fn dest_nest(d: &DestSpec, full: bool) -> Vec<u8> {
    let addr = if d.af == Some(AF_INET6) { addr16(&[0x20, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, d.host]) } else { addr16(&[10, 1, 0, d.host]) };
    let mut p = vec![attr(dest_attr::ADDR, &addr), attr(dest_attr::PORT, &d.port.to_be_bytes())];
    if let Some(af) = d.af {
        p.push(attr(dest_attr::ADDR_FAMILY, &af.to_ne_bytes()));
    }
    if full {
        p.push(attr(dest_attr::FWD_METHOD, &d.fwd.to_ne_bytes()));
        p.push(attr(dest_attr::WEIGHT, &d.weight.to_ne_bytes()));
        p.push(attr(dest_attr::U_THRESH, &d.u.to_ne_bytes()));
        p.push(attr(dest_attr::L_THRESH, &d.l.to_ne_bytes()));
        p.push(attr(dest_attr::TUN_TYPE, &[d.tun_type]));
        p.push(attr(dest_attr::TUN_PORT, &d.tun_port.to_be_bytes()));
    }
    attr(cmd_attr::DEST, &cat(&p))
}

fn check_invariants(cp: &ControlPlane<VecStore>) -> Result<(), TestCaseError> {
    let st = &cp.store;
    // Listing order and unique keys.
    let slots: Vec<(u8, u8)> = st.services.iter().map(|s| s.conf.key.list_slot(cp.hash_salt)).collect();
    prop_assert!(slots.windows(2).all(|w| w[0] <= w[1]), "order {:?}", slots);
    let keys: HashSet<String> = st.services.iter().map(|s| format!("{:?}", s.conf.key)).collect();
    prop_assert_eq!(keys.len(), st.services.len());
    for (i, s) in st.services.iter().enumerate() {
        // The bucket-wise binary search finds every service where the listing has it.
        prop_assert_eq!(store::find_service(st, &s.conf.key, cp.hash_salt), Some(i));
        prop_assert_eq!(s.sched.kind(), s.conf.sched);
        prop_assert!(s.conf.flags & 2 != 0, "HASHED");
        let ids: HashSet<String> = s.dests.iter().map(|d| format!("{:?}", (d.info.conf.af, d.info.conf.addr, d.info.conf.port))).collect();
        prop_assert_eq!(ids.len(), s.dests.len());
        for d in &s.dests {
            let set = &d.info.conf.settings;
            prop_assert!(set.weight >= 0 && set.l_threshold <= set.u_threshold);
            prop_assert!(d.info.conf.af == s.conf.key.af() || d.info.conf.settings.fwd_method == 2);
        }
        // The scheduler only ever picks an available dest.
        let views = st.views(i);
        let mut sched = s.sched.clone();
        if let Some(pick) = sched.schedule(&views[..], &Flow::default(), &ctx()) {
            prop_assert!(views[pick].weight > 0);
        }
    }
    // A full dump returns every service, each a SERVICE attribute.
    let mut n = 0;
    let next = cp.dump_services(0, &ENV, |c, fill: &mut FillFn<'_>| {
        assert_eq!(c, cmd::NEW_SERVICE);
        let mut buf = vec![0u8; 1024];
        let mut w = Writer::new(&mut buf);
        fill(&mut w)?;
        let a: Vec<_> = Attrs::new(w.written()).collect();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].kind, cmd_attr::SERVICE);
        n += 1;
        Ok(())
    });
    prop_assert_eq!(next, st.services.len());
    prop_assert_eq!(n, st.services.len());
    let mut text = String::new();
    cp.write_proc_ip_vs(&mut text, 4096).unwrap();
    let dests: usize = st.services.iter().map(|s| s.dests.len()).sum();
    prop_assert_eq!(text.lines().count(), 3 + st.services.len() + dests);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn command_sequences_keep_invariants(ops in prop::collection::vec(op(), 1..60), salt in any::<u32>()) {
        let mut cp = ControlPlane::new(VecStore::new(), salt);
        for op in ops {
            let before = cp.store.clone();
            let (command, msg) = match &op {
                Op::Svc(c, s) => (*c, svc_nest(s, *c != cmd::DEL_SERVICE)),
                Op::Dest(c, s, d) => {
                    // Mostly aim at an existing service (the choice is still a function of the op).
                    let n = cp.store.services.len();
                    let svc = if n > 0 && s.timeout < 4 {
                        key_nest(&cp.store.services[usize::from(d.host) % n].conf.key)
                    } else {
                        svc_nest(s, false)
                    };
                    (*c, cat(&[svc, dest_nest(d, *c != cmd::DEL_DEST)]))
                }
                Op::Zero(s) => (cmd::ZERO, s.as_ref().map(|s| svc_nest(s, false)).unwrap_or_default()),
                Op::Flush => (cmd::FLUSH, vec![]),
                Op::FailNextInsert => {
                    cp.store.fail_next_insert = Some(Errno::ENOMEM);
                    continue;
                }
            };
            let attrs: CmdAttrs<'_> = Table::parse(&msg, &CMD_POLICY).unwrap();
            let r = cp.set_cmd(command, &attrs, &ENV);
            if r.is_err() {
                let mut after = cp.store.clone();
                after.fail_next_insert = before.fail_next_insert;
                prop_assert_eq!(&after, &before, "{:?} failed with {:?} but changed the store", op, r);
            }
            if let (Ok(()), Op::Svc(cmd::NEW_SERVICE, _)) = (r, &op) {
                prop_assert_eq!(cp.store.service_count(), before.service_count() + 1);
            }
            check_invariants(&cp)?;
        }
    }
}

/// The shape of the glue's `Dump::entry` (see rust/sys/genl.rs): the dump entry points must be
/// callable through it.
struct MockDump {
    room: usize,
    msgs: Vec<(u8, Vec<u8>)>,
}

impl MockDump {
    fn entry(&mut self, cmd: u8, fill: impl FnOnce(&mut Writer<'_>) -> Result<(), Full>) -> Result<(), Full> {
        let mut buf = vec![0u8; self.room];
        let mut w = Writer::new(&mut buf);
        fill(&mut w)?;
        self.room -= w.len();
        self.msgs.push((cmd, w.written().to_vec()));
        Ok(())
    }
}

#[test]
fn glue_call_pattern() {
    let mut cp = ControlPlane::new(VecStore::new(), 0);
    let s = SvcSpec { af6: false, fwmark: None, proto: 6, host: 1, port: 80, sched: "rr", flags: 0, mask: !0, timeout: 0, plen: 0 };
    let msg = svc_nest(&s, true);
    cp.set_cmd(cmd::NEW_SERVICE, &Table::parse(&msg, &CMD_POLICY).unwrap(), &ENV).unwrap();
    let mut dump = MockDump { room: 1000, msgs: vec![] };
    let next = cp.dump_services(0, &ENV, |c, fill| dump.entry(c, |w| fill(w)));
    assert_eq!((next, dump.msgs.len()), (1, 1));
    let mut dump = MockDump { room: 10, msgs: vec![] };
    assert_eq!(cp.dump_services(0, &ENV, |c, fill| dump.entry(c, |w| fill(w))), 0);
    let request = svc_nest(&s, false);
    let mut dump = MockDump { room: 1000, msgs: vec![] };
    assert_eq!(cp.dump_dests(&request, 0, &ENV, |c, fill| dump.entry(c, |w| fill(w))), 0);
}
