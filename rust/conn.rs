// SPDX-License-Identifier: GPL-2.0
//! One IPVS connection: the tuple, the chosen dest, and its protocol state; and the per-netns
//! table that holds connections (`sys::conntab` does the RCU, timers and locking).

use crate::ipvs_core::sync_msg::{self, conn_flag, SyncConn};
use crate::ipvs_core::uapi::fwd;
use crate::dest::Dest;
use crate::ipvs_core::defense::EntryKind;
use crate::ipvs_core::packet::PROTO_TCP;
use crate::ipvs_core::proto_tcp::{ActiveChange, TcpConn, TcpState, TcpTransition};
use crate::sys::conntab::{ConnRef, Entry, Held, NodeCache, Table, Which};
use crate::sys::NetLookups;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
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
    /// The packet's firewall mark when the connection was scheduled (sync messages carry it,
    /// for a backup to find a firewall-mark service's dest).
    pub(crate) fwmark: u32,
}

/// What a sync message says of a connection's state, for the backup to apply.
pub(crate) struct SyncedState {
    /// The TCP state index, 0 for UDP; a template's state (`IP_VS_CTPL_S_*`).
    pub(crate) state: u16,
    pub(crate) inactive: bool,
    /// What `in_pkts` becomes (`sync_threshold`), so that the new master's first packets
    /// sync it again at the usual count.
    pub(crate) in_pkts: u32,
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
    /// The `conntrack` sysctl was set when the entry was made (upstream's
    /// `IP_VS_CONN_F_NFCT`, which a template carries too: sync messages show it).
    nfct_flag: bool,
    /// Made by the backup sync daemon from a master's message (`IP_VS_CONN_F_SYNC`).
    pub(crate) synced: bool,
    /// See [`ConnTuple::fwmark`].
    pub(crate) fwmark: u32,
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
    /// Packets from the client (`in_pkts`), wrapping as upstream's counter: the DoS defense
    /// spares entries with more than 8, the sync master syncs at counts that
    /// `sync_threshold` names.
    in_pkts: AtomicU32,
    /// The state when the master last synced the connection (`old_state`).
    sync_old_state: AtomicU8,
    /// When the master's last sync of it makes the backup's copy expire, in jiffies, with
    /// the retries in its low 2 bits (`sync_endtime`).
    sync_endtime: AtomicU64,
    /// Its packets count on the dest's service too ([`Dest::svc_stats`]).
    pub(crate) dest: Arc<Dest>,
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
            nfct_flag: nfct.is_some(),
            synced: false,
            fwmark: t.fwmark,
            owns_conntrack: AtomicBool::new(nfct.is_some()),
            nfct,
            // A new connection counts as inactive until it is established.
            bits: AtomicU8::new(F_INACTIVE | no_output | TcpState::None.index() as u8),
            template_bits: AtomicU8::new(0),
            in_pkts: AtomicU32::new(0),
            sync_old_state: AtomicU8::new(0),
            sync_endtime: AtomicU64::new(crate::sys::jiffies() & !3),
            dest,
            control: Held::new(control),
        }
    }

    /// A template made while the `conntrack` sysctl was set: it keeps no conntrack entry, but
    /// says so in sync messages as upstream's does.
    pub(crate) fn with_conntrack_flag(mut self, on: bool) -> Self {
        self.nfct_flag |= on;
        self
    }

    /// A new flow with this connection's tuple replaces it: the conntrack entry that flow
    /// will have is not this connection's to delete.
    pub(crate) fn disown_conntrack(&self) {
        self.owns_conntrack.store(false, Ordering::Relaxed);
    }

    pub(crate) fn is_one_packet(&self) -> bool {
        self.kind == ConnKind::OnePacket
    }

    /// Made by `cache_bypass`: no real server; its packets go on to where they were sent.
    pub(crate) fn is_bypass(&self) -> bool {
        self.fwd == crate::ipvs_core::uapi::fwd::BYPASS
    }

    /// Whether its packets count in its dest's, service's and netns's stats: as upstream's
    /// `ip_vs_in_stats`, only while its dest is in a service (not once removed, never for a
    /// bypass connection, which upstream makes without one).
    pub(crate) fn counted(&self) -> bool {
        !self.is_bypass() && self.dest.is_available()
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
        target.in_pkts.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a packet from the client and returns the new count (upstream's
    /// `atomic_inc_return(&cp->in_pkts)`), for the sync master's decision.
    pub(crate) fn count_in_packet_for_sync(&self) -> i32 {
        // Upstream's counter is an `atomic_t`: it goes negative when it wraps.
        self.in_pkts.fetch_add(1, Ordering::Relaxed).wrapping_add(1) as i32
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
        self.in_pkts.load(Ordering::Relaxed)
    }

    /// Whether a packet from `client` to `virt` belongs to this (non-template) connection.
    /// The fields that tell a bucket's entries apart come first (the client's port, then its
    /// address): a lookup's walk over others then reads one field of each.
    pub(crate) fn matches_in(&self, af: u16, protocol: u8, client: &Endpoint, virt: &Endpoint) -> bool {
        self.cport == client.1
            && self.caddr == client.0
            && self.af == af
            && self.protocol == protocol
            && self.vaddr == virt.0
            && self.vport == virt.1
            && !self.is_template()
    }

    /// Whether a packet from `server` to `client` is a reply of this (non-template) connection
    /// (upstream's `ip_vs_conn_out_get`): from the real server for NAT, from the virtual
    /// service for the other methods, whose replies pass the director only when it is on
    /// their way (their real server's gateway, or the client itself).
    pub(crate) fn matches_out(&self, af: u16, protocol: u8, server: &Endpoint, client: &Endpoint) -> bool {
        // Client first, as in `matches_in`.
        if self.cport != client.1 || self.caddr != client.0 || self.af != af || self.protocol != protocol {
            return false;
        }
        let from = if self.fwd == fwd::MASQ { (self.daddr, self.dport) } else { (self.vaddr, self.vport) };
        from == *server
            && !self.is_template()
    }

    /// Whether this is the valid template for `t` (`ip_vs_ct_in_get`).
    pub(crate) fn is_template_for(&self, t: &ConnTuple) -> bool {
        // The client's network first, as in `matches_in` (a template's client port is 0).
        self.caddr == t.client.0
            && self.cport == t.client.1
            && self.is_template()
            && self.af == t.af
            && self.protocol == t.protocol
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

    /// The state a sync message carries: the TCP state index (0 for UDP), or a template's
    /// `IP_VS_CTPL_S_*`.
    pub(crate) fn sync_state(&self) -> u16 {
        if self.is_template() {
            if self.template_bits.load(Ordering::Relaxed) & T_ASSURED != 0 {
                sync_msg::TEMPLATE_STATE_ASSURED
            } else {
                sync_msg::TEMPLATE_STATE_NONE
            }
        } else {
            self.state_index() as u16
        }
    }

    /// The connection flags a sync message carries (`cp->flags` less `HASHED`).
    pub(crate) fn sync_flags(&self) -> u32 {
        let b = self.bits.load(Ordering::Relaxed);
        let mut f = self.fwd & conn_flag::FWD_MASK;
        if b & F_NO_OUTPUT != 0 {
            f |= conn_flag::NOOUTPUT;
        }
        if b & F_INACTIVE != 0 {
            f |= conn_flag::INACTIVE;
        }
        if self.is_template() {
            f |= conn_flag::TEMPLATE;
        }
        if self.synced {
            f |= conn_flag::SYNC;
        }
        if self.nfct_flag {
            f |= conn_flag::NFCT;
        }
        f
    }

    /// This connection as a sync message entry, with its timeout in seconds.
    pub(crate) fn sync_entry(&self, timeout_secs: u32) -> SyncConn {
        SyncConn {
            af: self.af,
            protocol: self.protocol,
            flags: self.sync_flags(),
            state: self.sync_state(),
            cport: self.cport,
            vport: self.vport,
            dport: self.dport,
            fwmark: self.fwmark,
            timeout: timeout_secs,
            caddr: self.caddr,
            vaddr: self.vaddr,
            daddr: self.daddr,
            seq: None,
        }
    }

    /// Whether a template controls this connection (upstream's `in_persistence`).
    pub(crate) fn is_controlled_by_template(&self) -> bool {
        self.control.get().is_some_and(|c| c.is_template())
    }

    /// The template (or controlling connection) and its expiry delay.
    pub(crate) fn control_with_timeout(&self) -> Option<(&ConnData, u32)> {
        self.control.get_with_timeout()
    }

    /// Runs the master's sync decision on this connection's bookkeeping: `decide` gets the
    /// state at the last sync and the last `sync_endtime`, and says whether to sync and the
    /// new `sync_endtime` (stored only if no other CPU changed it meanwhile; a sync forced by
    /// a state change happens either way, as upstream's).
    pub(crate) fn sync_decide(&self, decide: impl FnOnce(u16, u64) -> sync_msg::NeedOutcome) -> bool {
        let old_state = u16::from(self.sync_old_state.load(Ordering::Relaxed));
        let orig = self.sync_endtime.load(Ordering::Relaxed);
        match decide(old_state, orig) {
            sync_msg::NeedOutcome::Skip => false,
            sync_msg::NeedOutcome::Sync { endtime, force } => {
                self.sync_old_state.store(self.sync_state() as u8, Ordering::Relaxed);
                let won = self.sync_endtime.compare_exchange(orig, endtime, Ordering::Relaxed, Ordering::Relaxed).is_ok();
                won || force
            }
        }
    }

    /// A connection made by the backup from a sync message: its state, activity and packet
    /// count as the message says (the dest's counters follow).
    pub(crate) fn synced_from(mut self, s: &SyncedState) -> Self {
        self.synced = true;
        self.apply_synced(s);
        self.sync_old_state.store(s.state as u8, Ordering::Relaxed);
        self
    }

    /// A sync message updates this connection: its state and activity (moving it between
    /// the dest's active and inactive counts), and its packet count.
    pub(crate) fn apply_synced(&self, s: &SyncedState) {
        self.in_pkts.store(s.in_pkts, Ordering::Relaxed);
        self.sync_old_state.store(s.state as u8, Ordering::Relaxed);
        if self.is_template() {
            if s.state != sync_msg::TEMPLATE_STATE_NONE {
                self.template_bits.fetch_or(T_ASSURED, Ordering::Relaxed);
            } else {
                self.template_bits.fetch_and(!T_ASSURED, Ordering::Relaxed);
            }
            return;
        }
        let state = (s.state as u8) & STATE_MASK;
        let mut cur = self.bits.load(Ordering::Relaxed);
        loop {
            let mut next = (cur & !(STATE_MASK | F_INACTIVE)) | state;
            if s.inactive {
                next |= F_INACTIVE;
            }
            match self.bits.compare_exchange_weak(cur, next, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => break,
                Err(now) => cur = now,
            }
        }
        match (cur & F_INACTIVE != 0, s.inactive) {
            (true, false) => {
                self.dest.active.fetch_add(1, Ordering::Relaxed);
            }
            (false, true) => {
                self.dest.active.fetch_sub(1, Ordering::Relaxed);
            }
            _ => {}
        }
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

    fn hash(&self, key: u32, which: Which) -> u32 {
        // What the datapath and the sync backup look a connection or template up by: the
        // client's end and the virtual service's (requests, and the replies of DR and TUN),
        // or the real server's (a NAT connection's replies).
        let far = match which {
            Which::First => (&self.vaddr, self.vport),
            Which::Second => (&self.daddr, self.dport),
        };
        crate::ipvs_core::packet::conn_hash(self.protocol, (&self.caddr, self.cport), far, key)
    }

    fn has_second_key(&self) -> bool {
        // Only a NAT connection's replies come from another end than the virtual service.
        self.fwd == fwd::MASQ && !self.is_template()
    }

    fn node_cache() -> &'static NodeCache<Self> {
        &CONN_CACHE
    }
}

/// Where connections and templates are allocated (`/proc/slabinfo`: ipvs_rs_conn).
pub(crate) static CONN_CACHE: NodeCache<ConnData> = NodeCache::new(kernel::c_str!("ipvs_rs_conn"));
