// SPDX-License-Identifier: GPL-2.0
//! Netfilter hooks registered in one netns, dispatching to a safe handler.

use super::bindings;
use super::skb::{Skb, Verdict};
use super::NetRef;
use core::marker::PhantomData;
use kernel::ffi::{c_uint, c_void};
use kernel::prelude::*;

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
    fn hook(id: HookId, net: NetRef<'_>, skb: &mut Skb<'_>) -> Verdict;
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
    let (net, mut skb) = unsafe { (NetRef::from_raw((*state).net), Skb::from_raw(skb)) };
    H::hook(id, net, &mut skb).to_raw()
}

/// Hooks registered in one netns; unregistered on drop (which waits for running hooks).
pub(crate) struct Hooks<H: Handler> {
    net: *mut bindings::net,
    ops: KVec<bindings::nf_hook_ops>,
    _h: PhantomData<H>,
}

// SAFETY: the ops are only read by netfilter after registration.
unsafe impl<H: Handler> Send for Hooks<H> {}
// SAFETY: as above.
unsafe impl<H: Handler> Sync for Hooks<H> {}

impl<H: Handler> Hooks<H> {
    pub(crate) fn register(net: NetRef<'_>, specs: &[HookSpec]) -> Result<Self> {
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
        // SAFETY: `net` is live; `ops` stays allocated (and unmoved: a KVec's buffer does not
        // move while we do not push) until `drop` unregisters it.
        let ret = unsafe { bindings::nf_register_net_hooks(net.as_ptr(), ops.as_ptr(), ops.len() as u32) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Hooks { net: net.as_ptr(), ops, _h: PhantomData })
    }
}

impl<H: Handler> Drop for Hooks<H> {
    fn drop(&mut self) {
        // SAFETY: registered in `register` in this net, which is alive while its pernet state
        // (our owner) is.
        unsafe { bindings::nf_unregister_net_hooks(self.net, self.ops.as_ptr(), self.ops.len() as u32) };
    }
}
