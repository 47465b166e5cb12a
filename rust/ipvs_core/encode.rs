// SPDX-License-Identifier: GPL-2.0
//! Encoding of the SERVICE, DEST and STATS attributes of replies and dump entries
//! (`ip_vs_genl_fill_service()`, `ip_vs_genl_fill_dest()`, `ip_vs_genl_fill_stats()`).

use super::dest::DestInfo;
use super::estimator::StatsView;
use super::nlattr::{Full, Writer};
use super::service::{ServiceConf, ServiceKey};
use super::uapi::{self, cmd_attr, dest_attr, stats_attr, svc_attr};

/// Writes a STATS attribute (`ip_vs_genl_fill_stats()`): 32-bit counters and rates, 64-bit
/// byte counters.
pub fn put_stats(w: &mut Writer<'_>, kind: u16, s: &StatsView) -> core::result::Result<(), Full> {
    let nest = w.nest_start(kind)?;
    w.put_u32(stats_attr::CONNS, s.conns as u32)?;
    w.put_u32(stats_attr::INPKTS, s.inpkts as u32)?;
    w.put_u32(stats_attr::OUTPKTS, s.outpkts as u32)?;
    w.put_u64(stats_attr::INBYTES, s.inbytes)?;
    w.put_u64(stats_attr::OUTBYTES, s.outbytes)?;
    w.put_u32(stats_attr::CPS, s.cps as u32)?;
    w.put_u32(stats_attr::INPPS, s.inpps as u32)?;
    w.put_u32(stats_attr::OUTPPS, s.outpps as u32)?;
    w.put_u32(stats_attr::INBPS, s.inbps as u32)?;
    w.put_u32(stats_attr::OUTBPS, s.outbps as u32)?;
    w.nest_end(nest)
}

/// Writes a STATS64 attribute (`ip_vs_genl_fill_stats64()`): everything 64-bit.
pub fn put_stats64(w: &mut Writer<'_>, kind: u16, s: &StatsView) -> core::result::Result<(), Full> {
    let nest = w.nest_start(kind)?;
    w.put_u64(stats_attr::CONNS, s.conns)?;
    w.put_u64(stats_attr::INPKTS, s.inpkts)?;
    w.put_u64(stats_attr::OUTPKTS, s.outpkts)?;
    w.put_u64(stats_attr::INBYTES, s.inbytes)?;
    w.put_u64(stats_attr::OUTBYTES, s.outbytes)?;
    w.put_u64(stats_attr::CPS, s.cps)?;
    w.put_u64(stats_attr::INPPS, s.inpps)?;
    w.put_u64(stats_attr::OUTPPS, s.outpps)?;
    w.put_u64(stats_attr::INBPS, s.inbps)?;
    w.put_u64(stats_attr::OUTBPS, s.outbps)?;
    w.nest_end(nest)
}

/// Writes the SERVICE attribute of a reply (`ip_vs_genl_fill_service()`).
pub fn put_service(w: &mut Writer<'_>, c: &ServiceConf, stats: &StatsView, hz: u32) -> core::result::Result<(), Full> {
    let nest = w.nest_start(cmd_attr::SERVICE)?;
    w.put_u16(svc_attr::AF, c.key.af())?;
    match c.key {
        ServiceKey::Fwmark { mark, .. } => w.put_u32(svc_attr::FWMARK, mark)?,
        ServiceKey::Addr { protocol, addr, port, .. } => {
            w.put_u16(svc_attr::PROTOCOL, protocol)?;
            w.put(svc_attr::ADDR, &addr)?;
            w.put(svc_attr::PORT, &port)?;
        }
    }
    w.put_cstr(svc_attr::SCHED_NAME, c.sched_name().as_bytes())?;
    if let Some(pe) = c.pe {
        w.put_cstr(svc_attr::PE_NAME, pe.name().as_bytes())?;
    }
    let [f0, f1, f2, f3] = c.flags.to_ne_bytes();
    w.put(svc_attr::FLAGS, &[f0, f1, f2, f3, 0xff, 0xff, 0xff, 0xff])?;
    w.put_u32(svc_attr::TIMEOUT, c.timeout_secs(hz))?;
    w.put(svc_attr::NETMASK, &c.netmask)?;
    put_stats(w, svc_attr::STATS, stats)?;
    put_stats64(w, svc_attr::STATS64, stats)?;
    w.nest_end(nest)
}

/// Writes the DEST attribute of a dump entry (`ip_vs_genl_fill_dest()`).
pub fn put_dest(w: &mut Writer<'_>, d: &DestInfo, stats: &StatsView) -> core::result::Result<(), Full> {
    let (c, s) = (&d.conf, &d.conf.settings);
    let nest = w.nest_start(cmd_attr::DEST)?;
    w.put(dest_attr::ADDR, &c.addr)?;
    w.put(dest_attr::PORT, &c.port)?;
    w.put_u32(dest_attr::FWD_METHOD, s.fwd_method & uapi::fwd::MASK)?;
    w.put_u32(dest_attr::WEIGHT, s.weight as u32)?;
    w.put_u8(dest_attr::TUN_TYPE, s.tun_type)?;
    w.put(dest_attr::TUN_PORT, &s.tun_port)?;
    w.put_u16(dest_attr::TUN_FLAGS, s.tun_flags)?;
    w.put_u32(dest_attr::U_THRESH, s.u_threshold)?;
    w.put_u32(dest_attr::L_THRESH, s.l_threshold)?;
    w.put_u32(dest_attr::ACTIVE_CONNS, d.active_conns as u32)?;
    w.put_u32(dest_attr::INACT_CONNS, d.inact_conns as u32)?;
    w.put_u32(dest_attr::PERSIST_CONNS, d.persist_conns as u32)?;
    w.put_u16(dest_attr::ADDR_FAMILY, c.af)?;
    put_stats(w, dest_attr::STATS, stats)?;
    put_stats64(w, dest_attr::STATS64, stats)?;
    w.nest_end(nest)
}

/// One dump entry: a genl message of command `cmd` whose attributes `fill` writes. The glue
/// answers `Err(Full)` when the skb has no room, having dropped the partial message.
pub type FillFn<'f> = dyn FnMut(&mut Writer<'_>) -> core::result::Result<(), Full> + 'f;
