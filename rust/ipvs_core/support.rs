// SPDX-License-Identifier: GPL-2.0
//! What this module's datapath can serve today. Anything else is refused with an errno rather
//! than accepted and silently not forwarded; each check goes away when the feature lands.

use super::dest::DestConf;
use super::errno::{Errno, Result};
use super::service::ServiceConf;
use super::uapi::{fwd, tun_type, AF_INET, IPPROTO_SCTP};

/// Services of both families: on an address and port, or a firewall mark. SCTP (which
/// upstream forwards) is refused with EPROTONOSUPPORT. Other protocols than TCP and UDP are
/// accepted, as upstream's netlink interface accepts them: upstream has no handler for them
/// either, so such a service matches no packet.
pub fn check_service(conf: &ServiceConf) -> Result<()> {
    if conf.key.fwmark() == 0 && conf.key.protocol() == IPPROTO_SCTP {
        return Err(Errno::EPROTONOSUPPORT);
    }
    Ok(())
}

/// Real servers of both families for NAT, direct routing and local delivery, in a service
/// of family `svc_af`. Tunnels only as IPIP, IPv4 in IPv4: GUE and GRE are refused with
/// EOPNOTSUPP, IPv6 tunnels (ip6ip6, and the mixed-family ones upstream allows) with
/// EAFNOSUPPORT.
pub fn check_dest(svc_af: u16, conf: &DestConf) -> Result<()> {
    if conf.settings.fwd_method != fwd::TUNNEL {
        return Ok(());
    }
    if conf.af != AF_INET || svc_af != AF_INET {
        return Err(Errno::EAFNOSUPPORT);
    }
    if conf.settings.tun_type != tun_type::IPIP {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}
