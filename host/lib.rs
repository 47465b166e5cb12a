//! Host build of the pure core and the schedulers. The kernel module compiles the very same files.
#![no_std]

#[path = "../rust/ipvs_core/mod.rs"]
pub mod ipvs_core;

#[path = "../rust/sched/mod.rs"]
pub mod sched;

#[path = "storage.rs"]
pub mod storage;
