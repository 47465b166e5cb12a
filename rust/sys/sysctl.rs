// SPDX-License-Identifier: GPL-2.0
//! /proc/sys/net/ipv4/vs/ of one netns, from the name-keyed table in `ipvs_core::sysctl`.

use super::bindings;
use super::NetRef;
use crate::ipvs_core::sysctl::{Check, Kind, COUNT, DEFS};
use core::marker::PhantomData;
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
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
    /// The text of the `CpuList` entry.
    _cpulist: KBox<Opaque<[u8; CPULIST_LEN]>>,
    /// Where `DefenseMode` entries report writes.
    notify: KBox<Notify>,
}

/// Room for a CPU list such as "0-4095".
const CPULIST_LEN: usize = 64;

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
        let mut text = [0u8; CPULIST_LEN];
        {
            let mut w = crate::ipvs_core::proc_text::FixedBuf::new(&mut text[..CPULIST_LEN - 1]);
            // The buffer holds any CPU count's list (CPULIST_LEN); a longer one would be cut.
            let _ = crate::ipvs_core::sysctl::cpu_list_all(super::nr_cpu_ids(), &mut w);
        }
        let cpulist = KBox::new(Opaque::new(text), GFP_KERNEL)?;
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
                Kind::CpuList => (Some(bindings::proc_dostring), CPULIST_LEN, false),
                Kind::DefenseMode => (Some(defense_mode_handler), 4, false),
                Kind::Checked(check) => (Some(checked_handler), 4 * check.count(), false),
            };
            let data = if def.kind == Kind::CpuList {
                cpulist.get().cast::<c_void>()
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
        Ok(NetSysctls { header, _table: table, values, _cpulist: cpulist, notify })
    }

    /// The current value of entry `i` (its first int).
    pub(crate) fn get(&self, i: usize) -> i32 {
        self.values().get(i)
    }

    /// Both ints of entry `i` (see [`Values::pair`]).
    pub(crate) fn pair(&self, i: usize) -> (i32, i32) {
        self.values().pair(i)
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

impl Drop for NetSysctls {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; unregistering waits for running proc handlers.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
    }
}
