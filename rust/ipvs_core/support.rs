// SPDX-License-Identifier: GPL-2.0
//! What this module's datapath can serve today. Anything else is refused with an errno rather
//! than accepted and silently not forwarded; each check goes away when the feature lands.

use super::dest::DestConf;
use super::errno::{Errno, Result};
use super::service::ServiceConf;
use super::uapi::{fwd, tun_type, AF_INET, IPPROTO_SCTP};

/// IPv4 services: on an address and port, or a firewall mark. IPv6 is refused as by a kernel
/// without IPv6 support (EAFNOSUPPORT), SCTP (which upstream forwards) with EPROTONOSUPPORT.
/// Other protocols than TCP and UDP are accepted, as upstream's netlink interface accepts
/// them: upstream has no handler for them either, so such a service matches no packet.
pub fn check_service(conf: &ServiceConf) -> Result<()> {
    if conf.key.af() != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    if conf.key.fwmark() == 0 && conf.key.protocol() == IPPROTO_SCTP {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok(())
}

/// IPv4 real servers; tunnels only as IPIP (GUE and GRE are refused with EOPNOTSUPP).
pub fn check_dest(conf: &DestConf) -> Result<()> {
    if conf.af != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    if conf.settings.fwd_method == fwd::TUNNEL && conf.settings.tun_type != tun_type::IPIP {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}
