// SPDX-License-Identifier: GPL-2.0
//! The lookup table of the hashing schedulers (dh, sh, mh): a fixed number of slots, each
//! naming a dest (upstream: a counted `struct ip_vs_dest *` per bucket, NULL when empty).
//! A slot holds an index into the table's own [`DestRef`]s, so a slot still names the right
//! dest while the datapath's dest list and the table disagree (between a dest change and the
//! next published list, or after a failed rebuild).

use super::storage::{Gfp, Storage, StoreVec};
use super::{DestRef, DestSet, DestView};
use crate::ipvs_core::errno::{Errno, Result};

const EMPTY: u16 = u16::MAX;

/// What a slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// NULL: no dest.
    Empty,
    /// The dest at this index of the current list.
    Dest(usize, DestView),
    /// A dest that is no longer in the list: upstream's pointer would still name it, but it
    /// is not available to new connections.
    Gone,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotTable<A: Storage> {
    slots: A::Vec<u16>,
    /// The dests the slots may name: the first ones of the list when the table was built.
    refs: A::Vec<DestRef>,
}

impl<A: Storage> SlotTable<A> {
    /// `size` empty slots, able to name the first `named` dests of `dests`.
    pub fn new<D: DestSet + ?Sized>(size: usize, dests: &D, named: usize) -> Result<Self> {
        let named = named.min(dests.len());
        if named >= usize::from(EMPTY) {
            return Err(Errno::EINVAL);
        }
        let slots = A::Vec::filled(size, EMPTY, Gfp::Kernel)?;
        let mut refs = A::Vec::with_capacity(named, Gfp::Kernel)?;
        for i in 0..named {
            // `i < dests.len()`, so there is a view; a default one would name no dest, and the
            // slots pointing at it would resolve to none.
            let view = dests.get(i).unwrap_or_default();
            refs.try_push(DestRef::new(&view, i), Gfp::Kernel)?;
        }
        Ok(SlotTable { slots, refs })
    }

    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// Points `slot` at the dest of list index `dest` (one of the first `named`).
    pub fn set(&mut self, slot: usize, dest: usize) {
        if let (Some(s), Ok(d)) = (self.slots.get_mut(slot), u16::try_from(dest)) {
            if usize::from(d) < self.refs.len() {
                *s = d;
            }
        }
    }

    /// The list index a slot was set to, for tests and debugging.
    pub fn named(&self, slot: usize) -> Option<usize> {
        let s = *self.slots.get(slot)?;
        (s != EMPTY).then_some(usize::from(s))
    }

    pub fn lookup<D: DestSet + ?Sized>(&self, slot: usize, dests: &D) -> Slot {
        let Some(r) = self.named(slot).and_then(|i| self.refs.get(i)) else {
            return Slot::Empty;
        };
        match r.resolve(dests) {
            Some((i, v)) if v.available => Slot::Dest(i, v),
            _ => Slot::Gone,
        }
    }

    /// The sh/mh pick: the dest of slot `first` when it may take new connections (weight
    /// above 0, not overloaded). With `fallback` (the `sh-fallback`/`mh-fallback` flag) and
    /// that dest unusable, the first usable dest of the slots `rehash(offset)` names for
    /// offsets 0, 1, ..., stopping at an empty slot.
    pub fn pick<D: DestSet + ?Sized>(
        &self,
        dests: &D,
        first: usize,
        fallback: bool,
        rehash: impl Fn(u32) -> usize,
    ) -> Option<usize> {
        let usable = |slot: Slot| match slot {
            Slot::Dest(i, d) if d.weight > 0 && !d.overloaded() => Some(i),
            _ => None,
        };
        let first = self.lookup(first, dests);
        if !fallback || first == Slot::Empty {
            return usable(first);
        }
        if let Some(i) = usable(first) {
            return Some(i);
        }
        for offset in 0..self.size() as u32 {
            let slot = self.lookup(rehash(offset), dests);
            if slot == Slot::Empty {
                break;
            }
            if let Some(i) = usable(slot) {
                return Some(i);
            }
        }
        None
    }
}
