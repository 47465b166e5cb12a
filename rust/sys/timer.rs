// SPDX-License-Identifier: GPL-2.0
//! A periodic timer calling back into the structure that contains it.

use super::bindings;
use super::sync::LockClass;
use core::marker::PhantomPinned;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::prelude::*;
use kernel::types::Opaque;

/// Work done on every expiry, in softirq context.
pub(crate) trait Tick: Sync + 'static {
    fn tick(&self);
}

/// Fires every `period` jiffies once started; stopped (waiting for a running tick) on drop.
///
/// # Invariants
///
/// `ctx` is null or points to the `T` that contains this timer, which outlives it.
#[pin_data(PinnedDrop)]
#[repr(C)]
pub(crate) struct Periodic<T: Tick> {
    /// First field: the callback finds `self` from the timer pointer.
    #[pin]
    timer: Opaque<bindings::timer_list>,
    ctx: AtomicPtr<T>,
    period: u32,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the timer core serialises callbacks; `ctx` is only read.
unsafe impl<T: Tick> Send for Periodic<T> {}
// SAFETY: as above.
unsafe impl<T: Tick> Sync for Periodic<T> {}

impl<T: Tick> Periodic<T> {
    pub(crate) fn new(period: u32, class: &'static LockClass) -> impl PinInit<Self> {
        pin_init!(Periodic {
            // SAFETY: initialises the timer in place, in `class` (a static key); not armed yet.
            timer <- Opaque::ffi_init(|t| unsafe { init(t, Some(tick_cb::<T>), class) }),
            ctx: AtomicPtr::new(core::ptr::null_mut()),
            period,
            _pin: PhantomPinned,
        })
    }

    /// Starts ticking with `owner`, the structure this timer is a field of.
    pub(crate) fn start(&self, owner: &T) {
        // INVARIANT: `owner` contains `self`, so it lives at least as long as the timer, which
        // is shut down in our drop before the owner's memory goes away.
        self.ctx.store(owner as *const T as *mut T, Ordering::Release);
        self.arm();
    }

    fn arm(&self) {
        // SAFETY: the timer was set up in `new` and is pinned.
        unsafe { bindings::mod_timer(self.timer.get(), (super::jiffies() + u64::from(self.period)) as _) };
    }
}

#[pinned_drop]
impl<T: Tick> PinnedDrop for Periodic<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: waits for a running callback and keeps the timer from being re-armed.
        unsafe { bindings::timer_shutdown_sync(self.timer.get()) };
    }
}

/// `timer_setup()` with the caller's lockdep class (the macro would give all our timers one).
///
/// # Safety
///
/// `timer` must point to memory for a timer that is not armed, and stays put while armed.
pub(super) unsafe fn init(
    timer: *mut bindings::timer_list,
    func: Option<unsafe extern "C" fn(*mut bindings::timer_list)>,
    class: &'static LockClass,
) {
    // SAFETY: per the contract; the key is static, as lockdep requires.
    unsafe { bindings::init_timer_key(timer, func, 0, class.name(), class.key()) };
}

/// # Safety
///
/// Only the timer core may call it, for the timer of a live, pinned `Periodic<T>`.
unsafe extern "C" fn tick_cb<T: Tick>(timer: *mut bindings::timer_list) {
    // SAFETY: `timer` is the first field of a #[repr(C)] `Periodic<T>`, alive until its drop
    // has shut the timer down (which waits for us).
    let this = unsafe { &*timer.cast::<Periodic<T>>() };
    let ctx = this.ctx.load(Ordering::Acquire);
    // SAFETY: by the type invariant, a non-null `ctx` outlives the timer.
    if let Some(owner) = unsafe { ctx.as_ref() } {
        owner.tick();
    }
    this.arm();
}
