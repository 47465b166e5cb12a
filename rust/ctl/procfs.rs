// SPDX-License-Identifier: GPL-2.0
//! /proc/net/ip_vs, ip_vs_stats and ip_vs_conn, in stock's exact text format.

use crate::ipvs_core::procfs::{ip_vs_conn_header, ip_vs_header, ip_vs_stats, StatsView};
use crate::sys::procfs::{ProcEntry, ProcShow, SeqOut};
use kernel::c_str;
use crate::sys::NetRef;
use core::fmt;
use kernel::prelude::*;

struct IpVs;
impl ProcShow for IpVs {
    const NAME: &'static CStr = c_str!("ip_vs");
    fn show(_net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        // Services are listed here once they exist (the datapath issue).
        ip_vs_header(out, super::env().conn_tab_size)
    }
}

struct IpVsStats;
impl ProcShow for IpVsStats {
    const NAME: &'static CStr = c_str!("ip_vs_stats");
    fn show(_net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        // No traffic is handled yet, so the totals and rates are zero.
        ip_vs_stats(out, &StatsView::default())
    }
}

struct IpVsConn;
impl ProcShow for IpVsConn {
    const NAME: &'static CStr = c_str!("ip_vs_conn");
    fn show(_net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result {
        ip_vs_conn_header(out)
    }
}

/// Creates every /proc/net file of a new netns.
pub(crate) fn create_all(net: NetRef<'_>, files: &mut KVec<ProcEntry>) -> Result {
    files.push(ProcEntry::create::<IpVs>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create::<IpVsStats>(net)?, GFP_KERNEL)?;
    files.push(ProcEntry::create::<IpVsConn>(net)?, GFP_KERNEL)?;
    Ok(())
}
