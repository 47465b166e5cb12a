// SPDX-License-Identifier: GPL-2.0
//! What this module's datapath can serve today. Anything else is refused with an errno rather
//! than accepted and silently not forwarded; each check goes away when the feature lands.

use super::dest::DestConf;
use super::errno::{Errno, Result};
use super::service::ServiceConf;
use super::uapi::{fwd, tun_type, IPPROTO_SCTP};

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

/// Real servers of both families, in a service of either, for NAT, direct routing,
/// local delivery and tunnels. Tunnels as IPIP only, but of every family upstream forwards:
/// IPv4 in IPv4, IPv6 in IPv6, and the mixed ones (an IPv4 service's packets in IPv6 to an
/// IPv6 real server, an IPv6 service's in IPv4; the control plane allows a dest of another
/// family than its service only for tunnels, with -EINVAL as upstream). GUE and GRE are
/// refused with EOPNOTSUPP.
pub fn check_dest(conf: &DestConf) -> Result<()> {
    if conf.settings.fwd_method == fwd::TUNNEL && conf.settings.tun_type != tun_type::IPIP {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}
