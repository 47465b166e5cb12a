// SPDX-License-Identifier: GPL-2.0
//! Growable arrays for scheduler state that does not fit in a few words (the sh, dh and mh
//! tables, the lblc/lblcr maps), without the alloc crate: the glue picks the allocator by
//! implementing [`Storage`] (KVec in the kernel, Vec on the host). Allocation failure is an
//! `Err(ENOMEM)`, never a panic.

use crate::ipvs_core::errno::Result;
use core::ops::{Deref, DerefMut};

/// The context an allocation runs in; the kernel maps it to GFP flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gfp {
    /// Process context without spinlocks (binding a scheduler, rebuilding its tables): may sleep.
    Kernel,
    /// Under the scheduler lock, BHs disabled (`schedule`): must not sleep.
    Atomic,
}

/// A family of vectors, one per element type.
pub trait Storage {
    type Vec<T>: StoreVec<T>;
}

/// The vector operations schedulers use. Implementors provide `new`, `with_capacity`,
/// `try_push` and `pop`; the rest has default implementations on top of them.
pub trait StoreVec<T>: Deref<Target = [T]> + DerefMut + Sized {
    /// An empty vector; allocates nothing.
    fn new() -> Self;
    /// An empty vector with room for `capacity` elements.
    fn with_capacity(capacity: usize, gfp: Gfp) -> Result<Self>;
    /// Appends `value`, growing the allocation if needed; on failure the vector is unchanged.
    fn try_push(&mut self, value: T, gfp: Gfp) -> Result<()>;
    fn pop(&mut self) -> Option<T>;

    /// `len` copies of `value`, in one allocation.
    fn filled(len: usize, value: T, gfp: Gfp) -> Result<Self>
    where
        T: Clone,
    {
        let mut v = Self::with_capacity(len, gfp)?;
        for _ in 0..len {
            v.try_push(value.clone(), gfp)?;
        }
        Ok(v)
    }

    /// Removes element `idx`, keeping the order of the others.
    fn remove(&mut self, idx: usize) -> Option<T> {
        self.get_mut(idx..)?.rotate_left(1);
        self.pop()
    }
}

/// `Clone`, `PartialEq`, `Eq` and `Debug` for a struct generic over `A: Storage` that holds
/// other such structs: `#[derive]` only bounds `A` itself, not the field types. Each impl
/// exists when its field types have the trait (the host's vectors do; the kernel's need not).
macro_rules! storage_traits {
    ($name:ident { $($field:ident: $ty:ty),* $(,)? }) => {
        impl<A: Storage> Clone for $name<A> where $($ty: Clone),* {
            fn clone(&self) -> Self {
                $name { $($field: self.$field.clone()),* }
            }
        }
        impl<A: Storage> PartialEq for $name<A> where $($ty: PartialEq),* {
            fn eq(&self, other: &Self) -> bool {
                true $(&& self.$field == other.$field)*
            }
        }
        impl<A: Storage> Eq for $name<A> where $($ty: Eq),* {}
        impl<A: Storage> core::fmt::Debug for $name<A> where $($ty: core::fmt::Debug),* {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.debug_struct(stringify!($name)) $(.field(stringify!($field), &self.$field))* .finish()
            }
        }
    };
}
pub(crate) use storage_traits;
