// SPDX-License-Identifier: GPL-2.0
//! The kernel's storage for scheduler tables: `KVec`, with the GFP flags the pure code asks
//! for (`Gfp::Kernel` when binding or rebuilding outside any lock, `Gfp::Atomic` under the
//! BH-disabling scheduler lock). Failures become ENOMEM.

use crate::ipvs_core::errno::Result;
use crate::ipvs_core::sched::storage::{Gfp, Storage, StoreVec};
use kernel::alloc::Flags;
use kernel::prelude::*;

pub(crate) struct KernelStorage;

impl Storage for KernelStorage {
    type Vec<T> = KVec<T>;
}

fn flags(gfp: Gfp) -> Flags {
    match gfp {
        Gfp::Kernel => GFP_KERNEL,
        Gfp::Atomic => GFP_ATOMIC | __GFP_NOWARN,
    }
}

impl<T> StoreVec<T> for KVec<T> {
    fn new() -> Self {
        KVec::new()
    }

    fn with_capacity(capacity: usize, gfp: Gfp) -> Result<Self> {
        Ok(KVec::with_capacity(capacity, flags(gfp))?)
    }

    fn try_push(&mut self, value: T, gfp: Gfp) -> Result<()> {
        Ok(self.push(value, flags(gfp))?)
    }

    fn pop(&mut self) -> Option<T> {
        let last = self.len().checked_sub(1)?;
        // SAFETY: `last` < len, so the element is initialised; shrinking the length first
        // hands its ownership to the read, so it is not dropped twice.
        unsafe {
            self.set_len(last);
            Some(core::ptr::read(self.as_ptr().add(last)))
        }
    }
}
