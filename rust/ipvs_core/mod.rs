// SPDX-License-Identifier: GPL-2.0
//! The pure core of ipvs-rs: no `kernel::` or `bindings::`, no allocation.
//!
//! The same files compile into `ipvs_rs.ko` (as a `#[path]` module) and into the host crate
//! under `host/`, where `cargo test`, proptest and the fuzz harness exercise them. The
//! schedulers (rust/sched/) are part of it, as `ipvs_core::sched`: they use only the leaf files
//! `errno`, `uapi` and `addr`, and the service code binds them.
//!
//! Where things are:
//! - the wire: `uapi` (the ABI's numbers), `nlattr` (attribute codec), `policy` (the family's
//!   attribute policies), `decode` (the SERVICE and DEST of a request), `encode` (replies and
//!   dump entries), `sync_msg` (the connection sync messages between directors);
//! - the control plane of a netns: `control` (its state and the genl commands), `daemon`
//!   (the sync daemons' commands and configuration), `env` (what
//!   it needs of the kernel), `service` and `dest` (what identifies and configures each),
//!   `store` (the [`store::Store`] the glue implements, and the add/edit/delete commands on
//!   it), `listing` (services counted per slot of the listing order), `support` (what this
//!   module refuses for now), `timeouts`, `sysctl` (the name-keyed table);
//! - what the glue keeps in its objects: `rs_filing` (where the real-server index filed a
//!   dest);
//! - the datapath's decisions: `ip` (the network header, either family), `packet`, `tunnel`
//!   (the outer header of a tunnelled packet), `proto_tcp`, `icmp`, `persist`, `defense`, `sched`;
//! - what users read: `estimator` (counters and rates), `proc_text` (the /proc/net texts);
//! - leaves everyone uses: `errno`, `addr`.
//!
//! Files of the core import only other files of the core (`super::`), never the glue.

pub mod addr;
pub mod control;
pub mod cpulist;
pub mod daemon;
pub mod decode;
pub mod defense;
pub mod dest;
pub mod encode;
pub mod env;
pub mod errno;
pub mod estimator;
pub mod icmp;
pub mod ip;
pub mod listing;
pub mod nlattr;
pub mod packet;
pub mod persist;
pub mod policy;
pub mod proc_text;
pub mod proto_tcp;
pub mod rs_filing;
#[path = "../sched/mod.rs"]
pub mod sched;
pub mod service;
pub mod store;
pub mod support;
pub mod sync_msg;
pub mod sysctl;
pub mod table_size;
pub mod timeouts;
pub mod tunnel;
pub mod uapi;
