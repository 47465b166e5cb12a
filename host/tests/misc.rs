#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
use ipvs_core_host::ipvs_core::procfs::{ip_vs_conn_header, ip_vs_header, ip_vs_stats, FixedBuf, StatsView};
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
    use ipvs_core_host::ipvs_core::conntab::clamp_bits;
    // 2 GiB of 4 KiB pages, a 320-byte connection: log2(2G) - 3 - 9 = 19 bits at most.
    let pages = (2u64 << 30) >> 12;
    assert_eq!(clamp_bits(12, pages, 12, 320), 12);
    assert_eq!(clamp_bits(20, pages, 12, 320), 19);
    assert_eq!(clamp_bits(2, pages, 12, 320), 8);
    assert_eq!(clamp_bits(-5, pages, 12, 320), 8);
    assert_eq!(clamp_bits(30, 1 << 40, 12, 320), 27, "never above 27");
    assert_eq!(clamp_bits(12, 16, 12, 4096), 8, "tiny RAM still gets 8");
}
