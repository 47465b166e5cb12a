// SPDX-License-Identifier: GPL-2.0
//! What this module's datapath can serve today. Anything else is refused with an errno rather
//! than accepted and silently not forwarded; each check goes away when the feature lands.

use super::dest::DestConf;
use super::errno::{Errno, Result};
use super::service::ServiceConf;
use super::uapi::{fwd, tun_type, AF_INET, IPPROTO_TCP, IPPROTO_UDP};

/// IPv4 services: TCP/UDP on an address and port, or a firewall mark. IPv6 is refused as by
/// a kernel without IPv6 support (EAFNOSUPPORT), other protocols with EPROTONOSUPPORT.
pub fn check_service(conf: &ServiceConf) -> Result<()> {
    if conf.key.af() != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    if conf.key.fwmark() == 0 && !matches!(conf.key.protocol(), IPPROTO_TCP | IPPROTO_UDP) {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok(())
}

/// IPv4 real servers; tunnels only as IPIP (GUE and GRE are refused with EOPNOTSUPP).
pub fn check_dest(conf: &DestConf) -> Result<()> {
    if conf.af != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    if conf.fwd_method == fwd::TUNNEL && conf.tun_type != tun_type::IPIP {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}
