// SPDX-License-Identifier: GPL-2.0
//! The master sync daemon: the datapath decides which connections to sync
//! ([`IpvsNet::sync_conn`], upstream's `ip_vs_sync_conn`) and writes them into per-port
//! messages of the [`Outbox`]; a full message is queued, and work items send the queue and
//! the messages older than two seconds on the daemon's sockets.

use super::Running;
use crate::conn::ConnData;
use crate::ipvs_core::daemon::{DaemonConfig, Device, MAX_PORTS};
use crate::ipvs_core::errno::Errno;
use crate::ipvs_core::sync_msg::{self, MessageWriter, SyncConn, Version};
use crate::ipvs_core::sysctl::idx;
use crate::ipvs_core::uapi::AF_INET;
use crate::netns::IpvsNet;
use crate::sys::module_use::ModuleUse;
use crate::sys::sock::UdpSocket;
use crate::sys::NetRef;
use kernel::prelude::*;

/// How long a message may wait for more entries (`IPVS_SYNC_FLUSH_TIME`), in seconds.
const FLUSH_SECS: u32 = 2;

/// One message being filled or waiting to be sent.
pub(crate) struct Message {
    /// The message's buffer, as long as the message may grow; its header says how much of
    /// it is written ([`MessageWriter::resume`]).
    buf: KVec<u8>,
    /// The bytes written: what is sent.
    len: usize,
    version: Version,
    /// Which socket sends it.
    port: usize,
    /// Jiffies when its first entry was written.
    first_use: u64,
}

/// What the datapath asks of the work items after adding an entry.
#[derive(PartialEq, Eq)]
enum Kick {
    None,
    /// A message was queued: send soon.
    Send,
    /// A new message was started: send it when it is old enough, if it did not fill.
    Flush,
}

/// The master's messages: one being filled per port, and the full ones waiting to be sent.
/// Under the netns's BH spinlock (`SyncState::outbox`).
pub(crate) struct Outbox {
    /// A master runs; without one nothing is added (upstream tests `sync_state` under the
    /// same lock).
    running: bool,
    syncid: u8,
    maxlen: usize,
    ports: usize,
    current: [Option<Message>; MAX_PORTS as usize],
    queue: KVec<Message>,
    /// Messages dropped because the queue was at `sync_qlen_max` or memory ran out.
    pub(crate) dropped: u64,
}

impl Outbox {
    pub(crate) fn new() -> Self {
        Outbox {
            running: false,
            syncid: 0,
            maxlen: 0,
            ports: 1,
            current: core::array::from_fn(|_| None),
            queue: KVec::new(),
            dropped: 0,
        }
    }

    /// A master starts with `cfg` and `ports` sockets.
    pub(crate) fn start(&mut self, cfg: &DaemonConfig, ports: u32, _version: i32) {
        self.running = true;
        // Messages carry the sync id's low byte, as upstream's `u8` header field does.
        self.syncid = cfg.syncid as u8;
        self.maxlen = usize::from(cfg.sync_maxlen);
        self.ports = ports.clamp(1, MAX_PORTS) as usize;
    }

    /// The master stops: what was not sent is dropped.
    pub(crate) fn stop(&mut self) {
        self.running = false;
        self.current = core::array::from_fn(|_| None);
        self.queue = KVec::new();
    }

    /// Queues `msg` unless the queue holds `qlen_max` already (upstream's `sb_queue_tail`).
    fn enqueue(&mut self, msg: Message, qlen_max: usize) -> bool {
        if self.queue.len() >= qlen_max || self.queue.push(msg, GFP_ATOMIC).is_err() {
            self.dropped += 1;
            return false;
        }
        true
    }

    /// Adds `entry` to port `port`'s message (upstream's buffer handling in
    /// `ip_vs_sync_conn`): a message without room for it, or of the other version, is
    /// queued and a new one started.
    fn add(&mut self, port: usize, entry: &SyncConn, version: Version, now: u64, qlen_max: usize) -> Kick {
        if !self.running {
            return Kick::None;
        }
        // `ports` is at least 1 (`start`); `checked_rem` keeps a panic path out of the datapath.
        let port = port.checked_rem(self.ports).unwrap_or(0);
        let mut kick = Kick::None;
        let Some(slot) = self.current.get_mut(port) else { return Kick::None };
        let full = slot.as_mut().is_some_and(|msg| {
            msg.version != version || !MessageWriter::resume(&mut msg.buf, version).is_some_and(|w| w.fits(entry))
        });
        if full {
            if let Some(msg) = slot.take() {
                if self.enqueue(msg, qlen_max) {
                    kick = Kick::Send;
                }
            }
        }
        let Some(slot) = self.current.get_mut(port) else { return kick };
        if slot.is_none() {
            let cap = sync_msg::message_capacity(self.maxlen, entry, version);
            let Ok(buf) = KVec::from_elem(0u8, cap, GFP_ATOMIC) else {
                self.dropped += 1;
                return kick;
            };
            let mut msg = Message { buf, len: 0, version, port, first_use: now };
            match MessageWriter::new(&mut msg.buf, version, self.syncid) {
                Some(w) => msg.len = w.len(),
                None => {
                    self.dropped += 1;
                    return kick;
                }
            }
            *slot = Some(msg);
            if kick == Kick::None {
                kick = Kick::Flush;
            }
        }
        if let Some(msg) = slot.as_mut() {
            let written = MessageWriter::resume(&mut msg.buf, version).and_then(|mut w| w.push(entry).then(|| w.len()));
            match written {
                Some(len) => msg.len = len,
                // Only an entry the version cannot carry gets here; the caller filters those.
                None => self.dropped += 1,
            }
        }
        kick
    }

    /// Queues the messages started at least `age` jiffies before `now`; whether any are
    /// left younger (with the jiffies until the oldest of them is due).
    fn queue_aged(&mut self, now: u64, age: u64, qlen_max: usize) -> Option<u64> {
        let mut next_due: Option<u64> = None;
        for i in 0..self.current.len() {
            let Some(slot) = self.current.get_mut(i) else { continue };
            let Some(msg) = slot.as_ref() else { continue };
            let waited = now.wrapping_sub(msg.first_use);
            if waited >= age {
                if let Some(msg) = slot.take() {
                    self.enqueue(msg, qlen_max);
                }
            } else {
                let due = age - waited;
                next_due = Some(next_due.map_or(due, |d| d.min(due)));
            }
        }
        next_due
    }
}

/// A running master: one connected sender per port, and the messages taken from the outbox
/// and not sent yet (the first of them found its socket's buffer full).
pub(crate) struct Master {
    sockets: KVec<UdpSocket>,
    pending: KVec<Message>,
    /// Dropped after the sockets, by the field order.
    _module: ModuleUse,
}

impl Master {
    pub(crate) fn new(net: NetRef<'_>, cfg: &DaemonConfig, dev: Device, ports: u32, sock_size: i32, module: ModuleUse) -> Result<Self, Errno> {
        let mut sockets = KVec::with_capacity(ports as usize, GFP_KERNEL)?;
        for id in 0..ports {
            let port = cfg.port.wrapping_add(id as u16);
            let s = UdpSocket::sender(net, &cfg.group, port, dev.ifindex, cfg.ttl, sock_size)?;
            sockets.push(s, GFP_KERNEL)?;
        }
        Ok(Master { sockets, pending: KVec::new(), _module: module })
    }

    /// Sends the pending messages in order, up to one that meets a full send buffer: it and
    /// those after it stay pending. Whether any stay.
    fn send_pending(&mut self) -> bool {
        let mut left = KVec::new();
        let mut blocked = false;
        for m in core::mem::take(&mut self.pending) {
            if !blocked {
                let Some(sock) = self.sockets.get(m.port) else { continue };
                match sock.send(m.buf.get(..m.len).unwrap_or(&[])) {
                    Err(Errno::EAGAIN) => blocked = true,
                    // Sent, or refused for good: upstream logs the error and drops it.
                    _ => continue,
                }
            }
            // Out of memory, a message is lost, as one upstream cannot allocate.
            let _ = left.push(m, GFP_KERNEL);
        }
        self.pending = left;
        blocked
    }
}

impl IpvsNet {
    /// Upstream's `ip_vs_sync_conn`, for a packet of `conn` whose timeout is now `timeout`
    /// jiffies and which is its `pkts`-th from the client (for a one-packet connection, the
    /// threshold): the connection and then its template, when each needs a sync now, go
    /// into the outbox. Softirq context.
    pub(crate) fn sync_conn(&self, conn: &ConnData, timeout: u32, pkts: i32) {
        let version = if self.sysctls.get(idx::SYNC_VERSION) == 0 { Version::V0 } else { Version::V1 };
        let (threshold, period) = self.sysctls.pair(idx::SYNC_THRESHOLD);
        let mut cur = Some((conn, timeout, pkts));
        while let Some((c, timeout, pkts)) = cur {
            if version == Version::V0 && (c.af != AF_INET || c.is_one_packet()) {
                // Version 0 carries IPv4 only and stops here, templates included.
                return;
            }
            let needed = !c.is_one_packet() && self.sync_needed(c, timeout, pkts, threshold, period);
            if needed {
                self.queue_sync_entry(c, timeout, version);
            } else if version == Version::V0 {
                return;
            }
            cur = c.control_with_timeout().map(|(t, t_timeout)| {
                let pkts = if t.is_template() { t.count_in_packet_for_sync() } else { threshold };
                (t, t_timeout, pkts)
            });
        }
    }

    /// `ip_vs_sync_conn_needed`, with the connection's sync bookkeeping.
    fn sync_needed(&self, c: &ConnData, timeout: u32, pkts: i32, threshold: i32, period: i32) -> bool {
        let persist_mode = self.sysctls.get(idx::SYNC_PERSIST_MODE) != 0;
        let input = sync_msg::NeedInput {
            template: c.is_template(),
            protocol: c.protocol,
            state: c.sync_state(),
            in_persistence: persist_mode && c.is_controlled_by_template(),
            pkts,
            threshold,
            period,
            refresh_period: u32::try_from(self.sysctls.get(idx::SYNC_REFRESH_PERIOD)).unwrap_or(0),
            retries: u32::try_from(self.sysctls.get(idx::SYNC_RETRIES)).unwrap_or(0),
            now: crate::sys::jiffies(),
            timeout: u64::from(timeout),
            hz: u64::from(crate::sys::hz()),
        };
        c.sync_decide(|old_state, endtime| sync_msg::sync_needed(&input, old_state, endtime))
    }

    fn queue_sync_entry(&self, c: &ConnData, timeout: u32, version: Version) {
        let entry = c.sync_entry(timeout / crate::sys::hz().max(1));
        // Spreads connections over the ports by their address, as upstream does.
        let port = (core::ptr::from_ref(c) as usize) >> 8;
        let qlen_max = usize::try_from(self.sysctls.get(idx::SYNC_QLEN_MAX)).unwrap_or(0);
        let kick = self.sync.outbox.lock().add(port, &entry, version, crate::sys::jiffies(), qlen_max);
        match kick {
            Kick::Send => self.sync_send_work.kick_after(crate::sys::hz() / 50),
            Kick::Flush => self.sync_flush_work.kick_after(FLUSH_SECS * crate::sys::hz()),
            Kick::None => {}
        }
    }

    /// The send work: the queued messages go out (process context).
    pub(crate) fn sync_send(&self) {
        let mut daemons = self.sync.daemons.lock();
        let Some(Running::Master(m)) = daemons.master_mut() else { return };
        // While a send buffer is full, the queue stays in the outbox, where `sync_qlen_max`
        // bounds it (as upstream's sender leaves it queued while it waits).
        let blocked = m.send_pending() || {
            m.pending = core::mem::take(&mut self.sync.outbox.lock().queue);
            m.send_pending()
        };
        if blocked {
            // Try again in a tick.
            self.sync_send_work.kick_after(1);
        }
    }

    /// The flush work: messages that waited two seconds go out even if not full.
    pub(crate) fn sync_flush(&self) {
        let age = u64::from(FLUSH_SECS * crate::sys::hz());
        let qlen_max = usize::try_from(self.sysctls.get(idx::SYNC_QLEN_MAX)).unwrap_or(0);
        let next = self.sync.outbox.lock().queue_aged(crate::sys::jiffies(), age, qlen_max);
        self.sync_send();
        if let Some(due) = next {
            self.sync_flush_work.kick_after(u32::try_from(due).unwrap_or(u32::MAX).max(1));
        }
    }
}
