// SPDX-License-Identifier: GPL-2.0
//! How many buckets a resizable hash table should have for the entries it holds (the
//! connection table, and the published service tables), and which bucket a hash falls in.
//!
//! A table keeps between one half and one entry per bucket after each resize, and resizes
//! again only when the load leaves a band four times wider on each side (above two entries
//! per bucket, or below one in eight), so a load that hovers never makes it flap. A bucket
//! head is 8 bytes: at most 16 bytes a connection.
//!
//! The size stays within [`MIN_BITS`] (a netns with a few connections keeps a 2 KiB table) and
//! an upper bound: for the connection table the `conn_tab_bits` module parameter, where
//! upstream 6.12 sizes its fixed table by it; for each service table [`SVC_MAX_BITS`].

/// The smallest table: `1 << MIN_BITS` buckets (upstream's fixed service tables have as many).
pub const MIN_BITS: u32 = 8;

/// The largest service table: 2^16 buckets, two services a bucket at 131,072 services.
pub const SVC_MAX_BITS: u32 = 16;

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

/// The bucket of `hash` in a table of `1 << bits` buckets (`bits` at most 32): the hash's top
/// `bits` bits. A bucket is thus a contiguous range of hashes, and a bucket of a larger table
/// lies within one bucket of a smaller one, which lets a walk keep its place across a resize
/// as a hash ([`HashWalk`]).
pub fn bucket(hash: u32, bits: u32) -> usize {
    (u64::from(hash) >> (32 - bits.min(32))) as usize
}

/// A walk over a table, a bucket at a time, that may be resized between two steps: it keeps
/// its place as the next hash to visit rather than as a bucket index. Each step visits the
/// entries of one bucket of the size in place whose hash is at least [`HashWalk::step`]'s
/// `from` (after a shrink a bucket may begin before it), and moves on to the first hash past
/// that bucket. The steps' ranges of hashes tile `0..2^32` in order whatever the sizes, so an
/// entry that stays in the table (with its hash) all along is visited exactly once.
pub struct HashWalk {
    /// The first hash not visited yet; 2^32 once done.
    next: u64,
}

impl HashWalk {
    pub const fn new() -> Self {
        HashWalk { next: 0 }
    }

    /// The bucket to visit in a table of `1 << bits` buckets and the lowest hash to visit in
    /// it, or `None` once the walk is over.
    pub fn step(&mut self, bits: u32) -> Option<(usize, u32)> {
        let from = u32::try_from(self.next).ok()?;
        let shift = 32 - bits.min(32);
        let i = u64::from(from) >> shift;
        self.next = (i + 1) << shift;
        Some((i as usize, from))
    }
}

impl Default for HashWalk {
    fn default() -> Self {
        Self::new()
    }
}
