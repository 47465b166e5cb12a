// SPDX-License-Identifier: GPL-2.0
//! The control plane glue: per-netns state, the IPVS genl family and /proc/net files.
//! No unsafe here: all FFI is in `crate::sys`.

pub(crate) mod genl;
pub(crate) mod procfs;

use crate::ipvs_core::genl::{ControlPlane, Env};
use crate::sys::{self, pernet, procfs::ProcEntry, NetRef};
use kernel::new_mutex;
use kernel::prelude::*;
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::sync::Mutex;

/// Everything IPVS keeps for one network namespace.
#[pin_data]
pub(crate) struct IpvsNet {
    /// Services, dests and timeouts. Taken in process context only (genetlink doit/dump and
    /// /proc reads); never from softirq.
    #[pin]
    pub(crate) control: Mutex<ControlPlane>,
    /// /proc/net entries, removed when the netns state is dropped.
    proc_files: KVec<ProcEntry>,
}

impl pernet::PernetState for IpvsNet {
    fn create(net: NetRef<'_>) -> Result<Pin<KBox<Self>>> {
        let mut proc_files = KVec::new();
        procfs::create_all(net, &mut proc_files)?;
        KBox::pin_init(
            pin_init!(IpvsNet {
                control <- new_mutex!(ControlPlane::new()),
                proc_files,
            }),
            GFP_KERNEL,
        )
    }
}

/// Size of the connection table, fixed at load time from `conn_tab_bits`.
static CONN_TAB_SIZE: AtomicU32 = AtomicU32::new(0);

/// Sizes the connection table; called once from module init, before any registration.
pub(crate) fn set_conn_tab_bits(requested: i32) {
    let bits = crate::ipvs_core::conntab::clamp_bits(
        requested,
        sys::totalram_pages(),
        kernel::page::PAGE_SHIFT as u32,
        sys::STOCK_CONN_SIZE,
    );
    CONN_TAB_SIZE.store(1 << bits, Ordering::Relaxed);
}

/// What the pure control plane needs to know about this kernel.
pub(crate) fn env() -> Env {
    Env {
        hz: sys::hz(),
        conn_tab_size: CONN_TAB_SIZE.load(Ordering::Relaxed),
        ipv6_enabled: sys::ipv6_enabled(),
    }
}
