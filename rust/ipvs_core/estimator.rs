// SPDX-License-Identifier: GPL-2.0
//! The rate estimator: every 2 seconds, an exponentially weighted moving average (weight 1/4,
//! so about 8 s) of connections, packets and bytes per second, with upstream's fixed-point
//! scaling (rates of conns and packets kept << 10, of bytes << 5) and rounding.

/// The counters an estimator follows: conns, inpkts, outpkts, inbytes, outbytes.
pub const COUNTERS: usize = 5;
/// Seconds between two ticks.
pub const PERIOD_SECS: u32 = 2;

/// The shift that turns a 2-second delta into the scaled per-second rate.
const fn delta_shift(i: usize) -> u32 {
    if i < 3 {
        9
    } else {
        4
    }
}

/// One moving-average step for counter `i`: the new scaled average.
pub fn step(i: usize, avg: i64, last: u64, now: u64) -> i64 {
    let rate = (now.wrapping_sub(last) << delta_shift(i)) as i64;
    avg.wrapping_add(rate.wrapping_sub(avg) >> 2)
}

/// The per-second rate users see for counter `i`, from its scaled average.
pub fn rate(i: usize, avg: i64) -> u64 {
    if i < 3 {
        (avg.wrapping_add(0x1ff) >> 10) as u64
    } else {
        (avg.wrapping_add(0xf) >> 5) as u64
    }
}
