// SPDX-License-Identifier: GPL-2.0
//! A delayed work item calling back into the structure that contains it, in process context
//! (the kernel's `system_long_wq`), for work that may sleep or walk large tables: periodic, or
//! on demand.

use super::bindings;
use core::marker::PhantomPinned;
use core::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;

/// Calls `run(owner)` in process context (may sleep): every `period` jiffies once started
/// ([`Delayed::periodic`]), or soon after each [`Delayed::kick`] ([`Delayed::on_demand`]:
/// kicks while one is pending coalesce). Disabled and cancelled on drop (upstream's
/// `cancel_delayed_work_sync`, made permanent: a running call cannot queue it again).
///
/// # Invariants
///
/// `ctx` is null or points to the `T` that contains this work item, which outlives it.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub(crate) struct Delayed<T: Sync + 'static> {
    /// First field: the callback finds `self` from the work pointer.
    #[pin]
    work: Opaque<bindings::delayed_work>,
    ctx: AtomicPtr<T>,
    /// The CPU its next runs are queued on ([`Delayed::run_on`]), or [`ANY_CPU`].
    cpu: AtomicU32,
    run: fn(&T),
    /// `None`: runs only when kicked.
    period: Option<u32>,
    #[pin]
    _pin: PhantomPinned,
}

/// No CPU chosen: the item runs where its timer fires (`system_long_wq` is per-CPU).
const ANY_CPU: u32 = u32::MAX;

// The callback gets `&delayed_work.work`, which must be the start of `delayed_work`.
const _: () = assert!(core::mem::offset_of!(bindings::delayed_work, work) == 0);

// SAFETY: the workqueue runs one call at a time (a work item is never run concurrently with
// itself); `ctx` is only read, and `T: Sync` may be shared with the worker.
unsafe impl<T: Sync> Send for Delayed<T> {}
// SAFETY: as above.
unsafe impl<T: Sync> Sync for Delayed<T> {}

impl<T: Sync + 'static> Delayed<T> {
    fn new(period: Option<u32>, run: fn(&T)) -> impl PinInit<Self> {
        pin_init!(Delayed {
            // SAFETY: INIT_DELAYED_WORK initialises the item in place; it is not queued yet.
            work <- Opaque::ffi_init(|w| unsafe { bindings::ipvs_rs_init_delayed_work(w, Some(run_cb::<T>)) }),
            ctx: AtomicPtr::new(core::ptr::null_mut()),
            cpu: AtomicU32::new(ANY_CPU),
            run,
            period,
            _pin: PhantomPinned,
        })
    }

    /// Runs every `period` jiffies once started.
    pub(crate) fn periodic(period: u32, run: fn(&T)) -> impl PinInit<Self> {
        Self::new(Some(period), run)
    }

    /// Runs when kicked.
    pub(crate) fn on_demand(run: fn(&T)) -> impl PinInit<Self> {
        Self::new(None, run)
    }

    /// Binds the item to `owner`, the structure it is a field of; a periodic one makes its
    /// first run one period from now.
    pub(crate) fn start(&self, owner: &T) {
        // INVARIANT: `owner` contains `self`, so it lives at least as long as the work item,
        // which is cancelled in our drop before the owner's memory goes away.
        self.ctx.store(core::ptr::from_ref(owner).cast_mut(), Ordering::Release);
        if let Some(period) = self.period {
            self.queue(period);
        }
    }

    /// Runs the callback soon (the next tick), unless a run is already pending. Before
    /// `start`, the run finds no owner and does nothing.
    pub(crate) fn kick(&self) {
        self.queue(1);
    }

    /// Runs the callback in `delay` jiffies (at least one), unless a run is already pending
    /// (which then keeps its own time). Softirq-safe.
    pub(crate) fn kick_after(&self, delay: u32) {
        self.queue(delay.max(1));
    }

    /// Queues the later runs on `cpu` (`None`, or a CPU that is not possible: wherever the
    /// timer fires, the default). A CPU that goes offline meanwhile is no harm: the workqueue
    /// then runs the item elsewhere.
    pub(crate) fn run_on(&self, cpu: Option<u32>) {
        let cpu = cpu.filter(|&c| super::cpu_possible(c)).unwrap_or(ANY_CPU);
        self.cpu.store(cpu, Ordering::Relaxed);
    }

    fn queue(&self, delay: u32) {
        let delay = u64::from(delay) as _;
        match i32::try_from(self.cpu.load(Ordering::Relaxed)) {
            // SAFETY: the item was initialised in `new` and is pinned; queueing an already
            // queued item does nothing, and a disabled one is refused by the workqueue. `cpu`
            // is a possible CPU (`run_on` stores no other).
            Ok(cpu) => unsafe { bindings::ipvs_rs_queue_delayed_long_on(cpu, self.work.get(), delay) },
            // SAFETY: as above.
            Err(_) => unsafe { bindings::ipvs_rs_queue_delayed_long(self.work.get(), delay) },
        };
    }
}

#[pinned_drop]
impl<T: Sync + 'static> PinnedDrop for Delayed<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: disables the item for good (every later queueing is refused, including the
        // one a running call makes), cancels it if pending and waits for a running call.
        unsafe { bindings::disable_delayed_work_sync(self.work.get()) };
    }
}

/// # Safety
///
/// Only the workqueue may call it, for the work of a live, pinned `Delayed<T>`.
unsafe extern "C" fn run_cb<T: Sync + 'static>(work: *mut bindings::work_struct) {
    // SAFETY: `work` is the first field of the `delayed_work` (asserted above), which is the
    // first field of a #[repr(C)] `Delayed<T>`, alive until its drop has cancelled the item
    // (which waits for us).
    let this = unsafe { &*work.cast::<Delayed<T>>() };
    let ctx = this.ctx.load(Ordering::Acquire);
    // SAFETY: by the type invariant, a non-null `ctx` outlives the work item.
    if let Some(owner) = unsafe { ctx.as_ref() } {
        (this.run)(owner);
    }
    if let Some(period) = this.period {
        this.queue(period);
    }
}
