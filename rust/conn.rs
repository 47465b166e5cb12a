// SPDX-License-Identifier: GPL-2.0
//! One IPVS connection: the tuple, the chosen dest, and its protocol state; and the per-netns
//! table that holds connections (`sys::conntab` does the RCU, timers and locking).

use crate::ipvs_core::uapi::fwd;
use crate::dest::Dest;
use crate::stats::Stats;
use crate::ipvs_core::defense::EntryKind;
use crate::ipvs_core::packet::PROTO_TCP;
use crate::ipvs_core::proto_tcp::{ActiveChange, TcpConn, TcpState, TcpTransition};
use crate::sys::conntab::{ConnRef, Entry, Held, Table};
use crate::sys::NetLookups;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use kernel::sync::Arc;

/// Connection state bits kept in one byte: the TCP state index and two flags.
const F_INACTIVE: u8 = 0x80;
const F_NO_OUTPUT: u8 = 0x40;
const STATE_MASK: u8 = 0x3f;

/// Template state bits (`IP_VS_CTPL_S_ASSURED`, and the invalidation upstream marks by
/// setting the ports to 0xffff).
const T_ASSURED: u8 = 0x01;
const T_INVALID: u8 = 0x02;
/// A template of a one-packet service (upstream looks the flag up on the service).
const T_ONE_PACKET: u8 = 0x04;

/// What a connection is, fixed at creation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnKind {
    /// A connection of a client.
    Normal,
    /// A persistence template (`IP_VS_CONN_F_TEMPLATE`).
    Template,
    /// A one-packet (`-o`) UDP connection: never in the table, gone after its packet.
    OnePacket,
}

/// An address (16 bytes, IPv4 in the first 4, see `ipvs_core::ip`) and a port, in network
/// order.
pub(crate) type Endpoint = ([u8; 16], [u8; 2]);

/// The tuple of a new connection or template.
pub(crate) struct ConnTuple {
    /// `AF_INET` or `AF_INET6`: of the client and virtual side (a tunnel dest may be of the
    /// other family).
    pub(crate) af: u16,
    /// `IPPROTO_IP` (0) for a firewall-mark template.
    pub(crate) protocol: u8,
    pub(crate) client: Endpoint,
    /// For a firewall-mark template, the mark in network order.
    pub(crate) virt: Endpoint,
    pub(crate) dport: [u8; 2],
}

/// The connection table of a netns.
pub(crate) type ConnTable = Table<ConnData>;

/// A connection or persistence template, as the connection table holds it.
pub(crate) struct ConnData {
    /// The family of the client and virtual addresses.
    pub(crate) af: u16,
    pub(crate) protocol: u8,
    pub(crate) caddr: [u8; 16],
    pub(crate) cport: [u8; 2],
    pub(crate) vaddr: [u8; 16],
    pub(crate) vport: [u8; 2],
    /// The real server's address, of the dest's family (`dest.af`).
    pub(crate) daddr: [u8; 16],
    pub(crate) dport: [u8; 2],
    /// Forwarding method (`uapi::fwd`), fixed at creation.
    pub(crate) fwd: u32,
    pub(crate) kind: ConnKind,
    /// Set: keep the packets' conntrack entries, tell them about the NAT, and delete the
    /// entry when the connection expires (the `conntrack` sysctl when the connection was
    /// made; upstream's `IP_VS_CONN_F_NFCT`). Unset: the packets IPVS sends on are
    /// untracked.
    pub(crate) nfct: Option<NetLookups>,
    /// The flow's conntrack entry goes when this connection expires (set with `nfct`; cleared
    /// when a new flow with the same tuple replaces the connection: the entry is then the
    /// new flow's).
    owns_conntrack: AtomicBool,
    /// State index and the INACTIVE / NO_OUTPUT flags.
    bits: AtomicU8,
    /// `T_*` bits of a template.
    template_bits: AtomicU8,
    /// Packets from the client (`in_pkts`), saturating: the DoS defense spares entries with
    /// more than 8.
    in_pkts: AtomicU8,
    pub(crate) dest: Arc<Dest>,
    pub(crate) svc_stats: Arc<Stats>,
    /// The persistence template this connection was scheduled by.
    control: Held<ConnData>,
}

impl ConnData {
    pub(crate) fn new(
        t: ConnTuple,
        kind: ConnKind,
        dest: Arc<Dest>,
        fwd: u32,
        nfct: Option<NetLookups>,
        svc_stats: Arc<Stats>,
        control: Option<ConnRef<ConnData>>,
    ) -> Self {
        let daddr = dest.addr;
        let no_output = if fwd == crate::ipvs_core::uapi::fwd::MASQ { 0 } else { F_NO_OUTPUT };
        dest.bind_conn(kind == ConnKind::Template);
        ConnData {
            af: t.af,
            protocol: t.protocol,
            caddr: t.client.0,
            cport: t.client.1,
            vaddr: t.virt.0,
            vport: t.virt.1,
            daddr,
            dport: t.dport,
            fwd,
            kind,
            owns_conntrack: AtomicBool::new(nfct.is_some()),
            nfct,
            // A new connection counts as inactive until it is established.
            bits: AtomicU8::new(F_INACTIVE | no_output | TcpState::None.index() as u8),
            template_bits: AtomicU8::new(0),
            in_pkts: AtomicU8::new(0),
            dest,
            svc_stats,
            control: Held::new(control),
        }
    }

    /// A new flow with this connection's tuple replaces it: the conntrack entry that flow
    /// will have is not this connection's to delete.
    pub(crate) fn disown_conntrack(&self) {
        self.owns_conntrack.store(false, Ordering::Relaxed);
    }

    pub(crate) fn is_one_packet(&self) -> bool {
        self.kind == ConnKind::OnePacket
    }

    pub(crate) fn is_template(&self) -> bool {
        self.kind == ConnKind::Template
    }

    /// Marks a new template as one of a one-packet service.
    pub(crate) fn set_one_packet_template(&self) {
        self.template_bits.fetch_or(T_ONE_PACKET, Ordering::Relaxed);
    }

    /// Counts a packet from the client: on the connection, or for a one-packet connection
    /// on its template (upstream's `in_pkts`).
    pub(crate) fn count_in_packet(&self) {
        let target = match (self.kind, self.control.get()) {
            (ConnKind::OnePacket, Some(ct)) => ct,
            _ => self,
        };
        let n = target.in_pkts.load(Ordering::Relaxed);
        if n < u8::MAX {
            // Racy like upstream's counter only in that two CPUs may count one packet; the
            // defense reads it as a rough figure.
            target.in_pkts.store(n + 1, Ordering::Relaxed);
        }
    }

    /// What the DoS defense's random drop looks at.
    pub(crate) fn defense_kind(&self) -> EntryKind {
        if self.is_template() {
            let b = self.template_bits.load(Ordering::Relaxed);
            EntryKind::Template { one_packet: b & T_ONE_PACKET != 0, assured: b & T_ASSURED != 0 }
        } else if self.is_tcp() {
            EntryKind::Tcp(TcpState::from_index(self.state_index()).unwrap_or(TcpState::Close))
        } else {
            EntryKind::Other
        }
    }

    pub(crate) fn in_pkts(&self) -> u32 {
        u32::from(self.in_pkts.load(Ordering::Relaxed))
    }

    /// Whether a packet from `client` to `virt` belongs to this (non-template) connection.
    pub(crate) fn matches_in(&self, af: u16, protocol: u8, client: &Endpoint, virt: &Endpoint) -> bool {
        self.af == af
            && self.protocol == protocol
            && self.caddr == client.0
            && self.cport == client.1
            && self.vaddr == virt.0
            && self.vport == virt.1
            && !self.is_template()
    }

    /// Whether a packet from `server` to `client` is a reply of this (non-template) connection
    /// (upstream's `ip_vs_conn_out_get`): from the real server for NAT, from the virtual
    /// service for the other methods, whose replies pass the director only when it is on
    /// their way (their real server's gateway, or the client itself).
    pub(crate) fn matches_out(&self, af: u16, protocol: u8, server: &Endpoint, client: &Endpoint) -> bool {
        let from = if self.fwd == fwd::MASQ { (self.daddr, self.dport) } else { (self.vaddr, self.vport) };
        self.af == af
            && self.protocol == protocol
            && self.caddr == client.0
            && self.cport == client.1
            && from == *server
            && !self.is_template()
    }

    /// Whether this is the valid template for `t` (`ip_vs_ct_in_get`).
    pub(crate) fn is_template_for(&self, t: &ConnTuple) -> bool {
        self.is_template()
            && self.af == t.af
            && self.protocol == t.protocol
            && self.caddr == t.client.0
            && self.cport == t.client.1
            && self.vaddr == t.virt.0
            && self.vport == t.virt.1
            && self.template_bits.load(Ordering::Relaxed) & T_INVALID == 0
    }

    /// Takes a template out of use: lookups no longer find it and /proc shows its ports as
    /// 0xffff, as upstream's rehash does. It still expires on its own timer.
    pub(crate) fn invalidate_template(&self) {
        self.template_bits.fetch_or(T_INVALID, Ordering::Relaxed);
    }

    /// `(vport, dport)` as /proc shows them.
    pub(crate) fn shown_ports(&self) -> ([u8; 2], [u8; 2]) {
        if self.template_bits.load(Ordering::Relaxed) & T_INVALID != 0 {
            ([0xff, 0xff], [0xff, 0xff])
        } else {
            (self.vport, self.dport)
        }
    }

    /// `ip_vs_control_assure_ct()`: the connection proved the client is real, so its
    /// template is kept when a controlled connection is dropped early.
    pub(crate) fn assure_template(&self) {
        if let Some(ct) = self.control.get() {
            ct.template_bits.fetch_or(T_ASSURED, Ordering::Relaxed);
        }
    }

    pub(crate) fn is_controlled(&self) -> bool {
        self.control.get().is_some()
    }

    /// The state name of a template (`ip_vs_ctpl_state_name_table`).
    pub(crate) fn template_state_name(&self) -> &'static str {
        if self.template_bits.load(Ordering::Relaxed) & T_ASSURED != 0 {
            "ASSURED"
        } else {
            "NONE"
        }
    }

    /// `is_new_conn_expected()`: a SYN on this connection starts a new one (conn_reuse_mode).
    pub(crate) fn new_conn_expected(&self, conn_reuse_mode: u32) -> bool {
        if self.is_controlled() || !self.is_tcp() {
            return false;
        }
        let b = self.bits.load(Ordering::Relaxed);
        let state = TcpState::from_index(usize::from(b & STATE_MASK));
        matches!(state, Some(TcpState::TimeWait | TcpState::Close))
            || (conn_reuse_mode & 2 != 0 && state == Some(TcpState::FinWait) && b & F_NO_OUTPUT != 0)
    }

    /// Leaves the dest's counters and the template, as expiry does, for a connection that
    /// never entered the table: a one-packet connection after its packet, or one the table
    /// had no memory for.
    pub(crate) fn discard(self) {
        self.leave();
    }

    fn leave(&self) {
        let b = self.bits.load(Ordering::Relaxed);
        self.dest.unbind_conn(self.is_template(), !self.is_template() && b & F_INACTIVE == 0);
        self.control.release();
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
                            self.dest.active.fetch_add(1, Ordering::Relaxed);
                        }
                        ActiveChange::Dec => {
                            self.dest.active.fetch_sub(1, Ordering::Relaxed);
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
        // A template keeps no conntrack entry, and a port-zero flow has no tuple of its own.
        if let Some(ct) = &self.nfct {
            if self.kind == ConnKind::Normal && self.cport != [0, 0] && self.owns_conntrack.load(Ordering::Relaxed) {
                ct.forget_flow(self.af, self.protocol, &(self.caddr, self.cport), &(self.vaddr, self.vport));
            }
        }
        self.leave();
    }

    fn detach(&self) {
        self.control.release();
    }

    fn retry_timeout(&self) -> u32 {
        // Upstream's `expire_later`: a template that still controls connections (or an entry
        // someone holds) is looked at again in a minute.
        60u32.saturating_mul(crate::sys::hz())
    }
}
