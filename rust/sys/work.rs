// SPDX-License-Identifier: GPL-2.0
//! A periodic delayed work item calling back into the structure that contains it, in process
//! context (the kernel's `system_long_wq`), for work that may sleep or walk large tables.

use super::bindings;
use core::marker::PhantomPinned;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;

/// Work done on every run, in process context (may sleep).
pub(crate) trait Run: Sync + 'static {
    fn run(&self);
}

/// Runs every `period` jiffies once started; disabled and cancelled on drop (upstream's
/// `cancel_delayed_work_sync`, made permanent: a running call cannot queue it again).
///
/// # Invariants
///
/// `ctx` is null or points to the `T` that contains this work item, which outlives it.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub(crate) struct Periodic<T: Run> {
    /// First field: the callback finds `self` from the work pointer.
    #[pin]
    work: Opaque<bindings::delayed_work>,
    ctx: AtomicPtr<T>,
    period: u32,
    #[pin]
    _pin: PhantomPinned,
}

// The callback gets `&delayed_work.work`, which must be the start of `delayed_work`.
const _: () = assert!(core::mem::offset_of!(bindings::delayed_work, work) == 0);

// SAFETY: the workqueue runs one call at a time (a work item is never run concurrently with
// itself); `ctx` is only read.
unsafe impl<T: Run> Send for Periodic<T> {}
// SAFETY: as above.
unsafe impl<T: Run> Sync for Periodic<T> {}

impl<T: Run> Periodic<T> {
    pub(crate) fn new(period: u32) -> impl PinInit<Self> {
        pin_init!(Periodic {
            // SAFETY: INIT_DELAYED_WORK initialises the item in place; it is not queued yet.
            work <- Opaque::ffi_init(|w| unsafe { bindings::ipvs_rs_init_delayed_work(w, Some(run_cb::<T>)) }),
            ctx: AtomicPtr::new(core::ptr::null_mut()),
            period,
            _pin: PhantomPinned,
        })
    }

    /// Starts running with `owner`, the structure this work item is a field of; the first
    /// run is one period from now.
    pub(crate) fn start(&self, owner: &T) {
        // INVARIANT: `owner` contains `self`, so it lives at least as long as the work item,
        // which is cancelled in our drop before the owner's memory goes away.
        self.ctx.store(core::ptr::from_ref(owner).cast_mut(), Ordering::Release);
        self.queue();
    }

    fn queue(&self) {
        // SAFETY: the item was initialised in `new` and is pinned; queueing an already queued
        // item does nothing, and a cancelled one is refused by the workqueue.
        unsafe { bindings::ipvs_rs_queue_delayed_long(self.work.get(), u64::from(self.period) as _) };
    }
}

#[pinned_drop]
impl<T: Run> PinnedDrop for Periodic<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: disables the item for good (every later queueing is refused, including the
        // one a running call makes), cancels it if pending and waits for a running call.
        unsafe { bindings::disable_delayed_work_sync(self.work.get()) };
    }
}

/// # Safety
///
/// Only the workqueue may call it, for the work of a live, pinned `Periodic<T>`.
unsafe extern "C" fn run_cb<T: Run>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of the `delayed_work` (asserted above), which is the
    // first field of a #[repr(C)] `Periodic<T>`, alive until its drop has cancelled the item
    // (which waits for us).
    let this = unsafe { &*work.cast::<Periodic<T>>() };
    let ctx = this.ctx.load(Ordering::Acquire);
    // SAFETY: by the type invariant, a non-null `ctx` outlives the work item.
    if let Some(owner) = unsafe { ctx.as_ref() } {
        owner.run();
    }
    this.queue();
}
