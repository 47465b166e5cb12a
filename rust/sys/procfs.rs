// SPDX-License-Identifier: GPL-2.0
//! Read-only files under /proc/net of one netns, whose whole text is produced at each read.

use super::bindings;
use super::NetRef;
use core::fmt;
use core::marker::PhantomData;
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;

/// A /proc/net file's content.
pub(crate) trait ProcShow: 'static {
    /// File name under /proc/net, NUL-terminated.
    const NAME: &'static CStr;
    fn show(net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result;
}

/// Text sink of a `seq_file`. A full buffer is not an error here: seq_file notices the
/// overflow and calls `show` again with a larger buffer.
pub(crate) struct SeqOut<'a> {
    seq: *mut bindings::seq_file,
    _life: PhantomData<&'a mut bindings::seq_file>,
}

impl fmt::Write for SeqOut<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `seq` is the live seq_file of the current show call.
        unsafe { bindings::seq_write(self.seq, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// The seq_file show callback of a `proc_create_net_single` file.
///
/// # Safety
///
/// Only seq_file may call it, with the live seq_file of one of our /proc/net files.
unsafe extern "C" fn show_cb<S: ProcShow>(seq: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: a single_open seq_file of /proc/net holds a reference on its net while open.
    let net = unsafe { NetRef::from_raw(bindings::ipvs_rs_seq_file_single_net(seq)) };
    let mut out = SeqOut { seq, _life: PhantomData };
    let _ = S::show(net, &mut out);
    0
}

/// A file in one netns's /proc/net; removed on drop.
pub(crate) struct ProcEntry {
    net: *mut bindings::net,
    name: &'static CStr,
}

// SAFETY: the entry only names a proc file; removal may run from any process context.
unsafe impl Send for ProcEntry {}
// SAFETY: as above; `&ProcEntry` allows nothing.
unsafe impl Sync for ProcEntry {}

impl ProcEntry {
    /// Creates /proc/net/`S::NAME` in `net`, mode 0444.
    pub(crate) fn create<S: ProcShow>(net: NetRef<'_>) -> Result<Self> {
        // SAFETY: `net` is live (we are in its init); the show callback only reads state that
        // outlives the entry, which is removed before that state is freed.
        let pde = unsafe {
            bindings::proc_create_net_single(
                S::NAME.as_char_ptr(),
                0o444,
                bindings::ipvs_rs_net_proc_dir(net.as_ptr()),
                Some(show_cb::<S>),
                core::ptr::null_mut(),
            )
        };
        if pde.is_null() {
            return Err(ENOMEM);
        }
        Ok(ProcEntry { net: net.as_ptr(), name: S::NAME })
    }
}

impl Drop for ProcEntry {
    fn drop(&mut self) {
        // SAFETY: the entry exists in `net`, which is alive while its pernet state (which owns
        // this entry) is; remove_proc_entry waits for running readers.
        unsafe {
            bindings::remove_proc_entry(self.name.as_char_ptr(), bindings::ipvs_rs_net_proc_dir(self.net))
        };
    }
}
