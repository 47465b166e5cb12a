// SPDX-License-Identifier: GPL-2.0
//! RCU: read-side sections, grace periods, and a pointer published to RCU readers.

use super::bindings;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;

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

    /// Lets other tasks run in a long walk (`cond_resched_rcu`): leaves the section,
    /// reschedules if needed, and enters it again. The `&mut` borrow ends every reference
    /// found under the guard before. (In atomic context `cond_resched` never schedules.)
    pub(crate) fn pause(&mut self) {
        // SAFETY: the read lock is held (taken in `new`; a guard of `assume_held` is only lent
        // by reference, so it never gets here), and is held again on return.
        unsafe { bindings::ipvs_rs_cond_resched_rcu() };
    }

    /// The read-side section the caller is already in (a netfilter hook's), as a guard that
    /// does not end it: it is never dropped, and callers get only a reference to it.
    ///
    /// # Safety
    ///
    /// The caller must stay inside an RCU read-side critical section while the guard lives,
    /// and must neither drop the guard nor hand it out by value.
    pub(super) unsafe fn assume_held() -> core::mem::ManuallyDrop<ReadGuard> {
        core::mem::ManuallyDrop::new(ReadGuard { _not_send: PhantomData })
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        // SAFETY: the lock was taken in `new`.
        unsafe { bindings::ipvs_rs_rcu_read_unlock() };
    }
}

/// Proof that the caller is inside an RCU read-side section: a [`ReadGuard`], or a
/// [`Section`] while it is held.
pub(crate) trait ReadSide {
    /// Whether the section is held now.
    fn is_held(&self) -> bool;
}

impl ReadSide for ReadGuard {
    fn is_held(&self) -> bool {
        true
    }
}

impl ReadSide for Section {
    fn is_held(&self) -> bool {
        self.held
    }
}

/// Tells lockdep's RCU checker (PROVE_RCU) that a protected pointer is being followed, as
/// `rcu_dereference` does: the types already prove a read-side section, and this checks
/// the proof against what the kernel knows the task holds. Nothing without PROVE_RCU.
#[inline(always)]
fn check_read_side() {
    #[cfg(CONFIG_PROVE_RCU)]
    // SAFETY: only reads the task's lockdep state (and warns once if no section is held).
    unsafe {
        bindings::ipvs_rs_rcu_check_read()
    };
}

/// A pointer that RCU readers follow while its writers change it under their own lock: what
/// C spells `T __rcu *`. A reader gets `&T` only for as long as it proves a read-side
/// section; writers publish with release ordering (`rcu_assign_pointer`), so a reader sees
/// what a new target was initialised with.
///
/// # Invariants
///
/// The pointer is null or points to a `T` that stays allocated until a grace period has
/// passed after it stopped being reachable through this link.
#[repr(transparent)]
pub(crate) struct RcuLink<T>(AtomicPtr<T>);

impl<T> RcuLink<T> {
    /// A link to nothing.
    pub(crate) const fn null() -> Self {
        // INVARIANT: null.
        RcuLink(AtomicPtr::new(core::ptr::null_mut()))
    }

    /// The target, for a reader in the section `rcu` proves (none if that section is not
    /// held, or the link is null).
    pub(crate) fn get<'s>(&self, rcu: &'s impl ReadSide) -> Option<&'s T> {
        if !rcu.is_held() {
            return None;
        }
        check_read_side();
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: by the invariant the target, if any, is freed only a grace period after it
        // became unreachable, and that grace period cannot end while `rcu`'s section, which
        // the returned borrow outlives not, is held.
        unsafe { p.as_ref() }
    }

    /// The pointer's value, for comparing addresses and for writers under their lock;
    /// dereferencing it needs the caller's own argument.
    pub(crate) fn addr(&self) -> *mut T {
        self.0.load(Ordering::Acquire)
    }

    /// Points the link at `p` (null: nothing), visible to readers with everything written to
    /// `*p` before.
    ///
    /// # Safety
    ///
    /// `p` is null or stays allocated until a grace period has passed after it stopped being
    /// reachable through this link; the caller serialises writers of the link.
    pub(crate) unsafe fn publish(&self, p: *mut T) {
        // INVARIANT: per the contract.
        self.0.store(p, Ordering::Release);
    }

    /// Points the link at `p` and returns what it pointed to, which readers may still be
    /// using until a grace period has passed.
    ///
    /// # Safety
    ///
    /// As for [`RcuLink::publish`], except that writers need not be serialised (the swap
    /// is atomic).
    pub(crate) unsafe fn swap(&self, p: *mut T) -> *mut T {
        // INVARIANT: per the contract.
        self.0.swap(p, Ordering::AcqRel)
    }

    /// The pointer's value, for the link's only owner.
    pub(crate) fn get_mut(&mut self) -> *mut T {
        *self.0.get_mut()
    }
}

/// Source of [`Section`] epochs: every section (and every pause of one) gets a number no
/// other has had, so a position that remembers the epoch it was found in can tell whether the
/// section it was found in is still the one held.
static EPOCHS: AtomicU64 = AtomicU64::new(1);

/// An RCU read-side section held across several callbacks of one task, such as seq_file's
/// `start` .. `show` .. `next` .. `stop`, and which a long walk may leave for a moment to let
/// others run ([`Section::pause`], upstream's `cond_resched_rcu`).
///
/// References found under the section borrow it (`&'s Section`), so they cannot be kept across
/// a pause (which needs `&mut`). A walk that keeps its place across callbacks remembers the
/// [`Section::epoch`] it was found in: a different epoch means the section was left in between
/// and anything found before must be looked up again.
///
/// # Invariants
///
/// `held` is true exactly while this task holds the `rcu_read_lock` taken by [`Section::enter`];
/// `epoch` changes on every enter, pause and leave.
pub(crate) struct Section {
    epoch: u64,
    held: bool,
}

impl Section {
    /// A section that is not held.
    pub(super) const fn new() -> Self {
        Section { epoch: 0, held: false }
    }

    /// Enters the read-side section (nothing if already held).
    ///
    /// # Safety
    ///
    /// The caller must call [`Section::leave`] from the same task before that task sleeps or
    /// returns to user space (seq_file calls `stop` after every `start`, in the same read).
    pub(super) unsafe fn enter(&mut self) {
        if !self.held {
            // SAFETY: the caller pairs it with `leave` in the same task.
            unsafe { bindings::ipvs_rs_rcu_read_lock() };
            // INVARIANT: the lock is held from here to `leave`; a new epoch starts.
            self.held = true;
            self.epoch = EPOCHS.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Leaves the section (nothing if not held).
    ///
    /// # Safety
    ///
    /// The caller must be the task that entered it.
    pub(super) unsafe fn leave(&mut self) {
        if self.held {
            // INVARIANT: nothing found in the ending epoch will be used again.
            self.held = false;
            self.epoch = EPOCHS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: taken by `enter` in this task (per its contract and the caller's).
            unsafe { bindings::ipvs_rs_rcu_read_unlock() };
        }
    }

    /// Whether the read-side section is held now.
    pub(crate) fn held(&self) -> bool {
        self.held
    }

    /// The current epoch; it changes whenever the section is left (even for a pause).
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// Lets other tasks run between steps of a long walk (`cond_resched_rcu`): leaves the
    /// section, reschedules if needed and enters again, in a new epoch. Process context only.
    pub(crate) fn pause(&mut self) {
        if self.held {
            // INVARIANT: `cond_resched_rcu` may leave and re-enter the section, so what was
            // found before it must not be used after; the `&mut` borrow ends every reference
            // found under `&self`, and the new epoch invalidates remembered positions.
            self.epoch = EPOCHS.fetch_add(1, Ordering::Relaxed);
            // SAFETY: we hold the read lock (invariant) in process context (seq_file callbacks
            // run in the reading task, which may sleep outside the section).
            unsafe { bindings::ipvs_rs_cond_resched_rcu() };
        }
    }
}

/// Waits until every `call_rcu` callback queued so far has run (before module text goes away).
pub(crate) fn barrier() {
    // SAFETY: process context.
    unsafe { bindings::rcu_barrier() };
}

/// A boxed `T` that RCU readers dereference while the single writer (holding the caller's
/// mutex) replaces it. Old values are freed by `call_rcu` after a grace period, so a writer
/// never waits for one (module exit runs `rcu_barrier` before the code goes away).
pub(crate) struct RcuBox<T: Send + Sync + 'static> {
    ptr: AtomicPtr<RcuNode<T>>,
}

#[repr(C)]
struct RcuNode<T> {
    head: Opaque<bindings::callback_head>,
    value: T,
}

// SAFETY: readers only get `&T` within a read-side section; T is shared across CPUs.
unsafe impl<T: Send + Sync> Sync for RcuBox<T> {}
// SAFETY: the box owns its T.
unsafe impl<T: Send + Sync> Send for RcuBox<T> {}

impl<T: Send + Sync + 'static> RcuBox<T> {
    pub(crate) fn new(value: T) -> Result<Self> {
        Ok(RcuBox { ptr: AtomicPtr::new(KBox::into_raw(Staged::new(value)?.0)) })
    }

    /// The current value, valid while `guard` is held.
    pub(crate) fn read<'g>(&self, _guard: &'g ReadGuard) -> &'g T {
        check_read_side();
        // SAFETY: the pointer is always a live node; a replaced node is freed only after a
        // grace period, which cannot end while `_guard` holds the read-side section.
        unsafe { &(*self.ptr.load(Ordering::Acquire)).value }
    }

    /// Publishes `value`; the old one is freed after a grace period. Process context; the
    /// caller serialises writers.
    pub(crate) fn replace(&self, value: T) -> Result {
        self.replace_staged(Staged::new(value)?);
        Ok(())
    }

    /// Publishes a value allocated beforehand; the old one is freed after a grace period.
    /// Allocates nothing and does not sleep, so it may run inside a read-side section (a
    /// writer that reaches this box through another RCU pointer). The caller serialises
    /// writers.
    pub(crate) fn replace_staged(&self, value: Staged<T>) {
        let old = self.ptr.swap(KBox::into_raw(value.0), Ordering::AcqRel);
        // SAFETY: `old` is a live node no longer reachable by new readers; `free_node` frees
        // it once the readers that may still see it are gone.
        unsafe { bindings::call_rcu((*old).head.get(), Some(free_node::<T>)) };
    }
}

/// A value boxed for [`RcuBox::replace_staged`], allocated before the section it is published in.
pub(crate) struct Staged<T>(KBox<RcuNode<T>>);

impl<T> Staged<T> {
    /// Process context (allocates with GFP_KERNEL).
    pub(crate) fn new(value: T) -> Result<Self> {
        Ok(Staged(KBox::new(RcuNode { head: Opaque::uninit(), value }, GFP_KERNEL)?))
    }
}

/// Frees a replaced node after its grace period.
///
/// # Safety
///
/// Only `call_rcu` may call it, for the head of a node queued by [`RcuBox::replace`].
unsafe extern "C" fn free_node<T>(head: *mut bindings::callback_head) {
    // `head` is the first field of the #[repr(C)] node.
    // SAFETY: the node came from `KBox::into_raw` and no reader can reach it any more.
    drop(unsafe { KBox::from_raw(head.cast::<RcuNode<T>>()) });
}

impl<T: Send + Sync + 'static> Drop for RcuBox<T> {
    fn drop(&mut self) {
        // SAFETY: owned; the owner is being dropped, so no reader section can reach us: the
        // hooks that read it are unregistered first, which waits for running readers, or the
        // box is part of a value an RcuBox replaced, dropped by `free_node` a grace period
        // after no reader could reach that value, or this box through it, any more.
        drop(unsafe { KBox::from_raw(*self.ptr.get_mut()) });
    }
}
