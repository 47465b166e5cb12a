// SPDX-License-Identifier: GPL-2.0
//! The control plane's entry points: the IPVS generic netlink family and the /proc/net files.
//! Both reach the caller's netns state (`netns::IpvsNet`) and its pure control plane, which keeps
//! services and dests in `store::KernelStore`. No unsafe here: all FFI is in `crate::sys`.

pub(crate) mod family;
pub(crate) mod proc_files;
