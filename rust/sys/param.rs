// SPDX-License-Identifier: GPL-2.0
//! Read-only integer module parameters (the 6.12 `module!` macro has none): an entry in the
//! `__param` section that the module loader parses before `init` runs.

use super::bindings;
use core::cell::UnsafeCell;
use kernel::ffi::c_int;

/// Storage of an `int` parameter. The loader writes it before `init`; with permission 0444
/// nothing writes it afterwards, so reads need no lock.
#[repr(transparent)]
pub(crate) struct IntParam(UnsafeCell<c_int>);

// SAFETY: written only by the module loader before any reader can run (see above).
unsafe impl Sync for IntParam {}

impl IntParam {
    pub(crate) const fn new(default: c_int) -> Self {
        IntParam(UnsafeCell::new(default))
    }

    pub(crate) fn get(&self) -> i32 {
        // SAFETY: no writer after module init (see the type's comment).
        unsafe { *self.0.get() }
    }

    pub(crate) const fn as_arg(&self) -> *mut kernel::ffi::c_void {
        self.0.get().cast()
    }
}

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
                ops: &raw const $crate::sys::bindings::param_ops_int,
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
