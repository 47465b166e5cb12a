// SPDX-License-Identifier: GPL-2.0
//! /proc/sys/net/ipv4/vs/ of one netns, from the name-keyed table in `ipvs_core::sysctl`.

use super::bindings;
use super::NetRef;
use crate::ipvs_core::cpulist;
use crate::ipvs_core::sysctl::{Check, Kind, COUNT, DEFS};
use core::fmt::Write;
use core::marker::PhantomData;
use core::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use kernel::ffi::{c_int, c_void};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;
use kernel::types::Opaque;

/// Told of every write that changes a `Kind::DefenseMode` entry, in process context (the
/// writer's), while the registration lasts.
pub(crate) trait ModeListener: Sync + 'static {
    /// Entry `idx` is to become `val` (already checked against `DEFENSE_MODES`). The listener
    /// stores it with `values.set` and acts on it, serialised with its other users.
    fn mode_written(&self, values: Values<'_>, idx: usize, val: i32);
}

/// The int values of one netns's entries.
#[derive(Clone, Copy)]
pub(crate) struct Values<'a> {
    base: *mut Slot,
    _life: PhantomData<&'a NetSysctls>,
}

impl Values<'_> {
    /// The current value of entry `i` (its first int); 0 for an unknown index.
    pub(crate) fn get(&self, i: usize) -> i32 {
        if i >= COUNT {
            return 0;
        }
        // SAFETY: `i` is in bounds of the values, alive for `'a`; a proc write may change the
        // int concurrently, so read it with a single volatile access, as READ_ONCE would.
        unsafe { core::ptr::read_volatile(self.base.add(i).cast::<c_int>()) }
    }

    /// Both ints of entry `i` (a two-int entry, such as `sync_threshold`); zeros for an unknown
    /// index.
    pub(crate) fn pair(&self, i: usize) -> (i32, i32) {
        if i >= COUNT {
            return (0, 0);
        }
        // SAFETY: as in `get`, for each int of the slot.
        unsafe {
            let p = self.base.add(i).cast::<c_int>();
            (core::ptr::read_volatile(p), core::ptr::read_volatile(p.add(1)))
        }
    }

    /// Stores `v` in entry `i` (its first int), as the kernel's own handlers store a write.
    pub(crate) fn set(&self, i: usize, v: i32) {
        if i >= COUNT {
            return;
        }
        // SAFETY: as in `get`; a single volatile store, as WRITE_ONCE would.
        unsafe { core::ptr::write_volatile(self.base.add(i).cast::<c_int>(), v) }
    }
}

/// What the `DefenseMode` handler finds through `extra1`: the values it belongs to and the
/// listener, once there is one.
///
/// # Invariants
///
/// `listener` is null or points to an object that outlives the registration; `call` is
/// `notify::<L>` for that object's type `L`.
struct Notify {
    values: *mut Slot,
    listener: AtomicPtr<c_void>,
    call: unsafe fn(*const c_void, Values<'_>, usize, i32),
}

/// Storage of one entry: room for two ints or one unsigned long.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Slot([c_int; 2]);

/// The `[min, max]` bounds of range entries, shared by every netns.
struct Bounds([[c_int; 2]; COUNT]);
// SAFETY: immutable after compilation; the kernel only reads through extra1/extra2.
unsafe impl Sync for Bounds {}
static BOUNDS: Bounds = {
    let mut b = [[0; 2]; COUNT];
    let mut i = 0;
    while i < COUNT {
        if let Kind::IntRange(min, max) = DEFS[i].kind {
            b[i] = [min, max];
        }
        i += 1;
    }
    Bounds(b)
};

/// The registered entries of one netns; unregistered on drop.
pub(crate) struct NetSysctls {
    header: *mut bindings::ctl_table_header,
    _table: KVec<bindings::ctl_table>,
    values: KBox<Opaque<[Slot; COUNT]>>,
    /// The `CpuList` entry's CPUs.
    cpulist: Pin<KBox<CpuList>>,
    /// Where `DefenseMode` entries report writes.
    notify: KBox<Notify>,
}

/// The CPUs of `est_cpulist`, which upstream pins its estimator kthreads to; here the estimator
/// is a work item of the kernel's long workqueue (`system_long_wq`, per-CPU), queued on a CPU
/// of the list ([`NetSysctls::est_cpu`]). An empty list stops estimation, as upstream's. Until
/// written, every possible CPU (upstream shows the housekeeping CPUs: the same unless the
/// kernel was booted with isolated CPUs).
#[pin_data]
struct CpuList {
    /// `None` until the first write.
    #[pin]
    mask: Mutex<Option<KVec<u64>>>,
    /// Written, and no CPU in it.
    empty: AtomicBool,
}

// SAFETY: the values are read and written with single-word volatile accesses (as the kernel's
// proc handlers write them); the header is only used to unregister.
unsafe impl Send for NetSysctls {}
// SAFETY: as above.
unsafe impl Sync for NetSysctls {}

impl NetSysctls {
    /// Registers every entry for `net`. `ulong_default` fills `Kind::ULong` entries. Writes
    /// to `DefenseMode` entries are stored as they are until `listen` names an `L`.
    pub(crate) fn register<L: ModeListener>(net: NetRef<'_>, ulong_default: u64) -> Result<Self> {
        let mut slots = [Slot([0; 2]); COUNT];
        for (slot, def) in slots.iter_mut().zip(DEFS) {
            *slot = match def.kind {
                Kind::ULong => {
                    let b = ulong_default.to_ne_bytes();
                    Slot([
                        c_int::from_ne_bytes([b[0], b[1], b[2], b[3]]),
                        c_int::from_ne_bytes([b[4], b[5], b[6], b[7]]),
                    ])
                }
                Kind::Jiffies => Slot([def.default[0].saturating_mul(super::hz() as i32), 0]),
                _ => Slot(def.default),
            };
        }
        let values = KBox::new(Opaque::new(slots), GFP_KERNEL)?;
        let cpulist = KBox::pin_init(
            pin_init!(CpuList { mask <- new_mutex!(None), empty: AtomicBool::new(false) }),
            GFP_KERNEL,
        )?;
        let base = values.get().cast::<Slot>();
        // INVARIANT: no listener yet; `call` matches the `L` that `listen` takes.
        let notify = KBox::new(
            Notify { values: base, listener: AtomicPtr::new(core::ptr::null_mut()), call: notify::<L> },
            GFP_KERNEL,
        )?;
        let notify_ptr = core::ptr::from_ref::<Notify>(&notify).cast_mut().cast::<c_void>();
        let mut table = KVec::with_capacity(COUNT, GFP_KERNEL)?;
        for (i, def) in DEFS.iter().enumerate() {
            let (handler, maxlen, extra): (bindings::proc_handler, usize, bool) = match def.kind {
                Kind::Int => (Some(bindings::proc_dointvec), 4, false),
                Kind::IntRange(..) => (Some(bindings::proc_dointvec_minmax), 4, true),
                Kind::Jiffies => (Some(bindings::proc_dointvec_jiffies), 4, false),
                Kind::ULong => (Some(bindings::proc_doulongvec_minmax), 8, false),
                Kind::CpuList => (Some(cpulist_handler), 0, false),
                Kind::DefenseMode => (Some(defense_mode_handler), 4, false),
                Kind::Checked(check) => (Some(checked_handler), 4 * check.count(), false),
            };
            let data = if def.kind == Kind::CpuList {
                core::ptr::from_ref::<CpuList>(&cpulist).cast_mut().cast::<c_void>()
            } else {
                // Pointer arithmetic only: `i` < COUNT slots.
                base.wrapping_add(i).cast::<c_void>()
            };
            let bounds = BOUNDS.0.as_ptr().wrapping_add(i).cast::<c_int>();
            table.push(
                bindings::ctl_table {
                    procname: def.cname.as_ptr().cast(),
                    data,
                    maxlen: maxlen as c_int,
                    mode: 0o644,
                    proc_handler: handler,
                    extra1: if extra {
                        bounds.cast_mut().cast()
                    } else if def.kind == Kind::DefenseMode {
                        notify_ptr
                    } else if let Kind::Checked(check) = def.kind {
                        core::ptr::from_ref::<Check>(check_of(check)).cast_mut().cast()
                    } else {
                        core::ptr::null_mut()
                    },
                    extra2: if extra { bounds.wrapping_add(1).cast_mut().cast() } else { core::ptr::null_mut() },
                    ..Default::default()
                },
                GFP_KERNEL,
            )?;
        }
        // SAFETY: `net` is live; the table and the values it points to stay allocated until
        // `drop` has unregistered them. The path is a static NUL-terminated string.
        let header = unsafe {
            bindings::register_net_sysctl_sz(net.as_ptr(), c"net/ipv4/vs".as_ptr().cast(), table.as_mut_ptr(), COUNT)
        };
        if header.is_null() {
            return Err(ENOMEM);
        }
        Ok(NetSysctls { header, _table: table, values, cpulist, notify })
    }

    /// The current value of entry `i` (its first int).
    pub(crate) fn get(&self, i: usize) -> i32 {
        self.values().get(i)
    }

    /// Both ints of entry `i` (see [`Values::pair`]).
    pub(crate) fn pair(&self, i: usize) -> (i32, i32) {
        self.values().pair(i)
    }

    /// Whether `est_cpulist` was written with no CPU the writer may use (which stops
    /// estimation, as upstream's `ip_vs_est_stopped_recalc`).
    pub(crate) fn est_cpulist_empty(&self) -> bool {
        self.cpulist.empty.load(Ordering::Relaxed)
    }

    /// The CPU the estimator is to run on next (process context): the one it runs on, if
    /// `est_cpulist` has it, else the first online one of the list. `None` (any CPU) until the
    /// list is written, and when none of it is online.
    pub(crate) fn est_cpu(&self) -> Option<u32> {
        let mask = self.cpulist.mask.lock();
        let nbits = super::nr_cpu_ids() as u32;
        cpulist::pick(mask.as_deref()?, nbits, super::this_cpu(), super::cpu_online)
    }

    /// The values, to read and write.
    pub(crate) fn values(&self) -> Values<'_> {
        Values { base: self.values.get().cast::<Slot>(), _life: PhantomData }
    }

    /// From now on, writes that change a `DefenseMode` entry go to `listener`, which must be
    /// dropped after `self` (a later field of the same structure): dropping `self`
    /// unregisters the entries and waits for running handlers.
    pub(crate) fn listen<L: ModeListener>(&self, listener: &L) {
        // INVARIANT: the caller keeps `listener` alive until our drop has unregistered the
        // table, after which no handler runs; `call` was set for this `L` in `register`.
        self.notify.listener.store(core::ptr::from_ref(listener).cast_mut().cast(), Ordering::Release);
    }
}

/// Calls `L::mode_written` on a listener stored as an untyped pointer.
///
/// # Safety
///
/// `listener` must point to a live `L`, and `values` must be valid for the call.
unsafe fn notify<L: ModeListener>(listener: *const c_void, values: Values<'_>, idx: usize, val: i32) {
    // SAFETY: per the contract, `listener` is a live `L`.
    let l = unsafe { &*listener.cast::<L>() };
    l.mode_written(values, idx, val);
}

/// `proc_dointvec` of a handler's arguments, read into or shown from `vals` rather than the
/// entry's data, with the entry's mode: a handler checks a write before it stores it.
///
/// # Safety
///
/// The arguments are a proc handler's, from the sysctl core, for one of our entries.
unsafe fn dointvec_into(
    table: *const bindings::ctl_table,
    vals: &mut [c_int],
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    let tmp = bindings::ctl_table {
        data: vals.as_mut_ptr().cast(),
        maxlen: core::mem::size_of_val(vals) as c_int,
        // SAFETY: reading a field of the caller's registered entry.
        mode: unsafe { (*table).mode },
        ..Default::default()
    };
    // SAFETY: `tmp` describes `vals`, on the caller's side for the call; the buffer, length
    // and position are the sysctl core's, passed through unchanged.
    unsafe { bindings::proc_dointvec(&tmp, write, buffer, lenp, ppos) }
}

/// `proc_do_defense_mode()`: parse into a copy, refuse values outside 0..=3 with EINVAL, and
/// hand a changed value to the listener (which stores it and re-evaluates at once).
///
/// # Safety
///
/// Only the sysctl core may call it, for an entry registered by `NetSysctls::register` with
/// `Kind::DefenseMode` (its `data` in the values, its `extra1` the `Notify`).
unsafe extern "C" fn defense_mode_handler(
    table: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: the table entry is ours and registered, so its `data` and `extra1` point to the
    // values and the `Notify`, alive until unregistration, which waits for this handler.
    let (slot, notify) = unsafe { ((*table).data.cast::<c_int>(), &*(*table).extra1.cast::<Notify>()) };
    // SAFETY: `slot` is one of the values (see above); a single volatile read.
    let cur = unsafe { core::ptr::read_volatile(slot) };
    let mut vals: [c_int; 1] = [cur];
    // SAFETY: the caller's arguments, passed through (our own contract).
    let rc = unsafe { dointvec_into(table, &mut vals, write, buffer, lenp, ppos) };
    let [val] = vals;
    if write == 0 || val == cur {
        return rc;
    }
    if !crate::ipvs_core::sysctl::DEFENSE_MODES.contains(&val) {
        return EINVAL.to_errno();
    }
    let values = Values { base: notify.values, _life: PhantomData };
    // Which entry: the offset of `slot` among the values.
    let idx = (slot as usize).wrapping_sub(notify.values as usize) / core::mem::size_of::<Slot>();
    let l = notify.listener.load(Ordering::Acquire);
    if l.is_null() {
        values.set(idx, val);
    } else {
        // SAFETY: by the `Notify` invariant, a non-null listener is alive and of the type
        // `call` was made for.
        unsafe { (notify.call)(l, values, idx, val) };
    }
    rc
}

/// A `'static` home for each check, for `extra1` to point at.
fn check_of(check: Check) -> &'static Check {
    match check {
        Check::SyncThreshold => &Check::SyncThreshold,
        Check::PowerOfTwo => &Check::PowerOfTwo,
    }
}

/// A `Kind::Checked` entry: parse into a copy, refuse what the check refuses with EINVAL,
/// else store every int.
///
/// # Safety
///
/// Only the sysctl core may call it, for an entry registered by `NetSysctls::register` with
/// `Kind::Checked` (its `data` a slot of the values, its `extra1` a `'static` `Check`).
unsafe extern "C" fn checked_handler(
    table: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: the table entry is ours and registered: its `data` is a slot of the values,
    // alive until unregistration (which waits for this handler), and `extra1` a static.
    let (slot, check) = unsafe { ((*table).data.cast::<c_int>(), *(*table).extra1.cast::<Check>()) };
    let n = check.count().min(2);
    let mut vals: [c_int; 2] = [0; 2];
    for (i, v) in vals.iter_mut().enumerate().take(n) {
        // SAFETY: the slot holds two ints; single volatile reads, as READ_ONCE.
        *v = unsafe { core::ptr::read_volatile(slot.add(i)) };
    }
    // SAFETY: the caller's arguments, passed through (our own contract).
    let rc = unsafe { dointvec_into(table, vals.get_mut(..n).unwrap_or(&mut []), write, buffer, lenp, ppos) };
    if write == 0 || rc != 0 {
        return rc;
    }
    if !check.accepts(vals) {
        return EINVAL.to_errno();
    }
    for (i, v) in vals.iter().enumerate().take(n) {
        // SAFETY: as above; single volatile stores, as WRITE_ONCE.
        unsafe { core::ptr::write_volatile(slot.add(i), *v) };
    }
    rc
}

/// `est_cpulist` (upstream's `ipvs_proc_est_cpulist`): a write is parsed as `cpulist_parse`
/// parses (its errno on a malformed list), keeps only the CPUs the writer may run on, and
/// replaces the list; a read shows it as `%*pbl` does. Both only from offset 0.
///
/// # Safety
///
/// Only the sysctl core may call it, for the `Kind::CpuList` entry registered by
/// `NetSysctls::register` (its `data` the `CpuList`), with its buffer: the written bytes and a
/// NUL after them, or room for `*lenp` bytes and a NUL to read into.
unsafe extern "C" fn cpulist_handler(
    table: *const bindings::ctl_table,
    write: c_int,
    buffer: *mut c_void,
    lenp: *mut usize,
    ppos: *mut bindings::loff_t,
) -> c_int {
    // SAFETY: the entry is ours and registered, so `data` is the `CpuList`, alive until
    // unregistration (which waits for this handler); `lenp` and `ppos` are the core's.
    let (list, len, pos) = unsafe { (&*(*table).data.cast::<CpuList>(), *lenp, *ppos) };
    if pos != 0 || len == 0 {
        // SAFETY: as above.
        unsafe { *lenp = 0 };
        return 0;
    }
    let nbits = super::nr_cpu_ids() as u32;
    let done = if write != 0 {
        // SAFETY: the core's buffer holds the `len` written bytes (the contract).
        let text = unsafe { core::slice::from_raw_parts(buffer.cast::<u8>(), len) };
        match set_cpulist(list, text, nbits) {
            Ok(()) => len,
            Err(e) => return e,
        }
    } else {
        // SAFETY: the core's buffer has room for `len` bytes and a NUL (the contract).
        let out = unsafe { core::slice::from_raw_parts_mut(buffer.cast::<u8>(), len + 1) };
        show_cpulist(list, nbits, out)
    };
    // SAFETY: as above.
    unsafe {
        *lenp = done;
        *ppos += done as bindings::loff_t;
    }
    0
}

fn set_cpulist(list: &CpuList, text: &[u8], nbits: u32) -> core::result::Result<(), c_int> {
    let words = (nbits as usize).div_ceil(64);
    let mut mask = KVec::with_capacity(words, GFP_KERNEL).map_err(|_| ENOMEM.to_errno())?;
    for _ in 0..words {
        mask.push(0u64, GFP_KERNEL).map_err(|_| ENOMEM.to_errno())?;
    }
    cpulist::parse(text, nbits, &mut mask).map_err(|e| -e.0)?;
    for cpu in 0..nbits {
        if !super::current_may_run_on(cpu) {
            if let Some(w) = mask.get_mut(cpu as usize / 64) {
                *w &= !(1u64 << (cpu % 64));
            }
        }
    }
    let empty = cpulist::is_empty(&mask);
    *list.mask.lock() = Some(mask);
    list.empty.store(empty, Ordering::Relaxed);
    Ok(())
}

/// Writes the list and a newline into `out`, cut to all but its last byte (a NUL goes
/// there), as `scnprintf` does; the length written.
fn show_cpulist(list: &CpuList, nbits: u32, out: &mut [u8]) -> usize {
    let room = out.len().saturating_sub(1);
    let mut w = Cut { buf: out.get_mut(..room).unwrap_or(&mut []), len: 0 };
    {
        let mask = list.mask.lock();
        // A `Cut` never fails: what does not fit is left out.
        let _ = match &*mask {
            Some(m) => cpulist::format(m, nbits, &mut w),
            None => crate::ipvs_core::sysctl::cpu_list_all(nbits as usize, &mut w),
        };
    }
    let _ = w.write_char('\n');
    let n = w.len;
    if let Some(b) = out.get_mut(n) {
        *b = 0;
    }
    n
}

/// A writer into a byte buffer that keeps what fits and drops the rest.
struct Cut<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl Write for Cut<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let room = self.buf.len().saturating_sub(self.len);
        let n = s.len().min(room);
        if let (Some(dst), Some(src)) = (self.buf.get_mut(self.len..self.len + n), s.as_bytes().get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        Ok(())
    }
}

impl Drop for NetSysctls {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; unregistering waits for running proc handlers.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
    }
}
