#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! Schedulers through the pure control plane: binding (ENOMEM like `ipvsadm -A` on stock),
//! hooks that rebuild tables outside the lock, failed rebuilds, failed rebinds, and the
//! size of the per-service state.
mod common;
use common::{ctx, SchedState, VecStore};
use ipvs_core_host::ipvs_core::store::{add_dest, add_service, del_dest, edit_dest, edit_service};
use ipvs_core_host::ipvs_core::decode::DestSpec;
use ipvs_core_host::ipvs_core::dest::DestSettings;
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::service::{ServiceKey, ServiceUser};
use ipvs_core_host::ipvs_core::uapi::{fwd, svc_flags, AF_INET, IPPROTO_TCP};
use ipvs_core_host::sched::{Flow, SchedKind, SVC_F_SCHED1};
use ipvs_core_host::storage::without_memory;

fn key() -> ServiceKey {
    let mut addr = [0; 16];
    addr[..4].copy_from_slice(&[10, 0, 0, 100]);
    ServiceKey::Addr { af: AF_INET, protocol: IPPROTO_TCP, addr, port: 80u16.to_be_bytes() }
}

fn svc_user(sched: &str, flags: u32) -> ServiceUser<'_> {
    ServiceUser { key: key(), sched_name: sched.as_bytes(), pe_name: None, flags, timeout: 0, netmask: [0xff; 4] }
}

fn dest(last_octet: u8, weight: i32) -> DestSpec {
    let mut addr = [0; 16];
    addr[..4].copy_from_slice(&[192, 168, 1, last_octet]);
    let settings = DestSettings {
        fwd_method: fwd::DROUTE,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tun_type: 0,
        tun_port: [0; 2],
        tun_flags: 0,
    };
    DestSpec { af: AF_INET, addr, port: 80u16.to_be_bytes(), settings: Some(settings) }
}

/// A service with dests of these weights (added in order, so listed in reverse).
fn service(sched: &str, weights: &[i32]) -> VecStore {
    let mut st = VecStore::new();
    add_service(&mut st, &svc_user(sched, 0), 1000, 0).unwrap();
    for (i, &w) in weights.iter().enumerate() {
        add_dest(&mut st, 0, &dest(i as u8 + 1, w)).unwrap();
    }
    st
}

/// What binding afresh over the current dests gives.
fn fresh(st: &VecStore) -> SchedState {
    let kind = st.services[0].conf.sched.unwrap();
    SchedState::bind(kind, &st.views(0)[..], AF_INET).unwrap()
}

#[test]
fn binding_fails_with_enomem_when_tables_cannot_be_allocated() {
    for kind in SchedKind::ALL {
        let mut st = VecStore::new();
        let r = without_memory(|| add_service(&mut st, &svc_user(kind.name(), 0), 1000, 0));
        let needs_memory = matches!(kind, SchedKind::Dh | SchedKind::Sh | SchedKind::Mh | SchedKind::Lblc | SchedKind::Lblcr);
        if needs_memory {
            assert_eq!(r, Err(Errno::ENOMEM), "{kind:?}");
            assert!(st.services.is_empty(), "{kind:?}: no service left behind");
        } else {
            assert_eq!(r, Ok(0), "{kind:?}");
            assert_eq!(st.services[0].sched.kind(), Some(kind));
        }
    }
}

#[test]
fn sh_and_mh_rebuild_on_every_dest_change_dh_not_on_edits() {
    for kind in [SchedKind::Sh, SchedKind::Mh, SchedKind::Dh] {
        let mut st = service(kind.name(), &[1, 2, 3]);
        assert_eq!(st.services[0].sched, fresh(&st), "{kind:?} after adds");
        let before = st.services[0].sched.clone();
        edit_dest(&mut st, 0, &dest(2, 7)).unwrap();
        if kind == SchedKind::Dh {
            assert_eq!(st.services[0].sched, before, "dh has no upd_dest hook");
        } else {
            assert_ne!(st.services[0].sched, before, "{kind:?}: weights changed the table");
            assert_eq!(st.services[0].sched, fresh(&st), "{kind:?} after edit");
        }
        del_dest(&mut st, 0, &dest(1, 0)).unwrap();
        assert_eq!(st.services[0].sched, fresh(&st), "{kind:?} after delete");
    }
}

#[test]
fn a_failed_rebuild_keeps_the_old_table_like_upstreams_ignored_hook_error() {
    let mut st = service("sh", &[1, 1]);
    let before = st.services[0].sched.clone();
    without_memory(|| add_dest(&mut st, 0, &dest(3, 1))).unwrap();
    assert_eq!(st.services[0].dests.len(), 3, "the dest is added anyway");
    assert_eq!(st.services[0].sched, before);
    // The old table still names the two old dests at their new places.
    let views = st.views(0);
    let flow = Flow { af: AF_INET, protocol: IPPROTO_TCP, ..Default::default() };
    let got = st.services[0].sched.schedule(&views[..], &flow, &ctx()).unwrap();
    assert!(got == 1 || got == 2, "never the new dest (index 0): {got}");
}

#[test]
fn mh_quiescing_keeps_the_table() {
    let mut st = service("mh", &[1, 2, 3]);
    let before = st.services[0].sched.clone();
    edit_dest(&mut st, 0, &dest(3, 0)).unwrap();
    assert_eq!(st.services[0].sched, before, "last_weight is kept, so the table is the same");
    let views = st.views(0);
    let c = ipvs_core_host::sched::SchedCtx { svc_flags: SVC_F_SCHED1, ..ctx() };
    for i in 0..200u8 {
        let mut saddr = [0; 16];
        saddr[..4].copy_from_slice(&[10, 1, i, 7]);
        let flow = Flow { af: AF_INET, protocol: IPPROTO_TCP, saddr, ..Default::default() };
        let got = st.services[0].sched.schedule(&views[..], &flow, &c).unwrap();
        assert_ne!(views[got].weight, 0);
    }
}

#[test]
fn a_failed_rebind_restores_the_old_scheduler_afresh_and_the_old_settings() {
    let mut st = service("rr", &[1, 1]);
    let views = st.views(0);
    st.services[0].sched.schedule(&views[..], &Flow::default(), &ctx());
    let old = st.services[0].conf;
    let r = without_memory(|| edit_service(&mut st, 0, &svc_user("mh", svc_flags::PERSISTENT), 1000));
    assert_eq!(r, Err(Errno::ENOMEM));
    assert_eq!(st.services[0].conf, old, "flags, timeout and scheduler as before");
    assert_eq!(st.services[0].sched, fresh(&st), "rr bound again, from the list head");
    // With memory the change goes through.
    edit_service(&mut st, 0, &svc_user("mh", 0), 1000).unwrap();
    assert_eq!(st.services[0].conf.sched, Some(SchedKind::Mh));
    assert_eq!(st.services[0].sched, fresh(&st));
}

#[test]
fn per_service_state_is_small() {
    // Tables live behind allocations: 10k services cost about a megabyte of states.
    assert!(core::mem::size_of::<SchedState>() <= 112, "{}", core::mem::size_of::<SchedState>());
}

#[test]
fn dest_commands_take_the_decoded_request_and_add_or_edit_need_its_settings() {
    let mut st = service("rr", &[1]);
    let bare = DestSpec { settings: None, ..dest(9, 1) };
    assert_eq!(add_dest(&mut st, 0, &bare), Err(Errno::EINVAL));
    assert_eq!(edit_dest(&mut st, 0, &DestSpec { settings: None, ..dest(1, 1) }), Err(Errno::EINVAL));
    assert_eq!(st.services[0].dests.len(), 1, "nothing added");
    // DEL_DEST decodes no settings: the identity is enough.
    del_dest(&mut st, 0, &DestSpec { settings: None, ..dest(1, 1) }).unwrap();
    assert!(st.services[0].dests.is_empty());
}
