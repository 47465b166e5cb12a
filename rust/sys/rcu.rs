// SPDX-License-Identifier: GPL-2.0
//! RCU: read-side sections, grace periods, and a pointer published to RCU readers.

use super::bindings;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;

/// An RCU read-side critical section; ends on drop.
pub(crate) struct ReadGuard {
    _not_send: PhantomData<*mut ()>,
}

impl ReadGuard {
    pub(crate) fn new() -> Self {
        // SAFETY: paired with the unlock in `drop`, on the same CPU context (not Send).
        unsafe { bindings::ipvs_rs_rcu_read_lock() };
        ReadGuard { _not_send: PhantomData }
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        // SAFETY: the lock was taken in `new`.
        unsafe { bindings::ipvs_rs_rcu_read_unlock() };
    }
}

/// Waits for a grace period. Process context only.
pub(crate) fn synchronize() {
    // SAFETY: may sleep; callers are in process context (control plane, module exit).
    unsafe { bindings::synchronize_rcu() };
}

/// Waits until every `call_rcu` callback queued so far has run (before module text goes away).
pub(crate) fn barrier() {
    // SAFETY: process context.
    unsafe { bindings::rcu_barrier() };
}

/// A boxed `T` that RCU readers dereference while the single writer (holding the caller's
/// mutex) replaces it. Old values are freed after a grace period.
pub(crate) struct RcuBox<T> {
    ptr: AtomicPtr<T>,
}

// SAFETY: readers only get `&T` within a read-side section; T is shared across CPUs.
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}
// SAFETY: the box owns its T.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}

impl<T> RcuBox<T> {
    pub(crate) fn new(value: KBox<T>) -> Self {
        RcuBox { ptr: AtomicPtr::new(KBox::into_raw(value)) }
    }

    /// The current value, valid while `guard` is held.
    pub(crate) fn read<'g>(&self, _guard: &'g ReadGuard) -> &'g T {
        // SAFETY: the pointer is always a live box; a replaced box is freed only after a grace
        // period, which cannot end while `_guard` holds the read-side section.
        unsafe { &*self.ptr.load(Ordering::Acquire) }
    }

    /// Publishes `value` and frees the old one after a grace period. Process context; the
    /// caller serialises writers.
    pub(crate) fn replace(&self, value: KBox<T>) {
        let old = self.ptr.swap(KBox::into_raw(value), Ordering::AcqRel);
        synchronize();
        // SAFETY: `old` came from `KBox::into_raw` and no reader can still see it.
        drop(unsafe { KBox::from_raw(old) });
    }
}

impl<T> Drop for RcuBox<T> {
    fn drop(&mut self) {
        // SAFETY: owned; the owner is being dropped, so no reader section can reach us (the
        // hooks that read it are unregistered first, which waits for running readers).
        drop(unsafe { KBox::from_raw(*self.ptr.get_mut()) });
    }
}
