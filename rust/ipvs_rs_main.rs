// SPDX-License-Identifier: GPL-2.0
//! ipvs-rs: Linux IPVS, the in-kernel L4 load balancer behind LVS, written in Rust.
//!
//! # Where things are
//!
//! | module | what it holds |
//! | --- | --- |
//! | `ipvs_core` | pure `no_std` logic, also built and tested on the host: the netlink commands and their errnos, attribute codec, /proc text, TCP state tables, persistence, the DoS defense's decisions, and the 14 schedulers (`ipvs_core::sched`) |
//! | `sys` | the only FFI and the only `unsafe`: bindings, skb access, netfilter, genetlink, pernet, /proc, sysctl, RCU, locks, timers, the connection table |
//! | `stats`, `dest`, `service`, `conn` | the runtime objects: counters; a real server; a virtual service and the tables the datapath finds it in; a connection |
//! | `rs_index` | the real-server index: one entry per real server's address and port, by which the datapath knows packets from real servers |
//! | `store`, `listing` | a netns's services and dests as the control plane keeps them (the services in listing order, a list per slot), and their publication to the datapath |
//! | `defense` | a netns's DoS defense state |
//! | `netns` | [`netns::IpvsNet`], the per-netns root that owns all of the above, and its periodic work; `netns::syncd`, the connection sync daemons (master and backup) |
//! | `dp`, `xmit` | the datapath: the netfilter hooks and what they do with a packet; one transmitter per forwarding method |
//! | `ctl` | the control plane's entry points: the IPVS generic netlink family and /proc/net files |
//!
//! A dest's weight lives in [`dest::Dest`] (set by `store`, read by the schedulers through
//! `DestView`); a packet's connection is created in `dp::request::new_conn`.
//!
//! One concept may have a file in each tier, under the same name: `ipvs_core/dest.rs` holds a
//! dest's configuration and rules (pure), `dest.rs` the kernel's dest object; likewise
//! `service`, `store` (the core's trait and commands, the kernel's implementation) and
//! `defense`; `sys/` names its files after the kernel facility they wrap (`sys/genl.rs`,
//! `sys/procfs.rs`, `sys/sysctl.rs`).
//!
//! **Imports go one way**, down this list: `ctl`, `dp` → `xmit` → `netns` → `store`, `defense`
//! → `listing` → `service` → `rs_index`, `conn` → `dest` → `stats` → `sys` → `ipvs_core`. `ctl` and `dp` never import
//! each other; `ipvs_core` imports nothing from the kernel side. This file (module and netns
//! setup) is the one place that names them all.
//!
//! # Contexts and locks
//!
//! The datapath runs in softirq (and in process context with BHs enabled, at LOCAL_OUT),
//! always inside netfilter's RCU read-side section, which `sys::netfilter` lends each hook as a
//! `ReadGuard`. It takes no mutex and never sleeps; what it may touch: RCU-protected tables (published
//! services, connections), atomics (dest settings and counters, sysctls, defense modes), a
//! service's scheduler lock and a connection-table stripe lock, both BH-disabling spinlocks.
//!
//! Lock order, outermost first: `genl_mutex` (genetlink, around every command), or RTNL (the
//! device notifier, `sys::netdev`) → the netns's `control` mutex → either the hooks'
//! registration mutex or a service's scheduler `BhSpinLock`. Nothing under `control` takes
//! RTNL. Separately, the defense's `inner` mutex (its work item, sysctl writes) → a
//! connection-table stripe lock. A stripe lock is never held while taking another lock, and
//! the datapath releases a scheduler lock before it inserts a connection. Nothing takes a
//! mutex from softirq.
//!
//! The sync daemons' `daemons` mutex (genl NEW/DEL_DAEMON, the daemons' work items) is taken
//! before `control` and never under `genl_mutex`'s other locks or RTNL, since making and
//! closing multicast sockets takes RTNL; their `outbox` BH spinlock (the datapath adds entries
//! to the master's messages) is innermost.
//!
//! # Errors
//!
//! One convention per layer: the pure core returns `ipvs_core::errno::Errno`, the kernel side
//! the kernel's `Result`, and the datapath a netfilter `Verdict` (`Result<_, Verdict>` where a
//! step may end the packet's walk). `sys` converts between `Errno` and the kernel's errors
//! (`From` both ways), so glue that implements a core trait propagates allocation and kernel
//! failures with `?`. A failure that is not propagated is logged, or says in a comment why it
//! cannot happen. (`nlattr::Full` is not an error: a reply or dump message is full, and a dump
//! goes on in the next one.)
//!
//! # Lifetimes
//!
//! - A **dest** is an `Arc<Dest>` held by its service in the store, by each published snapshot of
//!   that service, by every connection bound to it, and, once removed, by the store's trash. The
//!   trash keeps a removed dest findable while connections still use it, so that re-adding it
//!   revives the same object with its counters, as upstream does; it is purged when its last
//!   connection and template are gone.
//! - A **service** snapshot is an `Arc<Service>` in an RCU-published bucket; a change copies the
//!   bucket and frees the old one after a grace period. Scheduler state and counters are shared
//!   by the store's service and its snapshots.
//! - A **connection** is owned by the connection table (see `sys::conntab`): references are
//!   counted, its timer unlinks it once unused, and its memory goes by `call_rcu`.
//! - The **netns state** goes in `exit`, after `pre_exit` unregistered the hooks and the netns
//!   core waited a grace period; the **module** goes after the genl family, every netns and an
//!   `rcu_barrier`.

use kernel::prelude::*;

// `pub` because the host crate (host/) exports these files; private inside the module.
#[allow(unreachable_pub)]
#[path = "ipvs_core/mod.rs"]
mod ipvs_core;
mod conn;
mod ctl;
mod defense;
mod dest;
mod dp;
mod listing;
mod netns;
mod rs_index;
mod service;
mod stats;
mod store;
mod sys;
mod trash;
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
    // while the per-netns state is being torn down; the device notifier before the pernet
    // state it reaches.
    _genl: sys::genl::Registration<ctl::family::IpvsFamily>,
    _netdev: Pin<KBox<sys::netdev::Notifier>>,
    _pernet: sys::pernet::Registration<netns::IpvsNet>,
    // Waits for queued RCU frees (connections) before the module text goes away.
    _rcu_barrier: RcuBarrierOnDrop,
    // Last: the connections' slab cache, empty by now.
    _conn_cache: sys::conntab::NodeCacheGuard<conn::ConnData>,
}

struct RcuBarrierOnDrop;

impl Drop for RcuBarrierOnDrop {
    fn drop(&mut self) {
        sys::rcu::barrier();
    }
}

impl sys::pernet::PernetState for netns::IpvsNet {
    /// A new netns: its /proc files (`ctl`), its netfilter hooks (`dp`, registered with the
    /// first service), and the state they reach.
    fn create(net: sys::NetRef<'_>) -> Result<Pin<KBox<Self>>> {
        let mut proc_files = KVec::new();
        ctl::proc_files::create_all(net, &mut proc_files)?;
        let hooks = KBox::pin_init(
            sys::netfilter::Hooks::new::<dp::Datapath>(net, &dp::HOOKS)?,
            kernel::alloc::flags::GFP_KERNEL_ACCOUNT,
        )?;
        netns::IpvsNet::new(net, proc_files, hooks)
    }

    fn pre_exit(&self) {
        self.unregister_hooks();
    }
}

/// A device going down drops the cached routes of its netns (`sys::netdev`).
struct DeviceDown;

impl sys::netdev::DeviceEvents for DeviceDown {
    fn device_down(net: sys::NetRef<'_>) {
        if let Some(ipvs) = sys::pernet::state::<netns::IpvsNet>(net) {
            ipvs.forget_routes();
        }
    }
}

impl kernel::Module for IpvsModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        netns::set_conn_tab_bits(CONN_TAB_BITS.get(), CONN_TAB_BITS.given());
        let conn_cache = conn::CONN_CACHE.create()?;
        // The family first: if stock ip_vs holds it, fail before creating /proc/net/ip_vs.
        let genl = sys::genl::Registration::register(module).inspect_err(|&e| {
            if e == EEXIST {
                pr_err!("generic netlink family IPVS is already registered (is ip_vs.ko loaded?)\n");
            } else {
                pr_err!("cannot register generic netlink family IPVS: {:?}\n", e);
            }
        })?;
        let pernet = sys::pernet::Registration::register()?;
        let netdev = sys::netdev::Notifier::register::<DeviceDown>()?;
        pr_info!(
            "IPVS (ipvs-rs) loaded: connection table size {}\n",
            netns::env().conn_tab_size
        );
        Ok(IpvsModule { _genl: genl, _netdev: netdev, _pernet: pernet, _rcu_barrier: RcuBarrierOnDrop, _conn_cache: conn_cache })
    }
}
