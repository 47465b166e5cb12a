// SPDX-License-Identifier: GPL-2.0
//! /proc/net/ip_vs, ip_vs_stats, ip_vs_stats_percpu, ip_vs_conn and ip_vs_conn_sync, in
//! stock's exact text format, and ip_vs_status, the connection and service tables' sizes.

use crate::netns::IpvsNet;
use crate::ipvs_core::estimator::StatsView;
use crate::ipvs_core::proc_text::{
    ip_vs_conn_header, ip_vs_conn_line, ip_vs_conn_sync_header, ip_vs_header, ip_vs_stats, ConnLine,
    ip_vs_stats_percpu, ip_vs_status, TableStatus,
};
use crate::ipvs_core::proto_tcp::{tcp_state_name, udp};
use crate::sys::pernet;
use crate::conn::ConnData;
use crate::sys::conntab::Cursor;
use crate::sys::procfs::{ProcEntry, ProcSeq, ProcShow, SeqOut};
use crate::sys::rcu::Section;
use kernel::c_str;
use crate::sys::NetRef;
use core::fmt;
use kernel::prelude::*;

struct IpVs;
impl ProcShow for IpVs {
    const NAME: &'static CStr = c_str!("ip_vs");
    fn show(net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        let size = crate::netns::env().conn_tab_size;
        match pernet::state::<IpvsNet>(net) {
            Some(ipvs) => ipvs.control.lock().write_proc_ip_vs(out, size),
            None => ip_vs_header(out, size),
        }
    }
}

struct IpVsStats;
impl ProcShow for IpVsStats {
    const NAME: &'static CStr = c_str!("ip_vs_stats");
    fn show(net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        let view = pernet::state::<IpvsNet>(net).map_or_else(StatsView::default, |ipvs| ipvs.dp.total.view());
        ip_vs_stats(out, &view)
    }
}

/// /proc/net/ip_vs_conn: world-readable, so listed entry by entry (a read costs what it
/// shows, not the whole table) under short RCU sections.
struct IpVsConn;
impl ProcSeq for IpVsConn {
    const NAME: &'static CStr = c_str!("ip_vs_conn");
    type Iter = Cursor<ConnData>;
    fn header(_net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        ip_vs_conn_header(out)
    }
    fn seek(net: NetRef<'_>, cur: &mut Cursor<ConnData>, index: u64, rcu: &mut Section) -> bool {
        seek_conn(net, cur, index, rcu)
    }
    fn show(net: NetRef<'_>, cur: &Cursor<ConnData>, rcu: &Section, out: &mut SeqOut<'_>) -> fmt::Result {
        show_conn(net, cur, rcu, out, None)
    }
}

struct IpVsStatsPercpu;
impl ProcShow for IpVsStatsPercpu {
    const NAME: &'static CStr = c_str!("ip_vs_stats_percpu");
    fn show(net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        let Some(ipvs) = pernet::state::<IpvsNet>(net) else { return Ok(()) };
        let total = &ipvs.dp.total;
        ip_vs_stats_percpu(out, &mut total.per_cpu(), &total.view())
    }
}

/// /proc/net/ip_vs_status: the sizes of the connection table and the service tables.
struct IpVsStatus;
impl ProcShow for IpVsStatus {
    const NAME: &'static CStr = c_str!("ip_vs_status");
    fn show(net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        let Some(ipvs) = pernet::state::<IpvsNet>(net) else { return Ok(()) };
        let s = ipvs.conns.size();
        let status = TableStatus {
            conns: s.entries,
            links: s.links,
            buckets: s.buckets,
            max_buckets: s.max_buckets,
            resizes: s.resizes,
            longest_chain: ipvs.conns.longest_chain(),
            service_buckets: ipvs.published.service_buckets(),
        };
        ip_vs_status(out, &status)
    }
}

/// /proc/net/ip_vs_conn_sync: the same walk with the origin column.
struct IpVsConnSync;
impl ProcSeq for IpVsConnSync {
    const NAME: &'static CStr = c_str!("ip_vs_conn_sync");
    type Iter = Cursor<ConnData>;
    fn header(_net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        ip_vs_conn_sync_header(out)
    }
    fn seek(net: NetRef<'_>, cur: &mut Cursor<ConnData>, index: u64, rcu: &mut Section) -> bool {
        seek_conn(net, cur, index, rcu)
    }
    fn show(net: NetRef<'_>, cur: &Cursor<ConnData>, rcu: &Section, out: &mut SeqOut<'_>) -> fmt::Result {
        // Every connection is local: the sync daemon is not implemented.
        show_conn(net, cur, rcu, out, Some("LOCAL"))
    }
}

/// Places `cur` on connection `index` of `net`'s table.
fn seek_conn(net: NetRef<'_>, cur: &mut Cursor<ConnData>, index: u64, rcu: &mut Section) -> bool {
    pernet::state::<IpvsNet>(net).is_some_and(|ipvs| ipvs.conns.seek(cur, index, rcu))
}

/// The line of the connection `cur` stands on, with the origin column when given.
fn show_conn(net: NetRef<'_>, cur: &Cursor<ConnData>, rcu: &Section, out: &mut SeqOut<'_>, origin: Option<&str>) -> fmt::Result {
    let Some(ipvs) = pernet::state::<IpvsNet>(net) else { return Ok(()) };
    let Some((c, left)) = ipvs.conns.at(cur, rcu) else { return Ok(()) };
    // Whole seconds, as upstream's `jiffies_delta_to_msecs(..) / 1000` gives them; a racing
    // re-arm may make `left` stale, never make this overflow.
    let hz = u64::from(crate::sys::hz().max(1));
    let secs = u32::try_from(left / hz).unwrap_or(u32::MAX);
    ip_vs_conn_line(out, &conn_line(c, secs), origin)
}

fn conn_line(c: &ConnData, expires_secs: u32) -> ConnLine<'static> {
    let (vport, dport) = c.shown_ports();
    let state = if c.is_template() {
        c.template_state_name()
    } else if c.is_tcp() {
        tcp_state_name(c.state_index())
    } else {
        udp::state_name(0)
    };
    ConnLine {
        af: c.af,
        daf: c.dest.af,
        protocol: c.protocol,
        client: (c.caddr, c.cport),
        virt: (c.vaddr, vport),
        dest: (c.daddr, dport),
        state,
        expires_secs,
    }
}

/// Creates every /proc/net file of a new netns.
pub(crate) fn create_all(net: NetRef<'_>, files: &mut KVec<ProcEntry>) -> Result {
    files.push(ProcEntry::create::<IpVs>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create::<IpVsStats>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create_seq::<IpVsConn>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create::<IpVsStatsPercpu>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create_seq::<IpVsConnSync>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create::<IpVsStatus>(net)?, GFP_KERNEL)?;
    Ok(())
}
