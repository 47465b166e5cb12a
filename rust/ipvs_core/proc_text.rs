// SPDX-License-Identifier: GPL-2.0
//! Text of the /proc/net files, byte for byte as stock ip_vs prints them
//! (node_exporter and ipvsadm parse these). The glue's procfs files (rust/ctl/proc_files.rs,
//! rust/sys/procfs.rs) call these writers.

use core::fmt::{self, Write};

use super::addr;
use super::control::ControlPlane;
use super::dest::DestInfo;
use super::estimator::StatsView;
use super::service::{ServiceConf, ServiceKey};
use super::store::Store;
use super::uapi::{self, svc_flags, VERSION_CODE};

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

/// `ip_vs_proto_name()` as /proc/net/ip_vs prints a service's protocol: "IP_<n>" for a
/// protocol without a name.
pub fn write_proto_name(out: &mut impl Write, proto: u16) -> fmt::Result {
    write!(out, "{}", ProtoName(proto))
}

/// `ip_vs_proto_name()` as a `Display` that honours width and alignment.
pub struct ProtoName(pub u16);

impl fmt::Display for ProtoName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            uapi::IPPROTO_IP => "IP",
            uapi::IPPROTO_UDP => "UDP",
            uapi::IPPROTO_TCP => "TCP",
            uapi::IPPROTO_SCTP => "SCTP",
            uapi::IPPROTO_ICMP => "ICMP",
            uapi::IPPROTO_ICMPV6 => "ICMPv6",
            other => {
                let mut storage = [0u8; 12];
                let mut b = FixedBuf::new(&mut storage);
                write!(b, "IP_{}", other)?;
                return f.pad(core::str::from_utf8(b.as_bytes()).unwrap_or("IP_?"));
            }
        };
        f.pad(name)
    }
}

/// An IPv6 address as `%pI6` prints it: eight groups of four lowercase hex digits.
pub struct Ipv6Full<'a>(pub &'a [u8; 16]);

impl fmt::Display for Ipv6Full<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks_exact(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            if let [hi, lo] = *pair {
                write!(f, "{:02x}{:02x}", hi, lo)?;
            }
        }
        Ok(())
    }
}

/// `IP_VS_CONN_F_FWD_MASK` names (`ip_vs_fwd_name()`).
pub fn fwd_name(fwd_method: u32) -> &'static str {
    match fwd_method & uapi::fwd::MASK {
        uapi::fwd::LOCALNODE => "Local",
        uapi::fwd::TUNNEL => "Tunnel",
        uapi::fwd::DROUTE => "Route",
        _ => "Masq",
    }
}

/// A service line of /proc/net/ip_vs (`ip_vs_info_seq_show()`). The persistence timeout is
/// printed in jiffies, as upstream does.
pub fn ip_vs_service_line(out: &mut impl Write, c: &ServiceConf) -> fmt::Result {
    let ops = if c.flags & svc_flags::ONEPACKET != 0 { "ops " } else { "" };
    match c.key {
        ServiceKey::Addr { af, protocol, addr, port } => {
            write_proto_name(out, protocol)?;
            let port = u16::from_be_bytes(port);
            if af == uapi::AF_INET6 {
                // Upstream prints no one-packet flag for IPv6.
                write!(out, "  [{}]:{:04X} {} ", Ipv6Full(&addr), port, c.sched_name())?;
            } else {
                write!(out, "  {:08X}:{:04X} {} {} ", addr::word(&addr, 0), port, c.sched_name(), ops)?;
            }
        }
        ServiceKey::Fwmark { mark, .. } => write!(out, "FWM  {:08X} {} {}", mark, c.sched_name(), ops)?,
    }
    if c.flags & svc_flags::PERSISTENT != 0 {
        writeln!(out, "persistent {} {:08X}", c.timeout as i32, u32::from_be_bytes(c.netmask))
    } else {
        out.write_str("\n")
    }
}

/// A dest line of /proc/net/ip_vs.
pub fn ip_vs_dest_line(out: &mut impl Write, d: &DestInfo) -> fmt::Result {
    let c = &d.conf;
    let port = u16::from_be_bytes(c.port);
    if c.af == uapi::AF_INET6 {
        write!(out, "  -> [{}]:{:04X}", Ipv6Full(&c.addr), port)?;
    } else {
        write!(out, "  -> {:08X}:{:04X}", addr::word(&c.addr, 0), port)?;
    }
    writeln!(
        out,
        "      {:<7} {:<6} {:<10} {:<10}",
        fwd_name(c.settings.fwd_method),
        c.settings.weight,
        d.active_conns,
        d.inact_conns
    )
}

/// A connection as the /proc/net/ip_vs_conn* files show it. Addresses are 16 bytes (IPv4 in
/// the first 4); addresses and ports are in network byte order.
#[derive(Clone, Copy, Debug)]
pub struct ConnLine<'a> {
    /// The family of the client and virtual addresses.
    pub af: u16,
    /// The family of the real server's address (a tunnel dest may differ).
    pub daf: u16,
    pub protocol: u8,
    pub client: ([u8; 16], [u8; 2]),
    pub virt: ([u8; 16], [u8; 2]),
    pub dest: ([u8; 16], [u8; 2]),
    pub state: &'a str,
    pub expires_secs: u32,
}

/// An address as the connection files print it: IPv4 as 8 hex digits, IPv6 in full (`%pI6`).
struct ConnAddr<'a>(u16, &'a [u8; 16]);

impl fmt::Display for ConnAddr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == uapi::AF_INET6 {
            write!(f, "{}", Ipv6Full(self.1))
        } else {
            write!(f, "{:08X}", addr::word(self.1, 0))
        }
    }
}

/// One line of /proc/net/ip_vs_conn (what `ipvsadm -Lnc` parses), or of
/// /proc/net/ip_vs_conn_sync when `origin` ("LOCAL" or "SYNC") is given.
pub fn ip_vs_conn_line(out: &mut impl Write, c: &ConnLine<'_>, origin: Option<&str>) -> fmt::Result {
    let p = |x: [u8; 2]| u16::from_be_bytes(x);
    write!(
        out,
        "{:<3} {} {:04X} {} {:04X} {} {:04X} {:<11} ",
        ProtoName(u16::from(c.protocol)),
        ConnAddr(c.af, &c.client.0),
        p(c.client.1),
        ConnAddr(c.af, &c.virt.0),
        p(c.virt.1),
        ConnAddr(c.daf, &c.dest.0),
        p(c.dest.1),
        c.state,
    )?;
    match origin {
        Some(o) => writeln!(out, "{:<6} {:7}", o, c.expires_secs),
        None => writeln!(out, "{:7}", c.expires_secs),
    }
}

/// What /proc/net/ip_vs_status tells of the connection and service tables.
pub struct TableStatus {
    pub conns: u32,
    /// The entries' links in the buckets (a NAT connection has two: its second key).
    pub links: u32,
    pub buckets: u32,
    pub max_buckets: u32,
    pub resizes: u32,
    /// The most links in one bucket.
    pub longest_chain: u32,
    /// The buckets of the service tables by address and by firewall mark.
    pub service_buckets: (usize, usize),
}

/// /proc/net/ip_vs_status (not in upstream 6.12; 7.1 has a file of that name): the
/// connection table's entries and their links, buckets now and at most (`conn_tab_bits`),
/// how often it was resized, and its longest chain; then the buckets of the service tables by
/// address and by firewall mark.
pub fn ip_vs_status(out: &mut impl Write, s: &TableStatus) -> fmt::Result {
    writeln!(out, "Conns:\t{}", s.conns)?;
    writeln!(out, "Conn links:\t{}", s.links)?;
    writeln!(out, "Conn buckets:\t{} ({} bits, at most {} bits)", s.buckets, s.buckets.trailing_zeros(), s.max_buckets.trailing_zeros())?;
    writeln!(out, "Conn table resizes:\t{}", s.resizes)?;
    writeln!(out, "Conn longest chain:\t{}", s.longest_chain)?;
    writeln!(out, "Service buckets:\t{} by address, {} by firewall mark", s.service_buckets.0, s.service_buckets.1)
}

/// /proc/net/ip_vs_stats_percpu: one line per possible CPU, the total, then the rates.
pub fn ip_vs_stats_percpu(out: &mut impl Write, cpus: &mut dyn Iterator<Item = StatsView>, total: &StatsView) -> fmt::Result {
    out.write_str("       Total Incoming Outgoing         Incoming         Outgoing\n")?;
    out.write_str("CPU    Conns  Packets  Packets            Bytes            Bytes\n")?;
    for (i, s) in cpus.enumerate() {
        writeln!(out, "{:3X} {:8X} {:8X} {:8X} {:16X} {:16X}", i, s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes)?;
    }
    let t = total;
    writeln!(out, "  ~ {:8X} {:8X} {:8X} {:16X} {:16X}\n", t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes)?;
    out.write_str("     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n")?;
    writeln!(out, "    {:8X} {:8X} {:8X} {:16X} {:16X}", t.cps, t.inpps, t.outpps, t.inbps, t.outbps)
}

/// The header line of /proc/net/ip_vs_conn_sync.
pub fn ip_vs_conn_sync_header(out: &mut impl Write) -> fmt::Result {
    out.write_str("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Origin Expires\n")
}

impl<S: Store> ControlPlane<S> {
    /// /proc/net/ip_vs: the header, then every service with its dests.
    pub fn write_proc_ip_vs(&self, out: &mut impl Write, conn_tab_size: u32) -> fmt::Result {
        ip_vs_header(out, conn_tab_size)?;
        let s = &self.store;
        for svc in 0..s.service_count() {
            let Some(conf) = s.service(svc) else { continue };
            ip_vs_service_line(out, &conf)?;
            for d in 0..s.dest_count(svc) {
                if let Some(info) = s.dest(svc, d) {
                    ip_vs_dest_line(out, &info)?;
                }
            }
        }
        Ok(())
    }
}
