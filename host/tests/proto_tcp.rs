#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The TCP state machine against upstream's tables, cell by cell (all 3 directions x 4 events x
//! 11 states, normal and secure_tcp), plus the NOOUTPUT, active-counting and timeout rules.
use ipvs_core_host::ipvs_core::proto_tcp::{
    next_state, tcp_state_name, transition, udp, ActiveChange, Direction, TcpConn, TcpEvent, TcpState, TcpTables,
    TCP_STATE_COUNT,
};
use ipvs_core_host::ipvs_core::timeouts::Timeouts;

/// Rows of `tcp_states` in ip_vs_proto_tcp.c: input, output, input-only; syn fin ack rst each.
const NORMAL: [&str; 12] = [
    "syn SR ES ES SR SR SR SR SR SR SR SR",
    "fin CL CW SS TW TW TW CL CW LA LI TW",
    "ack ES ES SS ES FW TW CL CW CL LI ES",
    "rst CL CL CL SR CL CL CL CL LA LI SR",
    "syn SS ES SS SR SS SS SS SS SS LI SR",
    "fin TW FW SS TW FW TW CL TW LA LI TW",
    "ack ES ES SS ES FW TW CL CW LA ES ES",
    "rst CL CL SS CL CL TW CL CL CL CL CL",
    "syn SR ES ES SR SR SR SR SR SR SR SR",
    "fin CL FW SS TW FW TW CL CW LA LI TW",
    "ack ES ES SS ES FW TW CL CW CL LI ES",
    "rst CL CL CL SR CL CL CL CL LA LI CL",
];
/// Rows of `tcp_states_dos` in ip_vs_proto_tcp.c: input, output, input-only; syn fin ack rst each.
const SECURE: [&str; 12] = [
    "syn SR ES ES SR SR SR SR SR SR SR SA",
    "fin CL CW SS TW TW TW CL CW LA LI SA",
    "ack ES ES SS SR FW TW CL CW CL LI SA",
    "rst CL CL CL SR CL CL CL CL LA LI CL",
    "syn SS ES SS SA SS SS SS SS SS LI SA",
    "fin TW FW SS TW FW TW CL TW LA LI TW",
    "ack ES ES SS ES FW TW CL CW LA ES ES",
    "rst CL CL SS CL CL TW CL CL CL CL CL",
    "syn SA ES ES SR SA SA SA SA SA SA SA",
    "fin CL FW SS TW FW TW CL CW LA LI TW",
    "ack ES ES SS ES FW TW CL CW CL LI ES",
    "rst CL CL CL SR CL CL CL CL LA LI CL",
];

fn abbrev(s: TcpState) -> &'static str {
    match s {
        TcpState::None => "NO",
        TcpState::Established => "ES",
        TcpState::SynSent => "SS",
        TcpState::SynRecv => "SR",
        TcpState::FinWait => "FW",
        TcpState::TimeWait => "TW",
        TcpState::Close => "CL",
        TcpState::CloseWait => "CW",
        TcpState::LastAck => "LA",
        TcpState::Listen => "LI",
        TcpState::SynAck => "SA",
    }
}

fn check_tables(tables: TcpTables, want: &[&str; 12]) {
    let dirs = [Direction::Input, Direction::Output, Direction::InputOnly];
    let events = [(TcpEvent::Syn, "syn"), (TcpEvent::Fin, "fin"), (TcpEvent::Ack, "ack"), (TcpEvent::Rst, "rst")];
    let mut cells = 0;
    for (d, dir) in dirs.iter().enumerate() {
        for (e, (ev, ev_name)) in events.iter().enumerate() {
            let row: Vec<&str> = TcpState::ALL.iter().map(|&s| abbrev(next_state(tables, *dir, *ev, s))).collect();
            let got = format!("{} {}", ev_name, row.join(" "));
            assert_eq!(got, want[d * 4 + e], "{tables:?} {dir:?}");
            cells += row.len();
        }
    }
    assert_eq!(cells, 3 * 4 * TCP_STATE_COUNT);
}

#[test]
fn every_transition_of_the_normal_tables() {
    check_tables(TcpTables::Normal, &NORMAL);
}

#[test]
fn every_transition_of_the_secure_tcp_tables() {
    check_tables(TcpTables::Secure, &SECURE);
}

#[test]
fn state_names_and_indices() {
    let names: Vec<&str> = TcpState::ALL.iter().map(|s| s.name()).collect();
    assert_eq!(
        names,
        [
            "NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT", "CLOSE", "CLOSE_WAIT", "LAST_ACK",
            "LISTEN", "SYNACK"
        ]
    );
    for (i, s) in TcpState::ALL.iter().enumerate() {
        assert_eq!(s.index(), i);
        assert_eq!(TcpState::from_index(i), Some(*s));
        assert_eq!(tcp_state_name(i), s.name());
    }
    assert_eq!(TcpState::from_index(11), None);
    assert_eq!(tcp_state_name(11), "ERR!");
    assert_eq!(udp::state_name(0), "UDP");
    assert_eq!(udp::state_name(1), "ERR!");
}

#[test]
fn default_and_configured_timeouts() {
    let secs: Vec<u32> = TcpState::ALL.iter().map(|s| s.default_timeout()).collect();
    assert_eq!(secs, [2, 900, 120, 60, 120, 120, 10, 60, 30, 120, 120]);
    let t = Timeouts { tcp: 100, tcp_fin: 7, udp: 33 };
    assert_eq!(TcpState::Established.timeout(&t), 100);
    assert_eq!(TcpState::FinWait.timeout(&t), 7);
    assert_eq!(TcpState::TimeWait.timeout(&t), 120, "only ESTABLISHED and FIN_WAIT are configurable");
    assert_eq!(TcpState::Established.timeout(&Timeouts::default()), 900);
    assert_eq!(udp::timeout(&t), 33);
}

#[test]
fn active_states_are_upstreams() {
    let active: Vec<TcpState> = TcpState::ALL.iter().copied().filter(|s| s.is_active()).collect();
    assert_eq!(active, [TcpState::Established, TcpState::SynSent, TcpState::SynRecv, TcpState::SynAck]);
}

#[test]
fn event_priority() {
    assert_eq!(TcpEvent::from_flags(true, true, true, true), Some(TcpEvent::Rst));
    assert_eq!(TcpEvent::from_flags(true, true, true, false), Some(TcpEvent::Syn));
    assert_eq!(TcpEvent::from_flags(false, true, true, false), Some(TcpEvent::Fin));
    assert_eq!(TcpEvent::from_flags(false, false, true, false), Some(TcpEvent::Ack));
    assert_eq!(TcpEvent::from_flags(false, false, false, false), None);
}

fn conn(state: TcpState, no_output: bool, inactive: bool) -> TcpConn {
    TcpConn { state, no_output, inactive }
}

#[test]
fn nat_handshake_and_close_counts_active_then_inactive() {
    // A new connection starts in NONE, counted inactive.
    let t = TcpTables::Normal;
    let c0 = conn(TcpState::None, false, true);
    let syn = transition(t, Direction::Input, c0, Some(TcpEvent::Syn));
    assert_eq!(syn.conn, conn(TcpState::SynRecv, false, false));
    assert_eq!((syn.active, syn.established), (ActiveChange::Inc, false));
    let synack = transition(t, Direction::Output, syn.conn, Some(TcpEvent::Syn));
    assert_eq!(synack.conn.state, TcpState::SynRecv);
    assert_eq!(synack.active, ActiveChange::None);
    let ack = transition(t, Direction::Input, synack.conn, Some(TcpEvent::Ack));
    assert_eq!(ack.conn.state, TcpState::Established);
    assert_eq!((ack.active, ack.established), (ActiveChange::None, true));
    let fin = transition(t, Direction::Input, ack.conn, Some(TcpEvent::Fin));
    assert_eq!(fin.conn, conn(TcpState::CloseWait, false, true));
    assert_eq!(fin.active, ActiveChange::Dec);
    let fin2 = transition(t, Direction::Output, fin.conn, Some(TcpEvent::Fin));
    assert_eq!(fin2.conn.state, TcpState::TimeWait);
    assert_eq!(fin2.active, ActiveChange::None);
    // Same state: nothing changes, not even "established".
    let again = transition(t, Direction::Input, ack.conn, Some(TcpEvent::Ack));
    assert_eq!((again.conn, again.active, again.established), (ack.conn, ActiveChange::None, false));
}

#[test]
fn no_output_uses_input_only_until_a_reply_is_seen() {
    let t = TcpTables::Normal;
    // DR/TUN: FIN from the client in ESTABLISHED goes to FIN_WAIT (input-only), not CLOSE_WAIT.
    let es = conn(TcpState::Established, true, false);
    let r = transition(t, Direction::Input, es, Some(TcpEvent::Fin));
    assert_eq!(r.conn, conn(TcpState::FinWait, true, true));
    // Direction::InputOnly given directly behaves the same.
    let r2 = transition(t, Direction::InputOnly, conn(TcpState::Established, false, false), Some(TcpEvent::Fin));
    assert_eq!(r2.conn.state, TcpState::FinWait);
    // An output packet clears NOOUTPUT and uses the output table.
    let r = transition(t, Direction::Output, es, Some(TcpEvent::Fin));
    assert_eq!(r.conn, conn(TcpState::FinWait, false, true));
    let r = transition(t, Direction::Output, conn(TcpState::Listen, true, true), Some(TcpEvent::Ack));
    assert_eq!(r.conn, conn(TcpState::Established, false, false));
    assert_eq!((r.active, r.established), (ActiveChange::Inc, true));
}

#[test]
fn no_flags_means_close() {
    let r = transition(TcpTables::Normal, Direction::Input, conn(TcpState::Established, false, false), None);
    assert_eq!(r.conn, conn(TcpState::Close, false, true));
    assert_eq!(r.active, ActiveChange::Dec);
    let r = transition(TcpTables::Normal, Direction::Input, conn(TcpState::Close, false, true), None);
    assert_eq!(r.active, ActiveChange::None);
}

#[test]
fn secure_tcp_syn_flood_stays_in_synack() {
    let r = transition(TcpTables::Secure, Direction::InputOnly, conn(TcpState::None, false, true), Some(TcpEvent::Syn));
    assert_eq!(r.conn, conn(TcpState::SynAck, false, false));
    assert_eq!(r.active, ActiveChange::Inc);
    let r = transition(TcpTables::Secure, Direction::Input, r.conn, Some(TcpEvent::Ack));
    assert_eq!(r.conn.state, TcpState::SynAck);
}
