// SPDX-License-Identifier: GPL-2.0
//! ipvs-rs: Linux IPVS, the in-kernel L4 load balancer behind LVS, written in Rust.
//!
//! Layers: `ipvs_core` is pure (host-tested) logic, `sys` is the only FFI, `ctl` is the glue.

use kernel::prelude::*;

// `pub` because the host crate (host/) exports these files; private inside the module.
#[allow(unreachable_pub)]
#[path = "ipvs_core/mod.rs"]
mod ipvs_core;
mod ctl;
mod dp;
mod sys;
mod xmit;

module! {
    type: IpvsModule,
    name: "ipvs_rs",
    author: "ipvs-rs developers",
    description: "IP Virtual Server (LVS) in Rust, a drop-in for ip_vs",
    license: "GPL",
    alias: ["net-pf-16-proto-16-family-IPVS"],
}
// Also dkms.conf's PACKAGE_VERSION (selftests/t_install.sh checks that they agree).
sys::modinfo::modinfo!("version", "0.1.0");

static CONN_TAB_BITS: sys::param::IntParam = sys::param::IntParam::new(12);
sys::param::module_param_int_ro!(CONN_TAB_BITS_PARAM, "conn_tab_bits", CONN_TAB_BITS, "Set connections' hash size");

struct IpvsModule {
    // Dropped in declaration order: the genl family goes first, so no request can arrive
    // while the per-netns state is being torn down.
    _genl: sys::genl::Registration<ctl::genl::IpvsFamily>,
    _pernet: sys::pernet::Registration<ctl::IpvsNet>,
    // Last: waits for queued RCU frees (connections) before the module text goes away.
    _rcu_barrier: RcuBarrierOnDrop,
}

struct RcuBarrierOnDrop;

impl Drop for RcuBarrierOnDrop {
    fn drop(&mut self) {
        sys::rcu::barrier();
    }
}

impl kernel::Module for IpvsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        ctl::set_conn_tab_bits(CONN_TAB_BITS.get());
        // The family first: if stock ip_vs holds it, fail before creating /proc/net/ip_vs.
        let genl = sys::genl::Registration::register(module).inspect_err(|&e| {
            if e == EEXIST {
                pr_err!("generic netlink family IPVS is already registered (is ip_vs.ko loaded?)\n");
            } else {
                pr_err!("cannot register generic netlink family IPVS: {:?}\n", e);
            }
        })?;
        let pernet = sys::pernet::Registration::register()?;
        pr_info!(
            "IPVS (ipvs-rs) loaded: connection table size {}\n",
            ctl::env().conn_tab_size
        );
        Ok(IpvsModule { _genl: genl, _pernet: pernet, _rcu_barrier: RcuBarrierOnDrop })
    }
}
