#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
use ipvs_core_host::ipvs_core::estimator::StatsView;
use ipvs_core_host::ipvs_core::proc_text::{ip_vs_conn_header, ip_vs_header, ip_vs_stats, FixedBuf};
use ipvs_core_host::ipvs_core::timeouts::{TimeoutUpdate, Timeouts};
use ipvs_core_host::ipvs_core::errno::Errno;

#[test]
fn ip_vs_header_matches_stock() {
    let mut s = String::new();
    ip_vs_header(&mut s, 4096).unwrap();
    assert_eq!(
        s,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n  \
         -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
    );
}

#[test]
fn ip_vs_stats_layout() {
    let mut s = String::new();
    ip_vs_stats(&mut s, &StatsView { conns: 0x1f, inbytes: 0xabc, ..Default::default() }).unwrap();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[2], "      1F        0        0              ABC                0");
    assert_eq!(lines[3], "");
    assert_eq!(lines.len(), 6);
    let mut c = String::new();
    ip_vs_conn_header(&mut c).unwrap();
    assert!(c.starts_with("Pro FromIP   FPrt ToIP"));
}

#[test]
fn fixed_buf_refuses_overflow() {
    let mut storage = [0u8; 8];
    let mut b = FixedBuf::new(&mut storage);
    use core::fmt::Write;
    assert!(b.write_str("12345678").is_ok());
    assert!(b.write_str("9").is_err());
    assert_eq!(b.as_bytes(), b"12345678");
}

#[test]
fn timeout_bounds_follow_hz() {
    let mut t = Timeouts::default();
    assert_eq!((t.tcp, t.tcp_fin, t.udp), (900, 120, 300));
    let max = i32::MAX as u32 / 1000;
    assert_eq!(t.apply(TimeoutUpdate { tcp: Some(max), ..Default::default() }, 1000), Ok(()));
    assert_eq!(t.tcp, max);
    assert_eq!(t.apply(TimeoutUpdate { udp: Some(max + 1), ..Default::default() }, 1000), Err(Errno::EINVAL));
    assert_eq!(t.apply(TimeoutUpdate { udp: Some(0x8000_0000), ..Default::default() }, 1000), Err(Errno::EINVAL));
    assert_eq!(t.apply(TimeoutUpdate { tcp_fin: Some(0), ..Default::default() }, 1000), Ok(()));
    assert_eq!(t.tcp_fin, 120);
}

#[test]
fn conn_tab_bits_clamped_like_upstream() {
    use ipvs_core_host::ipvs_core::env::clamp_bits;
    // 2 GiB of 4 KiB pages, a 320-byte connection: log2(2G) - 3 - 9 = 19 bits at most.
    let pages = (2u64 << 30) >> 12;
    assert_eq!(clamp_bits(12, pages, 12, 320), 12);
    assert_eq!(clamp_bits(20, pages, 12, 320), 19);
    assert_eq!(clamp_bits(2, pages, 12, 320), 8);
    assert_eq!(clamp_bits(-5, pages, 12, 320), 8);
    assert_eq!(clamp_bits(30, 1 << 40, 12, 320), 27, "never above 27");
    assert_eq!(clamp_bits(12, 16, 12, 4096), 8, "tiny RAM still gets 8");
}

#[test]
fn conn_lines_match_stock_format() {
    use ipvs_core_host::ipvs_core::ip::v4_to_16;
    use ipvs_core_host::ipvs_core::proc_text::{ip_vs_conn_line, ConnLine};
    let c = ConnLine {
        af: 2,
        daf: 2,
        protocol: 6,
        client: (v4_to_16([10, 0, 0, 2]), [0x9c, 0x40]),
        virt: (v4_to_16([10, 0, 0, 100]), [0, 80]),
        dest: (v4_to_16([172, 16, 1, 2]), [0x1f, 0x90]),
        state: "ESTABLISHED",
        expires_secs: 899,
    };
    let mut s = String::new();
    ip_vs_conn_line(&mut s, &c, None).unwrap();
    assert_eq!(s, "TCP 0A000002 9C40 0A000064 0050 AC100102 1F90 ESTABLISHED     899\n");
    let mut s = String::new();
    ip_vs_conn_line(&mut s, &ConnLine { protocol: 17, state: "UDP", ..c }, Some("LOCAL")).unwrap();
    assert_eq!(s, "UDP 0A000002 9C40 0A000064 0050 AC100102 1F90 UDP         LOCAL      899\n");
    let mut s = String::new();
    ip_vs_conn_line(&mut s, &ConnLine { protocol: 99, ..c }, None).unwrap();
    assert!(s.starts_with("IP_99 0A000002"), "{s}");
    // IPv6 in full (`%pI6`), and a mixed-family tunnel dest.
    let mut v6 = [0u8; 16];
    v6[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
    v6[15] = 2;
    let mut s = String::new();
    ip_vs_conn_line(&mut s, &ConnLine { af: 10, client: (v6, [0x9c, 0x40]), virt: (v6, [0, 80]), ..c }, None).unwrap();
    assert_eq!(
        s,
        "TCP 2001:0db8:0000:0000:0000:0000:0000:0002 9C40 2001:0db8:0000:0000:0000:0000:0000:0002 0050 AC100102 1F90 ESTABLISHED     899\n"
    );
}

#[test]
fn estimator_follows_upstream_fixed_point() {
    use ipvs_core_host::ipvs_core::estimator::{rate, step};
    // 100 conns in 2 s = 50/s; the average converges to it by quarters.
    let mut avg = 0i64;
    let mut last = 0u64;
    for tick in 1..=40u64 {
        let now = tick * 100;
        avg = step(0, avg, last, now);
        last = now;
    }
    assert_eq!(rate(0, avg), 50);
    // 1000 bytes in 2 s = 500 B/s.
    let mut avg = 0i64;
    let mut last = 0u64;
    for tick in 1..=40u64 {
        let now = tick * 1000;
        avg = step(3, avg, last, now);
        last = now;
    }
    assert_eq!(rate(3, avg), 500);
    // One step from zero is a quarter of 50/s, 12.5, which upstream's rounding (+0x1ff >> 10) makes 12.
    assert_eq!(rate(1, step(1, 0, 0, 100)), 12);
}

#[test]
fn sync_sysctl_checks_refuse_what_upstream_refuses() {
    use ipvs_core_host::ipvs_core::sysctl::{Check, Kind, DEFS};
    let kind = |name: &str| DEFS.iter().find(|d| d.cname.trim_end_matches('\0') == name).map(|d| d.kind);
    assert_eq!(kind("sync_threshold"), Some(Kind::Checked(Check::SyncThreshold)));
    assert_eq!(kind("sync_ports"), Some(Kind::Checked(Check::PowerOfTwo)));
    let t = |a, b| Check::SyncThreshold.accepts([a, b]);
    assert!(t(3, 50) && t(3, 0) && t(0, 0) && t(0, 1) && t(49, 50));
    assert!(!t(50, 3) && !t(50, 50) && !t(-1, 50) && !t(3, -1));
    let p = |a| Check::PowerOfTwo.accepts([a, 0]);
    assert!(p(1) && p(2) && p(4) && p(1 << 30));
    assert!(!p(0) && !p(3) && !p(-2) && !p(i32::MIN) && !p(6));
}

#[test]
fn conn_table_bounds_default_grows_past_reported_size() {
    use ipvs_core_host::ipvs_core::env::TableBounds;
    let pages_4g = (4u64 << 30) >> 12;
    // Not given: stock's reported 4096, growth up to 2^20 (4 GiB holds it for 320-byte entries).
    assert_eq!(TableBounds::new(12, false, pages_4g, 12, 320), TableBounds { reported_bits: 12, max_bits: 20 });
    // Given, even as the default's value: it bounds the table (upstream 7.1's meaning).
    assert_eq!(TableBounds::new(12, true, pages_4g, 12, 320), TableBounds { reported_bits: 12, max_bits: 12 });
    assert_eq!(TableBounds::new(14, true, pages_4g, 12, 320), TableBounds { reported_bits: 14, max_bits: 14 });
    assert_eq!(TableBounds::new(20, true, pages_4g, 12, 320), TableBounds { reported_bits: 20, max_bits: 20 });
    // Not given on a small machine: RAM bounds the growth (256 MiB: 28 - 3 - 9 = 16).
    let pages_256m = (256u64 << 20) >> 12;
    assert_eq!(TableBounds::new(12, false, pages_256m, 12, 320), TableBounds { reported_bits: 12, max_bits: 16 });
    // A tiny machine never gets a bound below the reported size.
    assert_eq!(TableBounds::new(12, false, 16, 12, 4096).max_bits, 8);
}

#[test]
fn ip_vs_status_shows_both_tables() {
    use ipvs_core_host::ipvs_core::proc_text::{ip_vs_status, TableStatus};
    let mut s = String::new();
    let status = TableStatus {
        conns: 3,
        links: 5,
        buckets: 256,
        max_buckets: 1 << 20,
        resizes: 0,
        longest_chain: 2,
        service_buckets: (16384, 256),
    };
    ip_vs_status(&mut s, &status).unwrap();
    assert_eq!(
        s,
        "Conns:\t3\nConn links:\t5\nConn buckets:\t256 (8 bits, at most 20 bits)\nConn table resizes:\t0\n\
         Conn longest chain:\t2\nService buckets:\t16384 by address, 256 by firewall mark\n"
    );
}

mod trash {
    use ipvs_core_host::ipvs_core::store::{trash_sweep, TRASH_KEEP_SECS, TRASH_SWEEP_SECS};

    const HZ: u64 = 250;
    const KEEP: u64 = TRASH_KEEP_SECS as u64 * HZ;

    /// Sweeps one trashed dest every sweep period; `used(k)` says whether connections use it
    /// at sweep k. The sweep that dropped it, if any of the first 20 did.
    fn dropped_at(used: impl Fn(u64) -> bool) -> Option<u64> {
        let mut idle = None;
        for k in 1..=20u64 {
            let now = k * u64::from(TRASH_SWEEP_SECS) * HZ;
            match trash_sweep(used(k), idle, now, KEEP) {
                Some(i) => idle = i,
                None => return Some(k),
            }
        }
        None
    }

    #[test]
    fn an_unused_dest_stays_two_minutes_at_least_then_goes() {
        // Marked at the first sweep, kept at the second (one minute later), dropped at the third.
        let mut idle = None;
        let t0 = 1000;
        idle = trash_sweep(false, idle, t0, KEEP).unwrap();
        assert_eq!(idle, Some(t0));
        idle = trash_sweep(false, idle, t0 + KEEP / 2, KEEP).unwrap();
        assert_eq!(idle, Some(t0));
        assert_eq!(trash_sweep(false, idle, t0 + KEEP - 1, KEEP), Some(Some(t0)));
        assert_eq!(trash_sweep(false, idle, t0 + KEEP, KEEP), None);
    }

    #[test]
    fn a_dest_in_use_is_kept_and_its_idle_time_counts_from_when_it_was_first_seen_unused() {
        assert_eq!(trash_sweep(true, None, 5, KEEP), Some(None));
        assert_eq!(trash_sweep(true, Some(5), 5 + 10 * KEEP, KEEP), Some(Some(5)));
        // Used for five sweeps, then unused: marked at sweep 6, dropped two minutes later.
        let sweeps_per_keep = u64::from(TRASH_KEEP_SECS / TRASH_SWEEP_SECS);
        assert_eq!(dropped_at(|k| k <= 5), Some(6 + sweeps_per_keep));
        assert_eq!(dropped_at(|_| true), None);
        assert_eq!(dropped_at(|_| false), Some(1 + sweeps_per_keep));
    }
}
