// SPDX-License-Identifier: GPL-2.0
//! A netns's services in upstream's listing order (the order of the core's service indices:
//! `ipvs_core::store`), kept as one list per slot of that order, newest first in each, with
//! the count of each slot ([`SlotCounts`]) to turn an index into a slot and a place. Adding or
//! deleting a service moves the services of its slot (a few hundred among 100,000), not every
//! service after it; finding one walks its slot only.

use crate::ipvs_core::listing::{slot_number, SlotCounts, SLOTS};
use crate::ipvs_core::errno::{Errno, Result};
use crate::ipvs_core::service::ServiceKey;
use crate::ipvs_core::uapi::AF_INET6;
use crate::service::Service;
use crate::sys::kvec;
use kernel::prelude::*;

pub(crate) struct Listing {
    /// [`SLOTS`] lists, boxed so that an insertion moves pointers, not whole services.
    slots: KVec<KVec<KBox<Service>>>,
    counts: SlotCounts,
    /// Services of each family (IPv4, IPv6): whether its hooks are needed.
    per_family: [usize; 2],
}

fn family(af: u16) -> usize {
    usize::from(af == AF_INET6)
}

impl Listing {
    pub(crate) fn new() -> Result<Self> {
        let mut slots = KVec::with_capacity(SLOTS, GFP_KERNEL)?;
        for _ in 0..SLOTS {
            slots.push(KVec::new(), GFP_KERNEL)?;
        }
        Ok(Listing { slots, counts: SlotCounts::new(), per_family: [0, 0] })
    }

    pub(crate) fn len(&self) -> usize {
        self.counts.before(SLOTS)
    }

    /// Whether a service of family `af` is listed.
    pub(crate) fn has_family(&self, af: u16) -> bool {
        self.per_family.get(family(af)).is_some_and(|&n| n > 0)
    }

    pub(crate) fn get(&self, svc: usize) -> Option<&Service> {
        let (slot, place) = self.counts.locate(svc)?;
        self.slots.get(slot)?.get(place).map(|s| &**s)
    }

    pub(crate) fn get_mut(&mut self, svc: usize) -> Option<&mut Service> {
        let (slot, place) = self.counts.locate(svc)?;
        self.slots.get_mut(slot)?.get_mut(place).map(|s| &mut **s)
    }

    /// The index of the first service at `slot` or later.
    pub(crate) fn slot_start(&self, slot: (u8, u8)) -> usize {
        self.counts.before(slot_number(slot))
    }

    /// The index of the service with `key`, listed at `slot`.
    pub(crate) fn find(&self, key: &ServiceKey, slot: (u8, u8)) -> Option<usize> {
        let n = slot_number(slot);
        let place = self.slots.get(n)?.iter().position(|s| s.key() == key)?;
        Some(self.counts.before(n) + place)
    }

    /// Lists `service` at index `svc`, which is in `slot` (or just past its last service).
    pub(crate) fn insert(&mut self, svc: usize, slot: (u8, u8), service: KBox<Service>) -> Result<()> {
        let n = slot_number(slot);
        let place = svc.checked_sub(self.counts.before(n)).ok_or(Errno::EINVAL)?;
        let af = service.key().af();
        let list = self.slots.get_mut(n).ok_or(Errno::EINVAL)?;
        if place > list.len() {
            return Err(Errno::EINVAL);
        }
        kvec::insert(list, place, service)?;
        self.counts.add(n);
        if let Some(c) = self.per_family.get_mut(family(af)) {
            *c += 1;
        }
        Ok(())
    }

    /// Takes the service at index `svc` out of the listing.
    pub(crate) fn remove(&mut self, svc: usize) -> Option<KBox<Service>> {
        let (slot, place) = self.counts.locate(svc)?;
        let service = kvec::remove(self.slots.get_mut(slot)?, place)?;
        self.counts.remove(slot);
        if let Some(c) = self.per_family.get_mut(family(service.key().af())) {
            *c = c.saturating_sub(1);
        }
        Some(service)
    }

    /// Takes the last service out of the listing (a flush, which removes them all in the
    /// order one removal at a time would).
    pub(crate) fn pop_last(&mut self) -> Option<KBox<Service>> {
        self.remove(self.len().checked_sub(1)?)
    }

    /// Every service, in listing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Service> {
        self.slots.iter().flat_map(|s| s.iter().map(|b| &**b))
    }
}
