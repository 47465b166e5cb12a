// SPDX-License-Identifier: GPL-2.0
//! Where the real-server index filed a dest, kept in the dest itself (upstream keeps its
//! `d_list` node and `in_rs_table` there too): taking a dest out of the index then goes
//! straight to its group, whatever its settings became since, instead of searching the groups
//! for it. That keeps `ipvsadm -d` and `-D` constant-time when ten thousand services share a
//! real server.
//!
//! Written only under the netns control mutex; the atomics are for sharing the dest, not for
//! ordering (the datapath never reads them).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// How a dest is filed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filed {
    /// A NAT dest, under its own port, counted for its service's `protocol` (`None`: a
    /// firewall-mark service, which answers for every protocol).
    Nat { port: [u8; 2], protocol: Option<u16> },
    /// A tunnel dest, under its tunnel port (0 for IPIP and GRE), the `seq`th indexed: the
    /// newest of a group is the one the datapath finds.
    Tunnel { port: [u8; 2], seq: u64 },
}

impl Filed {
    /// The port of the group it is filed under.
    pub fn port(&self) -> [u8; 2] {
        match *self {
            Filed::Nat { port, .. } | Filed::Tunnel { port, .. } => port,
        }
    }
}

const NOT_FILED: u32 = 0;
const NAT: u32 = 1;
const NAT_FWMARK: u32 = 2;
const TUNNEL: u32 = 3;

/// A dest's [`Filed`], or none: the kind and port in one word, the protocol or sequence number
/// in the other.
pub struct RsFiling {
    kind_port: AtomicU32,
    detail: AtomicU64,
}

impl Default for RsFiling {
    fn default() -> Self {
        Self::new()
    }
}

impl RsFiling {
    /// Not filed.
    pub const fn new() -> Self {
        RsFiling { kind_port: AtomicU32::new(NOT_FILED), detail: AtomicU64::new(0) }
    }

    pub fn get(&self) -> Option<Filed> {
        let kind_port = self.kind_port.load(Ordering::Relaxed);
        let detail = self.detail.load(Ordering::Relaxed);
        let port = (kind_port as u16).to_ne_bytes();
        match kind_port >> 16 {
            NAT => Some(Filed::Nat { port, protocol: Some(detail as u16) }),
            NAT_FWMARK => Some(Filed::Nat { port, protocol: None }),
            TUNNEL => Some(Filed::Tunnel { port, seq: detail }),
            _ => None,
        }
    }

    pub fn set(&self, filed: Option<Filed>) {
        let (kind, port, detail) = match filed {
            None => (NOT_FILED, [0, 0], 0),
            Some(Filed::Nat { port, protocol: Some(p) }) => (NAT, port, u64::from(p)),
            Some(Filed::Nat { port, protocol: None }) => (NAT_FWMARK, port, 0),
            Some(Filed::Tunnel { port, seq }) => (TUNNEL, port, seq),
        };
        self.detail.store(detail, Ordering::Relaxed);
        self.kind_port.store(kind << 16 | u32::from(u16::from_ne_bytes(port)), Ordering::Relaxed);
    }

    /// Takes the filing out, leaving none.
    pub fn take(&self) -> Option<Filed> {
        let filed = self.get();
        self.set(None);
        filed
    }
}
