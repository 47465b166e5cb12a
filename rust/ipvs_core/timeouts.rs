// SPDX-License-Identifier: GPL-2.0
//! Protocol timeouts set by `ipvsadm --set` (SET_CONFIG) and read by `ipvsadm -L --timeout`.

use super::errno::{Errno, Result};

/// Timeouts in seconds, per network namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// TCP ESTABLISHED.
    pub tcp: u32,
    /// TCP FIN_WAIT.
    pub tcp_fin: u32,
    /// UDP.
    pub udp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { tcp: 15 * 60, tcp_fin: 2 * 60, udp: 5 * 60 }
    }
}

/// A SET_CONFIG request: absent or zero fields leave the timeout unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TimeoutUpdate {
    pub tcp: Option<u32>,
    pub tcp_fin: Option<u32>,
    pub udp: Option<u32>,
}

impl Timeouts {
    /// Applies an update, all or nothing. Upstream keeps timeouts in jiffies in an `int`, so a
    /// value is valid when it is non-negative as an `int` and at most `INT_MAX / hz`.
    pub fn apply(&mut self, update: TimeoutUpdate, hz: u32) -> Result<()> {
        let max = i32::MAX as u32 / hz.max(1);
        let candidate = Timeouts {
            tcp: update.tcp.unwrap_or(self.tcp),
            tcp_fin: update.tcp_fin.unwrap_or(self.tcp_fin),
            udp: update.udp.unwrap_or(self.udp),
        };
        if [candidate.tcp, candidate.tcp_fin, candidate.udp].iter().any(|&v| v > max) {
            return Err(Errno::EINVAL);
        }
        // Zero means "keep the current value".
        let keep = |new: u32, old: u32| if new == 0 { old } else { new };
        *self = Timeouts {
            tcp: keep(candidate.tcp, self.tcp),
            tcp_fin: keep(candidate.tcp_fin, self.tcp_fin),
            udp: keep(candidate.udp, self.udp),
        };
        Ok(())
    }
}
