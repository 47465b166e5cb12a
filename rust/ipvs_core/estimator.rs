// SPDX-License-Identifier: GPL-2.0
//! Counters and rates as users see them ([`StatsView`]), and the rate estimator that computes
//! the rates: every 2 seconds, an exponentially weighted moving average (weight 1/4,
//! so about 8 s) of connections, packets and bytes per second, with upstream's fixed-point
//! scaling (rates of conns and packets kept << 10, of bytes << 5) and rounding.

/// A service's, a dest's or the netns's counters and rates, as replies and /proc show them.
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
