// SPDX-License-Identifier: GPL-2.0
//! Bypass (`cache_bypass`): a packet of a firewall-mark service that no dest takes goes on to
//! the address it was sent to, unchanged but for its TTL, as a router would send it (a
//! transparent cache cluster passes what its caches cannot serve). Upstream's
//! `ip_vs_bypass_xmit`.

use super::{route_out, send, RouteMode, Tx};
use crate::sys::skb::{Skb, Verdict};

pub(crate) fn xmit(tx: &Tx<'_>, mut skb: Skb<'_>) -> Verdict {
    match route_out(tx, &mut skb, RouteMode::Bypass) {
        Ok(rt) => send(tx, skb, rt),
        Err(v) => v,
    }
}
