// SPDX-License-Identifier: GPL-2.0
//! The backup sync daemon: its sockets wake a work item, which reads each datagram, decodes
//! it (`ipvs_core::sync_msg`, with upstream's checks) and makes or updates the connections
//! and templates it names (upstream's `ip_vs_proc_conn`).

use super::Running;
use crate::conn::{ConnData, ConnKind, ConnTuple, SyncedState};
use crate::dest::Dest;
use crate::ipvs_core::dest::{DestConf, DestSettings};
use crate::ipvs_core::daemon::{self, DaemonConfig, Device, Read};
use crate::ipvs_core::errno::Errno;
use crate::ipvs_core::packet::conn_hash;
use crate::ipvs_core::proto_tcp::{self, TcpState};
use crate::ipvs_core::sync_msg::{self, conn_flag, EntryFault, SyncConn};
use crate::ipvs_core::sysctl::idx;
use crate::ipvs_core::uapi::fwd;
use crate::netns::IpvsNet;
use crate::sys::conntab::Gfp;
use crate::sys::rcu::ReadGuard;
use crate::sys::module_use::ModuleUse;
use crate::sys::sock::{Receiver, UdpSocket};
use crate::sys::NetRef;
use kernel::prelude::*;
use kernel::sync::Arc;

/// Datagrams one run of the work reads before it yields (and queues itself again), so that
/// a flood cannot hold a worker.
const BATCH: usize = 64;

/// What a backup refused: logged when it stops (upstream logs each at debug level only).
#[derive(Default)]
pub(crate) struct BackupCounters {
    pub(crate) messages_dropped: u64,
    pub(crate) entries_dropped: u64,
}

/// A running backup: one receiver per port, a buffer for one datagram and its filter.
pub(crate) struct Backup {
    receivers: KVec<Receiver<IpvsNet>>,
    buf: KVec<u8>,
    syncid: u32,
    pub(crate) counters: BackupCounters,
    /// Dropped after the receivers, by the field order.
    _module: ModuleUse,
}

impl Backup {
    pub(crate) fn new(net: NetRef<'_>, cfg: &DaemonConfig, dev: Device, ports: u32, sock_size: i32, module: ModuleUse) -> Result<Self, Errno> {
        let mut receivers = KVec::with_capacity(ports as usize, GFP_KERNEL)?;
        for id in 0..ports {
            let port = cfg.port.wrapping_add(id as u16);
            let s = UdpSocket::receiver(net, &cfg.group, port, dev.ifindex, sock_size)?;
            receivers.push(Receiver::new(s), GFP_KERNEL)?;
        }
        let buf = KVec::from_elem(0u8, usize::from(cfg.sync_maxlen), GFP_KERNEL)?;
        Ok(Backup { receivers, buf, syncid: cfg.syncid, counters: BackupCounters::default(), _module: module })
    }

    pub(crate) fn receivers(&self) -> impl Iterator<Item = &Receiver<IpvsNet>> {
        self.receivers.iter()
    }
}

impl Drop for Backup {
    fn drop(&mut self) {
        let c = &self.counters;
        if c.messages_dropped != 0 || c.entries_dropped != 0 {
            pr_info!(
                "sync backup (syncid {}) stopped: {} malformed or foreign messages and {} entries dropped\n",
                self.syncid,
                c.messages_dropped,
                c.entries_dropped
            );
        }
    }
}

impl IpvsNet {
    /// The receive work: reads up to [`BATCH`] datagrams from each socket and applies them.
    pub(crate) fn sync_receive(&self) {
        let mut daemons = self.sync.daemons.lock();
        let Some(Running::Backup(b)) = daemons.backup_mut() else { return };
        let mut more = false;
        let Backup { receivers, buf, syncid, counters, .. } = b;
        for r in receivers.iter() {
            more |= daemon::drain(BATCH, || match r.socket().recv(buf) {
                Ok(len) => {
                    if let Some(msg) = buf.get(..len) {
                        self.process_message(msg, *syncid, counters);
                    }
                    Read::Datagram
                }
                Err(Errno::EAGAIN) => Read::Empty,
                Err(_) => Read::Error,
            });
        }
        drop(daemons);
        if more {
            self.sync_recv_work.kick();
        }
    }

    /// `ip_vs_process_message`: every entry of one datagram, until a fatal fault.
    fn process_message(&self, msg: &[u8], syncid: u32, counters: &mut BackupCounters) {
        // A sync id above 255 matches no message (they carry its low byte), as upstream's
        // `int` against `u8` comparison.
        let entries = match sync_msg::decode(msg, syncid) {
            Ok(e) => e,
            Err(_) => {
                counters.messages_dropped += 1;
                return;
            }
        };
        for entry in entries {
            match entry {
                Ok(d) if d.engine().is_none() => self.apply_entry(&d.conn, counters),
                // This module has no persistence engine: upstream drops such an entry when the
                // engine it names is not loaded.
                Ok(_) | Err(EntryFault::Skip(_)) => counters.entries_dropped += 1,
                Err(EntryFault::Fatal(_)) => {
                    counters.messages_dropped += 1;
                    return;
                }
            }
        }
    }

    /// `ip_vs_proc_conn`: makes or updates one connection or template. Its flags were masked
    /// by the decoder (`IP_VS_CONN_F_BACKUP_MASK`, plus `SYNC`).
    fn apply_entry(&self, s: &SyncConn, counters: &mut BackupCounters) {
        let template = s.flags & conn_flag::TEMPLATE != 0;
        let inactive = s.flags & conn_flag::INACTIVE != 0;
        let hash = |key| conn_hash(s.protocol, (&s.caddr, s.cport), (&s.vaddr, s.vport), key);
        let tuple = ConnTuple {
            af: s.af,
            protocol: s.protocol,
            client: (s.caddr, s.cport),
            virt: (s.vaddr, s.vport),
            dport: s.dport,
            fwmark: s.fwmark,
        };
        let found = if template {
            self.conns.lookup(hash, |c| c.is_template_for(&tuple))
        } else {
            let found = self.conns.lookup(hash, |c| c.matches_in(s.af, s.protocol, &tuple.client, &tuple.virt));
            match found {
                Some(c) if c.data().dport != s.dport || c.data().daddr != s.daddr => {
                    if inactive {
                        // The expiry of a connection already replaced: ignored.
                        return;
                    }
                    c.expire_now();
                    None
                }
                other => other,
            }
        };
        let threshold = self.sysctls.pair(idx::SYNC_THRESHOLD).0;
        let timeout = self.synced_timeout(s, template);
        let state = SyncedState { state: s.state, inactive, in_pkts: threshold as u32 };
        if let Some(c) = found {
            // An update binds an unbound connection once its dest exists (upstream's
            // `ip_vs_try_bind_dest`): a dest is fixed for a connection's life here, so the
            // connection is replaced by one bound to it, in the same state. The new one is
            // found first (a bucket's newest leads); without memory the old one stays.
            if c.data().dest.unbound {
                if let Some(bound) = self.find_sync_dest(s) {
                    if self.insert_synced(s, tuple, timeout, &state, bound, counters) {
                        c.expire_now();
                        return;
                    }
                }
            }
            c.data().apply_synced(&state);
            c.set_timeout(timeout);
            return;
        }
        let Some(dest) = self.find_sync_dest(s).or_else(|| unbound_dest(s)) else {
            counters.entries_dropped += 1;
            return;
        };
        self.insert_synced(s, tuple, timeout, &state, dest, counters);
    }

    /// Inserts the connection or template of `s`, bound to `dest`; whether it was (without
    /// memory it is counted as dropped).
    fn insert_synced(
        &self,
        s: &SyncConn,
        tuple: ConnTuple,
        timeout: u32,
        state: &SyncedState,
        dest: Arc<Dest>,
        counters: &mut BackupCounters,
    ) -> bool {
        let template = s.flags & conn_flag::TEMPLATE != 0;
        let kind = if template { ConnKind::Template } else { ConnKind::Normal };
        let nfct = (self.sysctls.get(idx::CONNTRACK) != 0 && !template).then(|| self.dp.conntrack.share());
        let conntrack = self.sysctls.get(idx::CONNTRACK) != 0;
        let method = dest.fwd_method();
        let data = ConnData::new(tuple, kind, dest, method, nfct, None)
            .with_conntrack_flag(conntrack)
            .synced_from(state);
        match self.conns.insert(timeout, data, Gfp::Kernel) {
            Ok(_) => true,
            Err(data) => {
                data.discard();
                counters.entries_dropped += 1;
                false
            }
        }
    }

    /// The timeout a synced entry gets: the message's (seconds; none in version 0), else
    /// its state's, or three minutes for a template.
    fn synced_timeout(&self, s: &SyncConn, template: bool) -> u32 {
        let hz = crate::sys::hz();
        let secs = if s.timeout != 0 {
            s.timeout
        } else if template {
            3 * 60
        } else if s.protocol == crate::ipvs_core::packet::PROTO_TCP {
            let t = self.dp.timeouts();
            TcpState::from_index(usize::from(s.state)).map_or(3 * 60, |st| st.timeout(&t))
        } else {
            proto_tcp::udp::timeout(&self.dp.timeouts())
        };
        secs.saturating_mul(hz)
    }

    /// `ip_vs_find_dest`: the service of the entry (by firewall mark first), then its dest
    /// at `daddr` and the entry's port, or (a firewall-mark service's non-NAT dest) port 0.
    fn find_sync_dest(&self, s: &SyncConn) -> Option<Arc<Dest>> {
        let guard = ReadGuard::new();
        let svc = self.published.find(&guard, s.af, u16::from(s.protocol), &s.vaddr, s.vport, s.fwmark)?;
        let port = if s.fwmark != 0 && s.flags & conn_flag::FWD_MASK != fwd::MASQ { [0, 0] } else { s.dport };
        let alt = [port[0] ^ s.dport[0], port[1] ^ s.dport[1]];
        let at = |p: [u8; 2]| svc.dests.iter().find(|d| d.af == s.af && d.addr == s.daddr && d.port == p).cloned();
        at(port).or_else(|| at(alt))
    }
}

/// The dest of an entry that names none of this director's dests. Upstream keeps such a
/// connection "unbound": it forwards by the message's method to the message's address and
/// counts nowhere. Here it gets a dest of its own, in no service (so neither the control
/// plane nor a scheduler ever sees it), with its own counters. `None` without memory.
fn unbound_dest(s: &SyncConn) -> Option<Arc<Dest>> {
    let settings = DestSettings { fwd_method: s.flags & conn_flag::FWD_MASK, weight: 1, ..DestSettings::default() };
    let conf = DestConf { af: s.af, addr: s.daddr, port: s.dport, settings, last_weight: 1 };
    Dest::new_unbound(&conf).ok()
}
