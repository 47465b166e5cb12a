// SPDX-License-Identifier: GPL-2.0
//! Decoding of the SERVICE and DEST attributes of a request (`ip_vs_genl_parse_service()`,
//! `ip_vs_genl_parse_dest()`): the policy checks, then what must be there, with upstream's
//! errnos in its order.

use super::addr;
use super::env::Env;
use super::errno::{Errno, Result};
use super::nlattr::Table;
use super::dest::DestSettings;
use super::policy::{DEST_POLICY, SVC_POLICY};
use super::service::ServiceKey;
use super::uapi::{self, dest_attr, svc_attr};

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

/// The SERVICE attribute of a request, decoded: the service's key, and for NEW_SERVICE and
/// SET_SERVICE its settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceSpec<'a> {
    pub key: ServiceKey,
    pub settings: Option<ServiceSettings<'a>>,
}

/// Whether requests may name family `af`: IPv4, and IPv6 when the kernel has it.
pub(crate) fn af_supported(af: u16, env: &Env) -> bool {
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
            addr: addr::normalize_addr(af, t.bytes(svc_attr::ADDR).ok_or(Errno::EINVAL)?),
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

/// The DEST attribute of NEW_DEST, SET_DEST and DEL_DEST, decoded: the dest's identity, and
/// for NEW_DEST and SET_DEST its settings. The dest commands (`super::dest`) take it as is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DestSpec {
    /// 0 when the client did not say (old clients): the service's family applies, and the
    /// control plane puts it here before the dest commands see the request.
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
