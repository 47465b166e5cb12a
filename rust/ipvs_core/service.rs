// SPDX-License-Identifier: GPL-2.0
//! Virtual services: what identifies and configures one, and where upstream lists it. The
//! service commands are in [`super::store`].

use super::addr;
use super::errno::{Errno, Result};
use super::sched::SchedKind;
use super::uapi;

/// What identifies a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceKey {
    /// A firewall-mark service (its protocol is TCP, like upstream).
    Fwmark { af: u16, mark: u32 },
    /// An address/port service; `port` is in network byte order and an IPv4 `addr` has zeros
    /// after its first 4 bytes.
    Addr { af: u16, protocol: u16, addr: [u8; 16], port: [u8; 2] },
}

/// Upstream's service hash tables have 256 buckets.
const SVC_TAB_MASK: u32 = 0xff;

impl ServiceKey {
    pub fn af(&self) -> u16 {
        match *self {
            ServiceKey::Fwmark { af, .. } | ServiceKey::Addr { af, .. } => af,
        }
    }

    /// The protocol upstream records (TCP for a fwmark service).
    pub fn protocol(&self) -> u16 {
        match *self {
            ServiceKey::Fwmark { .. } => uapi::IPPROTO_TCP,
            ServiceKey::Addr { protocol, .. } => protocol,
        }
    }

    /// The firewall mark, 0 for an address service.
    pub fn fwmark(&self) -> u32 {
        match *self {
            ServiceKey::Fwmark { mark, .. } => mark,
            ServiceKey::Addr { .. } => 0,
        }
    }

    /// The virtual address, zero for a fwmark service.
    pub fn addr(&self) -> [u8; 16] {
        match *self {
            ServiceKey::Fwmark { .. } => [0; 16],
            ServiceKey::Addr { addr, .. } => addr,
        }
    }

    /// The virtual port in network byte order, zero for a fwmark service.
    pub fn port(&self) -> [u8; 2] {
        match *self {
            ServiceKey::Fwmark { .. } => [0; 2],
            ServiceKey::Addr { port, .. } => port,
        }
    }

    /// The hash that places this service in its published table (by address, or by firewall
    /// mark): multiplicative, so that its top bits, which pick the bucket at any table size
    /// (`table_size::bucket`), depend on every input bit. An IPv6 address is folded, so that
    /// services of one prefix spread (as upstream's `ip_vs_svc_hashkey`).
    pub fn table_hash(&self) -> u32 {
        let x = match *self {
            ServiceKey::Addr { af, protocol, addr, port } => {
                addr::fold(af, &addr) ^ (u32::from(u16::from_be_bytes(port)) << 16) ^ u32::from(protocol)
            }
            ServiceKey::Fwmark { mark, .. } => mark,
        };
        x.wrapping_mul(0x9e37_79b1)
    }

    /// Where upstream lists this service: (table, bucket), the address table (0) before the
    /// fwmark table (1). `salt` stands for upstream's `(size_t)ipvs >> 8` (only its low 8 bits
    /// matter); the glue picks it once per netns.
    pub fn list_slot(&self, salt: u32) -> (u8, u8) {
        match *self {
            ServiceKey::Addr { af, protocol, addr, port } => {
                let porth = u32::from(u16::from_be_bytes(port));
                let ahash = addr::fold(af, &addr) ^ salt;
                let hash = (u32::from(protocol) ^ ahash ^ (porth >> 8) ^ porth) & SVC_TAB_MASK;
                (0, hash as u8)
            }
            ServiceKey::Fwmark { mark, .. } => (1, ((salt ^ mark) & SVC_TAB_MASK) as u8),
        }
    }
}

/// Persistence engines (`--pe NAME`). Upstream ships only "sip", and this module none yet:
/// every name is refused with -ENOENT, as stock does when `ip_vs_pe_<name>.ko` is missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeKind {
    Sip,
}

impl PeKind {
    pub const ALL: [PeKind; 1] = [PeKind::Sip];

    pub const fn name(self) -> &'static str {
        match self {
            PeKind::Sip => "sip",
        }
    }

    pub const fn implemented(self) -> bool {
        false
    }

    /// `ip_vs_pe_getbyname()`: -ENOENT unless the engine exists here.
    pub fn lookup(name: &[u8]) -> Result<PeKind> {
        match Self::ALL.iter().copied().find(|p| p.name().as_bytes() == name) {
            Some(pe) if pe.implemented() => Ok(pe),
            _ => Err(Errno::ENOENT),
        }
    }
}

/// A virtual service as the control plane keeps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceConf {
    pub key: ServiceKey,
    /// `None` is the "none" scheduler.
    pub sched: Option<SchedKind>,
    pub pe: Option<PeKind>,
    /// `IP_VS_SVC_F_*`, HASHED included (it always is once the service exists).
    pub flags: u32,
    /// Persistence timeout in jiffies (`u32` arithmetic, as upstream: seconds * HZ wraps).
    pub timeout: u32,
    /// The NETMASK attribute's 4 bytes as received: an IPv4 netmask in network order, or an
    /// IPv6 prefix length in host order.
    pub netmask: [u8; 4],
}

impl ServiceConf {
    pub fn sched_name(&self) -> &'static str {
        self.sched.map_or("none", SchedKind::name)
    }

    /// The persistence timeout in seconds, as replies report it.
    pub fn timeout_secs(&self, hz: u32) -> u32 {
        self.timeout.checked_div(hz).unwrap_or(0)
    }
}

/// A NEW_SERVICE or SET_SERVICE request, decoded (`ip_vs_service_user_kern`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServiceUser<'a> {
    pub key: ServiceKey,
    pub sched_name: &'a [u8],
    pub pe_name: Option<&'a [u8]>,
    /// Already merged with the existing service's flags under the request's mask.
    pub flags: u32,
    /// Seconds.
    pub timeout: u32,
    pub netmask: [u8; 4],
}

