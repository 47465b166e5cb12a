// SPDX-License-Identifier: GPL-2.0
//! The pure core of ipvs-rs: no `kernel::` or `bindings::`, no allocation.
//!
//! The same files compile into `ipvs_rs.ko` (as a `#[path]` module) and into the host crate
//! under `host/`, where `cargo test`, proptest and the fuzz harness exercise them.

pub mod conntab;
pub mod errno;
pub mod genl;
pub mod nlattr;
pub mod procfs;
pub mod timeouts;
pub mod uapi;
