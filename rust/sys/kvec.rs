// SPDX-License-Identifier: GPL-2.0
//! `insert`, `remove` and `swap_remove` for `KVec`, which 6.12's kernel crate lacks.

use kernel::prelude::*;

/// Inserts `value` at `idx` (clamped to the length), shifting later elements up.
pub(crate) fn insert<T>(v: &mut KVec<T>, idx: usize, value: T) -> Result<(), kernel::alloc::AllocError> {
    v.push(value, GFP_KERNEL)?;
    let len = v.len();
    v.as_mut_slice()[idx.min(len - 1)..].rotate_right(1);
    Ok(())
}

/// Removes and returns the element at `idx`, shifting later elements down.
pub(crate) fn remove<T>(v: &mut KVec<T>, idx: usize) -> Option<T> {
    let len = v.len();
    if idx >= len {
        return None;
    }
    v.as_mut_slice()[idx..].rotate_left(1);
    // SAFETY: the element to remove is now last; we read it out and shrink the length by one
    // so it is not dropped twice.
    unsafe {
        let item = core::ptr::read(v.as_ptr().add(len - 1));
        v.set_len(len - 1);
        Some(item)
    }
}

/// Removes and returns the element at `idx`, moving the last element into its place (no
/// shift: for sets whose order does not matter).
pub(crate) fn swap_remove<T>(v: &mut KVec<T>, idx: usize) -> Option<T> {
    let last = v.len().checked_sub(1)?;
    if idx > last {
        return None;
    }
    v.as_mut_slice().swap(idx, last);
    remove(v, last)
}

/// Keeps the elements for which `keep` holds, in their order, and drops the others, in one
/// pass (removing them one by one would move the tail each time).
pub(crate) fn retain<T>(v: &mut KVec<T>, mut keep: impl FnMut(&T) -> bool) {
    let mut kept = 0;
    for i in 0..v.len() {
        if v.as_slice().get(i).is_some_and(&mut keep) {
            v.as_mut_slice().swap(kept, i);
            kept += 1;
        }
    }
    while v.len() > kept {
        drop(remove(v, v.len() - 1));
    }
}
