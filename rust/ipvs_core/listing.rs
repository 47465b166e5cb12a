// SPDX-License-Identifier: GPL-2.0
//! How many services each slot of upstream's listing order holds (`ServiceKey::list_slot`: the
//! address table's 256 buckets, then the fwmark table's), so that a store which keeps one list
//! per slot turns a service's index into its slot and place, and back, in O(log slots): adding
//! or deleting one of 100,000 services then moves the services of its slot, not all of them.

/// Slots of the listing: two tables of 256 buckets.
pub const SLOTS: usize = 512;

/// The slot number (`0..SLOTS`) of a `list_slot` (table, bucket).
pub fn slot_number(slot: (u8, u8)) -> usize {
    usize::from(slot.0 & 1) * 256 + usize::from(slot.1)
}

/// Services per slot, as a Fenwick tree: entry `k - 1` holds the count of slots
/// `k - (k & -k) .. k`.
pub struct SlotCounts {
    tree: [u32; SLOTS],
}

impl Default for SlotCounts {
    fn default() -> Self {
        Self::new()
    }
}

impl SlotCounts {
    pub const fn new() -> Self {
        SlotCounts { tree: [0; SLOTS] }
    }

    /// One more service at `slot`.
    pub fn add(&mut self, slot: usize) {
        self.change(slot, u32::wrapping_add);
    }

    /// One service fewer at `slot` (which has one).
    pub fn remove(&mut self, slot: usize) {
        self.change(slot, u32::wrapping_sub);
    }

    /// Applies `by(count, 1)` to every tree entry whose range holds `slot`.
    fn change(&mut self, slot: usize, by: fn(u32, u32) -> u32) {
        let mut k = slot + 1;
        while let Some(t) = self.tree.get_mut(k.wrapping_sub(1)) {
            *t = by(*t, 1);
            k += k & k.wrapping_neg();
        }
    }

    /// The services of the slots before `slot`: the index of `slot`'s first.
    pub fn before(&self, slot: usize) -> usize {
        let mut k = slot.min(SLOTS);
        let mut sum = 0usize;
        while k > 0 {
            sum += self.tree.get(k - 1).map_or(0, |&t| t as usize);
            k &= k - 1;
        }
        sum
    }

    /// The slot of the service at index `i`, and its place in that slot; `None` past the last.
    pub fn locate(&self, i: usize) -> Option<(usize, usize)> {
        // The last slot boundary at or before `i`: the most slots whose services all come
        // before `i`, found a power of two at a time.
        let (mut slots, mut rest) = (0usize, i);
        let mut step = SLOTS;
        while step > 0 {
            if let Some(&t) = self.tree.get(slots + step - 1) {
                if (t as usize) <= rest {
                    slots += step;
                    rest -= t as usize;
                }
            }
            step >>= 1;
        }
        (slots < SLOTS).then_some((slots, rest))
    }
}
