// SPDX-License-Identifier: GPL-2.0
//! The connection sync daemons of a netns (upstream's `ip_vs_sync.c`): a master multicasts
//! the connections the datapath hands it ([`master`]), a backup makes or updates connections
//! from what it receives ([`backup`]). Both may run at once, each with `sync_ports` sockets
//! (ports `port + id`).
//!
//! The daemons are work items of the netns's [`IpvsNet`] rather than threads: the master's
//! messages are built in softirq (an [`Outbox`] under a BH spinlock) and sent from process
//! context; a backup's sockets wake a work item that drains them.
//!
//! Locking: `daemons` (a mutex, process context) is taken by the genl commands and by the
//! work items, never under RTNL or the control lock, because making and releasing multicast
//! sockets takes RTNL. The control lock may be taken under it. `outbox` is a BH spinlock
//! taken by the datapath and by the work items, innermost.

pub(crate) mod backup;
pub(crate) mod master;

use crate::ipvs_core::daemon::{self, DaemonConfig, DaemonRequest, Daemons, Device, STATE_BACKUP, STATE_MASTER};
use crate::ipvs_core::errno::Errno;
use crate::ipvs_core::nlattr::{Full, Writer};
use crate::ipvs_core::sysctl::idx;
use crate::netns::IpvsNet;
use crate::sys::module_use::ModuleUse;
use crate::sys::sock::{self, DataReady};
use crate::sys::sync::{BhSpinLock, LockClass};
use crate::sys::NetRef;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;
pub(crate) use master::Outbox;

static OUTBOX_CLASS: LockClass = LockClass::new(kernel::c_str!("ipvs_rs_sync_outbox"));

/// A running daemon: its sockets, and what its work keeps between runs.
pub(crate) enum Running {
    Master(master::Master),
    Backup(backup::Backup),
}

/// The sync state of a netns.
#[pin_data]
pub(crate) struct SyncState {
    /// `IP_VS_STATE_*` bits of the running daemons, for the datapath (no lock).
    state: AtomicU32,
    /// The running daemons. See the module's locking notes.
    #[pin]
    pub(crate) daemons: Mutex<Daemons<Running>>,
    /// The master's messages being filled and waiting to be sent.
    #[pin]
    pub(crate) outbox: BhSpinLock<Outbox>,
}

impl SyncState {
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(SyncState {
            state: AtomicU32::new(0),
            daemons <- new_mutex!(Daemons::default()),
            outbox <- BhSpinLock::new(Outbox::new(), &OUTBOX_CLASS),
        })
    }

    /// Whether a master daemon runs (the datapath's cheap test before syncing).
    pub(crate) fn is_master(&self) -> bool {
        self.state.load(Ordering::Relaxed) & STATE_MASTER != 0
    }

    /// Whether a backup daemon runs (`backup_only` then keeps the datapath out).
    pub(crate) fn is_backup(&self) -> bool {
        self.state.load(Ordering::Relaxed) & STATE_BACKUP != 0
    }
}

impl IpvsNet {
    /// `backup_only` is set and a backup daemon runs: this director only keeps the synced
    /// connections, and packets towards virtual services go to the local stack.
    pub(crate) fn backup_only(&self) -> bool {
        self.sync.is_backup() && self.sysctls.get(idx::BACKUP_ONLY) != 0
    }
}

impl DataReady for IpvsNet {
    /// A backup socket has datagrams: drain them in process context.
    fn data_ready(&self) {
        self.sync_recv_work.kick();
    }
}

impl IpvsNet {
    /// NEW_DAEMON and DEL_DAEMON, checked by the control plane (`request`), carried out
    /// here. Process context, without the control lock.
    pub(crate) fn daemon_request(&self, net: NetRef<'_>, request: DaemonRequest) -> Result<(), Errno> {
        let stopped = {
            let mut daemons = self.sync.daemons.lock();
            match request {
                DaemonRequest::Start { state, cfg } => {
                    let ports = u32::try_from(self.sysctls.get(idx::SYNC_PORTS)).unwrap_or(1);
                    daemons.start(state, cfg, ports, |name| sock::device_by_name(net, name), |state, cfg, dev, ports| {
                        self.start_daemon(net, state, cfg, dev, ports)
                    })?;
                    self.publish_sync_state(&daemons);
                    None
                }
                DaemonRequest::Stop { state } => {
                    let r = daemons.stop(state)?;
                    if state == STATE_MASTER {
                        self.sync.outbox.lock().stop();
                    }
                    self.publish_sync_state(&daemons);
                    Some(r)
                }
            }
        };
        // Sockets leave their groups (RTNL) outside the daemons lock.
        drop(stopped);
        Ok(())
    }

    fn start_daemon(&self, net: NetRef<'_>, state: u32, cfg: &DaemonConfig, dev: Device, ports: u32) -> Result<Running, Errno> {
        // A running daemon keeps the module (upstream's answer when it is going: ENOPROTOOPT).
        let module = ModuleUse::take().ok_or(Errno::ENOPROTOOPT)?;
        let sock_size = self.sysctls.get(idx::SYNC_SOCK_SIZE);
        if state == STATE_MASTER {
            let m = master::Master::new(net, cfg, dev, ports, sock_size, module)?;
            self.sync.outbox.lock().start(cfg, ports, self.sysctls.get(idx::SYNC_VERSION));
            Ok(Running::Master(m))
        } else {
            let b = backup::Backup::new(net, cfg, dev, ports, sock_size, module)?;
            for r in b.receivers() {
                // SAFETY: the receiver lives in `self.sync.daemons`, so `self` outlives it;
                // it is dropped when the daemon stops or the netns state goes.
                unsafe { r.listen(self) };
            }
            Ok(Running::Backup(b))
        }
    }

    /// Makes the running daemons' bits visible to the datapath and the control plane (which
    /// refuses mixed-family dests while a daemon runs).
    fn publish_sync_state(&self, daemons: &Daemons<Running>) {
        let bits = daemons.state();
        self.sync.state.store(bits, Ordering::Relaxed);
        self.control.lock().sync_state = bits;
    }

    /// Stops every daemon (netns teardown, before the work items and sockets go).
    pub(crate) fn stop_daemons(&self) {
        let stopped = {
            let mut daemons = self.sync.daemons.lock();
            let m = daemons.stop(STATE_MASTER).ok();
            let b = daemons.stop(STATE_BACKUP).ok();
            self.sync.outbox.lock().stop();
            self.sync.state.store(0, Ordering::Relaxed);
            (m, b)
        };
        drop(stopped);
    }

    /// The GET_DAEMON dump from entry `start` on: the index to resume at.
    pub(crate) fn dump_daemons(
        &self,
        start: usize,
        mut entry: impl FnMut(&mut dyn FnMut(&mut Writer<'_>) -> core::result::Result<(), Full>) -> core::result::Result<(), Full>,
    ) -> usize {
        let daemons = self.sync.daemons.lock();
        let mut next = start;
        for (state, cfg) in daemons.configs().skip(start) {
            if entry(&mut |w| daemon::put_daemon(w, state, cfg)).is_err() {
                break;
            }
            next += 1;
        }
        next
    }
}
