//! Host build of the pure core and the schedulers. The kernel module compiles the very same files.
#![no_std]

#[path = "../rust/ipvs_core/mod.rs"]
pub mod ipvs_core;

/// The schedulers are part of the core; the tests name them `sched::` for short.
pub use ipvs_core::sched;

#[path = "storage.rs"]
pub mod storage;
