#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod common;
use common::VecStore;
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::control::ControlPlane;
use ipvs_core_host::ipvs_core::env::Env;
use ipvs_core_host::ipvs_core::policy::{CmdAttrs, CMD_POLICY};
use ipvs_core_host::ipvs_core::decode::{parse_dest, parse_service};
use ipvs_core_host::ipvs_core::service::ServiceKey;
use ipvs_core_host::ipvs_core::nlattr::{align, Table, Writer};
use ipvs_core_host::ipvs_core::daemon::{DaemonConfig, DaemonRequest, Daemons, Device, Group};
use ipvs_core_host::ipvs_core::uapi::{cmd, cmd_attr, daemon_attr, dest_attr, svc_attr, AF_INET, AF_INET6};

const ENV: Env = Env { hz: 1000, conn_tab_size: 4096, ipv6_enabled: true };

fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    v.resize(align(v.len()), 0);
    v
}

fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn tcp_service(full: bool) -> Vec<u8> {
    let mut parts = vec![
        attr(svc_attr::AF, &AF_INET.to_ne_bytes()),
        attr(svc_attr::PROTOCOL, &6u16.to_ne_bytes()),
        attr(svc_attr::ADDR, &[10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        attr(svc_attr::PORT, &[0, 80]),
    ];
    if full {
        parts.push(attr(svc_attr::SCHED_NAME, b"wlc\0"));
        parts.push(attr(svc_attr::FLAGS, &[1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]));
        parts.push(attr(svc_attr::TIMEOUT, &0u32.to_ne_bytes()));
        parts.push(attr(svc_attr::NETMASK, &[255, 255, 255, 255]));
    }
    cat(&parts)
}

fn cmd_attrs(buf: &[u8]) -> CmdAttrs<'_> {
    Table::parse(buf, &CMD_POLICY).unwrap()
}

#[test]
fn service_needs_af_and_an_identity() {
    assert_eq!(parse_service(None, false, &ENV).err(), Some(Errno::EINVAL));
    assert_eq!(parse_service(Some(&[]), false, &ENV).err(), Some(Errno::EINVAL), "moby's empty nest");
    let no_port = cat(&[attr(svc_attr::AF, &AF_INET.to_ne_bytes()), attr(svc_attr::PROTOCOL, &6u16.to_ne_bytes())]);
    assert_eq!(parse_service(Some(&no_port), false, &ENV).err(), Some(Errno::EINVAL));
    let fwm = cat(&[attr(svc_attr::AF, &AF_INET6.to_ne_bytes()), attr(svc_attr::FWMARK, &7u32.to_ne_bytes())]);
    assert_eq!(
        parse_service(Some(&fwm), false, &ENV).unwrap().key,
        ServiceKey::Fwmark { af: AF_INET6, mark: 7 }
    );
}

#[test]
fn service_family_must_be_supported() {
    let fwm = cat(&[attr(svc_attr::AF, &7u16.to_ne_bytes()), attr(svc_attr::FWMARK, &7u32.to_ne_bytes())]);
    assert_eq!(parse_service(Some(&fwm), false, &ENV).err(), Some(Errno::EAFNOSUPPORT));
    let v6 = cat(&[attr(svc_attr::AF, &AF_INET6.to_ne_bytes()), attr(svc_attr::FWMARK, &7u32.to_ne_bytes())]);
    let no_v6 = Env { ipv6_enabled: false, ..ENV };
    assert_eq!(parse_service(Some(&v6), false, &no_v6).err(), Some(Errno::EAFNOSUPPORT));
}

#[test]
fn service_policy_violation_is_einval() {
    let mut buf = tcp_service(false);
    buf.extend(attr(svc_attr::SCHED_NAME, b"no-nul"));
    assert_eq!(parse_service(Some(&buf), false, &ENV).err(), Some(Errno::EINVAL));
}

#[test]
fn full_service_needs_sched_flags_timeout_netmask() {
    assert_eq!(parse_service(Some(&tcp_service(false)), true, &ENV).err(), Some(Errno::EINVAL));
    let buf = tcp_service(true);
    let spec = parse_service(Some(&buf), true, &ENV).unwrap();
    let s = spec.settings.unwrap();
    assert_eq!(s.sched_name, b"wlc");
    assert_eq!((s.flags, s.flags_mask), (1, u32::MAX));
    assert_eq!(s.netmask, [255; 4]);
    assert_eq!(
        spec.key,
        ServiceKey::Addr { af: AF_INET, protocol: 6, addr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], port: [0, 80] }
    );
}

#[test]
fn dest_parsing() {
    assert_eq!(parse_dest(None, false).err(), Some(Errno::EINVAL));
    let id = cat(&[attr(dest_attr::ADDR, &[10, 0, 0, 2]), attr(dest_attr::PORT, &[0, 80])]);
    let d = parse_dest(Some(&id), false).unwrap();
    assert_eq!((d.af, d.port, d.addr[..4].to_vec()), (0, [0, 80], vec![10, 0, 0, 2]));
    assert_eq!(parse_dest(Some(&id), true).err(), Some(Errno::EINVAL));
    let full = cat(&[
        id.clone(),
        attr(dest_attr::FWD_METHOD, &(0x10 | 3u32).to_ne_bytes()),
        attr(dest_attr::WEIGHT, &(-1i32).to_ne_bytes()),
        attr(dest_attr::U_THRESH, &0u32.to_ne_bytes()),
        attr(dest_attr::L_THRESH, &0u32.to_ne_bytes()),
        attr(dest_attr::TUN_TYPE, &[0]),
        attr(dest_attr::TUN_PORT, &[0, 0]),
        attr(dest_attr::TUN_FLAGS, &0u16.to_ne_bytes()),
    ]);
    let s = parse_dest(Some(&full), true).unwrap().settings.unwrap();
    assert_eq!(s.fwd_method, 3, "only the forwarding bits are kept");
    assert_eq!(s.weight, -1, "negative weight survives parsing; -ERANGE comes later");
}

#[test]
fn set_cmd_on_empty_table() {
    let mut cp = ControlPlane::new(VecStore::new(), 0);
    let none = cmd_attrs(&[]);
    assert_eq!(cp.set_cmd(cmd::FLUSH, &none, &ENV), Ok(()));
    assert_eq!(cp.set_cmd(cmd::ZERO, &none, &ENV), Ok(()));
    assert_eq!(cp.set_cmd(cmd::DEL_SERVICE, &none, &ENV), Err(Errno::EINVAL));
    let svc = attr(cmd_attr::SERVICE, &tcp_service(false));
    assert_eq!(cp.set_cmd(cmd::ZERO, &cmd_attrs(&svc), &ENV), Err(Errno::ESRCH));
    assert_eq!(cp.set_cmd(cmd::DEL_SERVICE, &cmd_attrs(&svc), &ENV), Err(Errno::ESRCH));
    assert_eq!(cp.set_cmd(cmd::NEW_DEST, &cmd_attrs(&svc), &ENV), Err(Errno::ESRCH));
    assert_eq!(cp.set_cmd(cmd::SET_SERVICE, &cmd_attrs(&svc), &ENV), Err(Errno::EINVAL), "SET needs a full entry");
    let full = attr(cmd_attr::SERVICE, &tcp_service(true));
    assert_eq!(cp.set_cmd(cmd::SET_SERVICE, &cmd_attrs(&full), &ENV), Err(Errno::ESRCH));
}

#[test]
fn set_and_get_config() {
    let mut cp = ControlPlane::new(VecStore::new(), 0);
    let req = cat(&[
        attr(cmd_attr::TIMEOUT_TCP, &61u32.to_ne_bytes()),
        attr(cmd_attr::TIMEOUT_TCP_FIN, &62u32.to_ne_bytes()),
        attr(cmd_attr::TIMEOUT_UDP, &63u32.to_ne_bytes()),
    ]);
    cp.set_cmd(cmd::SET_CONFIG, &cmd_attrs(&req), &ENV).unwrap();
    let mut out = [0u8; 64];
    let mut w = Writer::new(&mut out);
    assert_eq!(cp.get_cmd(cmd::GET_CONFIG, &cmd_attrs(&[]), &ENV, &mut w), Ok(cmd::SET_CONFIG));
    assert_eq!(w.written(), &req[..]);
    // Zero keeps, too large is refused whole.
    let req = cat(&[attr(cmd_attr::TIMEOUT_TCP, &0u32.to_ne_bytes()), attr(cmd_attr::TIMEOUT_UDP, &2_147_484u32.to_ne_bytes())]);
    assert_eq!(cp.set_cmd(cmd::SET_CONFIG, &cmd_attrs(&req), &ENV), Err(Errno::EINVAL));
    assert_eq!((cp.timeouts.tcp, cp.timeouts.udp), (61, 63));
}

#[test]
fn get_info_reply_bytes() {
    let cp = ControlPlane::new(VecStore::new(), 0);
    let mut out = [0u8; 64];
    let mut w = Writer::new(&mut out);
    assert_eq!(cp.get_cmd(cmd::GET_INFO, &cmd_attrs(&[]), &ENV, &mut w), Ok(cmd::SET_INFO));
    let want = cat(&[attr(1, &0x010201u32.to_ne_bytes()), attr(2, &4096u32.to_ne_bytes())]);
    assert_eq!(w.written(), &want[..]);
}

#[test]
fn get_service_doit() {
    let cp = ControlPlane::new(VecStore::new(), 0);
    let mut out = [0u8; 64];
    let mut w = Writer::new(&mut out);
    assert_eq!(cp.get_cmd(cmd::GET_SERVICE, &cmd_attrs(&[]), &ENV, &mut w), Err(Errno::EINVAL));
    let svc = attr(cmd_attr::SERVICE, &tcp_service(false));
    assert_eq!(cp.get_cmd(cmd::GET_SERVICE, &cmd_attrs(&svc), &ENV, &mut w), Err(Errno::ESRCH));
    assert!(w.is_empty());
}

fn daemon_nest(state: u32, ifn: &[u8], extra: &[Vec<u8>]) -> Vec<u8> {
    let mut parts = vec![
        attr(daemon_attr::STATE, &state.to_ne_bytes()),
        attr(daemon_attr::MCAST_IFN, ifn),
        attr(daemon_attr::SYNC_ID, &1u32.to_ne_bytes()),
    ];
    parts.extend(extra.iter().cloned());
    attr(cmd_attr::DAEMON, &cat(&parts))
}

#[test]
fn daemon_commands() {
    let cp = ControlPlane::new(VecStore::new(), 0);
    assert_eq!(cp.daemon_cmd(cmd::DEL_DAEMON, &cmd_attrs(&[])), Err(Errno::EINVAL));
    let del = |state: u32| attr(cmd_attr::DAEMON, &attr(daemon_attr::STATE, &state.to_ne_bytes()));
    assert_eq!(cp.daemon_cmd(cmd::DEL_DAEMON, &cmd_attrs(&del(2))), Ok(DaemonRequest::Stop { state: 2 }));
    let group = |g: &[u8]| daemon_nest(1, b"lo\0", &[attr(daemon_attr::MCAST_GROUP, g)]);
    assert_eq!(cp.daemon_cmd(cmd::NEW_DAEMON, &cmd_attrs(&group(&[10, 0, 0, 1]))), Err(Errno::EINVAL), "group must be multicast");
    let group6 = |g: &[u8; 16]| daemon_nest(1, b"lo\0", &[attr(daemon_attr::MCAST_GROUP6, g)]);
    let mut not_mc6 = [0u8; 16];
    not_mc6[0] = 0xfe;
    assert_eq!(cp.daemon_cmd(cmd::NEW_DAEMON, &cmd_attrs(&group6(&not_mc6))), Err(Errno::EINVAL));
    // Without state, interface or sync id.
    let no_id = attr(cmd_attr::DAEMON, &cat(&[attr(daemon_attr::STATE, &1u32.to_ne_bytes()), attr(daemon_attr::MCAST_IFN, b"lo\0")]));
    assert_eq!(cp.daemon_cmd(cmd::NEW_DAEMON, &cmd_attrs(&no_id)), Err(Errno::EINVAL));
    let Ok(DaemonRequest::Start { state: 1, cfg }) = cp.daemon_cmd(cmd::NEW_DAEMON, &cmd_attrs(&daemon_nest(1, b"eth0\0", &[]))) else {
        panic!("a plain master start parses");
    };
    assert_eq!((cfg.ifname(), cfg.group, cfg.port, cfg.ttl, cfg.sync_maxlen), (&b"eth0"[..], Group::V4([224, 0, 0, 81]), 0, 0, 0));
}

/// Upstream's order in `start_sync_thread()`: the interface must exist (ENODEV whatever the
/// state), then a daemon of the state must not run (EEXIST) and the state must be master or
/// backup (EINVAL); DEL_DAEMON answers ESRCH for a daemon that does not run.
#[test]
fn daemons_start_and_stop() {
    let cp = ControlPlane::new(VecStore::new(), 0);
    let cfg = |ifn: &[u8]| match cp.daemon_cmd(cmd::NEW_DAEMON, &cmd_attrs(&daemon_nest(1, ifn, &[]))) {
        Ok(DaemonRequest::Start { cfg, .. }) => cfg,
        other => panic!("{other:?}"),
    };
    let dev = |name: &[u8]| (name == b"lo" || name == b"eth0").then_some(Device { ifindex: 2, mtu: 9000 });
    let mut d: Daemons<u32> = Daemons::default();
    let mut started = Vec::new();
    let mut start = |state: u32, ifn: &[u8], d: &mut Daemons<u32>| {
        d.start(state, cfg(ifn), 4, dev, |s, c, _, ports| {
            started.push((s, c.sync_maxlen, ports));
            Ok(s)
        })
    };
    assert_eq!(start(1, b"nosuch0\0", &mut d), Err(Errno::ENODEV));
    assert_eq!(start(3, b"nosuch0\0", &mut d), Err(Errno::ENODEV));
    assert_eq!(start(3, b"lo\0", &mut d), Err(Errno::EINVAL));
    assert_eq!(start(1, b"eth0\0", &mut d), Ok(()));
    assert_eq!(start(1, b"eth0\0", &mut d), Err(Errno::EEXIST));
    assert_eq!(start(2, b"eth0\0", &mut d), Ok(()));
    assert_eq!(d.state(), 3);
    // A master's messages fit 1500 bytes; a backup's buffer fits the device's MTU.
    assert_eq!(started, vec![(1, 1472, 4), (2, 8972, 4)]);
    assert_eq!(d.configs().map(|(s, _)| s).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(d.stop(1), Ok(1));
    assert_eq!(d.stop(1), Err(Errno::ESRCH));
    assert_eq!(d.stop(3), Err(Errno::EINVAL));
    assert_eq!(d.state(), 2);
}

/// `start_sync_thread()`'s limits on the message size, and the IPv6 headers.
#[test]
fn daemon_config_settles() {
    let base = DaemonConfig { ifname: [0; 16], syncid: 0, sync_maxlen: 0, group: Group::V4([224, 0, 0, 81]), port: 0, ttl: 0 };
    let settle = |mut c: DaemonConfig, state: u32, mtu: u32| {
        c.settle(state, mtu);
        (c.sync_maxlen, c.port, c.ttl)
    };
    assert_eq!(settle(base, 1, 9000), (1472, 8848, 1));
    assert_eq!(settle(base, 2, 1280), (1472, 8848, 1));
    assert_eq!(settle(base, 2, 100_000), (65507, 8848, 1));
    assert_eq!(settle(DaemonConfig { sync_maxlen: 100, ..base }, 2, 1500), (1024, 8848, 1));
    assert_eq!(settle(DaemonConfig { sync_maxlen: 100, port: 9000, ttl: 5, ..base }, 1, 1500), (100, 9000, 5));
    assert_eq!(settle(DaemonConfig { sync_maxlen: 65535, ..base }, 1, 1500), (65507, 8848, 1));
    let v6 = DaemonConfig { group: Group::V6([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x51]), ..base };
    assert_eq!(settle(v6, 1, 1500), (1452, 8848, 1));
}

#[test]
fn dump_dests_ignores_bad_requests() {
    let cp = ControlPlane::new(VecStore::new(), 0);
    let mut calls = 0;
    assert_eq!(cp.dump_dests(&[1, 2, 3], 5, &ENV, |_, _| { calls += 1; Ok(()) }), 5);
    let svc = attr(cmd_attr::SERVICE, &tcp_service(false));
    assert_eq!(cp.dump_dests(&svc, 3, &ENV, |_, _| { calls += 1; Ok(()) }), 3);
    assert_eq!(calls, 0);
}

/// The backup's receive work reads at most its budget per run and applies every datagram it
/// reads: a flood of any size is applied whole, over as many runs as it takes, each datagram
/// once; a run that stops at its budget asks for another; errors do not end the queue.
#[test]
fn backup_drain_applies_every_datagram_once() {
    use ipvs_core_host::ipvs_core::daemon::{drain, Read};
    for queued in [0usize, 1, 63, 64, 65, 128, 129, 1000] {
        let mut queue: std::collections::VecDeque<Option<usize>> = (0..queued).map(Some).collect();
        // An error the socket reports once, in the middle.
        queue.insert(queued / 2, None);
        let mut applied = Vec::new();
        let mut runs = 0;
        loop {
            runs += 1;
            let more = drain(64, || match queue.pop_front() {
                Some(Some(d)) => {
                    applied.push(d);
                    Read::Datagram
                }
                Some(None) => Read::Error,
                None => Read::Empty,
            });
            if !more {
                break;
            }
            assert!(runs <= queued + 2, "the work never ends");
        }
        assert_eq!(applied, (0..queued).collect::<Vec<_>>(), "{queued} queued");
        assert!(queue.is_empty());
    }
}
