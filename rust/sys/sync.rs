// SPDX-License-Identifier: GPL-2.0
//! A spinlock taken with bottom halves disabled (`spin_lock_bh`), for data shared between
//! the softirq datapath and process context. The 6.12 kernel crate has no such lock.

use super::bindings;
use core::cell::UnsafeCell;
use core::marker::PhantomPinned;
use core::ops::{Deref, DerefMut};
use kernel::prelude::*;
use kernel::types::Opaque;

/// A lockdep class with its name: one per kind of lock or timer, so that lockdep checks the
/// order between kinds (one shared class would hide an inversion between two of them). Lives
/// in a `static`, as lockdep requires of its keys.
pub(crate) struct LockClass {
    key: Opaque<bindings::lock_class_key>,
    name: &'static CStr,
}

// SAFETY: lockdep owns the key's contents and synchronises its own access to them.
unsafe impl Sync for LockClass {}

impl LockClass {
    pub(crate) const fn new(name: &'static CStr) -> Self {
        LockClass { key: Opaque::uninit(), name }
    }

    pub(super) fn key(&'static self) -> *mut bindings::lock_class_key {
        self.key.get()
    }

    pub(super) fn name(&self) -> *const kernel::ffi::c_char {
        self.name.as_char_ptr()
    }
}

/// Guards a `T`; lock with [`BhSpinLock::lock`].
#[pin_data]
pub(crate) struct BhSpinLock<T> {
    #[pin]
    lock: Opaque<bindings::spinlock_t>,
    data: UnsafeCell<T>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the lock serialises all access to `data`.
unsafe impl<T: Send> Send for BhSpinLock<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Sync for BhSpinLock<T> {}

impl<T> BhSpinLock<T> {
    pub(crate) fn new(data: T, class: &'static LockClass) -> impl PinInit<Self> {
        pin_init!(BhSpinLock {
            // SAFETY: initialises the lock in place, in `class` (a static key).
            lock <- Opaque::ffi_init(|p| unsafe { bindings::ipvs_rs_spin_lock_init(p, class.name(), class.key()) }),
            data: UnsafeCell::new(data),
            _pin: PhantomPinned,
        })
    }

    pub(crate) fn lock(&self) -> BhGuard<'_, T> {
        // SAFETY: the lock was initialised by `new`.
        unsafe { bindings::ipvs_rs_spin_lock_bh(self.lock.get()) };
        BhGuard { owner: self }
    }
}

pub(crate) struct BhGuard<'a, T> {
    owner: &'a BhSpinLock<T>,
}

impl<T> Deref for BhGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the lock is held.
        unsafe { &*self.owner.data.get() }
    }
}

impl<T> DerefMut for BhGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the lock is held, exclusively.
        unsafe { &mut *self.owner.data.get() }
    }
}

impl<T> Drop for BhGuard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: taken in `lock`.
        unsafe { bindings::ipvs_rs_spin_unlock_bh(self.owner.lock.get()) };
    }
}
