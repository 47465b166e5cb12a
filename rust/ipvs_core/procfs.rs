// SPDX-License-Identifier: GPL-2.0
//! Text of the /proc/net files, byte for byte as stock ip_vs prints them
//! (node_exporter and ipvsadm parse these).

use core::fmt::{self, Write};

use super::uapi::VERSION_CODE;

/// The three header lines of /proc/net/ip_vs.
pub fn ip_vs_header(out: &mut impl Write, conn_tab_size: u32) -> fmt::Result {
    writeln!(
        out,
        "IP Virtual Server version {}.{}.{} (size={})",
        (VERSION_CODE >> 16) & 0xff,
        (VERSION_CODE >> 8) & 0xff,
        VERSION_CODE & 0xff,
        conn_tab_size as i32
    )?;
    out.write_str("Prot LocalAddress:Port Scheduler Flags\n")?;
    out.write_str("  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n")
}

/// Totals and rates shown by /proc/net/ip_vs_stats.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatsView {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// /proc/net/ip_vs_stats.
pub fn ip_vs_stats(out: &mut impl Write, s: &StatsView) -> fmt::Result {
    out.write_str("   Total Incoming Outgoing         Incoming         Outgoing\n")?;
    out.write_str("   Conns  Packets  Packets            Bytes            Bytes\n")?;
    writeln!(
        out,
        "{:8X} {:8X} {:8X} {:16X} {:16X}\n",
        s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes
    )?;
    out.write_str(" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n")?;
    writeln!(
        out,
        "{:8X} {:8X} {:8X} {:16X} {:16X}",
        s.cps, s.inpps, s.outpps, s.inbps, s.outbps
    )
}

/// The header line of /proc/net/ip_vs_conn.
pub fn ip_vs_conn_header(out: &mut impl Write) -> fmt::Result {
    out.write_str(
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n",
    )
}

/// A `fmt::Write` into a fixed buffer; fails (and stays truncated) when full.
pub struct FixedBuf<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> FixedBuf<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        FixedBuf { buf, len: 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl Write for FixedBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
