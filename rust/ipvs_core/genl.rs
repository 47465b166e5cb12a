// SPDX-License-Identifier: GPL-2.0
//! The IPVS generic netlink commands: request decoding, the per-netns control state, and reply
//! encoding. The kernel glue moves bytes between skbs and these functions. The checks of the
//! request and their errnos are made here, in the order upstream makes them; the [`Store`]
//! adds those of the glue (what this module cannot serve yet, a dest that is not unicast,
//! allocation failures, the hooks' registration), as its methods say.

use core::fmt;

use super::dest::{self, DestInfo, DestUser};
use super::errno::{Errno, Result};
use super::nlattr::{Full, Rule, Table, Writer};
use super::procfs::{self, StatsView};
use super::service::{self, ServiceConf, ServiceUser, Store};
use super::timeouts::{TimeoutUpdate, Timeouts};
use super::uapi::{self, cmd, cmd_attr, daemon_attr, dest_attr, info_attr, stats_attr, svc_attr};

pub use super::service::ServiceKey;

pub const CMD_SLOTS: usize = cmd_attr::MAX as usize + 1;
const SVC_SLOTS: usize = svc_attr::MAX as usize + 1;
const DEST_SLOTS: usize = dest_attr::MAX as usize + 1;
const DAEMON_SLOTS: usize = daemon_attr::MAX as usize + 1;

/// Top-level attributes, indexed by `cmd_attr`.
pub type CmdAttrs<'a> = Table<'a, CMD_SLOTS>;

/// A policy from (attribute, rule) pairs; the attributes not named are `Ignore`. Only the
/// policy constants below call it, so it runs at compile time: an attribute beyond `N` fails
/// the build.
#[allow(clippy::indexing_slicing)] // compile-time evaluation: out of range is a build error
const fn policy<const N: usize>(rules: &[(u16, Rule)]) -> [Rule; N] {
    let mut p = [Rule::Ignore; N];
    let mut i = 0;
    while i < rules.len() {
        let (kind, rule) = rules[i];
        p[kind as usize] = rule;
        i += 1;
    }
    p
}

/// Policy of the top-level attributes (registered with the family, so genetlink checks it).
pub const CMD_POLICY: [Rule; CMD_SLOTS] = policy(&[
    (cmd_attr::SERVICE, Rule::Nested),
    (cmd_attr::DEST, Rule::Nested),
    (cmd_attr::DAEMON, Rule::Nested),
    (cmd_attr::TIMEOUT_TCP, Rule::U32),
    (cmd_attr::TIMEOUT_TCP_FIN, Rule::U32),
    (cmd_attr::TIMEOUT_UDP, Rule::U32),
]);

/// Policy of the attributes nested in SERVICE. STATS64 is absent upstream, so unchecked.
pub const SVC_POLICY: [Rule; SVC_SLOTS] = policy(&[
    (svc_attr::AF, Rule::U16),
    (svc_attr::PROTOCOL, Rule::U16),
    (svc_attr::ADDR, Rule::Binary(uapi::INET_ADDR_LEN)),
    (svc_attr::PORT, Rule::U16),
    (svc_attr::FWMARK, Rule::U32),
    (svc_attr::SCHED_NAME, Rule::NulString(uapi::SCHEDNAME_MAXLEN - 1)),
    (svc_attr::FLAGS, Rule::Binary(uapi::FLAGS_LEN)),
    (svc_attr::TIMEOUT, Rule::U32),
    (svc_attr::NETMASK, Rule::U32),
    (svc_attr::STATS, Rule::Nested),
    (svc_attr::PE_NAME, Rule::NulString(uapi::PENAME_MAXLEN)),
]);

/// Policy of the attributes nested in DEST. STATS64 is absent upstream, so unchecked.
pub const DEST_POLICY: [Rule; DEST_SLOTS] = policy(&[
    (dest_attr::ADDR, Rule::Binary(uapi::INET_ADDR_LEN)),
    (dest_attr::PORT, Rule::U16),
    (dest_attr::FWD_METHOD, Rule::U32),
    (dest_attr::WEIGHT, Rule::U32),
    (dest_attr::U_THRESH, Rule::U32),
    (dest_attr::L_THRESH, Rule::U32),
    (dest_attr::ACTIVE_CONNS, Rule::U32),
    (dest_attr::INACT_CONNS, Rule::U32),
    (dest_attr::PERSIST_CONNS, Rule::U32),
    (dest_attr::STATS, Rule::Nested),
    (dest_attr::ADDR_FAMILY, Rule::U16),
    (dest_attr::TUN_TYPE, Rule::U8),
    (dest_attr::TUN_PORT, Rule::U16),
    (dest_attr::TUN_FLAGS, Rule::U16),
]);

/// Policy of the attributes nested in DAEMON. The sync daemon is not implemented, but its
/// attributes are checked as upstream checks them, errnos included.
pub const DAEMON_POLICY: [Rule; DAEMON_SLOTS] = policy(&[
    (daemon_attr::STATE, Rule::U32),
    (daemon_attr::MCAST_IFN, Rule::NulString(uapi::IFNAME_MAXLEN - 1)),
    (daemon_attr::SYNC_ID, Rule::U32),
    (daemon_attr::SYNC_MAXLEN, Rule::U16),
    (daemon_attr::MCAST_GROUP, Rule::U32),
    (daemon_attr::MCAST_GROUP6, Rule::MinLen(16)),
    (daemon_attr::MCAST_PORT, Rule::U16),
    (daemon_attr::MCAST_TTL, Rule::U8),
]);

/// Sync daemon states (`IP_VS_STATE_*`).
pub const STATE_MASTER: u32 = 1;
pub const STATE_BACKUP: u32 = 2;

/// The settings NEW_SERVICE and SET_SERVICE must carry in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSettings<'a> {
    pub sched_name: &'a [u8],
    pub pe_name: Option<&'a [u8]>,
    /// `ip_vs_flags`: new flags, applied under `flags_mask` to the existing ones.
    pub flags: u32,
    pub flags_mask: u32,
    pub timeout: u32,
    /// Network byte order, as on the wire.
    pub netmask: [u8; 4],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSpec<'a> {
    pub key: ServiceKey,
    pub settings: Option<ServiceSettings<'a>>,
}

/// Environment facts the control plane needs from the running kernel.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub hz: u32,
    pub conn_tab_size: u32,
    pub ipv6_enabled: bool,
}

fn af_supported(af: u16, env: &Env) -> bool {
    af == uapi::AF_INET || (af == uapi::AF_INET6 && env.ipv6_enabled)
}

/// `ip_vs_genl_parse_service()`.
pub fn parse_service<'a>(nested: Option<&'a [u8]>, full: bool, env: &Env) -> Result<ServiceSpec<'a>> {
    let nested = nested.ok_or(Errno::EINVAL)?;
    let t = Table::parse(nested, &SVC_POLICY).map_err(|_| Errno::EINVAL)?;
    let af = t.u16(svc_attr::AF);
    let fwmark = t.u32(svc_attr::FWMARK);
    let by_addr = t.has(svc_attr::PORT) && t.has(svc_attr::PROTOCOL) && t.has(svc_attr::ADDR);
    let af = match af {
        Some(af) if fwmark.is_some() || by_addr => af,
        _ => return Err(Errno::EINVAL),
    };
    if !af_supported(af, env) {
        return Err(Errno::EAFNOSUPPORT);
    }
    let key = match fwmark {
        Some(0) => {
            // A zero mark is no mark: upstream then keys (and lists, and reports) the service
            // as TCP to the zero address and port.
            ServiceKey::Addr { af, protocol: uapi::IPPROTO_TCP, addr: [0; 16], port: [0; 2] }
        }
        Some(mark) => ServiceKey::Fwmark { af, mark },
        None => ServiceKey::Addr {
            af,
            protocol: t.u16(svc_attr::PROTOCOL).ok_or(Errno::EINVAL)?,
            addr: service::normalize_addr(af, t.bytes(svc_attr::ADDR).ok_or(Errno::EINVAL)?),
            port: t.be16(svc_attr::PORT).ok_or(Errno::EINVAL)?,
        },
    };
    let settings = if full {
        let (Some(sched_name), Some(flags), Some(timeout), Some(netmask)) = (
            t.cstr(svc_attr::SCHED_NAME),
            t.bytes::<{ uapi::FLAGS_LEN }>(svc_attr::FLAGS),
            t.u32(svc_attr::TIMEOUT),
            t.bytes::<4>(svc_attr::NETMASK),
        ) else {
            return Err(Errno::EINVAL);
        };
        Some(ServiceSettings {
            sched_name,
            pe_name: t.cstr(svc_attr::PE_NAME),
            flags: u32::from_ne_bytes([flags[0], flags[1], flags[2], flags[3]]),
            flags_mask: u32::from_ne_bytes([flags[4], flags[5], flags[6], flags[7]]),
            timeout,
            netmask,
        })
    } else {
        None
    };
    Ok(ServiceSpec { key, settings })
}

/// The settings NEW_DEST and SET_DEST must carry in full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestSettings {
    /// Forwarding method (`fwd::*`), already masked.
    pub fwd_method: u32,
    /// Signed, as upstream keeps it: a negative weight is -ERANGE later.
    pub weight: i32,
    pub u_threshold: u32,
    pub l_threshold: u32,
    pub tun_type: u8,
    /// Network byte order.
    pub tun_port: [u8; 2],
    pub tun_flags: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestSpec {
    /// 0 when the client did not say (old clients): the service's family applies.
    pub af: u16,
    pub addr: [u8; 16],
    /// Network byte order.
    pub port: [u8; 2],
    pub settings: Option<DestSettings>,
}

/// `ip_vs_genl_parse_dest()`.
pub fn parse_dest(nested: Option<&[u8]>, full: bool) -> Result<DestSpec> {
    let nested = nested.ok_or(Errno::EINVAL)?;
    let t = Table::parse(nested, &DEST_POLICY).map_err(|_| Errno::EINVAL)?;
    let (Some(addr), Some(port)) = (t.bytes(dest_attr::ADDR), t.be16(dest_attr::PORT)) else {
        return Err(Errno::EINVAL);
    };
    let settings = if full {
        let (Some(fwd), Some(weight), Some(u_threshold), Some(l_threshold)) = (
            t.u32(dest_attr::FWD_METHOD),
            t.u32(dest_attr::WEIGHT),
            t.u32(dest_attr::U_THRESH),
            t.u32(dest_attr::L_THRESH),
        ) else {
            return Err(Errno::EINVAL);
        };
        Some(DestSettings {
            fwd_method: fwd & uapi::fwd::MASK,
            weight: weight as i32,
            u_threshold,
            l_threshold,
            tun_type: t.u8(dest_attr::TUN_TYPE).unwrap_or(0),
            tun_port: t.be16(dest_attr::TUN_PORT).unwrap_or([0, 0]),
            tun_flags: t.u16(dest_attr::TUN_FLAGS).unwrap_or(0),
        })
    } else {
        None
    };
    Ok(DestSpec { af: t.u16(dest_attr::ADDR_FAMILY).unwrap_or(0), addr, port, settings })
}


/// Writes a STATS attribute (`ip_vs_genl_fill_stats()`): 32-bit counters and rates, 64-bit
/// byte counters.
pub fn put_stats(w: &mut Writer<'_>, kind: u16, s: &StatsView) -> core::result::Result<(), Full> {
    let nest = w.nest_start(kind)?;
    w.put_u32(stats_attr::CONNS, s.conns as u32)?;
    w.put_u32(stats_attr::INPKTS, s.inpkts as u32)?;
    w.put_u32(stats_attr::OUTPKTS, s.outpkts as u32)?;
    w.put_u64(stats_attr::INBYTES, s.inbytes)?;
    w.put_u64(stats_attr::OUTBYTES, s.outbytes)?;
    w.put_u32(stats_attr::CPS, s.cps as u32)?;
    w.put_u32(stats_attr::INPPS, s.inpps as u32)?;
    w.put_u32(stats_attr::OUTPPS, s.outpps as u32)?;
    w.put_u32(stats_attr::INBPS, s.inbps as u32)?;
    w.put_u32(stats_attr::OUTBPS, s.outbps as u32)?;
    w.nest_end(nest)
}

/// Writes a STATS64 attribute (`ip_vs_genl_fill_stats64()`): everything 64-bit.
pub fn put_stats64(w: &mut Writer<'_>, kind: u16, s: &StatsView) -> core::result::Result<(), Full> {
    let nest = w.nest_start(kind)?;
    w.put_u64(stats_attr::CONNS, s.conns)?;
    w.put_u64(stats_attr::INPKTS, s.inpkts)?;
    w.put_u64(stats_attr::OUTPKTS, s.outpkts)?;
    w.put_u64(stats_attr::INBYTES, s.inbytes)?;
    w.put_u64(stats_attr::OUTBYTES, s.outbytes)?;
    w.put_u64(stats_attr::CPS, s.cps)?;
    w.put_u64(stats_attr::INPPS, s.inpps)?;
    w.put_u64(stats_attr::OUTPPS, s.outpps)?;
    w.put_u64(stats_attr::INBPS, s.inbps)?;
    w.put_u64(stats_attr::OUTBPS, s.outbps)?;
    w.nest_end(nest)
}

/// Writes the SERVICE attribute of a reply (`ip_vs_genl_fill_service()`).
pub fn put_service(w: &mut Writer<'_>, c: &ServiceConf, stats: &StatsView, hz: u32) -> core::result::Result<(), Full> {
    let nest = w.nest_start(cmd_attr::SERVICE)?;
    w.put_u16(svc_attr::AF, c.key.af())?;
    match c.key {
        ServiceKey::Fwmark { mark, .. } => w.put_u32(svc_attr::FWMARK, mark)?,
        ServiceKey::Addr { protocol, addr, port, .. } => {
            w.put_u16(svc_attr::PROTOCOL, protocol)?;
            w.put(svc_attr::ADDR, &addr)?;
            w.put(svc_attr::PORT, &port)?;
        }
    }
    w.put_cstr(svc_attr::SCHED_NAME, c.sched_name().as_bytes())?;
    if let Some(pe) = c.pe {
        w.put_cstr(svc_attr::PE_NAME, pe.name().as_bytes())?;
    }
    let [f0, f1, f2, f3] = c.flags.to_ne_bytes();
    w.put(svc_attr::FLAGS, &[f0, f1, f2, f3, 0xff, 0xff, 0xff, 0xff])?;
    w.put_u32(svc_attr::TIMEOUT, c.timeout_secs(hz))?;
    w.put(svc_attr::NETMASK, &c.netmask)?;
    put_stats(w, svc_attr::STATS, stats)?;
    put_stats64(w, svc_attr::STATS64, stats)?;
    w.nest_end(nest)
}

/// Writes the DEST attribute of a dump entry (`ip_vs_genl_fill_dest()`).
pub fn put_dest(w: &mut Writer<'_>, d: &DestInfo, stats: &StatsView) -> core::result::Result<(), Full> {
    let c = &d.conf;
    let nest = w.nest_start(cmd_attr::DEST)?;
    w.put(dest_attr::ADDR, &c.addr)?;
    w.put(dest_attr::PORT, &c.port)?;
    w.put_u32(dest_attr::FWD_METHOD, c.fwd_method & uapi::fwd::MASK)?;
    w.put_u32(dest_attr::WEIGHT, c.weight as u32)?;
    w.put_u8(dest_attr::TUN_TYPE, c.tun_type)?;
    w.put(dest_attr::TUN_PORT, &c.tun_port)?;
    w.put_u16(dest_attr::TUN_FLAGS, c.tun_flags)?;
    w.put_u32(dest_attr::U_THRESH, c.u_threshold)?;
    w.put_u32(dest_attr::L_THRESH, c.l_threshold)?;
    w.put_u32(dest_attr::ACTIVE_CONNS, d.active_conns as u32)?;
    w.put_u32(dest_attr::INACT_CONNS, d.inact_conns as u32)?;
    w.put_u32(dest_attr::PERSIST_CONNS, d.persist_conns as u32)?;
    w.put_u16(dest_attr::ADDR_FAMILY, c.af)?;
    put_stats(w, dest_attr::STATS, stats)?;
    put_stats64(w, dest_attr::STATS64, stats)?;
    w.nest_end(nest)
}

/// One dump entry: a genl message of command `cmd` whose attributes `fill` writes. The glue
/// answers `Err(Full)` when the skb has no room, having dropped the partial message.
pub type FillFn<'f> = dyn FnMut(&mut Writer<'_>) -> core::result::Result<(), Full> + 'f;

/// The control state of one network namespace.
pub struct ControlPlane<S: Store> {
    pub timeouts: Timeouts,
    pub store: S,
    /// Orders services as upstream's hash tables do (see [`ServiceKey::list_slot`]).
    pub hash_salt: u32,
    /// `IP_VS_STATE_*` bits of the running sync daemons (none can run yet).
    pub sync_state: u32,
}

impl<S: Store> ControlPlane<S> {
    pub fn new(store: S, hash_salt: u32) -> Self {
        ControlPlane { timeouts: Timeouts::default(), store, hash_salt, sync_state: 0 }
    }

    /// `ip_vs_genl_find_service()`: a parse error, or the service's index if it exists.
    fn lookup(&self, nested: Option<&[u8]>, env: &Env) -> Result<Option<usize>> {
        let spec = parse_service(nested, false, env)?;
        Ok(service::find_service(&self.store, &spec.key, self.hash_salt))
    }

    /// How many dests have a family other than their service's (upstream's
    /// `mixed_address_family_dests`).
    pub fn mixed_family_dests(&self) -> usize {
        let s = &self.store;
        (0..s.service_count())
            .filter_map(|i| s.service(i).map(|c| (i, c.key.af())))
            .map(|(i, af)| {
                (0..s.dest_count(i)).filter(|&d| s.dest(i, d).is_some_and(|x| x.conf.af != af)).count()
            })
            .sum()
    }

    /// The commands whose doit is `ip_vs_genl_set_cmd()`.
    pub fn set_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>, env: &Env) -> Result<()> {
        match command {
            cmd::FLUSH => {
                service::flush(&mut self.store);
                return Ok(());
            }
            cmd::SET_CONFIG => {
                let update = TimeoutUpdate {
                    tcp: attrs.u32(cmd_attr::TIMEOUT_TCP),
                    tcp_fin: attrs.u32(cmd_attr::TIMEOUT_TCP_FIN),
                    udp: attrs.u32(cmd_attr::TIMEOUT_UDP),
                };
                return self.timeouts.apply(update, env.hz);
            }
            cmd::ZERO if !attrs.has(cmd_attr::SERVICE) => {
                service::zero_all(&mut self.store);
                return Ok(());
            }
            _ => {}
        }
        let full_svc = matches!(command, cmd::NEW_SERVICE | cmd::SET_SERVICE);
        let spec = parse_service(attrs.get(cmd_attr::SERVICE), full_svc, env)?;
        let found = service::find_service(&self.store, &spec.key, self.hash_salt);
        let usvc = match spec.settings {
            Some(s) => {
                // Flags not under the mask keep the existing service's values.
                let old = found.and_then(|i| self.store.service(i)).map_or(0, |c| c.flags);
                Some(ServiceUser {
                    key: spec.key,
                    sched_name: s.sched_name,
                    pe_name: s.pe_name,
                    flags: (old & !s.flags_mask) | (s.flags & s.flags_mask),
                    timeout: s.timeout,
                    netmask: s.netmask,
                })
            }
            None => None,
        };
        let svc = match found {
            Some(i) => i,
            None if command == cmd::NEW_SERVICE => {
                let u = usvc.ok_or(Errno::EINVAL)?;
                return service::add_service(&mut self.store, &u, env.hz, self.hash_salt).map(|_| ());
            }
            None => return Err(Errno::ESRCH),
        };
        let svc_af = spec.key.af();
        let udest = if matches!(command, cmd::NEW_DEST | cmd::SET_DEST | cmd::DEL_DEST) {
            let d = parse_dest(attrs.get(cmd_attr::DEST), command != cmd::DEL_DEST)?;
            // Old clients do not send the family: the service's then.
            let af = if d.af == 0 { svc_af } else { d.af };
            if !af_supported(af, env) {
                return Err(Errno::EAFNOSUPPORT);
            }
            let s = d.settings.unwrap_or(DestSettings {
                fwd_method: 0,
                weight: 0,
                u_threshold: 0,
                l_threshold: 0,
                tun_type: 0,
                tun_port: [0, 0],
                tun_flags: 0,
            });
            if af != svc_af && command != cmd::DEL_DEST {
                // Sync messages cannot carry mixed families, and only tunnels forward them.
                if self.sync_state != 0 || s.fwd_method != uapi::fwd::TUNNEL {
                    return Err(Errno::EINVAL);
                }
            }
            Some(DestUser {
                af,
                addr: service::normalize_addr(af, d.addr),
                port: d.port,
                fwd_method: s.fwd_method,
                weight: s.weight,
                u_threshold: s.u_threshold,
                l_threshold: s.l_threshold,
                tun_type: s.tun_type,
                tun_port: s.tun_port,
                tun_flags: s.tun_flags,
            })
        } else {
            None
        };
        let store = &mut self.store;
        match (command, usvc, udest) {
            (cmd::NEW_SERVICE, _, _) => Err(Errno::EEXIST),
            (cmd::SET_SERVICE, Some(u), _) => service::edit_service(store, svc, &u, env.hz),
            (cmd::DEL_SERVICE, _, _) => {
                service::del_service(store, svc);
                Ok(())
            }
            (cmd::NEW_DEST, _, Some(u)) => dest::add_dest(store, svc, &u),
            (cmd::SET_DEST, _, Some(u)) => dest::edit_dest(store, svc, &u),
            (cmd::DEL_DEST, _, Some(u)) => dest::del_dest(store, svc, &u),
            (cmd::ZERO, _, _) => {
                store.zero_stats(svc);
                Ok(())
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// NEW_DAEMON and DEL_DAEMON (`ip_vs_genl_set_daemon()`).
    pub fn daemon_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>) -> Result<()> {
        let nested = attrs.get(cmd_attr::DAEMON).ok_or(Errno::EINVAL)?;
        let d = Table::parse(nested, &DAEMON_POLICY).map_err(|_| Errno::EINVAL)?;
        match command {
            cmd::NEW_DAEMON => {
                let (Some(state), Some(ifn), Some(_syncid)) = (
                    d.u32(daemon_attr::STATE),
                    d.get(daemon_attr::MCAST_IFN),
                    d.u32(daemon_attr::SYNC_ID),
                ) else {
                    return Err(Errno::EINVAL);
                };
                if let Some(group) = d.bytes::<4>(daemon_attr::MCAST_GROUP) {
                    if group[0] & 0xf0 != 0xe0 {
                        return Err(Errno::EINVAL);
                    }
                } else if let Some(group6) = d.bytes::<16>(daemon_attr::MCAST_GROUP6) {
                    if group6[0] != 0xff {
                        return Err(Errno::EINVAL);
                    }
                }
                // The sync protocol cannot carry dests of another family than their service.
                if self.mixed_family_dests() > 0 {
                    return Err(Errno::EINVAL);
                }
                // Upstream's start_sync_thread: the interface must exist, then the state
                // must be one of the two.
                if !self.store.has_netdev(ifn) {
                    return Err(Errno::ENODEV);
                }
                match state {
                    // The connection sync daemon is not implemented yet.
                    STATE_MASTER | STATE_BACKUP => Err(Errno::EOPNOTSUPP),
                    _ => Err(Errno::EINVAL),
                }
            }
            cmd::DEL_DAEMON => match d.u32(daemon_attr::STATE) {
                None => Err(Errno::EINVAL),
                // No sync daemon can be running, so there is none to stop.
                Some(STATE_MASTER | STATE_BACKUP) => Err(Errno::ESRCH),
                Some(_) => Err(Errno::EINVAL),
            },
            _ => Err(Errno::EINVAL),
        }
    }

    /// The commands whose doit is `ip_vs_genl_get_cmd()`: writes the reply's attributes and
    /// returns the reply's command.
    pub fn get_cmd(&self, command: u8, attrs: &CmdAttrs<'_>, env: &Env, w: &mut Writer<'_>) -> Result<u8> {
        let full = |_: Full| Errno::EMSGSIZE;
        match command {
            cmd::GET_SERVICE => match self.lookup(attrs.get(cmd_attr::SERVICE), env)? {
                Some(svc) => {
                    self.fill_service(svc, env, w).map_err(full)?;
                    Ok(cmd::NEW_SERVICE)
                }
                None => Err(Errno::ESRCH),
            },
            cmd::GET_CONFIG => {
                let t = &self.timeouts;
                w.put_u32(cmd_attr::TIMEOUT_TCP, t.tcp).map_err(full)?;
                w.put_u32(cmd_attr::TIMEOUT_TCP_FIN, t.tcp_fin).map_err(full)?;
                w.put_u32(cmd_attr::TIMEOUT_UDP, t.udp).map_err(full)?;
                Ok(cmd::SET_CONFIG)
            }
            cmd::GET_INFO => {
                w.put_u32(info_attr::VERSION, uapi::VERSION_CODE).map_err(full)?;
                w.put_u32(info_attr::CONN_TAB_SIZE, env.conn_tab_size).map_err(full)?;
                Ok(cmd::SET_INFO)
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// The SERVICE attribute of service `svc`.
    pub fn fill_service(&self, svc: usize, env: &Env, w: &mut Writer<'_>) -> core::result::Result<(), Full> {
        // A missing index cannot happen under the control lock; write nothing then.
        let Some(conf) = self.store.service(svc) else { return Ok(()) };
        put_service(w, &conf, &self.store.service_stats(svc), env.hz)
    }

    /// The DEST attribute of dest `dest` of service `svc`.
    pub fn fill_dest(&self, svc: usize, dest: usize, w: &mut Writer<'_>) -> core::result::Result<(), Full> {
        let Some(info) = self.store.dest(svc, dest) else { return Ok(()) };
        put_dest(w, &info, &self.store.dest_stats(svc, dest))
    }

    /// GET_SERVICE dump (`ip_vs_genl_dump_services()`): one NEW_SERVICE message per service
    /// from index `start` on, each through `entry(cmd, fill)`, which returns `Err(Full)` when
    /// the skb is full. Returns the index to resume at. The request's attributes are ignored,
    /// so the empty nested SERVICE that moby/ipvs sends is fine.
    pub fn dump_services<F>(&self, start: usize, env: &Env, mut entry: F) -> usize
    where
        F: FnMut(u8, &mut FillFn<'_>) -> core::result::Result<(), Full>,
    {
        let count = self.store.service_count();
        let mut idx = start;
        while idx < count {
            let mut fill = |w: &mut Writer<'_>| self.fill_service(idx, env, w);
            if entry(cmd::NEW_SERVICE, &mut fill).is_err() {
                break;
            }
            idx += 1;
        }
        idx
    }

    /// GET_DEST dump (`ip_vs_genl_dump_dests()`): one NEW_DEST message per dest of the
    /// requested service, from index `start` on. `request` is the genl payload after the genl
    /// header. A bad request or an unknown service gives an empty dump, not an error, and
    /// leaves the cursor as it was, exactly as upstream.
    pub fn dump_dests<F>(&self, request: &[u8], start: usize, env: &Env, mut entry: F) -> usize
    where
        F: FnMut(u8, &mut FillFn<'_>) -> core::result::Result<(), Full>,
    {
        let Ok(attrs) = CmdAttrs::parse(request, &CMD_POLICY) else {
            return start;
        };
        let Ok(Some(svc)) = self.lookup(attrs.get(cmd_attr::SERVICE), env) else {
            return start;
        };
        let count = self.store.dest_count(svc);
        let mut idx = start;
        while idx < count {
            let mut fill = |w: &mut Writer<'_>| self.fill_dest(svc, idx, w);
            if entry(cmd::NEW_DEST, &mut fill).is_err() {
                break;
            }
            idx += 1;
        }
        idx
    }

    /// /proc/net/ip_vs: the header, then every service with its dests.
    pub fn write_proc_ip_vs(&self, out: &mut impl fmt::Write, conn_tab_size: u32) -> fmt::Result {
        procfs::ip_vs_header(out, conn_tab_size)?;
        let s = &self.store;
        for svc in 0..s.service_count() {
            let Some(conf) = s.service(svc) else { continue };
            procfs::ip_vs_service_line(out, &conf)?;
            for d in 0..s.dest_count(svc) {
                if let Some(info) = s.dest(svc, d) {
                    procfs::ip_vs_dest_line(out, &info)?;
                }
            }
        }
        Ok(())
    }
}
