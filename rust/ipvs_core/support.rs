// SPDX-License-Identifier: GPL-2.0
//! What this module's datapath can serve today. Anything else is refused with an errno rather
//! than accepted and silently not forwarded; each check goes away when the feature lands.
//! Every dest is served: of both families, in a service of either, for NAT, direct routing,
//! local delivery and tunnels of every type (IPIP, GUE, GRE).

use super::errno::{Errno, Result};
use super::service::ServiceConf;
use super::uapi::IPPROTO_SCTP;

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
