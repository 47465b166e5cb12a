// SPDX-License-Identifier: GPL-2.0
//! Read-only files under /proc/net of one netns: small ones whose whole text is produced at
//! each read ([`ProcShow`], `proc_create_net_single`), and listings walked record by record
//! through seq_file's iterator ([`ProcSeq`], `proc_create_net`), which resume where the
//! previous read stopped and never hold the RCU read-side section for a whole table.

use super::bindings;
use super::rcu::Section;
use super::NetRef;
use core::fmt;
use core::marker::PhantomData;
use core::mem::MaybeUninit;
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
    // A full buffer is not an error here: seq_file notices the overflow and retries bigger.
    let _ = S::show(net, &mut out);
    0
}

/// A /proc/net listing: a header, then records found by position. seq_file calls `start`,
/// then `show` and `next` for as many records as fit in the reader's buffer, then `stop`; an
/// RCU read-side section is held from `start` to `stop` (the walk may pause it between steps),
/// and `Self::Iter` keeps the walk's place from one read to the next, so a reader that reads
/// in small pieces sees each record once and costs little per read.
pub(crate) trait ProcSeq: 'static {
    /// File name under /proc/net, NUL-terminated.
    const NAME: &'static CStr;
    /// Where the walk stands; one per open file, kept across reads. Plain data: it is freed
    /// with the file without being dropped.
    type Iter: Copy + Default + 'static;
    /// The first line(s), shown before any record.
    fn header(net: NetRef<'_>, out: &mut SeqOut<'_>) -> fmt::Result;
    /// Places `iter` on record `index` (from 0; the header is not counted); false if there is
    /// none. Called for increasing indexes as the reader goes on, and again with the same
    /// index when a read ends before its record was shown.
    fn seek(net: NetRef<'_>, iter: &mut Self::Iter, index: u64, rcu: &mut Section) -> bool;
    /// Writes the record `iter` stands on (placed by the last `seek`, in the same section).
    fn show(net: NetRef<'_>, iter: &Self::Iter, rcu: &Section, out: &mut SeqOut<'_>) -> fmt::Result;
}

/// `seq_file.private` of a [`ProcSeq`] file, allocated zeroed by `seq_open_net` with the
/// size given to `proc_create_net_data`, freed by `seq_release_net` (no drop).
#[repr(C)]
struct SeqState<I> {
    /// `seq_file_net()` reads it: it must be the first field.
    net: bindings::seq_net_private,
    /// Whether `rcu` and `iter` were initialised (zeroed memory reads as false).
    ready: bool,
    rcu: Section,
    iter: MaybeUninit<I>,
}

/// `SEQ_START_TOKEN`: the record that stands for the header.
const SEQ_START_TOKEN: *mut c_void = 1 as *mut c_void;

/// The state of `seq`, initialised on first use.
///
/// # Safety
///
/// `seq` must be the live seq_file of an open [`ProcSeq`] file of `S` (so its private data is
/// a `SeqState<S::Iter>`), used under its `m->lock` (seq_file holds it around every callback),
/// and the returned borrow must end before the callback returns.
unsafe fn seq_state<'a, S: ProcSeq>(seq: *mut bindings::seq_file) -> &'a mut SeqState<S::Iter> {
    // SAFETY: per the contract, `private` is our zeroed-then-initialised state, which only
    // this callback uses now; all-zero is valid for every field (a C struct, `false`, a
    // `Section` of integers and a bool, and `MaybeUninit`).
    let st = unsafe { &mut *(*seq).private.cast::<SeqState<S::Iter>>() };
    if !st.ready {
        st.rcu = Section::new();
        st.iter = MaybeUninit::new(S::Iter::default());
        st.ready = true;
    }
    st
}

/// The netns of a [`ProcSeq`] file.
///
/// # Safety
///
/// `seq` must be the live seq_file of an open `proc_create_net` file.
unsafe fn seq_net<'a>(seq: *mut bindings::seq_file) -> NetRef<'a> {
    // SAFETY: `seq_open_net` took a reference on the net, held until the file is released.
    unsafe { NetRef::from_raw(bindings::ipvs_rs_seq_file_net(seq)) }
}

/// Places the walk on the record at seq position `pos` (the header is position 0) and returns
/// the record's token for `show`: the state itself, or null past the end.
fn seek_pos<S: ProcSeq>(net: NetRef<'_>, st: &mut SeqState<S::Iter>, pos: i64) -> *mut c_void {
    let Some(index) = pos.checked_sub(1).and_then(|i| u64::try_from(i).ok()) else {
        return core::ptr::null_mut();
    };
    // SAFETY: initialised by `seq_state`.
    let iter = unsafe { st.iter.assume_init_mut() };
    if S::seek(net, iter, index, &mut st.rcu) {
        core::ptr::from_mut(st).cast()
    } else {
        core::ptr::null_mut()
    }
}

/// `seq_operations.start`: enters the read-side section and places the walk at `*pos`.
///
/// # Safety
///
/// Only seq_file may call it, for an open [`ProcSeq`] file of `S`.
unsafe extern "C" fn seq_start_cb<S: ProcSeq>(seq: *mut bindings::seq_file, pos: *mut bindings::loff_t) -> *mut c_void {
    // SAFETY: seq_file calls us with the file's seq_file under its lock.
    let st = unsafe { seq_state::<S>(seq) };
    // SAFETY: seq_file calls `stop` after every `start`, in the same task and read, before
    // it copies to user space.
    unsafe { st.rcu.enter() };
    // SAFETY: `pos` points to `m->index`, valid for the call.
    let pos = unsafe { *pos };
    if pos == 0 {
        return SEQ_START_TOKEN;
    }
    // SAFETY: as above.
    seek_pos::<S>(unsafe { seq_net(seq) }, st, pos)
}

/// `seq_operations.next`: moves to the record after `*pos` (always advancing `*pos`).
///
/// # Safety
///
/// Only seq_file may call it, between `start` and `stop` of an open [`ProcSeq`] file of `S`.
unsafe extern "C" fn seq_next_cb<S: ProcSeq>(
    seq: *mut bindings::seq_file,
    _v: *mut c_void,
    pos: *mut bindings::loff_t,
) -> *mut c_void {
    // SAFETY: seq_file calls us with the file's seq_file under its lock.
    let st = unsafe { seq_state::<S>(seq) };
    // SAFETY: `pos` points to `m->index`, valid for the call.
    let pos = unsafe {
        *pos += 1;
        *pos
    };
    // SAFETY: as above.
    seek_pos::<S>(unsafe { seq_net(seq) }, st, pos)
}

/// `seq_operations.stop`: leaves the read-side section.
///
/// # Safety
///
/// Only seq_file may call it, after `start` of an open [`ProcSeq`] file of `S`.
unsafe extern "C" fn seq_stop_cb<S: ProcSeq>(seq: *mut bindings::seq_file, _v: *mut c_void) {
    // SAFETY: seq_file calls us with the file's seq_file under its lock.
    let st = unsafe { seq_state::<S>(seq) };
    // SAFETY: `start`, in this task and read, entered it.
    unsafe { st.rcu.leave() };
}

/// `seq_operations.show`: the header for the start token, else the record the walk is on.
///
/// # Safety
///
/// Only seq_file may call it, between `start` and `stop` of an open [`ProcSeq`] file of `S`,
/// with a token `start` or `next` returned.
unsafe extern "C" fn seq_show_cb<S: ProcSeq>(seq: *mut bindings::seq_file, v: *mut c_void) -> c_int {
    // SAFETY: as in `seq_next_cb`.
    let net = unsafe { seq_net(seq) };
    let mut out = SeqOut { seq, _life: PhantomData };
    // A full buffer is not an error here: seq_file notices the overflow itself.
    let _ = if v == SEQ_START_TOKEN {
        S::header(net, &mut out)
    } else {
        // SAFETY: as in `seq_next_cb`.
        let st = unsafe { seq_state::<S>(seq) };
        // SAFETY: initialised by `seq_state`.
        S::show(net, unsafe { st.iter.assume_init_ref() }, &st.rcu, &mut out)
    };
    0
}

/// The `seq_operations` of `S`, one static table per listing type.
struct SeqOps<S>(PhantomData<S>);

impl<S: ProcSeq> SeqOps<S> {
    const OPS: bindings::seq_operations = bindings::seq_operations {
        start: Some(seq_start_cb::<S>),
        stop: Some(seq_stop_cb::<S>),
        next: Some(seq_next_cb::<S>),
        show: Some(seq_show_cb::<S>),
    };
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

    /// Creates /proc/net/`S::NAME` in `net`, mode 0444, listed through seq_file's iterator.
    pub(crate) fn create_seq<S: ProcSeq>(net: NetRef<'_>) -> Result<Self> {
        let size = u32::try_from(core::mem::size_of::<SeqState<S::Iter>>()).map_err(|_| EINVAL)?;
        // SAFETY: `net` is live (we are in its init); the operations are a static table of
        // callbacks that only read state outliving the entry, which is removed (waiting for
        // running readers and closing open files) before that state is freed.
        let pde = unsafe {
            bindings::proc_create_net_data(
                S::NAME.as_char_ptr(),
                0o444,
                bindings::ipvs_rs_net_proc_dir(net.as_ptr()),
                &SeqOps::<S>::OPS,
                size,
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
