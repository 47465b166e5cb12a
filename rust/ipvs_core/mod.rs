// SPDX-License-Identifier: GPL-2.0
//! The pure core of ipvs-rs: no `kernel::` or `bindings::`, no allocation.
//!
//! The same files compile into `ipvs_rs.ko` (as a `#[path]` module) and into the host crate
//! under `host/`, where `cargo test`, proptest and the fuzz harness exercise them. The
//! schedulers (rust/sched/) are part of it, as `ipvs_core::sched`: they use only the leaf files
//! `errno` and `uapi` and `service`'s address helpers, and the service code binds them.

pub mod control;
pub mod defense;
pub mod dest;
pub mod errno;
pub mod estimator;
pub mod icmp;
pub mod nlattr;
pub mod packet;
pub mod persist;
pub mod policy;
pub mod proc_text;
pub mod proto_tcp;
pub mod reply;
pub mod request;
#[path = "../sched/mod.rs"]
pub mod sched;
pub mod service;
pub mod support;
pub mod sysctl;
pub mod timeouts;
pub mod uapi;
