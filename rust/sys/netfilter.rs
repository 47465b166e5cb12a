// SPDX-License-Identifier: GPL-2.0
//! Netfilter hooks registered in one netns, dispatching to a safe handler.

use super::bindings;
use super::skb::{Skb, Verdict};
use super::NetRef;
use kernel::ffi::{c_uint, c_void};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

pub(crate) const NF_INET_LOCAL_IN: u32 = 1;
pub(crate) const NF_INET_FORWARD: u32 = 2;
pub(crate) const NF_INET_LOCAL_OUT: u32 = 3;
pub(crate) const NF_IP_PRI_NAT_DST: i32 = -100;
pub(crate) const NF_IP_PRI_NAT_SRC: i32 = 100;

/// Which of our hooks fired; carried in `nf_hook_ops.priv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum HookId {
    /// Replies to local clients (LOCAL_IN, before the request hook).
    ReplyLocalIn = 1,
    /// Requests to a VIP from remote clients (LOCAL_IN).
    RequestLocalIn = 2,
    /// Replies from local real servers (LOCAL_OUT).
    ReplyLocalOut = 3,
    /// Requests to a VIP from local clients (LOCAL_OUT).
    RequestLocalOut = 4,
    /// NAT replies routed through the director (FORWARD).
    ReplyForward = 5,
}

impl HookId {
    fn from_priv(p: *mut c_void) -> Option<Self> {
        Some(match p as usize {
            1 => HookId::ReplyLocalIn,
            2 => HookId::RequestLocalIn,
            3 => HookId::ReplyLocalOut,
            4 => HookId::RequestLocalOut,
            5 => HookId::ReplyForward,
            _ => return None,
        })
    }
}

/// A hook to register: where, at which priority.
#[derive(Clone, Copy)]
pub(crate) struct HookSpec {
    pub(crate) id: HookId,
    pub(crate) hooknum: u32,
    pub(crate) priority: i32,
}

/// The packet handler behind a set of hooks.
pub(crate) trait Handler: 'static {
    /// Handles one packet. The skb is the handler's for the call: it either returns it to
    /// netfilter with the verdict, or consumes it (sending it on) and returns `Stolen`.
    fn hook(id: HookId, net: NetRef<'_>, skb: Skb<'_>) -> Verdict;
}

/// The `nf_hookfn` of every hook.
///
/// # Safety
///
/// Only netfilter may call it, with a live skb it hands to us and a live hook state.
unsafe extern "C" fn hook_cb<H: Handler>(
    priv_: *mut c_void,
    skb: *mut bindings::sk_buff,
    state: *const bindings::nf_hook_state,
) -> c_uint {
    let Some(id) = HookId::from_priv(priv_) else {
        return bindings::NF_ACCEPT;
    };
    // SAFETY: netfilter passes a live state whose net is live for the call, and an skb that
    // we own until we return a verdict.
    let (net, skb) = unsafe { (NetRef::from_raw((*state).net), Skb::from_raw(skb)) };
    H::hook(id, net, skb).to_raw()
}

/// The hooks of one netns. Built once with the netns state, registered while the netns has
/// services (as upstream registers them with the first service, so a netns without services
/// pays nothing per packet), and unregistered with the last one or at `pre_exit`.
///
/// Unregistering does not wait for hooks running on other CPUs (6.12 frees its hook entries by
/// `call_rcu`): what a running hook uses must stay alive for a grace period after. The owner
/// unregisters in `pre_exit`, and the netns core runs `synchronize_rcu` before `exit` frees
/// the state; the drop below waits itself (`synchronize_net`) for the case where it could not.
#[pin_data(PinnedDrop)]
pub(crate) struct Hooks {
    net: *mut bindings::net,
    /// Netfilter keeps pointers to these while they are registered; never moved or resized.
    ops: KVec<bindings::nf_hook_ops>,
    /// Whether `ops` are registered. Registration sleeps, so this is a mutex (process context
    /// only), and it serialises register and unregister.
    #[pin]
    registered: Mutex<bool>,
}

// SAFETY: the ops are only read by netfilter while registered; `registered` serialises changes.
unsafe impl Send for Hooks {}
// SAFETY: as above.
unsafe impl Sync for Hooks {}

impl Hooks {
    /// The hooks of `net`, handled by `H`, not yet registered.
    pub(crate) fn new<H: Handler>(net: NetRef<'_>, specs: &[HookSpec]) -> Result<impl PinInit<Self, Error>> {
        let mut ops = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
        for spec in specs {
            ops.push(
                bindings::nf_hook_ops {
                    hook: Some(hook_cb::<H>),
                    priv_: spec.id as usize as *mut c_void,
                    pf: bindings::NFPROTO_IPV4 as u8,
                    hooknum: spec.hooknum,
                    priority: spec.priority,
                    ..Default::default()
                },
                GFP_KERNEL,
            )?;
        }
        let net = net.as_ptr();
        Ok(try_pin_init!(Hooks {
            net,
            ops,
            registered <- new_mutex!(false),
        }))
    }

    /// Registers the hooks unless they are. Process context.
    pub(crate) fn register(&self) -> Result {
        let mut registered = self.registered.lock();
        if !*registered {
            // SAFETY: `net` is live while its pernet state (our owner) is; `ops` stays
            // allocated and unmoved (never pushed to again) until after `unregister` and a
            // grace period (see the type's doc and our drop).
            let ret = unsafe { bindings::nf_register_net_hooks(self.net, self.ops.as_ptr(), self.ops.len() as u32) };
            if ret != 0 {
                return Err(Error::from_errno(ret));
            }
            *registered = true;
        }
        Ok(())
    }

    /// Unregisters the hooks if they are registered. Hooks already running may still be
    /// running when this returns. Process context.
    pub(crate) fn unregister(&self) {
        let mut registered = self.registered.lock();
        if *registered {
            // SAFETY: registered by `register` in this net, which is alive (see `register`).
            unsafe { bindings::nf_unregister_net_hooks(self.net, self.ops.as_ptr(), self.ops.len() as u32) };
            *registered = false;
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Hooks {
    fn drop(self: Pin<&mut Self>) {
        let was_registered = *self.registered.lock();
        if was_registered {
            self.unregister();
            // Our owner is about to free what the hooks use: wait for the running ones.
            // SAFETY: process context (pernet exit), no lock held.
            unsafe { bindings::synchronize_net() };
        }
    }
}
