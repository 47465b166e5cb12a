// SPDX-License-Identifier: GPL-2.0
//! The per-destination-address cache of lblc and lblcr (`struct ip_vs_lblc_table`): entries
//! keyed by address in 1024 hash chains (`hash_32(address, 10)`), each with its last use
//! time, and upstream's size limits and garbage collection.
//!
//! Upstream collects from a timer every 60 s. We have no timer in pure code, so
//! [`AddrMap::collect`] runs the same ticks lazily from `schedule()`: each call runs one tick
//! per full 60 s elapsed since the last one (at most 30 in a row, which always includes a
//! full expiration check), with the current time. A tick is upstream's
//! `ip_vs_lblc_check_expire()`: every 30th tick drops every entry unused for the expiration
//! sysctl; in between, when there are more than 16384 entries, it drops entries unused for
//! 6 minutes until the excess (times 4/3, at most 8192) is gone. No new entry is made beyond
//! 24576. An idle service collects nothing until its next new connection.
//!
//! Entries live in chunks of 64, so the table grows by small allocations that succeed in
//! atomic context, and are removed by moving the last entry into the hole.

use super::hash::hash_32;
use super::storage::{Gfp, Storage, StoreVec};
use crate::ipvs_core::addr;
use crate::ipvs_core::errno::{Errno, Result};
use crate::ipvs_core::addr::addr_equal;

const TAB_BITS: u32 = 10;
pub const TAB_SIZE: usize = 1 << TAB_BITS;
const TAB_MASK: usize = TAB_SIZE - 1;
/// `tbl->max_size`: above this many entries, ticks collect entries unused for 6 minutes.
pub const MAX_SIZE: usize = TAB_SIZE * 16;
/// No new entry once there are this many.
pub const HARD_LIMIT: usize = MAX_SIZE * 3 / 2;
pub const CHECK_EXPIRE_SECS: u64 = 60;
pub const ENTRY_TIMEOUT_SECS: u64 = 6 * 60;
/// Every this many ticks, a full expiration check.
pub const COUNT_FOR_FULL_EXPIRATION: i32 = 30;

const NIL: u32 = u32::MAX;
const CHUNK: usize = 64;

/// `time_before(a, b)` on `unsigned long` jiffies.
pub fn time_before(a: u64, b: u64) -> bool {
    (a.wrapping_sub(b) as i64) < 0
}

/// `b + delta` where `delta` is a C `int` added to an `unsigned long`.
pub fn jiffies_add(b: u64, delta: i32) -> u64 {
    b.wrapping_add(i64::from(delta) as u64)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node<V> {
    addr: [u8; 16],
    /// The hash chain it is on.
    bucket: u16,
    /// Next entry of the chain, or `NIL`.
    next: u32,
    lastuse: u64,
    value: V,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrMap<A: Storage, V> {
    /// First entry of each chain, or `NIL`.
    heads: A::Vec<u32>,
    /// Entries, `CHUNK` per inner vector.
    chunks: A::Vec<A::Vec<Node<V>>>,
    len: usize,
    /// Where the last collection stopped.
    rover: usize,
    /// Ticks since the last full expiration check, from 1.
    counter: i32,
    /// Time of the last tick; `None` until the first `collect`.
    last_tick: Option<u64>,
}

fn bucket_of(af: u16, addr: &[u8; 16]) -> usize {
    hash_32(addr::fold(af, addr), TAB_BITS) as usize
}

impl<A: Storage, V> AddrMap<A, V> {
    /// An empty table (`init_service`: process context).
    pub fn new() -> Result<Self> {
        Ok(AddrMap {
            heads: A::Vec::filled(TAB_SIZE, NIL, Gfp::Kernel)?,
            chunks: A::Vec::new(),
            len: 0,
            rover: 0,
            counter: 1,
            last_tick: None,
        })
    }

    #[cfg(ipvs_host)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(ipvs_host)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn node(&self, idx: u32) -> Option<&Node<V>> {
        let idx = idx as usize;
        self.chunks.get(idx / CHUNK)?.get(idx % CHUNK)
    }

    fn node_mut(&mut self, idx: u32) -> Option<&mut Node<V>> {
        let idx = idx as usize;
        self.chunks.get_mut(idx / CHUNK)?.get_mut(idx % CHUNK)
    }

    fn head(&self, bucket: usize) -> u32 {
        self.heads.get(bucket).copied().unwrap_or(NIL)
    }

    /// The entry for `addr`, by index.
    pub fn find(&self, af: u16, addr: &[u8; 16]) -> Option<u32> {
        let mut cur = self.head(bucket_of(af, addr));
        while let Some(n) = self.node(cur) {
            if addr_equal(af, &n.addr, addr) {
                return Some(cur);
            }
            cur = n.next;
        }
        None
    }

    pub fn value(&self, idx: u32) -> Option<&V> {
        self.node(idx).map(|n| &n.value)
    }

    pub fn value_mut(&mut self, idx: u32) -> Option<&mut V> {
        self.node_mut(idx).map(|n| &mut n.value)
    }

    /// Marks an entry used at `now`.
    pub fn touch(&mut self, idx: u32, now: u64) {
        if let Some(n) = self.node_mut(idx) {
            n.lastuse = now;
        }
    }

    /// Adds an entry for `addr` (which has none), first of its chain. `ENOSPC` beyond the
    /// hard limit, `ENOMEM` if the allocation fails.
    pub fn insert(&mut self, af: u16, addr: &[u8; 16], now: u64, value: V, gfp: Gfp) -> Result<u32> {
        if self.len >= HARD_LIMIT {
            return Err(Errno::ENOSPC);
        }
        let idx = u32::try_from(self.len).map_err(|_| Errno::ENOSPC)?;
        let bucket = bucket_of(af, addr);
        let node = Node { addr: *addr, bucket: bucket as u16, next: self.head(bucket), lastuse: now, value };
        if self.len == self.chunks.len() * CHUNK {
            // Every chunk is full.
            let chunk = A::Vec::with_capacity(CHUNK, gfp)?;
            self.chunks.try_push(chunk, gfp)?;
        }
        let Some(last) = self.chunks.last_mut() else { return Err(Errno::ENOMEM) };
        // Within the chunk's capacity: no allocation.
        last.try_push(node, gfp)?;
        self.len += 1;
        if let Some(h) = self.heads.get_mut(bucket) {
            *h = idx;
        }
        Ok(idx)
    }

    /// Points whatever refers to entry `from` (its chain's head or predecessor) at `to`.
    fn relink(&mut self, bucket: usize, from: u32, to: u32) {
        if let Some(h) = self.heads.get_mut(bucket) {
            if *h == from {
                *h = to;
                return;
            }
        }
        let mut cur = self.head(bucket);
        while let Some(n) = self.node(cur) {
            let next = n.next;
            if next == from {
                if let Some(p) = self.node_mut(cur) {
                    p.next = to;
                }
                return;
            }
            cur = next;
        }
    }

    fn pop_node(&mut self) -> Option<Node<V>> {
        let last = self.chunks.last_mut()?;
        let node = last.pop()?;
        if last.is_empty() {
            drop(self.chunks.pop());
        }
        self.len -= 1;
        Some(node)
    }

    /// Removes entry `idx`. The last entry moves into its place (so indices change).
    pub fn remove(&mut self, idx: u32) -> Option<V> {
        let (bucket, next) = self.node(idx).map(|n| (usize::from(n.bucket), n.next))?;
        self.relink(bucket, idx, next);
        let moved = self.pop_node()?;
        let last = self.len as u32;
        if idx == last {
            return Some(moved.value);
        }
        let moved_bucket = usize::from(moved.bucket);
        let slot = self.node_mut(idx)?;
        let removed = core::mem::replace(slot, moved);
        self.relink(moved_bucket, last, idx);
        Some(removed.value)
    }

    /// Removes the entries of one chain that `stale` says should go; returns how many.
    fn collect_chain(&mut self, bucket: usize, stale: impl Fn(u64) -> bool) -> usize {
        let mut removed = 0;
        loop {
            let mut cur = self.head(bucket);
            let mut hit = None;
            while let Some(n) = self.node(cur) {
                if stale(n.lastuse) {
                    hit = Some(cur);
                    break;
                }
                cur = n.next;
            }
            // Restart from the head: a removal may move an entry of this very chain.
            match hit {
                Some(i) if self.remove(i).is_some() => removed += 1,
                _ => return removed,
            }
        }
    }

    /// `ip_vs_lblc_full_check()`: drops every entry unused for `expiration` jiffies.
    pub fn full_check(&mut self, now: u64, expiration: i32) {
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & TAB_MASK;
            self.collect_chain(j, |lastuse| !time_before(now, jiffies_add(lastuse, expiration)));
        }
        self.rover = j;
    }

    /// One tick of upstream's collection timer.
    fn tick(&mut self, now: u64, hz: u32, expiration: i32) {
        if self.counter % COUNT_FOR_FULL_EXPIRATION == 0 {
            self.full_check(now, expiration);
            self.counter = 1;
            return;
        }
        if self.len <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let mut goal = ((self.len - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2);
        let timeout = ENTRY_TIMEOUT_SECS * u64::from(hz);
        let mut j = self.rover;
        for _ in 0..TAB_SIZE {
            j = (j + 1) & TAB_MASK;
            let n = self.collect_chain(j, |lastuse| !time_before(now, lastuse.wrapping_add(timeout)));
            goal = goal.saturating_sub(n);
            if goal == 0 {
                break;
            }
        }
        self.rover = j;
    }

    /// Runs the collection ticks due by `now` (see the module comment).
    pub fn collect(&mut self, now: u64, hz: u32, expiration: i32) {
        let interval = (CHECK_EXPIRE_SECS * u64::from(hz)).max(1);
        let Some(mut t) = self.last_tick else {
            self.last_tick = Some(now);
            return;
        };
        let mut ticks = 0;
        while !time_before(now, t.wrapping_add(interval)) {
            if ticks == COUNT_FOR_FULL_EXPIRATION {
                t = now;
                break;
            }
            self.tick(now, hz, expiration);
            t = t.wrapping_add(interval);
            ticks += 1;
        }
        self.last_tick = Some(t);
    }
}
