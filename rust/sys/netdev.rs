// SPDX-License-Identifier: GPL-2.0
//! Network device events, through one module-wide netdevice notifier.
//!
//! IPVS caches each real server's route, and a cached route holds its device: an IPv6 route
//! (its `rt6i_idev`) keeps the device from being unregistered until the route is released.
//! Without being told, the cache would release it only when its dest goes, which at netns
//! teardown comes after the devices' own teardown: `unregister_netdevice` would wait for it
//! forever. So, as upstream's `ip_vs_dst_event`, a device going down makes the netns drop
//! its cached routes (they are looked up again by the next packet).

use super::bindings;
use super::NetRef;
use core::marker::PhantomPinned;
use kernel::ffi::{c_int, c_ulong, c_void};
use kernel::prelude::*;
use kernel::types::Opaque;

/// What the notifier tells.
pub(crate) trait DeviceEvents: 'static {
    /// A device of `net` is going down (process context, under RTNL).
    fn device_down(net: NetRef<'_>);
}

/// A registered netdevice notifier, unregistered on drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Notifier {
    /// The kernel keeps a pointer to it while registered; pinned.
    #[pin]
    nb: Opaque<bindings::notifier_block>,
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: the block is only read by the notifier chain, which serialises its users (RTNL).
unsafe impl Send for Notifier {}
// SAFETY: as above.
unsafe impl Sync for Notifier {}

impl Notifier {
    /// Registers a notifier that reports to `H`. Events for the devices that exist are
    /// replayed at registration (and at unregistration); only "going down" ones reach `H`.
    pub(crate) fn register<H: DeviceEvents>() -> Result<Pin<KBox<Self>>> {
        let this = KBox::pin_init(
            pin_init!(Notifier {
                nb: Opaque::new(bindings::notifier_block { notifier_call: Some(notifier_cb::<H>), ..Default::default() }),
                _pin: PhantomPinned,
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: the block is pinned in its box and stays registered until our drop, which
        // unregisters it before the box is freed.
        let ret = unsafe { bindings::register_netdevice_notifier(this.nb.get()) };
        if ret != 0 {
            // Not registered: the drop's unregister is harmless (-ENOENT) but say so.
            return Err(Error::from_errno(ret));
        }
        Ok(this)
    }
}

#[pinned_drop]
impl PinnedDrop for Notifier {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered in `register` (or never, and then the chain does not find it);
        // process context. The return value only says whether it was found.
        let _ = unsafe { bindings::unregister_netdevice_notifier(self.nb.get()) };
    }
}

/// `notifier_block.notifier_call`.
///
/// # Safety
///
/// Only the netdevice notifier chain may call it, with a `netdev_notifier_info` as `ptr`.
unsafe extern "C" fn notifier_cb<H: DeviceEvents>(_nb: *mut bindings::notifier_block, event: c_ulong, ptr: *mut c_void) -> c_int {
    if event as u64 == u64::from(bindings::netdev_cmd_NETDEV_DOWN) {
        // SAFETY: for device events `ptr` is a `netdev_notifier_info` of a live device, whose
        // netns is alive for the call.
        let net = unsafe { NetRef::from_raw(bindings::ipvs_rs_netdev_notifier_net(ptr)) };
        H::device_down(net);
    }
    bindings::NOTIFY_DONE as c_int
}
