//! Host build of the pure core. The kernel module compiles the very same files.
#![no_std]

#[path = "../rust/ipvs_core/mod.rs"]
pub mod ipvs_core;
