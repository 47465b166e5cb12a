#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Property-based fuzzing of the attribute codec and the command handlers: any bytes a client
//! can send must give Ok or an errno, never a panic. Bounded by PROPTEST_CASES.
mod common;
use common::VecStore;
use ipvs_core_host::ipvs_core::control::ControlPlane;
use ipvs_core_host::ipvs_core::env::Env;
use ipvs_core_host::ipvs_core::policy::{CmdAttrs, CMD_POLICY, DAEMON_POLICY, DEST_POLICY, SVC_POLICY};
use ipvs_core_host::ipvs_core::nlattr::{Attrs, Table, Writer};
use proptest::prelude::*;

const ENV: Env = Env { hz: 250, conn_tab_size: 256, ipv6_enabled: true };

/// Attribute-shaped bytes: mostly well-formed headers with random types and payloads, with
/// random corruption, so the parser is driven past the first header.
fn attr_soup() -> impl Strategy<Value = Vec<u8>> {
    let one = (0u16..20, prop::collection::vec(any::<u8>(), 0..24), any::<bool>(), any::<u8>()).prop_map(
        |(kind, payload, nested_flag, skew)| {
            let mut v = Vec::new();
            let len = (4 + payload.len()) as u16;
            let len = if skew % 17 == 0 { len.wrapping_add(u16::from(skew)) } else { len };
            v.extend_from_slice(&len.to_ne_bytes());
            v.extend_from_slice(&(kind | if nested_flag { 0x8000 } else { 0 }).to_ne_bytes());
            v.extend_from_slice(&payload);
            while v.len() % 4 != 0 {
                v.push(0);
            }
            v
        },
    );
    prop::collection::vec(one, 0..8).prop_map(|v| v.concat())
}

proptest! {
    #[test]
    fn parsers_never_panic(buf in prop::collection::vec(any::<u8>(), 0..256)) {
        let _ = Table::parse(&buf, &CMD_POLICY);
        let _ = Table::parse(&buf, &SVC_POLICY);
        let _ = Table::parse(&buf, &DEST_POLICY);
        let _ = Table::parse(&buf, &DAEMON_POLICY);
        prop_assert!(Attrs::new(&buf).count() <= buf.len() / 4);
    }

    #[test]
    fn handlers_never_panic(inner in attr_soup(), outer_kind in 0u16..8, command in 0u8..20) {
        // Wrap the soup in a top-level attribute, as a client would.
        let mut msg = Vec::new();
        msg.extend_from_slice(&((4 + inner.len()) as u16).to_ne_bytes());
        msg.extend_from_slice(&outer_kind.to_ne_bytes());
        msg.extend_from_slice(&inner);
        let mut cp = ControlPlane::new(VecStore::new(), 0);
        let before = cp.timeouts;
        if let Ok(attrs) = CmdAttrs::parse(&msg, &CMD_POLICY) {
            let set = cp.set_cmd(command, &attrs, &ENV);
            let _ = cp.daemon_cmd(command, &attrs);
            let mut out = [0u8; 128];
            let mut w = Writer::new(&mut out);
            let _ = cp.get_cmd(command, &attrs, &ENV, &mut w);
            if set.is_err() {
                prop_assert_eq!(cp.timeouts, before, "a failed command changes nothing");
            }
        }
        prop_assert_eq!(cp.dump_dests(&msg, 0, &ENV, |_, _| Ok(())), 0);
    }

    #[test]
    fn writer_round_trips(attrs in prop::collection::vec((1u16..200, prop::collection::vec(any::<u8>(), 0..40)), 0..10)) {
        let mut storage = vec![0u8; 1024];
        let mut w = Writer::new(&mut storage);
        for (kind, payload) in &attrs {
            w.put(*kind, payload).unwrap();
        }
        let back: Vec<(u16, Vec<u8>)> = Attrs::new(w.written()).map(|a| (a.kind, a.payload.to_vec())).collect();
        prop_assert_eq!(back, attrs);
    }
}
