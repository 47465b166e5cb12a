// SPDX-License-Identifier: GPL-2.0
//! The per-netns root: [`IpvsNet`] owns everything IPVS keeps for one network namespace (the
//! control plane, the connection table, the published services, the sysctls, the DoS defense
//! and the periodic work), builds it when a netns appears and tears it down when it goes.
//! The kernel's entry points (netfilter hooks in `dp`, generic netlink and /proc in `ctl`)
//! find it with `pernet::state`; the crate root builds it, with those entry points' parts.

pub(crate) mod syncd;

use crate::conn::ConnTable;
use crate::defense::Defense;
use crate::dest::Dest;
use crate::ipvs_core::estimator;
use crate::ipvs_core::store::TRASH_SWEEP_SECS;
use crate::ipvs_core::control::ControlPlane;
use crate::ipvs_core::env::{Env, TableBounds};
use crate::ipvs_core::timeouts::Timeouts;
use crate::ipvs_core::uapi::{AF_INET, AF_INET6};
use crate::service::Published;
use crate::stats::Stats;
use crate::store::KernelStore;
use syncd::SyncState;
use crate::sys::netfilter::Hooks;
use crate::sys::work::Delayed;
use crate::sys::{self, procfs::ProcEntry, sysctl::NetSysctls, NetLookups, NetRef};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::alloc::flags::GFP_KERNEL_ACCOUNT;
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::{Arc, Mutex};

/// Everything IPVS keeps for one network namespace. Its hooks are unregistered in `pre_exit`,
/// and the netns core waits a grace period before dropping it, so no packet is inside a hook
/// when the fields drop, in declaration order: the periodic work first, then the /proc files,
/// then what they read; the connection table waits for every entry's free before it goes.
/// (The lock order is in the crate root's docs.)
#[pin_data]
pub(crate) struct IpvsNet {
    /// The DoS defense's once-a-second work, stopped first: it reads `sysctls`, `conns` and
    /// `defense`.
    #[pin]
    defense_work: Delayed<IpvsNet>,
    /// Expires the connections of removed dests (`expire_nodest_conn`), queued by the command
    /// that removed them; stopped as early, as it walks `conns`.
    #[pin]
    nodest_work: Delayed<IpvsNet>,
    /// Once a second, resizes the connection table to its load; stopped before the table.
    #[pin]
    conn_resize_work: Delayed<IpvsNet>,
    /// The sync daemons' work (`crate::syncd`): sending the master's queued messages, sending
    /// those that waited long enough, and draining a backup's sockets. Stopped before the
    /// daemons' state (`sync`), which they lock.
    #[pin]
    pub(crate) sync_send_work: Delayed<IpvsNet>,
    #[pin]
    pub(crate) sync_flush_work: Delayed<IpvsNet>,
    #[pin]
    pub(crate) sync_recv_work: Delayed<IpvsNet>,
    /// The sync daemons and the master's outbox; the daemons stop in `unregister_hooks`.
    #[pin]
    pub(crate) sync: SyncState,
    /// The rate estimator, every 2 s in process context (upstream runs its estimators in
    /// kthreads, not in a timer: a walk of 100k stats would hold a softirq for milliseconds);
    /// stopped next: its runs read `published` and `dp`.
    #[pin]
    estimator: Delayed<IpvsNet>,
    /// Every minute: drops the removed dests no connection has used for two minutes (before
    /// `control`, which it locks).
    #[pin]
    trash_work: Delayed<IpvsNet>,
    /// Services, dests and timeouts. Taken in process context only (genetlink doit/dump and
    /// /proc reads); never from softirq.
    #[pin]
    pub(crate) control: Mutex<ControlPlane<KernelStore>>,
    /// /proc/sys/net/ipv4/vs/ entries; the datapath reads them without locks. Writes of the
    /// defense modes call into `defense`, which therefore drops after this.
    pub(crate) sysctls: NetSysctls,
    /// The DoS defense state (drop rate, secure TCP, the random drop's countdowns).
    #[pin]
    pub(crate) defense: Defense,
    /// /proc/net entries, removed when the netns state is dropped.
    proc_files: KVec<ProcEntry>,
    /// Connections; entries point to dests of `published` snapshots.
    pub(crate) conns: Pin<KBox<ConnTable>>,
    /// Services as the datapath sees them.
    pub(crate) published: Published,
    pub(crate) dp: DpState,
}

impl IpvsNet {
    /// The state of a new netns `net`, with its /proc files (made by `ctl`) and its netfilter
    /// hooks (`dp`'s, registered with the first service).
    pub(crate) fn new(net: NetRef<'_>, proc_files: KVec<ProcEntry>, hooks: Pin<KBox<Hooks>>) -> Result<Pin<KBox<Self>>> {
        let sysctls = NetSysctls::register::<Defense>(net, sys::nr_free_buffer_pages() / 32)?;
        let conns = ConnTable::new(conn_tab_max_bits())?;
        let published = Published::new()?;
        let dp = DpState::new(sys::NetLookups::new(net))?;
        let store = KernelStore::new(dp.total.clone(), sys::NetLookups::new(net), hooks)?;
        let ipvs = KBox::pin_init(
            try_pin_init!(IpvsNet {
                defense_work <- Delayed::periodic(sys::hz(), IpvsNet::defense_tick),
                nodest_work <- Delayed::on_demand(IpvsNet::expire_nodest_conns),
                conn_resize_work <- Delayed::periodic(sys::hz(), IpvsNet::resize_conns),
                sync_send_work <- Delayed::on_demand(IpvsNet::sync_send),
                sync_flush_work <- Delayed::on_demand(IpvsNet::sync_flush),
                sync_recv_work <- Delayed::on_demand(IpvsNet::sync_receive),
                sync <- SyncState::new(),
                estimator <- Delayed::periodic(estimator::PERIOD_SECS * sys::hz(), IpvsNet::estimate_rates),
                trash_work <- Delayed::periodic(TRASH_SWEEP_SECS * sys::hz(), IpvsNet::sweep_trash),
                control <- new_mutex!(ControlPlane::new(store, sys::random_u32())),
                sysctls,
                defense <- Defense::new(),
                proc_files,
                conns,
                published,
                dp,
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        ipvs.estimator.start(&ipvs);
        ipvs.trash_work.start(&ipvs);
        ipvs.sysctls.listen(&ipvs.defense);
        ipvs.defense_work.start(&ipvs);
        ipvs.nodest_work.start(&ipvs);
        ipvs.conn_resize_work.start(&ipvs);
        ipvs.sync_send_work.start(&ipvs);
        ipvs.sync_flush_work.start(&ipvs);
        ipvs.sync_recv_work.start(&ipvs);
        Ok(ipvs)
    }

    /// Netns teardown (`pre_exit`): after this and the grace period the netns core waits, no
    /// packet is inside a hook.
    pub(crate) fn unregister_hooks(&self) {
        self.control.lock().store.unregister_hooks();
        // Their sockets are of this netns, and their work reads what the netns state holds.
        self.stop_daemons();
    }

    /// A device of this netns is going down: the real servers' cached routes go, as one of
    /// them may be through it (`sys::netdev`). Process context, under RTNL.
    pub(crate) fn forget_routes(&self) {
        self.control.lock().store.forget_routes();
    }
}

/// Per-netns datapath state that is not the connection table itself.
pub(crate) struct DpState {
    /// Timeouts in seconds (TCP, TCP FIN, UDP), mirrored from the control plane for softirq
    /// readers.
    timeouts: [AtomicU32; 3],
    /// Netns totals (/proc/net/ip_vs_stats), shared with the control plane's store.
    pub(crate) total: Arc<Stats>,
    /// This netns's conntrack table, which connections that keep conntrack remember.
    pub(crate) conntrack: NetLookups,
    /// The stand-in dests of `cache_bypass` connections, IPv4 and IPv6 (made here, as the
    /// datapath cannot allocate one with `GFP_KERNEL`).
    bypass: [Arc<Dest>; 2],
}

impl DpState {
    pub(crate) fn new(conntrack: NetLookups) -> Result<Self> {
        let t = Timeouts::default();
        Ok(DpState {
            timeouts: [AtomicU32::new(t.tcp), AtomicU32::new(t.tcp_fin), AtomicU32::new(t.udp)],
            total: Arc::new(Stats::new()?, GFP_KERNEL)?,
            conntrack,
            bypass: [Dest::new_bypass(AF_INET)?, Dest::new_bypass(AF_INET6)?],
        })
    }

    /// The stand-in dest of a `cache_bypass` connection of family `af`.
    pub(crate) fn bypass_dest(&self, af: u16) -> &Arc<Dest> {
        let [v4, v6] = &self.bypass;
        if af == AF_INET6 { v6 } else { v4 }
    }

    pub(crate) fn set_timeouts(&self, t: &Timeouts) {
        self.timeouts[0].store(t.tcp, Ordering::Relaxed);
        self.timeouts[1].store(t.tcp_fin, Ordering::Relaxed);
        self.timeouts[2].store(t.udp, Ordering::Relaxed);
    }

    pub(crate) fn timeouts(&self) -> Timeouts {
        Timeouts {
            tcp: self.timeouts[0].load(Ordering::Relaxed),
            tcp_fin: self.timeouts[1].load(Ordering::Relaxed),
            udp: self.timeouts[2].load(Ordering::Relaxed),
        }
    }
}

/// What GET_INFO and /proc/net/ip_vs report as the connection table's size (2^`conn_tab_bits`,
/// as stock reports its fixed one), and the most buckets a netns's table grows to; set once
/// at load (see [`TableBounds`]).
static CONN_TAB_SIZE: AtomicU32 = AtomicU32::new(0);
static CONN_TAB_MAX_BITS: AtomicU32 = AtomicU32::new(0);

/// Sizes the connection table from the module parameter (`given`: whether it was set); called
/// once from module init, before any registration.
pub(crate) fn set_conn_tab_bits(requested: i32, given: bool) {
    let bounds = TableBounds::new(
        requested,
        given,
        sys::totalram_pages(),
        kernel::page::PAGE_SHIFT as u32,
        sys::STOCK_CONN_SIZE,
    );
    CONN_TAB_SIZE.store(1 << bounds.reported_bits, Ordering::Relaxed);
    CONN_TAB_MAX_BITS.store(bounds.max_bits, Ordering::Relaxed);
}

fn conn_tab_max_bits() -> u32 {
    CONN_TAB_MAX_BITS.load(Ordering::Relaxed)
}

/// What the pure control plane needs to know about this kernel.
pub(crate) fn env() -> Env {
    Env {
        hz: sys::hz(),
        conn_tab_size: CONN_TAB_SIZE.load(Ordering::Relaxed),
        ipv6_enabled: sys::ipv6_enabled(),
    }
}

impl IpvsNet {
    /// Makes control-plane changes visible to the datapath: the services snapshot (published
    /// with RCU) and the timeouts. Called with the control lock held, after every change.
    pub(crate) fn sync_datapath(&self, control: &mut ControlPlane<KernelStore>) {
        self.dp.set_timeouts(&control.timeouts);
        if control.store.publish(&self.published).is_err() {
            // What could not be published stays pending: the next command retries it.
            pr_warn!("out of memory publishing IPVS services\n");
        }
    }

    /// After a command removed dests: with `expire_nodest_conn` set, their connections go
    /// soon rather than at their next packet. The walk runs in a work item (as upstream's
    /// `ip_vs_enqueue_expire_nodest_conns`), not in the command, which holds genl_mutex and
    /// the control lock: a table of millions would stall every other netlink user.
    pub(crate) fn dests_removed(&self) {
        if self.sysctls.get(crate::ipvs_core::sysctl::idx::EXPIRE_NODEST_CONN) != 0 {
            self.nodest_work.kick();
        }
    }

    /// The connections whose dest is gone (and templates that still control such
    /// connections) expire now (upstream's `ip_vs_expire_nodest_conn_flush`).
    fn expire_nodest_conns(&self) {
        self.conns.expire_where(|c| !c.dest.is_available());
    }

    /// Every second: the connection table grows or shrinks if its load asks for it.
    fn resize_conns(&self) {
        self.conns.resize();
    }

    /// Every second (upstream's `defense_work_handler`): re-evaluate the DoS defense from
    /// available memory, and drop entries at random while `drop_entry` says so.
    fn defense_tick(&self) {
        self.defense.tick(self.sysctls.values(), &self.conns);
    }
}

impl IpvsNet {
    fn sweep_trash(&self) {
        self.control.lock().store.sweep_trash();
    }

    /// Every 2 s: advance the rate estimators of the totals, services and dests, unless
    /// `run_estimation` is 0 or `est_cpulist` empty (then the rates stay as they were, as when
    /// upstream stops its estimator kthreads; the first estimate after re-enabling also takes
    /// in what was counted meanwhile, as upstream's does). The next run goes to a CPU of
    /// `est_cpulist`, as upstream's kthreads are kept to it (a write takes effect at the next
    /// run, within 2 s).
    fn estimate_rates(&self) {
        self.estimator.run_on(self.sysctls.est_cpu());
        if self.sysctls.get(crate::ipvs_core::sysctl::idx::RUN_ESTIMATION) == 0 || self.sysctls.est_cpulist_empty() {
            return;
        }
        self.dp.total.estimate();
        self.published.for_each_service(|svc| {
            svc.stats.estimate();
            for d in svc.dests.iter() {
                d.stats.estimate();
            }
        });
    }
}

