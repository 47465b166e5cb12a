// SPDX-License-Identifier: GPL-2.0
//! Netfilter hooks registered in one netns, dispatching to a safe handler.

use super::bindings;
use super::rcu::ReadGuard;
use super::skb::{Skb, Verdict};
use crate::ipvs_core::uapi::{AF_INET, AF_INET6};
use super::NetRef;
use kernel::ffi::{c_uint, c_void};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::Mutex;

pub(crate) const NF_INET_LOCAL_IN: u32 = 1;
pub(crate) const NF_INET_FORWARD: u32 = 2;
pub(crate) const NF_INET_LOCAL_OUT: u32 = 3;
/// The NAT priorities, the same numbers for IPv4 and IPv6 (`NF_IP6_PRI_NAT_*`).
pub(crate) const NF_IP_PRI_NAT_DST: i32 = -100;
pub(crate) const NF_IP_PRI_NAT_SRC: i32 = 100;

/// The address families hooks are registered for, as `AF_*` values.
pub(crate) const FAMILIES: [u16; 2] = [AF_INET, AF_INET6];

/// Which of our hooks fired; carried in `nf_hook_ops.priv`.
///
/// Upstream registers a reply hook and, just after it, a request hook at LOCAL_IN (priorities
/// 98 and 99) and at LOCAL_OUT (-99 and -98); here each pair is one hook, at the first
/// priority, that does both in that order. A packet then pays for one hook call, one lookup
/// of the netns state and one parse of its headers where upstream pays for two.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum HookId {
    /// Replies to local clients, then requests to a VIP from remote clients (LOCAL_IN).
    LocalIn = 1,
    /// Replies from local real servers, then requests to a VIP from local clients (LOCAL_OUT).
    LocalOut = 2,
    /// NAT replies routed through the director (FORWARD).
    ReplyForward = 3,
    /// ICMP errors for a virtual service the director routes rather than delivers
    /// (FORWARD, before the reply hook).
    IcmpForward = 4,
}

/// `nf_hook_ops.priv`: the hook's id, plus this bit for an IPv6 hook.
const PRIV_V6: usize = 0x100;

impl HookId {
    /// The hook and its address family.
    fn from_priv(p: *mut c_void) -> Option<(Self, u16)> {
        let p = p as usize;
        let af = if p & PRIV_V6 != 0 { AF_INET6 } else { AF_INET };
        let id = match p & !PRIV_V6 {
            1 => HookId::LocalIn,
            2 => HookId::LocalOut,
            3 => HookId::ReplyForward,
            4 => HookId::IcmpForward,
            _ => return None,
        };
        Some((id, af))
    }
}

/// The netfilter protocol family of an address family.
fn nfproto(af: u16) -> u8 {
    if af == AF_INET6 {
        bindings::NFPROTO_IPV6 as u8
    } else {
        bindings::NFPROTO_IPV4 as u8
    }
}

/// Which of [`FAMILIES`] `af` is.
fn family_index(af: u16) -> usize {
    usize::from(af == AF_INET6)
}

/// A hook to register: where, at which priority (the same for both families).
#[derive(Clone, Copy)]
pub(crate) struct HookSpec {
    pub(crate) id: HookId,
    pub(crate) hooknum: u32,
    pub(crate) priority: i32,
}

/// The packet handler behind a set of hooks.
pub(crate) trait Handler: 'static {
    /// Handles one packet of family `af` (`AF_INET` or `AF_INET6`). The skb is the
    /// handler's for the call: it either returns it to netfilter with the verdict, or
    /// consumes it (sending it on) and returns `Stolen`.
    /// `rcu` is the read-side section netfilter runs its hooks in.
    fn hook(id: HookId, af: u16, net: NetRef<'_>, rcu: &ReadGuard, skb: Skb<'_>) -> Verdict;
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
    let Some((id, af)) = HookId::from_priv(priv_) else {
        return bindings::NF_ACCEPT;
    };
    // SAFETY: netfilter passes a live state whose net is live for the call, and an skb of
    // the hook's family that we own until we return a verdict.
    let (net, skb) = unsafe { (NetRef::from_raw((*state).net), Skb::from_raw(skb, af)) };
    // SAFETY: netfilter runs every hook inside rcu_read_lock (`nf_hook`, and the callers of
    // `nf_reinject`), which outlasts this call; the guard stays here and is lent only.
    let rcu = unsafe { ReadGuard::assume_held() };
    H::hook(id, af, net, &rcu, skb).to_raw()
}

/// The hooks of one netns, for both families. Built once with the netns state; a family's
/// hooks are registered while the netns has services of that family (as upstream registers
/// them with the first service, so a netns without services pays nothing per packet), and
/// unregistered with the last one or at `pre_exit`.
///
/// Unregistering does not wait for hooks running on other CPUs (6.12 frees its hook entries by
/// `call_rcu`): what a running hook uses must stay alive for a grace period after. The owner
/// unregisters in `pre_exit`, and the netns core runs `synchronize_rcu` before `exit` frees
/// the state; the drop below waits itself (`synchronize_net`) for the case where it could not.
#[pin_data(PinnedDrop)]
pub(crate) struct Hooks {
    net: *mut bindings::net,
    /// One set of ops per family of [`FAMILIES`]. Netfilter keeps pointers to these while
    /// they are registered; never moved or resized.
    ops: [KVec<bindings::nf_hook_ops>; 2],
    /// Whether each family's ops are registered. Registration sleeps, so this is a mutex
    /// (process context only), and it serialises register and unregister.
    #[pin]
    registered: Mutex<[bool; 2]>,
}

// SAFETY: the ops are only read by netfilter while registered; `registered` serialises changes.
unsafe impl Send for Hooks {}
// SAFETY: as above.
unsafe impl Sync for Hooks {}

impl Hooks {
    /// The hooks of `net`, handled by `H`, not yet registered.
    pub(crate) fn new<H: Handler>(net: NetRef<'_>, specs: &[HookSpec]) -> Result<impl PinInit<Self, Error>> {
        let family_ops = |af: u16| -> Result<KVec<bindings::nf_hook_ops>> {
            let mut ops = KVec::with_capacity(specs.len(), GFP_KERNEL)?;
            let v6_bit = if af == AF_INET6 { PRIV_V6 } else { 0 };
            for spec in specs {
                ops.push(
                    bindings::nf_hook_ops {
                        hook: Some(hook_cb::<H>),
                        priv_: (spec.id as usize | v6_bit) as *mut c_void,
                        pf: nfproto(af),
                        hooknum: spec.hooknum,
                        priority: spec.priority,
                        ..Default::default()
                    },
                    GFP_KERNEL,
                )?;
            }
            Ok(ops)
        };
        let ops = [family_ops(FAMILIES[0])?, family_ops(FAMILIES[1])?];
        let net = net.as_ptr();
        Ok(try_pin_init!(Hooks {
            net,
            ops,
            registered <- new_mutex!([false; 2]),
        }))
    }

    /// Registers the hooks of family `af` unless they are. Process context.
    pub(crate) fn register(&self, af: u16) -> Result {
        let i = family_index(af);
        let mut registered = self.registered.lock();
        if let (Some(false), Some(ops)) = (registered.get(i).copied(), self.ops.get(i)) {
            // SAFETY: `net` is live while its pernet state (our owner) is; `ops` stays
            // allocated and unmoved (never pushed to again) until after `unregister` and a
            // grace period (see the type's doc and our drop).
            let ret = unsafe { bindings::nf_register_net_hooks(self.net, ops.as_ptr(), ops.len() as u32) };
            if ret != 0 {
                return Err(Error::from_errno(ret));
            }
            registered[i] = true;
        }
        Ok(())
    }

    /// Unregisters the hooks of family `af` if they are registered. Hooks already running
    /// may still be running when this returns. Process context.
    pub(crate) fn unregister(&self, af: u16) {
        let i = family_index(af);
        let mut registered = self.registered.lock();
        if let (Some(true), Some(ops)) = (registered.get(i).copied(), self.ops.get(i)) {
            // SAFETY: registered by `register` in this net, which is alive (see `register`).
            unsafe { bindings::nf_unregister_net_hooks(self.net, ops.as_ptr(), ops.len() as u32) };
            registered[i] = false;
        }
    }

    /// Unregisters every family's hooks. Process context.
    pub(crate) fn unregister_all(&self) {
        for af in FAMILIES {
            self.unregister(af);
        }
    }
}

#[pinned_drop]
impl PinnedDrop for Hooks {
    fn drop(self: Pin<&mut Self>) {
        let was_registered = self.registered.lock().contains(&true);
        if was_registered {
            self.unregister_all();
            // Our owner is about to free what the hooks use: wait for the running ones.
            // SAFETY: process context (pernet exit), no lock held.
            unsafe { bindings::synchronize_net() };
        }
    }
}
