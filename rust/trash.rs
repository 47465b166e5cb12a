// SPDX-License-Identifier: GPL-2.0
//! The trash: dests removed from their service, kept while connections use them and for two
//! minutes after, so that one added back (to the same service, or by upstream's rules to
//! another) returns as the same dest: its connections are its own again, and, back in the
//! very service it left, so are its counters (see `Dest::rejoin`).
//!
//! The dests lie in one vector, chained by [`trash_hash`] from an array of chain heads, so
//! that a revival looks at the few dests that could match rather than the whole trash (a
//! flush of 100k dests followed by a restore of the same rules is then linear, not quadratic),
//! and trashing a dest is a push (a flush trashes them all in one command).

use crate::dest::Dest;
use crate::ipvs_core::dest::DestConf;
use crate::ipvs_core::service::ServiceKey;
use crate::ipvs_core::store::{trash_hash, trash_matches, trash_sweep};
use crate::sys::kvec;
use kernel::alloc::KVVec;
use kernel::prelude::*;
use kernel::sync::Arc;

/// The end of a chain.
const END: u32 = u32::MAX;

struct Trashed {
    /// The service it was removed from.
    svc: ServiceKey,
    dest: Arc<Dest>,
    /// `trash_hash` of `svc` and the dest's identity.
    hash: u32,
    /// The next dest of its chain (an index into `Trash::dests`), or [`END`].
    next: u32,
    /// When it was trashed, in trash order: of two that match, the later is revived.
    seq: u64,
    /// When (jiffies) a sweep first found no connection using it.
    idle_since: Option<u64>,
}

pub(crate) struct Trash {
    /// `kvmalloc`ed: a flush of 100k dests makes this several megabytes.
    dests: KVVec<Trashed>,
    /// A power of two of chain heads, at least as many as dests; none while the trash is empty.
    heads: KVVec<u32>,
    /// The next `seq`.
    seq: u64,
}

impl Trash {
    pub(crate) fn new() -> Self {
        Trash { dests: KVVec::new(), heads: KVVec::new(), seq: 0 }
    }

    fn chain_of(&self, hash: u32) -> usize {
        hash as usize & self.heads.len().wrapping_sub(1)
    }

    /// Keeps `dest`, removed from service `svc`.
    pub(crate) fn put(&mut self, svc: ServiceKey, dest: Arc<Dest>) -> Result {
        let idx = u32::try_from(self.dests.len()).ok().filter(|&i| i != END).ok_or(ENOMEM)?;
        if self.dests.len() >= self.heads.len() {
            self.rechain((self.heads.len() * 2).max(16))?;
        }
        let c = dest.conf();
        let hash = trash_hash(&svc, c.af, &c.addr, c.port);
        let chain = self.chain_of(hash);
        let head = self.heads.get_mut(chain).ok_or(EINVAL)?;
        let seq = self.seq;
        self.dests.push(Trashed { svc, dest, hash, next: *head, seq, idle_since: None }, GFP_KERNEL)?;
        *head = idx;
        self.seq += 1;
        Ok(())
    }

    /// Chains every dest again from `n` new heads (a power of two).
    fn rechain(&mut self, n: usize) -> Result {
        let mut heads = KVVec::with_capacity(n, GFP_KERNEL)?;
        heads.extend_with(n, END, GFP_KERNEL)?;
        self.heads = heads;
        self.chain_all();
        Ok(())
    }

    /// Chains every dest from the heads there are (a power of two of them, at least one
    /// while there are dests).
    fn chain_all(&mut self) {
        self.heads.iter_mut().for_each(|head| *head = END);
        let mask = self.heads.len().wrapping_sub(1);
        for (i, t) in self.dests.iter_mut().enumerate() {
            if let Some(head) = self.heads.get_mut(t.hash as usize & mask) {
                t.next = *head;
                *head = i as u32;
            }
        }
    }

    /// Takes out the most recently removed dest that a new dest `conf` of service `svc` may
    /// be revived from (`ip_vs_trash_get_dest()`), with the service it left.
    pub(crate) fn revive(&mut self, svc: &ServiceKey, conf: &DestConf) -> Option<(ServiceKey, Arc<Dest>)> {
        let chain = self.chain_of(trash_hash(svc, conf.af, &conf.addr, conf.port));
        let mut found: Option<(u32, u64)> = None;
        let mut i = *self.heads.get(chain)?;
        while let Some(t) = self.dests.get(i as usize) {
            if found.map_or(true, |(_, seq)| t.seq > seq)
                && trash_matches(&t.svc, &t.dest.conf(), svc, conf.af, &conf.addr, conf.port)
            {
                found = Some((i, t.seq));
            }
            i = t.next;
        }
        let t = self.take(found?.0)?;
        Some((t.svc, t.dest))
    }

    /// Unchains dest `i` and takes it out; the last dest moves into its place.
    fn take(&mut self, i: u32) -> Option<Trashed> {
        let (hash, next) = self.dests.get(i as usize).map(|t| (t.hash, t.next))?;
        self.relink(hash, i, next)?;
        let last = u32::try_from(self.dests.len().checked_sub(1)?).ok()?;
        if last != i {
            let last_hash = self.dests.get(last as usize)?.hash;
            self.relink(last_hash, last, i)?;
        }
        kvec::swap_remove(&mut self.dests, i as usize)
    }

    /// Makes what points at dest `from` in its chain (the head or a dest) point at `to`.
    fn relink(&mut self, hash: u32, from: u32, to: u32) -> Option<()> {
        let chain = self.chain_of(hash);
        let head = self.heads.get_mut(chain)?;
        if *head == from {
            *head = to;
            return Some(());
        }
        let mut i = *head;
        while let Some(t) = self.dests.get_mut(i as usize) {
            if t.next == from {
                t.next = to;
                return Some(());
            }
            i = t.next;
        }
        None
    }

    /// Drops the dests no connection has used for `keep` jiffies (`now` is jiffies too).
    pub(crate) fn sweep(&mut self, now: u64, keep: u64) {
        kvec::retain(&mut self.dests, |t| match trash_sweep(t.dest.in_use(), t.idle_since, now, keep) {
            Some(idle_since) => {
                t.idle_since = idle_since;
                true
            }
            None => false,
        });
        if self.dests.is_empty() {
            self.heads = KVVec::new();
            return;
        }
        // The indexes moved. Without the memory for fewer heads, the ones there serve.
        let n = self.dests.len().next_power_of_two().max(16);
        if self.rechain(n).is_err() {
            self.chain_all();
        }
    }

    /// Every trashed dest.
    pub(crate) fn dests(&self) -> impl Iterator<Item = &Arc<Dest>> {
        self.dests.iter().map(|t| &t.dest)
    }
}
