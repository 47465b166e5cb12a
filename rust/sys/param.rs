// SPDX-License-Identifier: GPL-2.0
//! Read-only integer module parameters (the 6.12 `module!` macro has none): an entry in the
//! `__param` section that the module loader parses before `init` runs.

use super::bindings;
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::ffi::{c_char, c_int};

/// Storage of an `int` parameter, and whether the module's command line gave it. The loader
/// writes both before `init`; with permission 0444 nothing writes them afterwards, so reads
/// need no lock.
#[repr(C)]
pub(crate) struct IntParam {
    // First, so that the entry's `arg` is also a valid `int *` for `param_set_int`.
    value: UnsafeCell<c_int>,
    given: AtomicBool,
}

// SAFETY: `value` is written only by the module loader before any reader can run (see above).
unsafe impl Sync for IntParam {}

impl IntParam {
    pub(crate) const fn new(default: c_int) -> Self {
        IntParam { value: UnsafeCell::new(default), given: AtomicBool::new(false) }
    }

    pub(crate) fn get(&self) -> i32 {
        // SAFETY: no writer after module init (see the type's comment).
        unsafe { *self.value.get() }
    }

    /// Whether insmod or modprobe set the parameter (to any value, the default's too).
    pub(crate) fn given(&self) -> bool {
        self.given.load(Ordering::Relaxed)
    }

    pub(crate) const fn as_arg(&self) -> *mut kernel::ffi::c_void {
        (self as *const Self).cast_mut().cast()
    }
}

/// `kernel_param_ops::set` of an [`IntParam`]: parses the value as `param_set_int` does, then
/// notes that it was given.
///
/// # Safety
///
/// `val` is a NUL-terminated string and `kp` an entry made by [`module_param_int_ro`], whose
/// `arg` points to a static [`IntParam`]; the loader calls it so.
unsafe extern "C" fn set_int_param(val: *const c_char, kp: *const bindings::kernel_param) -> c_int {
    // SAFETY: `arg` points to an `IntParam`, whose first field is the `int` (see the type).
    let ret = unsafe { bindings::param_set_int(val, kp) };
    if ret == 0 {
        // SAFETY: `kp` is valid and its `arg` points to a static `IntParam` (the contract).
        let param = unsafe { &*(*kp).__bindgen_anon_1.arg.cast::<IntParam>() };
        param.given.store(true, Ordering::Relaxed);
    }
    ret
}

/// The operations of every [`IntParam`]: `param_ops_int`'s, and a note that it was given.
pub(crate) static INT_PARAM_OPS: bindings::kernel_param_ops = bindings::kernel_param_ops {
    flags: 0,
    set: Some(set_int_param),
    get: Some(bindings::param_get_int),
    free: None,
};

/// A `struct kernel_param` the loader finds in the `__param` section.
#[repr(transparent)]
pub(crate) struct ParamEntry(pub(crate) bindings::kernel_param);

// SAFETY: the entry is immutable; its pointers are to static data.
unsafe impl Sync for ParamEntry {}

/// Declares a read-only `int` module parameter `$name` stored in `$storage` (an [`IntParam`]).
macro_rules! module_param_int_ro {
    ($entry:ident, $name:literal, $storage:path, $desc:literal) => {
        #[link_section = "__param"]
        #[used(compiler)]
        static $entry: $crate::sys::param::ParamEntry =
            $crate::sys::param::ParamEntry($crate::sys::bindings::kernel_param {
                name: concat!($name, "\0").as_ptr().cast(),
                // NULL is what built-in code passes too; the parameter is never written later.
                mod_: core::ptr::null_mut(),
                ops: &raw const $crate::sys::param::INT_PARAM_OPS,
                perm: 0o444,
                level: -1,
                flags: 0,
                __bindgen_anon_1: $crate::sys::bindings::kernel_param__bindgen_ty_1 {
                    arg: $storage.as_arg(),
                },
            });
        const _: () = {
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static PARMTYPE: [u8; concat!("parmtype=", $name, ":int\0").len()] =
                *konst_bytes(concat!("parmtype=", $name, ":int\0"));
            #[link_section = ".modinfo"]
            #[used(compiler)]
            static PARM: [u8; concat!("parm=", $name, ":", $desc, "\0").len()] =
                *konst_bytes(concat!("parm=", $name, ":", $desc, "\0"));
            const fn konst_bytes<const N: usize>(s: &'static str) -> &'static [u8; N] {
                match s.as_bytes().first_chunk::<N>() {
                    Some(b) => b,
                    None => panic!("length mismatch"),
                }
            }
        };
    };
}
pub(crate) use module_param_int_ro;
