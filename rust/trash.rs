// SPDX-License-Identifier: GPL-2.0
//! The trash: dests removed from their service, kept while connections use them and for two
//! minutes after, so that one added back (to the same service, or by upstream's rules to
//! another) returns with its counters. Filed by [`trash_hash`], so that revival looks at the
//! few dests that could match rather than the whole trash: a flush of 100k dests followed by
//! a restore of the same rules is then linear, not quadratic.

use crate::dest::Dest;
use crate::ipvs_core::dest::DestConf;
use crate::ipvs_core::service::ServiceKey;
use crate::ipvs_core::store::{trash_hash, trash_matches, trash_sweep};
use crate::sys::kvec;
use kernel::prelude::*;
use kernel::sync::Arc;

struct Trashed {
    /// The service it was removed from.
    svc: ServiceKey,
    dest: Arc<Dest>,
    /// `trash_hash` of `svc` and the dest's identity.
    hash: u32,
    /// When (jiffies) a sweep first found no connection using it.
    idle_since: Option<u64>,
}

/// Fewest buckets once anything is trashed; the buckets double while there are more than
/// [`LOAD`] dests a bucket, and go when the trash is empty.
const MIN_BUCKETS: usize = 16;
const LOAD: usize = 2;

#[derive(Default)]
pub(crate) struct Trash {
    /// A power of two of buckets, or none; each in the order its dests came (the newest last).
    buckets: KVec<KVec<Trashed>>,
    len: usize,
}

impl Trash {
    fn bucket_of(&self, hash: u32) -> usize {
        hash as usize & self.buckets.len().wrapping_sub(1)
    }

    /// Keeps `dest`, removed from service `svc`.
    pub(crate) fn put(&mut self, svc: ServiceKey, dest: Arc<Dest>) -> Result {
        if self.len >= self.buckets.len() * LOAD {
            // Without the memory for more buckets, the chains only grow longer.
            let _ = self.grow();
        }
        if self.buckets.is_empty() {
            return Err(ENOMEM);
        }
        let c = dest.conf();
        let hash = trash_hash(&svc, c.af, &c.addr, c.port);
        let i = self.bucket_of(hash);
        let bucket = self.buckets.get_mut(i).ok_or(EINVAL)?;
        bucket.push(Trashed { svc, dest, hash, idle_since: None }, GFP_KERNEL)?;
        self.len += 1;
        Ok(())
    }

    fn grow(&mut self) -> Result {
        let n = (self.buckets.len() * 2).max(MIN_BUCKETS);
        let mut buckets = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            buckets.push(KVec::new(), GFP_KERNEL)?;
        }
        // Room first, so that the move cannot fail half way.
        let mut sizes = KVec::with_capacity(n, GFP_KERNEL)?;
        sizes.extend_with(n, 0usize, GFP_KERNEL)?;
        for t in self.buckets.iter().flatten() {
            if let Some(s) = sizes.get_mut(t.hash as usize & (n - 1)) {
                *s += 1;
            }
        }
        for (b, &s) in buckets.iter_mut().zip(sizes.iter()) {
            b.reserve(s, GFP_KERNEL)?;
        }
        for old in core::mem::take(&mut self.buckets) {
            for t in old {
                if let Some(b) = buckets.get_mut(t.hash as usize & (n - 1)) {
                    // Cannot fail: reserved above.
                    let _ = b.push(t, GFP_KERNEL);
                }
            }
        }
        self.buckets = buckets;
        Ok(())
    }

    /// Takes out the most recently removed dest that a new dest `conf` of service `svc` may
    /// be revived from (`ip_vs_trash_get_dest()`).
    pub(crate) fn revive(&mut self, svc: &ServiceKey, conf: &DestConf) -> Option<(ServiceKey, Arc<Dest>)> {
        let i = self.bucket_of(trash_hash(svc, conf.af, &conf.addr, conf.port));
        let bucket = self.buckets.get_mut(i)?;
        let found = bucket
            .iter()
            .rposition(|t| trash_matches(&t.svc, &t.dest.conf(), svc, conf.af, &conf.addr, conf.port))?;
        let t = kvec::remove(bucket, found)?;
        self.len -= 1;
        Some((t.svc, t.dest))
    }

    /// Drops the dests no connection has used for `keep` jiffies (`now` is jiffies too).
    pub(crate) fn sweep(&mut self, now: u64, keep: u64) {
        let mut len = 0;
        for bucket in self.buckets.iter_mut() {
            kvec::retain(bucket, |t| match trash_sweep(t.dest.in_use(), t.idle_since, now, keep) {
                Some(idle_since) => {
                    t.idle_since = idle_since;
                    true
                }
                None => false,
            });
            len += bucket.len();
        }
        self.len = len;
        if len == 0 {
            self.buckets = KVec::new();
        }
    }

    /// Every trashed dest.
    pub(crate) fn dests(&self) -> impl Iterator<Item = &Arc<Dest>> {
        self.buckets.iter().flatten().map(|t| &t.dest)
    }
}
