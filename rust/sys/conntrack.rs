// SPDX-License-Identifier: GPL-2.0
//! A netns's conntrack table, as IPVS connections that keep conntrack (the `conntrack`
//! sysctl) need it once they are gone.

use super::{bindings, NetLookups};
use crate::ipvs_core::uapi::AF_INET6;

impl NetLookups {
    /// Another handle on the same netns, for a connection of its pernet state's table to keep
    /// (the table's entries are freed before the state is, which keeps the invariant).
    pub(crate) fn share(&self) -> Self {
        // INVARIANT: kept by a connection of the same pernet state.
        NetLookups { net: self.net, ipv6_defrag: false }
    }

    /// Deletes the conntrack entry of the flow `client` -> `virt` of family `af` (16-byte
    /// addresses and ports in network order), if there is one in the default zone: an IPVS connection that kept its
    /// conntrack entry has expired, and the entry, whose reply tuple IPVS altered, must not
    /// outlive it and catch the next connection from the same client port (upstream's
    /// `ip_vs_conn_drop_conntrack`). Any context.
    pub(crate) fn forget_flow(&self, af: u16, protocol: u8, client: &([u8; 16], [u8; 2]), virt: &([u8; 16], [u8; 2])) {
        let mut t = bindings::nf_conntrack_tuple::default();
        t.src.u3.all = super::skb::addr_words(&client.0);
        t.src.u.all = u16::from_ne_bytes(client.1);
        t.src.l3num = if af == AF_INET6 { bindings::NFPROTO_IPV6 } else { bindings::NFPROTO_IPV4 } as u16;
        t.dst.u3.all = super::skb::addr_words(&virt.0);
        t.dst.u.all = u16::from_ne_bytes(virt.1);
        t.dst.protonum = protocol;
        // `dir` stays 0: IP_CT_DIR_ORIGINAL.
        // SAFETY: `net` is alive (type invariant); the lookup takes its own RCU section and
        // returns a counted reference (or null), which is put right after the kill.
        unsafe {
            let ct = bindings::ipvs_rs_nf_ct_find_get(self.net, &t);
            if !ct.is_null() {
                bindings::ipvs_rs_nf_ct_kill(ct);
                bindings::ipvs_rs_nf_conntrack_put(ct);
            }
        }
    }
}
