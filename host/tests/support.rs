#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The datapath's refusals: what it cannot forward yet must fail with an errno, not be accepted.
//! Every dest is served (tunnels of every family and type); which dest may be of another
//! family than its service is the control plane's rule (host/tests/service.rs).
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::service::{ServiceConf, ServiceKey};
use ipvs_core_host::ipvs_core::support::check_service;
use ipvs_core_host::ipvs_core::uapi::{svc_flags, AF_INET, AF_INET6};

fn svc(key: ServiceKey, flags: u32) -> ServiceConf {
    ServiceConf { key, sched: None, pe: None, flags: flags | svc_flags::HASHED, timeout: 0, netmask: [255; 4] }
}

fn addr(af: u16, protocol: u16) -> ServiceKey {
    ServiceKey::Addr { af, protocol, addr: [10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], port: [0, 80] }
}

#[test]
fn services_the_datapath_serves() {
    assert_eq!(check_service(&svc(addr(AF_INET, 6), 0)), Ok(()));
    assert_eq!(check_service(&svc(addr(AF_INET, 17), svc_flags::SCHED1)), Ok(()));
    assert_eq!(check_service(&svc(ServiceKey::Fwmark { af: AF_INET, mark: 1 }, 0)), Ok(()));
    assert_eq!(check_service(&svc(addr(AF_INET, 6), svc_flags::PERSISTENT)), Ok(()));
    assert_eq!(check_service(&svc(addr(AF_INET, 17), svc_flags::ONEPACKET)), Ok(()));
    assert_eq!(check_service(&svc(ServiceKey::Fwmark { af: AF_INET, mark: 7 }, svc_flags::PERSISTENT)), Ok(()));
    assert_eq!(check_service(&svc(addr(AF_INET6, 6), 0)), Ok(()));
    assert_eq!(check_service(&svc(ServiceKey::Fwmark { af: AF_INET6, mark: 1 }, svc_flags::PERSISTENT)), Ok(()));
    // No datapath handles these, here or upstream: accepted, and inert.
    assert_eq!(check_service(&svc(addr(AF_INET, 0), 0)), Ok(()));
    assert_eq!(check_service(&svc(addr(AF_INET, 1), 0)), Ok(()));
    assert_eq!(check_service(&svc(addr(AF_INET, 50324), 0)), Ok(()));
}

#[test]
fn services_refused_until_implemented() {
    assert_eq!(check_service(&svc(addr(AF_INET, 132), 0)), Err(Errno::EPROTONOSUPPORT));
    assert_eq!(check_service(&svc(addr(AF_INET6, 132), 0)), Err(Errno::EPROTONOSUPPORT));
}

#[test]
fn ipv6_dest_address_classes() {
    use ipvs_core_host::ipvs_core::addr::v6_dest_needs_local;
    let a = |s: &str| -> [u8; 16] { s.parse::<std::net::Ipv6Addr>().unwrap().octets() };
    for ok in ["2001:db8::2", "fd00::1", "fec0::1", "::1", "::10.0.0.1", "100::1", "e000::1"] {
        assert!(!v6_dest_needs_local(&a(ok)), "{ok}");
    }
    for bad in ["::", "ff02::1", "ff05::2", "fe80::1", "febf::1", "::ffff:10.0.0.1"] {
        assert!(v6_dest_needs_local(&a(bad)), "{bad}");
    }
}

#[test]
fn ipv6_unicast_as_ipv6_addr_type() {
    use ipvs_core_host::ipvs_core::addr::v6_is_unicast;
    let a = |s: &str| -> [u8; 16] { s.parse::<std::net::Ipv6Addr>().unwrap().octets() };
    for yes in ["2001:db8::2", "fd00::1", "fec0::1", "::1", "::10.0.0.1", "100::1", "e000::1", "fe80::1"] {
        assert!(v6_is_unicast(&a(yes)), "{yes}");
    }
    for no in ["::", "ff02::1", "ff05::2", "::ffff:10.0.0.1"] {
        assert!(!v6_is_unicast(&a(no)), "{no}");
    }
}
