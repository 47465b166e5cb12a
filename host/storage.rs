//! The host's scheduler storage: std's `Vec` with fallible growth, and a per-thread switch
//! that makes every allocation fail, to exercise the ENOMEM paths.

extern crate std;

use crate::ipvs_core::errno::{Errno, Result};
use crate::ipvs_core::sched::storage::{Gfp, Storage, StoreVec};
use core::cell::Cell;
use std::vec::Vec;

/// Vectors from the global allocator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostVecs;

std::thread_local! {
    static OUT_OF_MEMORY: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every scheduler allocation of this thread failing.
pub fn without_memory<R>(f: impl FnOnce() -> R) -> R {
    OUT_OF_MEMORY.with(|m| m.set(true));
    let r = f();
    OUT_OF_MEMORY.with(|m| m.set(false));
    r
}

fn out_of_memory() -> bool {
    OUT_OF_MEMORY.with(Cell::get)
}

impl<T> StoreVec<T> for Vec<T> {
    fn new() -> Self {
        Vec::new()
    }
    fn with_capacity(capacity: usize, _gfp: Gfp) -> Result<Self> {
        let mut v = Vec::new();
        if capacity > 0 && out_of_memory() {
            return Err(Errno::ENOMEM);
        }
        v.try_reserve_exact(capacity).map_err(|_| Errno::ENOMEM)?;
        Ok(v)
    }
    fn try_push(&mut self, value: T, _gfp: Gfp) -> Result<()> {
        if self.len() == self.capacity() && out_of_memory() {
            return Err(Errno::ENOMEM);
        }
        self.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        self.push(value);
        Ok(())
    }
    fn pop(&mut self) -> Option<T> {
        Vec::pop(self)
    }
}

impl Storage for HostVecs {
    type Vec<T> = Vec<T>;
}
