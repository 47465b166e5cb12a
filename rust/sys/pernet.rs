// SPDX-License-Identifier: GPL-2.0
//! Per-network-namespace state: one `T` per `struct net`, created when a netns appears (or at
//! registration for those that exist) and dropped when it goes away.
//!
//! The `net_generic` slot holds a pointer to a boxed `T`. One per-net type per module: the
//! slot id is a single static, so registration records which type owns it, refuses a second
//! registration, and [`state`] answers only for that type.

use super::bindings;
use super::NetRef;
use core::any::TypeId;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::ffi::{c_int, c_uint};
use kernel::prelude::*;
use kernel::types::Opaque;

/// State kept for each network namespace.
pub(crate) trait PernetState: Sized + Send + Sync + 'static {
    fn create(net: NetRef<'_>) -> Result<Pin<KBox<Self>>>;
    /// Stops new work (for example unregisters hooks) when the netns starts going away. The
    /// netns core waits for an RCU grace period between this and the state's drop, so what
    /// RCU readers started before this returned is over by then.
    fn pre_exit(&self) {}
}

/// The `net_generic` id of our slot; written by `register_pernet_subsys`.
struct NetId(Opaque<c_uint>);
// SAFETY: written once during registration (before any reader can run), then only read.
unsafe impl Sync for NetId {}
static NET_ID: NetId = NetId(Opaque::new(0));

/// The type whose state the slot holds, once one is registered.
struct Owner {
    set: AtomicBool,
    type_id: Opaque<MaybeUninit<TypeId>>,
}
// SAFETY: `type_id` is written once, before `set` is released; read only after `set` is seen.
unsafe impl Sync for Owner {}
static OWNER: Owner = Owner { set: AtomicBool::new(false), type_id: Opaque::uninit() };

/// Whether `T` is the registered per-net type.
fn owns<T: 'static>() -> bool {
    // SAFETY: `type_id` is initialised before `set` is stored with Release, and never changes.
    OWNER.set.load(Ordering::Acquire) && unsafe { (*OWNER.type_id.get()).assume_init() } == TypeId::of::<T>()
}

fn slot(net: NetRef<'_>) -> *mut *const kernel::ffi::c_void {
    // SAFETY: `net` is live and our id is registered while any state exists.
    // `net_generic`, without a call: `net->gen` (replaced under RCU, and we are in a read-side
    // section or hold the netns) is an array of pointers, ours at our id.
    unsafe {
        let gen = core::ptr::read_volatile(core::ptr::addr_of!((*net.as_ptr()).gen));
        let ptrs = gen.cast::<*mut kernel::ffi::c_void>();
        core::ptr::read_volatile(ptrs.add(*NET_ID.0.get() as usize)).cast()
    }
}

/// The state of `net`, if it has been created (and `T` is the registered type).
pub(crate) fn state<'a, T: PernetState>(net: NetRef<'a>) -> Option<&'a T> {
    if !owns::<T>() {
        return None;
    }
    // SAFETY: `T` owns the slot, which holds NULL or a pointer from `KBox::into_raw` made by
    // `init_cb::<T>`, freed only by `exit_cb` when the netns dies, which outlives `NetRef<'a>`.
    unsafe { (*slot(net)).cast::<T>().as_ref() }
}

/// `pernet_operations.init`.
///
/// # Safety
///
/// Only the netns core may call it, once per live `net`, after our id was assigned.
unsafe extern "C" fn init_cb<T: PernetState>(net: *mut bindings::net) -> c_int {
    // SAFETY: the netns core calls us with a live net that outlives its state.
    let net = unsafe { NetRef::from_raw(net) };
    match T::create(net) {
        Ok(state) => {
            // SAFETY: we never move the state out of its box; `exit_cb` rebuilds the `Pin`.
            let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(state) });
            // SAFETY: the slot is ours (sized for one pointer) and nobody reads it yet.
            unsafe { *slot(net) = raw.cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// `pernet_operations.pre_exit`.
///
/// # Safety
///
/// Only the netns core may call it, once per `net` whose init succeeded, before `exit_cb`.
unsafe extern "C" fn pre_exit_cb<T: PernetState>(net: *mut bindings::net) {
    // SAFETY: the netns core calls us with the dying but still live net.
    let net = unsafe { NetRef::from_raw(net) };
    if let Some(state) = state::<T>(net) {
        state.pre_exit();
    }
}

/// `pernet_operations.exit`.
///
/// # Safety
///
/// Only the netns core may call it, once per `net` whose init succeeded, when no user remains.
unsafe extern "C" fn exit_cb<T: PernetState>(net: *mut bindings::net) {
    // SAFETY: the netns core calls us with the dying net; no user of its state remains.
    let net = unsafe { NetRef::from_raw(net) };
    let s = slot(net);
    // SAFETY: see `state`; after this the slot is cleared, so the box is dropped once.
    unsafe {
        let raw = (*s).cast::<T>().cast_mut();
        *s = core::ptr::null();
        if !raw.is_null() {
            drop(Pin::new_unchecked(KBox::from_raw(raw)));
        }
    }
}

/// A registered `pernet_operations`; unregistering (on drop) tears down every netns's state.
pub(crate) struct Registration<T: PernetState> {
    ops: KBox<Opaque<bindings::pernet_operations>>,
    _state: PhantomData<T>,
}

// SAFETY: the ops are only touched by the netns core after registration.
unsafe impl<T: PernetState> Send for Registration<T> {}
// SAFETY: as above.
unsafe impl<T: PernetState> Sync for Registration<T> {}

impl<T: PernetState> Registration<T> {
    pub(crate) fn register() -> Result<Self> {
        // One registration per module lifetime: the slot id and its owner are statics.
        if OWNER.set.load(Ordering::Acquire) {
            return Err(EBUSY);
        }
        // SAFETY: nobody reads `type_id` before `set` is stored below; module init is the
        // only caller, once.
        unsafe { (*OWNER.type_id.get()).write(TypeId::of::<T>()) };
        OWNER.set.store(true, Ordering::Release);
        let ops = KBox::new(
            Opaque::new(bindings::pernet_operations {
                init: Some(init_cb::<T>),
                pre_exit: Some(pre_exit_cb::<T>),
                exit: Some(exit_cb::<T>),
                id: NET_ID.0.get(),
                size: core::mem::size_of::<*const T>(),
                ..Default::default()
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: `ops` stays allocated until `drop` unregisters it.
        let ret = unsafe { bindings::register_pernet_subsys(ops.get()) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Registration { ops, _state: PhantomData })
    }
}

impl<T: PernetState> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: registered in `register`.
        unsafe { bindings::unregister_pernet_subsys(self.ops.get()) };
    }
}
