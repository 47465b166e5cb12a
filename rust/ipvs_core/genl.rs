// SPDX-License-Identifier: GPL-2.0
//! The IPVS generic netlink commands: request decoding, the per-netns control state, and reply
//! encoding. The kernel glue only moves bytes between skbs and these functions; every decision
//! (and every errno) is made here, in the order upstream makes it.

use super::errno::{Errno, Result};
use super::nlattr::{Full, Rule, Table, Writer};
use super::timeouts::{TimeoutUpdate, Timeouts};
use super::uapi::{self, cmd, cmd_attr, daemon_attr, dest_attr, info_attr, svc_attr};

pub const CMD_SLOTS: usize = cmd_attr::MAX as usize + 1;
const SVC_SLOTS: usize = svc_attr::MAX as usize + 1;
const DEST_SLOTS: usize = dest_attr::MAX as usize + 1;
const DAEMON_SLOTS: usize = daemon_attr::MAX as usize + 1;

/// Top-level attributes, indexed by `cmd_attr`.
pub type CmdAttrs<'a> = Table<'a, CMD_SLOTS>;

/// Policy of the top-level attributes (registered with the family, so genetlink checks it).
pub const CMD_POLICY: [Rule; CMD_SLOTS] =
    [Rule::Ignore, Rule::Nested, Rule::Nested, Rule::Nested, Rule::U32, Rule::U32, Rule::U32];

/// Policy of the attributes nested in SERVICE. STATS64 is absent upstream, so unchecked.
pub const SVC_POLICY: [Rule; SVC_SLOTS] = [
    Rule::Ignore,
    Rule::U16,                                     // AF
    Rule::U16,                                     // PROTOCOL
    Rule::Binary(uapi::INET_ADDR_LEN),             // ADDR
    Rule::U16,                                     // PORT
    Rule::U32,                                     // FWMARK
    Rule::NulString(uapi::SCHEDNAME_MAXLEN - 1),   // SCHED_NAME
    Rule::Binary(uapi::FLAGS_LEN),                 // FLAGS
    Rule::U32,                                     // TIMEOUT
    Rule::U32,                                     // NETMASK
    Rule::Nested,                                  // STATS
    Rule::NulString(uapi::PENAME_MAXLEN),          // PE_NAME
    Rule::Ignore,                                  // STATS64
];

/// Policy of the attributes nested in DEST. STATS64 is absent upstream, so unchecked.
pub const DEST_POLICY: [Rule; DEST_SLOTS] = [
    Rule::Ignore,
    Rule::Binary(uapi::INET_ADDR_LEN), // ADDR
    Rule::U16,                         // PORT
    Rule::U32,                         // FWD_METHOD
    Rule::U32,                         // WEIGHT
    Rule::U32,                         // U_THRESH
    Rule::U32,                         // L_THRESH
    Rule::U32,                         // ACTIVE_CONNS
    Rule::U32,                         // INACT_CONNS
    Rule::U32,                         // PERSIST_CONNS
    Rule::Nested,                      // STATS
    Rule::U16,                         // ADDR_FAMILY
    Rule::Ignore,                      // STATS64
    Rule::U8,                          // TUN_TYPE
    Rule::U16,                         // TUN_PORT
    Rule::U16,                         // TUN_FLAGS
];

/// Policy of the attributes nested in DAEMON.
pub const DAEMON_POLICY: [Rule; DAEMON_SLOTS] = [
    Rule::Ignore,
    Rule::U32,                               // STATE
    Rule::NulString(uapi::IFNAME_MAXLEN - 1), // MCAST_IFN
    Rule::U32,                               // SYNC_ID
    Rule::U16,                               // SYNC_MAXLEN
    Rule::U32,                               // MCAST_GROUP
    Rule::MinLen(16),                        // MCAST_GROUP6
    Rule::U16,                               // MCAST_PORT
    Rule::U8,                                // MCAST_TTL
];

/// Sync daemon states (`IP_VS_STATE_*`).
pub const STATE_MASTER: u32 = 1;
pub const STATE_BACKUP: u32 = 2;

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKey {
    /// A firewall-mark service (protocol is reported as TCP, like upstream).
    Fwmark { af: u16, mark: u32 },
    /// An address/port service; `port` is in network byte order.
    Addr { af: u16, protocol: u16, addr: [u8; 16], port: [u8; 2] },
}

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
        Some(mark) => ServiceKey::Fwmark { af, mark },
        None => ServiceKey::Addr {
            af,
            protocol: t.u16(svc_attr::PROTOCOL).ok_or(Errno::EINVAL)?,
            addr: t.bytes(svc_attr::ADDR).ok_or(Errno::EINVAL)?,
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

/// The control state of one network namespace.
#[derive(Debug, Default)]
pub struct ControlPlane {
    pub timeouts: Timeouts,
}

/// A virtual service as the control plane holds it.
///
/// None can exist yet: creating services is the datapath's work (NEW_SERVICE answers
/// -EOPNOTSUPP until then), so every lookup misses and every command that needs an existing
/// service gets upstream's -ESRCH.
#[derive(Debug)]
pub enum Service {}

impl ControlPlane {
    pub fn new() -> Self {
        Self::default()
    }

    fn find_service(&self, _key: &ServiceKey) -> Option<&Service> {
        None
    }

    /// `ip_vs_genl_find_service()`: a parse error, or the service if it exists.
    fn lookup(&self, nested: Option<&[u8]>, env: &Env) -> Result<Option<&Service>> {
        let spec = parse_service(nested, false, env)?;
        Ok(self.find_service(&spec.key))
    }

    /// The commands whose doit is `ip_vs_genl_set_cmd()`.
    pub fn set_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>, env: &Env) -> Result<()> {
        match command {
            cmd::FLUSH => return Ok(()), // no services to flush
            cmd::SET_CONFIG => {
                let update = TimeoutUpdate {
                    tcp: attrs.u32(cmd_attr::TIMEOUT_TCP),
                    tcp_fin: attrs.u32(cmd_attr::TIMEOUT_TCP_FIN),
                    udp: attrs.u32(cmd_attr::TIMEOUT_UDP),
                };
                return self.timeouts.apply(update, env.hz);
            }
            cmd::ZERO if !attrs.has(cmd_attr::SERVICE) => return Ok(()), // nothing to zero
            _ => {}
        }
        let full_svc = matches!(command, cmd::NEW_SERVICE | cmd::SET_SERVICE);
        let spec = parse_service(attrs.get(cmd_attr::SERVICE), full_svc, env)?;
        let svc = self.find_service(&spec.key);
        let Some(svc) = svc else {
            if command == cmd::NEW_SERVICE {
                return Err(Errno::EOPNOTSUPP);
            }
            return Err(Errno::ESRCH);
        };
        match *svc {}
    }

    /// NEW_DAEMON and DEL_DAEMON (`ip_vs_genl_set_daemon()`).
    pub fn daemon_cmd(&mut self, command: u8, attrs: &CmdAttrs<'_>) -> Result<()> {
        let nested = attrs.get(cmd_attr::DAEMON).ok_or(Errno::EINVAL)?;
        let d = Table::parse(nested, &DAEMON_POLICY).map_err(|_| Errno::EINVAL)?;
        match command {
            cmd::NEW_DAEMON => {
                let (Some(_state), Some(_ifn), Some(_syncid)) = (
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
                // The connection sync daemon is not implemented yet.
                Err(Errno::EOPNOTSUPP)
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
                Some(svc) => match *svc {},
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

    /// GET_SERVICE dump: calls `emit` with each service's SERVICE attribute, from index
    /// `start` on; returns the index to resume at. The request's attributes are ignored, so the
    /// empty nested SERVICE that moby/ipvs sends is fine.
    pub fn dump_services(&self, start: usize) -> usize {
        start
    }

    /// GET_DEST dump. `request` is the genl payload after the genl header. A bad request or an
    /// unknown service gives an empty dump, not an error, exactly as upstream.
    pub fn dump_dests(&self, request: &[u8], start: usize, env: &Env) -> usize {
        let Ok(attrs) = CmdAttrs::parse(request, &CMD_POLICY) else {
            return start;
        };
        match self.lookup(attrs.get(cmd_attr::SERVICE), env) {
            Ok(Some(svc)) => match *svc {},
            _ => start,
        }
    }
}
