// SPDX-License-Identifier: GPL-2.0
//! What the control plane needs to know of the running kernel ([`Env`]), and the sizing of the
//! connection table from the `conn_tab_bits` module parameter ([`TableBounds`]).

/// Environment facts the control plane needs from the running kernel.
#[derive(Clone, Copy, Debug)]
pub struct Env {
    pub hz: u32,
    pub conn_tab_size: u32,
    pub ipv6_enabled: bool,
}

/// Sizes the connection table from the `conn_tab_bits` module parameter, as upstream does: at
/// least 8 bits, at most 27, and at most what half of RAM holds at about four connections per
/// bucket. What GET_INFO and /proc/net/ip_vs report is `1 << bits`.
pub fn clamp_bits(requested: i32, total_ram_pages: u64, page_shift: u32, conn_size: usize) -> u32 {
    const MIN: i32 = 8;
    const MAX: i32 = 27;
    let order = |n: u64| if n <= 1 { 0 } else { 64 - (n - 1).leading_zeros() as i32 };
    let avail = order(total_ram_pages) + page_shift as i32 - 2 - 1 - order(conn_size as u64);
    let max = avail.clamp(MIN, MAX);
    requested.clamp(MIN, max) as u32
}

/// The bound of a table grown on demand when `conn_tab_bits` is not given: 2^20 buckets, the
/// most the kernel's `IP_VS_TAB_BITS` option allows stock. Stock's default of 12 bits exists
/// because its table is allocated whole at load; this one starts at 256 buckets and takes
/// memory only as connections arrive (at most 16 bytes for each), so the default need not
/// cap it where 1M connections would walk chains of 244.
pub const DEFAULT_MAX_BITS: i32 = 20;

/// The connection table's sizes, fixed at load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableBounds {
    /// `log2` of what GET_INFO and /proc/net/ip_vs report as the size, as stock reports its
    /// fixed table: `conn_tab_bits`, clamped.
    pub reported_bits: u32,
    /// `log2` of the most buckets the table may grow to: `conn_tab_bits` when it was given (as
    /// upstream 7.1 bounds its resizable table), otherwise [`DEFAULT_MAX_BITS`]; both clamped.
    pub max_bits: u32,
}

impl TableBounds {
    pub fn new(conn_tab_bits: i32, given: bool, total_ram_pages: u64, page_shift: u32, conn_size: usize) -> Self {
        let clamp = |bits| clamp_bits(bits, total_ram_pages, page_shift, conn_size);
        let reported_bits = clamp(conn_tab_bits);
        let max_bits = if given { reported_bits } else { clamp(DEFAULT_MAX_BITS).max(reported_bits) };
        TableBounds { reported_bits, max_bits }
    }
}
