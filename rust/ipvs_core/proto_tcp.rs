// SPDX-License-Identifier: GPL-2.0
//! The TCP connection state machine of IPVS (`ip_vs_proto_tcp.c`): states, their names in
//! /proc/net/ip_vs_conn, default timeouts, the three transition tables (input, output, and
//! input-only for DR/TUN, where replies bypass the director) in their normal and `secure_tcp`
//! variants, and which states count as active connections.

use super::timeouts::Timeouts;

/// `IP_VS_TCP_S_*`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum TcpState {
    None = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait = 4,
    TimeWait = 5,
    Close = 6,
    CloseWait = 7,
    LastAck = 8,
    Listen = 9,
    SynAck = 10,
}

/// `IP_VS_TCP_S_LAST`: the number of states.
pub const TCP_STATE_COUNT: usize = 11;

use TcpState::{
    Close as CL, CloseWait as CW, Established as ES, FinWait as FW, LastAck as LA, Listen as LI,
    None as NO, SynAck as SA, SynRecv as SR, SynSent as SS, TimeWait as TW,
};

impl TcpState {
    pub const ALL: [TcpState; TCP_STATE_COUNT] = [NO, ES, SS, SR, FW, TW, CL, CW, LA, LI, SA];

    pub fn from_index(idx: usize) -> Option<TcpState> {
        Self::ALL.get(idx).copied()
    }

    pub const fn index(self) -> usize {
        self as usize
    }

    /// The name /proc/net/ip_vs_conn prints.
    pub const fn name(self) -> &'static str {
        match self {
            NO => "NONE",
            ES => "ESTABLISHED",
            SS => "SYN_SENT",
            SR => "SYN_RECV",
            FW => "FIN_WAIT",
            TW => "TIME_WAIT",
            CL => "CLOSE",
            CW => "CLOSE_WAIT",
            LA => "LAST_ACK",
            LI => "LISTEN",
            SA => "SYNACK",
        }
    }

    /// Whether a connection in this state counts in its dest's ActiveConn (otherwise in
    /// InActConn): upstream's `tcp_state_active_table`.
    pub const fn is_active(self) -> bool {
        matches!(self, ES | SS | SR | SA)
    }

    /// The built-in timeout, in seconds.
    pub const fn default_timeout(self) -> u32 {
        match self {
            NO => 2,
            ES => 15 * 60,
            SS => 2 * 60,
            SR => 60,
            FW => 2 * 60,
            TW => 2 * 60,
            CL => 10,
            CW => 60,
            LA => 30,
            LI => 2 * 60,
            SA => 120,
        }
    }

    /// The timeout in seconds in a netns whose ESTABLISHED and FIN_WAIT timeouts may have been
    /// changed with SET_CONFIG (`ipvsadm --set`).
    pub const fn timeout(self, t: &Timeouts) -> u32 {
        match self {
            ES => t.tcp,
            FW => t.tcp_fin,
            _ => self.default_timeout(),
        }
    }
}

/// `tcp_state_name()` for a raw state number: "ERR!" beyond the last state.
pub fn tcp_state_name(state: usize) -> &'static str {
    TcpState::from_index(state).map_or("ERR!", TcpState::name)
}

/// Packet direction (`IP_VS_DIR_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Client to real server.
    Input,
    /// Real server to client, through the director (NAT).
    Output,
    /// Client to real server on a connection whose replies never pass the director.
    InputOnly,
}

/// The event a TCP header triggers (`tcp_state_idx()`), in the tables' row order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpEvent {
    Syn = 0,
    Fin = 1,
    Ack = 2,
    Rst = 3,
}

impl TcpEvent {
    /// RST wins over SYN, SYN over FIN, FIN over ACK; none of them is no event.
    pub fn from_flags(syn: bool, fin: bool, ack: bool, rst: bool) -> Option<TcpEvent> {
        if rst {
            Some(TcpEvent::Rst)
        } else if syn {
            Some(TcpEvent::Syn)
        } else if fin {
            Some(TcpEvent::Fin)
        } else if ack {
            Some(TcpEvent::Ack)
        } else {
            None
        }
    }
}

/// Which set of tables applies: the `secure_tcp` sysctl switches to the DoS-hardened ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TcpTables {
    #[default]
    Normal,
    Secure,
}

type Row = [TcpState; TCP_STATE_COUNT];
/// Rows for SYN, FIN, ACK, RST.
type Table = [Row; 4];

// Columns:            NO  ES  SS  SR  FW  TW  CL  CW  LA  LI  SA
const INPUT: Table = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, SR],
];
const OUTPUT: Table = [
    /* syn */ [SS, ES, SS, SR, SS, SS, SS, SS, SS, LI, SR],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];
const INPUT_ONLY: Table = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SR],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

const INPUT_SECURE: Table = [
    /* syn */ [SR, ES, ES, SR, SR, SR, SR, SR, SR, SR, SA],
    /* fin */ [CL, CW, SS, TW, TW, TW, CL, CW, LA, LI, SA],
    /* ack */ [ES, ES, SS, SR, FW, TW, CL, CW, CL, LI, SA],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];
const OUTPUT_SECURE: Table = [
    /* syn */ [SS, ES, SS, SA, SS, SS, SS, SS, SS, LI, SA],
    /* fin */ [TW, FW, SS, TW, FW, TW, CL, TW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, LA, ES, ES],
    /* rst */ [CL, CL, SS, CL, CL, TW, CL, CL, CL, CL, CL],
];
const INPUT_ONLY_SECURE: Table = [
    /* syn */ [SA, ES, ES, SR, SA, SA, SA, SA, SA, SA, SA],
    /* fin */ [CL, FW, SS, TW, FW, TW, CL, CW, LA, LI, TW],
    /* ack */ [ES, ES, SS, ES, FW, TW, CL, CW, CL, LI, ES],
    /* rst */ [CL, CL, CL, SR, CL, CL, CL, CL, LA, LI, CL],
];

/// One entry of the transition tables.
pub fn next_state(tables: TcpTables, dir: Direction, event: TcpEvent, state: TcpState) -> TcpState {
    let table = match (tables, dir) {
        (TcpTables::Normal, Direction::Input) => &INPUT,
        (TcpTables::Normal, Direction::Output) => &OUTPUT,
        (TcpTables::Normal, Direction::InputOnly) => &INPUT_ONLY,
        (TcpTables::Secure, Direction::Input) => &INPUT_SECURE,
        (TcpTables::Secure, Direction::Output) => &OUTPUT_SECURE,
        (TcpTables::Secure, Direction::InputOnly) => &INPUT_ONLY_SECURE,
    };
    table
        .get(event as usize)
        .and_then(|row| row.get(state.index()))
        .copied()
        .unwrap_or(CL)
}

/// The per-connection facts a transition reads and updates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpConn {
    pub state: TcpState,
    /// `IP_VS_CONN_F_NOOUTPUT`: replies have not been seen through the director (set for
    /// every non-NAT dest); cleared by the first output packet.
    pub no_output: bool,
    /// `IP_VS_CONN_F_INACTIVE`: counted in the dest's InActConn rather than ActiveConn.
    pub inactive: bool,
}

/// How a transition changes the dest's ActiveConn counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActiveChange {
    None,
    /// Became active: increment ActiveConn.
    Inc,
    /// Became inactive: decrement ActiveConn.
    Dec,
}

/// The result of one packet on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpTransition {
    pub conn: TcpConn,
    /// Only meaningful when the connection has a dest.
    pub active: ActiveChange,
    /// The connection just became ESTABLISHED (upstream then assures the conntrack entry).
    pub established: bool,
}

/// `set_tcp_state()`: the next state of `conn` after a packet in `dir` with the given TCP
/// flags. A packet with none of SYN/FIN/ACK/RST moves the connection to CLOSE. The caller
/// applies `active` to the dest (if any) and sets the timeout of the new state.
pub fn transition(
    tables: TcpTables,
    dir: Direction,
    conn: TcpConn,
    event: Option<TcpEvent>,
) -> TcpTransition {
    let mut out = conn;
    let mut dir = dir;
    if conn.no_output {
        if dir == Direction::Output {
            out.no_output = false;
        } else {
            dir = Direction::InputOnly;
        }
    }
    let new_state = match event {
        Some(ev) => next_state(tables, dir, ev, conn.state),
        None => CL,
    };
    let mut active = ActiveChange::None;
    let mut established = false;
    if new_state != conn.state {
        if !conn.inactive && !new_state.is_active() {
            active = ActiveChange::Dec;
            out.inactive = true;
        } else if conn.inactive && new_state.is_active() {
            active = ActiveChange::Inc;
            out.inactive = false;
        }
        established = new_state == ES;
    }
    out.state = new_state;
    TcpTransition { conn: out, active, established }
}

/// UDP has a single state (`IP_VS_UDP_S_NORMAL`), named "UDP"; its timeout is the netns's
/// UDP timeout, refreshed by every packet.
pub mod udp {
    use super::Timeouts;

    /// `IP_VS_UDP_S_NORMAL`.
    pub const STATE_NORMAL: usize = 0;

    /// `udp_state_name()`.
    pub fn state_name(state: usize) -> &'static str {
        if state == STATE_NORMAL {
            "UDP"
        } else {
            "ERR!"
        }
    }

    /// The timeout, in seconds, every UDP packet sets.
    pub fn timeout(t: &Timeouts) -> u32 {
        t.udp
    }
}
