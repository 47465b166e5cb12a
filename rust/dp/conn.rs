// SPDX-License-Identifier: GPL-2.0
//! One IPVS connection: the tuple, the chosen dest, and its protocol state.

use super::service::{DestRt, Stats};
use crate::ipvs_core::packet::PROTO_TCP;
use crate::ipvs_core::proto_tcp::{ActiveChange, TcpConn, TcpState, TcpTransition};
use crate::sys::conntab::Entry;
use core::sync::atomic::{AtomicU8, Ordering};
use kernel::sync::Arc;

/// Connection state bits kept in one byte: the TCP state index and two flags.
const F_INACTIVE: u8 = 0x80;
const F_NO_OUTPUT: u8 = 0x40;
const STATE_MASK: u8 = 0x3f;

pub(crate) struct ConnData {
    pub(crate) protocol: u8,
    pub(crate) caddr: [u8; 4],
    pub(crate) cport: [u8; 2],
    pub(crate) vaddr: [u8; 4],
    pub(crate) vport: [u8; 2],
    pub(crate) daddr: [u8; 4],
    pub(crate) dport: [u8; 2],
    /// Forwarding method (`uapi::fwd`), fixed at creation.
    pub(crate) fwd: u32,
    /// State index and the INACTIVE / NO_OUTPUT flags.
    bits: AtomicU8,
    pub(crate) dest: Arc<DestRt>,
    pub(crate) svc_stats: Arc<Stats>,
}

impl ConnData {
    pub(crate) fn new(
        protocol: u8,
        client: ([u8; 4], [u8; 2]),
        virt: ([u8; 4], [u8; 2]),
        dest: Arc<DestRt>,
        fwd: u32,
        svc_stats: Arc<Stats>,
    ) -> Self {
        let mut daddr = [0u8; 4];
        daddr.copy_from_slice(&dest.addr[..4]);
        let no_output = if fwd == crate::ipvs_core::uapi::fwd::MASQ { 0 } else { F_NO_OUTPUT };
        // A new connection counts as inactive until it is established.
        dest.inactive.fetch_add(1, Ordering::Relaxed);
        dest.update_overload();
        ConnData {
            protocol,
            caddr: client.0,
            cport: client.1,
            vaddr: virt.0,
            vport: virt.1,
            daddr,
            dport: dest.port,
            fwd,
            bits: AtomicU8::new(F_INACTIVE | no_output | TcpState::None.index() as u8),
            dest,
            svc_stats,
        }
    }

    pub(crate) fn state_index(&self) -> usize {
        usize::from(self.bits.load(Ordering::Relaxed) & STATE_MASK)
    }

    fn decode(b: u8) -> TcpConn {
        TcpConn {
            state: TcpState::from_index(usize::from(b & STATE_MASK)).unwrap_or(TcpState::Close),
            no_output: b & F_NO_OUTPUT != 0,
            inactive: b & F_INACTIVE != 0,
        }
    }

    fn encode(c: &TcpConn) -> u8 {
        let mut b = c.state.index() as u8 & STATE_MASK;
        if c.inactive {
            b |= F_INACTIVE;
        }
        if c.no_output {
            b |= F_NO_OUTPUT;
        }
        b
    }

    /// Applies one packet's TCP transition atomically: packets of both directions may be
    /// handled on different CPUs at once, and each must see the state the other left (upstream
    /// takes the connection's lock here). Moves the dest's connection between InActConn and
    /// ActiveConn exactly once per change.
    pub(crate) fn tcp_transition(&self, step: impl Fn(TcpConn) -> TcpTransition) -> TcpTransition {
        let mut cur = self.bits.load(Ordering::Relaxed);
        loop {
            let t = step(Self::decode(cur));
            match self.bits.compare_exchange_weak(cur, Self::encode(&t.conn), Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => {
                    match t.active {
                        ActiveChange::Inc => {
                            self.dest.inactive.fetch_sub(1, Ordering::Relaxed);
                            self.dest.active.fetch_add(1, Ordering::Relaxed);
                        }
                        ActiveChange::Dec => {
                            self.dest.active.fetch_sub(1, Ordering::Relaxed);
                            self.dest.inactive.fetch_add(1, Ordering::Relaxed);
                        }
                        ActiveChange::None => {}
                    }
                    return t;
                }
                Err(now) => cur = now,
            }
        }
    }

    pub(crate) fn is_tcp(&self) -> bool {
        self.protocol == PROTO_TCP
    }
}

impl Entry for ConnData {
    fn expired(&self) {
        if self.bits.load(Ordering::Relaxed) & F_INACTIVE != 0 {
            self.dest.inactive.fetch_sub(1, Ordering::Relaxed);
        } else {
            self.dest.active.fetch_sub(1, Ordering::Relaxed);
        }
        self.dest.update_overload();
    }
}
