// SPDX-License-Identifier: GPL-2.0
//! Control of the connection sync daemons of a netns: what NEW_DAEMON and DEL_DAEMON ask
//! (`ip_vs_genl_new_daemon()`, `ip_vs_genl_del_daemon()`), the configuration a daemon runs
//! with once its defaults and limits are applied (`start_sync_thread()`), which daemons run
//! ([`Daemons`], with upstream's errnos), and the GET_DAEMON dump entry
//! (`ip_vs_genl_fill_daemon()`). The glue (`crate::syncd`) opens the sockets and runs the
//! daemons; the wire format is `super::sync_msg`.

use super::errno::{Errno, Result};
use super::nlattr::{Full, Table, Writer};
use super::policy::{CmdAttrs, DAEMON_POLICY};
use super::uapi::{cmd, cmd_attr, daemon_attr, AF_INET, AF_INET6, IFNAME_MAXLEN};

/// Sync daemon states (`IP_VS_STATE_*`), also the bits of a netns's running daemons.
pub const STATE_MASTER: u32 = 1;
pub const STATE_BACKUP: u32 = 2;

/// The default group (224.0.0.81) and port, and the most sockets (and ports) a daemon uses
/// (`IPVS_SYNC_PORTS_MAX`).
pub const DEFAULT_GROUP: [u8; 4] = [224, 0, 0, 81];
pub const DEFAULT_PORT: u16 = 8848;
pub const MAX_PORTS: u32 = 16;

/// IP and UDP header lengths: what a datagram adds to a message.
const UDP4_HEADERS: u16 = 20 + 8;
const UDP6_HEADERS: u16 = 40 + 8;

/// A daemon's multicast group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl Group {
    pub fn af(&self) -> u16 {
        match self {
            Group::V4(_) => AF_INET,
            Group::V6(_) => AF_INET6,
        }
    }
}

/// A daemon's configuration (`struct ipvs_sync_daemon_cfg`). As parsed, zero means "the
/// default" for `sync_maxlen`, `port` and `ttl`; [`DaemonConfig::settle`] fills them in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DaemonConfig {
    /// The interface name, NUL-padded (at most `IFNAME_MAXLEN - 1` bytes).
    pub ifname: [u8; IFNAME_MAXLEN],
    /// Kept whole as upstream keeps it (an `int`); messages carry its low byte.
    pub syncid: u32,
    pub sync_maxlen: u16,
    pub group: Group,
    pub port: u16,
    pub ttl: u8,
}

impl DaemonConfig {
    /// The interface name without its padding.
    pub fn ifname(&self) -> &[u8] {
        let len = self.ifname.iter().position(|&b| b == 0).unwrap_or(self.ifname.len());
        self.ifname.get(..len).unwrap_or(&[])
    }

    /// Applies `start_sync_thread()`'s defaults and limits for a daemon in `state` on a
    /// device of MTU `dev_mtu`: port 8848 and TTL 1 unless given; a message size of the
    /// device's MTU (at least 1500) less the IP and UDP headers for a backup, of 1500 less
    /// them for a master; a given size kept within 1024 (backup) or 1 (master) and what a
    /// datagram can carry.
    pub fn settle(&mut self, state: u32, dev_mtu: u32) {
        if self.port == 0 {
            self.port = DEFAULT_PORT;
        }
        if self.ttl == 0 {
            self.ttl = 1;
        }
        let headers = if self.group.af() == AF_INET6 { UDP6_HEADERS } else { UDP4_HEADERS };
        let backup = state == STATE_BACKUP;
        // Upstream keeps the MTU in a u16 after clamping it to 1500..=65535.
        let mtu = if backup { dev_mtu.clamp(1500, 65535) as u16 } else { 1500 };
        let min = if backup { 1024 } else { 1 };
        self.sync_maxlen = if self.sync_maxlen != 0 {
            self.sync_maxlen.clamp(min, u16::MAX - headers)
        } else {
            mtu - headers
        };
    }
}

/// A daemon command, checked as upstream checks it before `start_sync_thread()` or
/// `stop_sync_thread()`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DaemonRequest {
    Start { state: u32, cfg: DaemonConfig },
    Stop { state: u32 },
}

/// Parses NEW_DAEMON or DEL_DAEMON: EINVAL without the DAEMON nest, without its state (and,
/// to start, its interface and sync id), or with a group that is not multicast.
pub fn parse_request(command: u8, attrs: &CmdAttrs<'_>) -> Result<DaemonRequest> {
    let nested = attrs.get(cmd_attr::DAEMON).ok_or(Errno::EINVAL)?;
    let d = Table::parse(nested, &DAEMON_POLICY).map_err(|_| Errno::EINVAL)?;
    match command {
        cmd::NEW_DAEMON => {
            let (Some(state), Some(ifn), Some(syncid)) =
                (d.u32(daemon_attr::STATE), d.cstr(daemon_attr::MCAST_IFN), d.u32(daemon_attr::SYNC_ID))
            else {
                return Err(Errno::EINVAL);
            };
            let mut ifname = [0u8; IFNAME_MAXLEN];
            for (dst, src) in ifname.iter_mut().take(IFNAME_MAXLEN - 1).zip(ifn) {
                *dst = *src;
            }
            let group = if let Some(g) = d.bytes::<4>(daemon_attr::MCAST_GROUP) {
                if g[0] & 0xf0 != 0xe0 {
                    return Err(Errno::EINVAL);
                }
                Group::V4(g)
            } else if let Some(g) = d.bytes::<16>(daemon_attr::MCAST_GROUP6) {
                if g[0] != 0xff {
                    return Err(Errno::EINVAL);
                }
                Group::V6(g)
            } else {
                Group::V4(DEFAULT_GROUP)
            };
            let cfg = DaemonConfig {
                ifname,
                syncid,
                sync_maxlen: d.u16(daemon_attr::SYNC_MAXLEN).unwrap_or(0),
                group,
                port: d.u16(daemon_attr::MCAST_PORT).unwrap_or(0),
                ttl: d.u8(daemon_attr::MCAST_TTL).unwrap_or(0),
            };
            Ok(DaemonRequest::Start { state, cfg })
        }
        _ => d.u32(daemon_attr::STATE).map(|state| DaemonRequest::Stop { state }).ok_or(Errno::EINVAL),
    }
}

/// Writes the DAEMON attribute of a GET_DAEMON dump entry.
pub fn put_daemon(w: &mut Writer<'_>, state: u32, c: &DaemonConfig) -> core::result::Result<(), Full> {
    let nest = w.nest_start(cmd_attr::DAEMON)?;
    w.put_u32(daemon_attr::STATE, state)?;
    w.put_cstr(daemon_attr::MCAST_IFN, c.ifname())?;
    w.put_u32(daemon_attr::SYNC_ID, c.syncid)?;
    w.put_u16(daemon_attr::SYNC_MAXLEN, c.sync_maxlen)?;
    w.put_u16(daemon_attr::MCAST_PORT, c.port)?;
    w.put_u8(daemon_attr::MCAST_TTL, c.ttl)?;
    match c.group {
        Group::V4(g) => w.put(daemon_attr::MCAST_GROUP, &g)?,
        Group::V6(g) => w.put(daemon_attr::MCAST_GROUP6, &g)?,
    }
    w.nest_end(nest)
}

/// What starting a daemon needs of the device it is bound to.
#[derive(Clone, Copy, Debug)]
pub struct Device {
    pub ifindex: i32,
    pub mtu: u32,
}

/// The running daemons of a netns, each with the glue's handle `R` (its sockets and work).
pub struct Daemons<R> {
    master: Option<(DaemonConfig, R)>,
    backup: Option<(DaemonConfig, R)>,
    /// Sockets per daemon: `sync_ports` (clamped to 1..=16) when the first daemon started;
    /// the second one uses as many (upstream's `threads_mask`).
    ports: u32,
}

impl<R> Default for Daemons<R> {
    fn default() -> Self {
        Daemons { master: None, backup: None, ports: 1 }
    }
}

impl<R> Daemons<R> {
    /// `IP_VS_STATE_*` bits of the running daemons.
    pub fn state(&self) -> u32 {
        (if self.master.is_some() { STATE_MASTER } else { 0 }) | (if self.backup.is_some() { STATE_BACKUP } else { 0 })
    }

    /// The running daemons' configurations, master first (the GET_DAEMON dump's order).
    pub fn configs(&self) -> impl Iterator<Item = (u32, &DaemonConfig)> {
        let m = self.master.as_ref().map(|(c, _)| (STATE_MASTER, c));
        let b = self.backup.as_ref().map(|(c, _)| (STATE_BACKUP, c));
        m.into_iter().chain(b)
    }

    pub fn master_mut(&mut self) -> Option<&mut R> {
        self.master.as_mut().map(|(_, r)| r)
    }

    pub fn backup_mut(&mut self) -> Option<&mut R> {
        self.backup.as_mut().map(|(_, r)| r)
    }

    /// `start_sync_thread()`: ENODEV unless `device` finds the interface; then EEXIST if a
    /// daemon of that state runs, EINVAL for another state; then `start` makes the daemon
    /// from the settled configuration, the device and the socket count.
    pub fn start(
        &mut self,
        state: u32,
        mut cfg: DaemonConfig,
        sync_ports: u32,
        device: impl FnOnce(&[u8]) -> Option<Device>,
        start: impl FnOnce(u32, &DaemonConfig, Device, u32) -> Result<R>,
    ) -> Result<()> {
        let ports = if self.master.is_none() && self.backup.is_none() {
            sync_ports.clamp(1, MAX_PORTS)
        } else {
            self.ports
        };
        let dev = device(cfg.ifname()).ok_or(Errno::ENODEV)?;
        cfg.settle(state, dev.mtu);
        let slot = match state {
            STATE_MASTER => &mut self.master,
            STATE_BACKUP => &mut self.backup,
            _ => return Err(Errno::EINVAL),
        };
        if slot.is_some() {
            return Err(Errno::EEXIST);
        }
        let running = start(state, &cfg, dev, ports)?;
        *slot = Some((cfg, running));
        self.ports = ports;
        Ok(())
    }

    /// `stop_sync_thread()`: the stopped daemon's handle (for the glue to drop outside its
    /// locks), ESRCH if none of that state runs, EINVAL for another state.
    pub fn stop(&mut self, state: u32) -> Result<R> {
        let slot = match state {
            STATE_MASTER => &mut self.master,
            STATE_BACKUP => &mut self.backup,
            _ => return Err(Errno::EINVAL),
        };
        slot.take().map(|(_, r)| r).ok_or(Errno::ESRCH)
    }
}

/// What one read of a backup's socket gave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Read {
    /// A datagram, read and applied.
    Datagram,
    /// Nothing queued (EAGAIN).
    Empty,
    /// An error the socket reported once (a pending ICMP error): not the end of the queue.
    Error,
}

/// One run of a backup's receive work over one socket: `read` (which reads and applies one
/// datagram) until the queue is empty or `budget` reads were made, so that a flood cannot
/// hold a worker. Whether datagrams may be left, for another run. The budget is checked
/// before each read: a datagram read is always applied.
pub fn drain(budget: usize, mut read: impl FnMut() -> Read) -> bool {
    for _ in 0..budget {
        if read() == Read::Empty {
            return false;
        }
    }
    true
}
