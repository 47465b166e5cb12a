// SPDX-License-Identifier: GPL-2.0
//! The pure core of ipvs-rs: no `kernel::` or `bindings::`, no allocation.
//!
//! The same files compile into `ipvs_rs.ko` (as a `#[path]` module) and into the host crate
//! under `host/`, where `cargo test`, proptest and the fuzz harness exercise them. Both crates
//! also carry the schedulers as `crate::sched` (rust/sched/), which the core uses.

pub mod conntab;
pub mod defense;
pub mod dest;
pub mod errno;
pub mod estimator;
pub mod genl;
pub mod icmp;
pub mod nlattr;
pub mod packet;
pub mod persist;
pub mod procfs;
pub mod proto_tcp;
pub mod service;
pub mod support;
pub mod sysctl;
pub mod timeouts;
pub mod uapi;
