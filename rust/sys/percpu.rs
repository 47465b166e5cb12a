// SPDX-License-Identifier: GPL-2.0
//! Counters with one copy per CPU (`alloc_percpu`), each CPU adding to its own with a single
//! `this_cpu_add`: no lock, no locked instruction, no cache line shared with another CPU, as
//! upstream's `ip_vs_cpu_stats`. Readers sum the copies of every possible CPU; a reader may
//! see a total a few packets old, never a torn value (a copy is one aligned 64-bit word).

use super::bindings;
use kernel::prelude::*;

/// `N` 64-bit counters per CPU.
pub(crate) struct PerCpuCounters<const N: usize> {
    /// The per-CPU base address of `N` consecutive u64s (never null once made).
    base: *mut u64,
}

// SAFETY: the memory is owned by this handle; every access goes through `this_cpu_add` (the
// owning CPU's copy, preemption- and interrupt-safe) or a single aligned 64-bit read.
unsafe impl<const N: usize> Send for PerCpuCounters<N> {}
// SAFETY: as above: concurrent adds touch different CPUs' copies, reads are whole words.
unsafe impl<const N: usize> Sync for PerCpuCounters<N> {}

impl<const N: usize> PerCpuCounters<N> {
    /// `N` counters per CPU, all zero.
    pub(crate) fn new() -> Result<Self> {
        let n = u32::try_from(N).map_err(|_| EINVAL)?;
        // SAFETY: allocates zeroed per-CPU memory (GFP_KERNEL: process context only).
        let base = unsafe { bindings::ipvs_rs_alloc_percpu_u64s(n) };
        if base.is_null() {
            return Err(ENOMEM);
        }
        Ok(PerCpuCounters { base })
    }

    /// Adds `v` to counter `i` of the CPU we run on (from any context). An index past `N` is
    /// ignored.
    #[inline]
    pub(crate) fn add(&self, i: usize, v: u64) {
        if i < N {
            let p = self.base.wrapping_add(i);
            // SAFETY: `base` holds N counters per CPU and `i < N`. On x86-64, `this_cpu_add`
            // is this one instruction: the %gs base is the current CPU's per-CPU area, so the
            // add lands in its copy and cannot be split by preemption or an interrupt.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                core::arch::asm!("add qword ptr gs:[{p}], {v}", p = in(reg) p, v = in(reg) v, options(nostack))
            };
            // SAFETY: as above; `this_cpu_add` resolves the current CPU's copy.
            #[cfg(not(target_arch = "x86_64"))]
            unsafe {
                bindings::ipvs_rs_this_cpu_add_u64(p, v)
            };
        }
    }

    /// Takes `v` from counter `i` of the CPU we run on: a copy may go below zero (what one CPU
    /// adds another may take), only the sum over all CPUs means something.
    #[inline]
    pub(crate) fn sub(&self, i: usize, v: u64) {
        self.add(i, v.wrapping_neg());
    }

    /// The counters of every possible CPU, with its number.
    pub(crate) fn per_cpu(&self) -> impl Iterator<Item = (usize, [u64; N])> + '_ {
        let ids = super::nr_cpu_ids();
        (0..ids).filter(|&cpu| super::cpu_possible(cpu as u32)).map(move |cpu| {
            // SAFETY: `cpu` is possible, so its copy of the N counters exists.
            let copy = unsafe { bindings::ipvs_rs_per_cpu_ptr(self.base, cpu as u32) };
            let mut c = [0u64; N];
            for (i, out) in c.iter_mut().enumerate() {
                // SAFETY: `copy` points at that CPU's N aligned u64s, live as long as `self`;
                // its CPU may be adding meanwhile, so each is read once, as a whole word.
                *out = unsafe { core::ptr::read_volatile(copy.add(i)) };
            }
            (cpu, c)
        })
    }

    /// Each counter summed over all CPUs (wrapping, as the counters do).
    pub(crate) fn sum(&self) -> [u64; N] {
        let mut t = [0u64; N];
        for (_, c) in self.per_cpu() {
            for (acc, v) in t.iter_mut().zip(c) {
                *acc = acc.wrapping_add(v);
            }
        }
        t
    }
}

impl<const N: usize> Drop for PerCpuCounters<N> {
    fn drop(&mut self) {
        // SAFETY: `base` came from the per-CPU allocator in `new` and nobody else holds it
        // (adders borrow `self`).
        unsafe { bindings::ipvs_rs_free_percpu(self.base.cast()) };
    }
}
