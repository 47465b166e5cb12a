// SPDX-License-Identifier: GPL-2.0
//! `insert`, `remove` and `swap_remove` for `KVec`, which 6.12's kernel crate lacks. They move
//! elements with raw copies after checking the index themselves, so that no panic path (a
//! bounds check, `rotate`'s assertion) is compiled into the control plane that calls them.

use kernel::alloc::{Allocator, Vec};
use kernel::prelude::*;

/// Inserts `value` at `idx` (clamped to the length), shifting later elements up.
pub(crate) fn insert<T, A: Allocator>(v: &mut Vec<T, A>, idx: usize, value: T) -> Result<(), kernel::alloc::AllocError> {
    v.push(value, GFP_KERNEL)?;
    let last = v.len().saturating_sub(1);
    let idx = idx.min(last);
    // SAFETY: `idx <= last < len`: the pushed value is read out of slot `last`, the elements
    // `idx..last` move up one slot (overlapping, hence `copy`), and the value fills the hole at
    // `idx`; every element is then in exactly one slot.
    unsafe {
        let p = v.as_mut_ptr();
        let value = core::ptr::read(p.add(last));
        core::ptr::copy(p.add(idx), p.add(idx + 1), last - idx);
        core::ptr::write(p.add(idx), value);
    }
    Ok(())
}

/// Removes and returns the element at `idx`, shifting later elements down.
pub(crate) fn remove<T, A: Allocator>(v: &mut Vec<T, A>, idx: usize) -> Option<T> {
    let len = v.len();
    if idx >= len {
        return None;
    }
    // SAFETY: `idx < len`: the element is read out, the ones after it move down one slot, and
    // the length shrinks by one, so nothing is dropped twice or left behind.
    unsafe {
        let p = v.as_mut_ptr();
        let item = core::ptr::read(p.add(idx));
        core::ptr::copy(p.add(idx + 1), p.add(idx), len - idx - 1);
        v.set_len(len - 1);
        Some(item)
    }
}

/// Removes and returns the element at `idx`, moving the last element into its place (no
/// shift: for sets whose order does not matter).
pub(crate) fn swap_remove<T, A: Allocator>(v: &mut Vec<T, A>, idx: usize) -> Option<T> {
    let len = v.len();
    if idx >= len {
        return None;
    }
    let last = len - 1;
    // SAFETY: `idx <= last < len`: the element is read out, the last one (if another) moves
    // into its slot, and the length shrinks by one.
    unsafe {
        let p = v.as_mut_ptr();
        let item = core::ptr::read(p.add(idx));
        if idx != last {
            core::ptr::copy_nonoverlapping(p.add(last), p.add(idx), 1);
        }
        v.set_len(last);
        Some(item)
    }
}

/// Keeps the elements for which `keep` holds, in their order, and drops the others, in one
/// pass (removing them one by one would move the tail each time). `keep` may update the
/// elements it keeps.
pub(crate) fn retain<T, A: Allocator>(v: &mut Vec<T, A>, mut keep: impl FnMut(&mut T) -> bool) {
    let mut kept = 0;
    for i in 0..v.len() {
        if v.as_mut_slice().get_mut(i).is_some_and(&mut keep) {
            // Swap element `i` down to `kept` (`kept <= i`).
            if let Some((first, rest)) = v.as_mut_slice().get_mut(kept..=i).and_then(|s| s.split_first_mut()) {
                if let Some(last) = rest.last_mut() {
                    core::mem::swap(first, last);
                }
            }
            kept += 1;
        }
    }
    while v.len() > kept {
        drop(remove(v, v.len() - 1));
    }
}
