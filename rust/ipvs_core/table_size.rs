// SPDX-License-Identifier: GPL-2.0
//! How many buckets the connection table should have for the entries it holds.
//!
//! The table keeps between one half and one entry per bucket after each resize, and resizes
//! again only when the load leaves a band four times wider on each side (above two entries
//! per bucket, or below one in eight), so a load that hovers never makes it flap. A bucket
//! head is 8 bytes: at most 16 bytes a connection.
//!
//! The size stays within [`MIN_BITS`] (a netns with a few connections keeps a 2 KiB table) and
//! the `conn_tab_bits` module parameter, which is the upper bound here, where upstream 6.12
//! sizes its fixed table by it.

/// The smallest table: `1 << MIN_BITS` buckets.
pub const MIN_BITS: u32 = 8;

/// The number of bits a table of `1 << bits` buckets holding `count` entries should be
/// resized to, or `None` to keep it. `max_bits` bounds it from above (and wins over
/// [`MIN_BITS`]).
pub fn resize_to(count: u32, bits: u32, max_bits: u32) -> Option<u32> {
    let max = max_bits.clamp(1, 31);
    let min = MIN_BITS.min(max);
    let fit = |b: u32| b.clamp(min, max);
    if bits != fit(bits) {
        return Some(fit(bits));
    }
    let size = 1u64 << bits;
    let count = u64::from(count);
    let target = if count > size * 2 || count * 8 < size { fit(ceil_log2(count)) } else { bits };
    (target != bits).then_some(target)
}

/// The smallest `b` with `1 << b >= n` (0 for 0 and 1).
fn ceil_log2(n: u64) -> u32 {
    if n <= 1 {
        0
    } else {
        64 - (n - 1).leading_zeros()
    }
}
