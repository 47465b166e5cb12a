// SPDX-License-Identifier: GPL-2.0
//! /proc/sys/net/ipv4/vs/ of one netns, from the name-keyed table in `ipvs_core::sysctl`.

use super::bindings;
use super::NetRef;
use crate::ipvs_core::sysctl::{Kind, COUNT, DEFS};
use kernel::ffi::{c_int, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

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
}

/// Room for a CPU list such as "0-4095".
const CPULIST_LEN: usize = 64;

// SAFETY: the values are read and written with single-word volatile accesses (as the kernel's
// proc handlers write them); the header is only used to unregister.
unsafe impl Send for NetSysctls {}
// SAFETY: as above.
unsafe impl Sync for NetSysctls {}

impl NetSysctls {
    /// Registers every entry for `net`. `ulong_default` fills `Kind::ULong` entries.
    pub(crate) fn register(net: NetRef<'_>, ulong_default: u64) -> Result<Self> {
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
            let mut w = crate::ipvs_core::procfs::FixedBuf::new(&mut text[..CPULIST_LEN - 1]);
            let _ = crate::ipvs_core::sysctl::cpu_list_all(super::nr_cpu_ids(), &mut w);
        }
        let cpulist = KBox::new(Opaque::new(text), GFP_KERNEL)?;
        let base = values.get().cast::<Slot>();
        let mut table = KVec::with_capacity(COUNT, GFP_KERNEL)?;
        for (i, def) in DEFS.iter().enumerate() {
            let (handler, maxlen, extra): (bindings::proc_handler, usize, bool) = match def.kind {
                Kind::Int => (Some(bindings::proc_dointvec), 4, false),
                Kind::IntRange(..) => (Some(bindings::proc_dointvec_minmax), 4, true),
                Kind::Jiffies => (Some(bindings::proc_dointvec_jiffies), 4, false),
                Kind::IntPair => (Some(bindings::proc_dointvec), 8, false),
                Kind::ULong => (Some(bindings::proc_doulongvec_minmax), 8, false),
                Kind::CpuList => (Some(bindings::proc_dostring), CPULIST_LEN, false),
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
                    extra1: if extra { bounds.cast_mut().cast() } else { core::ptr::null_mut() },
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
        Ok(NetSysctls { header, _table: table, values, _cpulist: cpulist })
    }

    /// The current value of entry `i` (its first int).
    pub(crate) fn get(&self, i: usize) -> i32 {
        if i >= COUNT {
            return 0;
        }
        // SAFETY: `i` is in bounds; a proc write may change the int concurrently, so read it
        // with a single volatile access, as the C code's READ_ONCE would.
        unsafe { core::ptr::read_volatile(self.values.get().cast::<Slot>().add(i).cast::<c_int>()) }
    }
}

impl Drop for NetSysctls {
    fn drop(&mut self) {
        // SAFETY: registered in `register`; unregistering waits for running proc handlers.
        unsafe { bindings::unregister_net_sysctl_table(self.header) };
    }
}
