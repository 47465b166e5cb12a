// SPDX-License-Identifier: GPL-2.0
//! Sizing of the connection table from the `conn_tab_bits` module parameter.

/// Clamps the requested bits as upstream does: at least 8, at most 27, and at most what half
/// of RAM holds at about four connections per bucket.
pub fn clamp_bits(requested: i32, total_ram_pages: u64, page_shift: u32, conn_size: usize) -> u32 {
    const MIN: i32 = 8;
    const MAX: i32 = 27;
    let order = |n: u64| if n <= 1 { 0 } else { 64 - (n - 1).leading_zeros() as i32 };
    let avail = order(total_ram_pages) + page_shift as i32 - 2 - 1 - order(conn_size as u64);
    let max = avail.clamp(MIN, MAX);
    requested.clamp(MIN, max) as u32
}
