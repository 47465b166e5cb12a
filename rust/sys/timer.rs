// SPDX-License-Identifier: GPL-2.0
//! Timer setup with a lockdep class of the caller's (the connections' expiry timers).

use super::bindings;
use super::sync::LockClass;

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
