// SPDX-License-Identifier: GPL-2.0
//! What the control plane needs to know of the running kernel ([`Env`]), and the sizing of the
//! connection table from the `conn_tab_bits` module parameter that gives its `conn_tab_size`.

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
