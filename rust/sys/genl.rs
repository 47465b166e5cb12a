// SPDX-License-Identifier: GPL-2.0
//! Generic netlink families: registration and the Adapter that turns genetlink callbacks into
//! calls of a safe [`Family`] implementation.
//!
//! Replies and dump entries are encoded by the pure core straight into the skb's tailroom.

use super::bindings;
use super::NetRef;
use crate::ipvs_core::errno::Errno;
use crate::ipvs_core::nlattr::{Full, Rule, Writer, GENL_HDRLEN, NLA_HDRLEN, NLMSG_HDRLEN};
use core::marker::PhantomData;
use kernel::ffi::{c_int, c_long};
use kernel::prelude::*;
use kernel::types::Opaque;

/// Top-level attribute payloads of a request, indexed by attribute type.
pub(crate) type AttrSlots<'a, const N: usize> = [Option<&'a [u8]>; N];

/// How genetlink calls an operation.
#[derive(Clone, Copy)]
pub(crate) struct Op {
    pub(crate) cmd: u8,
    pub(crate) doit: bool,
    pub(crate) dumpit: bool,
}

/// A dump in progress: `cursor` is the state kept between calls (`cb->args`).
pub(crate) struct Dump<'a> {
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
    family: *const bindings::genl_family,
    _life: PhantomData<&'a mut bindings::netlink_callback>,
}

impl Dump<'_> {
    /// The request's genl payload (its attributes), after the genl header.
    pub(crate) fn request(&self) -> &[u8] {
        // SAFETY: `cb->nlh` is the request, valid for the whole dump, and genetlink checked
        // that `nlmsg_len` covers the genl header and lies within the received buffer.
        unsafe {
            let nlh = (*self.cb).nlh;
            let len = (*nlh).nlmsg_len as usize;
            let start = NLMSG_HDRLEN + GENL_HDRLEN;
            if len < start {
                return &[];
            }
            core::slice::from_raw_parts(nlh.cast::<u8>().add(start), len - start)
        }
    }

    /// A copy of the request's payload, so it can be read while entries are appended (the
    /// dump borrows `self` mutably). Truncated to 512 bytes, plenty for a SERVICE attribute.
    pub(crate) fn request_copy(&self) -> RequestCopy {
        let req = self.request();
        let mut buf = [0u8; 512];
        let n = req.len().min(buf.len());
        buf[..n].copy_from_slice(&req[..n]);
        RequestCopy { buf, len: n }
    }

    /// The command of the request.
    pub(crate) fn cmd(&self) -> u8 {
        // SAFETY: as in `request`; the genl header's first byte is the command.
        unsafe { *(*self.cb).nlh.cast::<u8>().add(NLMSG_HDRLEN) }
    }

    /// `cb->args`: state that survives between the calls of one dump.
    pub(crate) fn cursor(&mut self) -> &mut [c_long; 6] {
        // SAFETY: `args` is the active union member for genetlink dumps, owned by this dump.
        unsafe { &mut (*self.cb).__bindgen_anon_1.args }
    }

    /// Appends one message of command `cmd` whose attributes `fill` writes. `Err(Full)` means
    /// the skb is full: nothing of this entry was kept, and the dump resumes at it next time.
    pub(crate) fn entry(
        &mut self,
        cmd: u8,
        fill: &mut dyn FnMut(&mut Writer<'_>) -> core::result::Result<(), Full>,
    ) -> core::result::Result<(), Full> {
        // SAFETY: `skb`, `cb` and `family` are the live objects of this dump callback.
        let hdr = unsafe { bindings::ipvs_rs_genlmsg_put_dump(self.skb, self.cb, self.family, cmd) };
        if hdr.is_null() {
            return Err(Full);
        }
        // SAFETY: `skb` is live and owned by this dump; the header was just put.
        let written = unsafe { fill_tailroom(self.skb, fill) };
        match written {
            Ok(()) => {
                // SAFETY: `hdr` was returned by genlmsg_put on this skb.
                unsafe { bindings::ipvs_rs_genlmsg_end(self.skb, hdr) };
                Ok(())
            }
            Err(Full) => {
                // SAFETY: as above; cancel trims the skb back to before the header.
                unsafe { bindings::ipvs_rs_genlmsg_cancel(self.skb, hdr) };
                Err(Full)
            }
        }
    }
}

/// See [`Dump::request_copy`].
pub(crate) struct RequestCopy {
    buf: [u8; 512],
    len: usize,
}

impl core::ops::Deref for RequestCopy {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

/// Lets `fill` write attributes into the tailroom of `skb`, then commits what it wrote.
///
/// # Safety
///
/// `skb` must be a live skb that the caller may extend.
unsafe fn fill_tailroom(
    skb: *mut bindings::sk_buff,
    fill: impl FnOnce(&mut Writer<'_>) -> core::result::Result<(), Full>,
) -> core::result::Result<(), Full> {
    // SAFETY: the caller owns `skb`; tail pointer and tailroom describe writable memory.
    let (tail, room) = unsafe {
        (bindings::ipvs_rs_skb_tail_pointer(skb), bindings::ipvs_rs_skb_tailroom(skb))
    };
    let room = usize::try_from(room).unwrap_or(0);
    // SAFETY: `room` bytes from `tail` belong to the skb's buffer and nobody else uses them.
    let buf = unsafe { core::slice::from_raw_parts_mut(tail, room) };
    let mut w = Writer::new(buf);
    fill(&mut w)?;
    let len = w.len() as u32;
    // SAFETY: `len` <= tailroom, and the bytes were initialised by the writer.
    unsafe { bindings::skb_put(skb, len) };
    Ok(())
}

/// The commands of a generic netlink family, implemented safely.
pub(crate) trait Family: 'static {
    const NAME: &'static str;
    const VERSION: u8;
    /// The top-level attribute policy, indexed by type (index 0 unused).
    const POLICY: &'static [Rule];
    const OPS: &'static [Op];
    /// Commands below this keep the liberal validation of old families.
    const RESV_START_OP: u8;
    /// Number of top-level attribute slots (the policy's length).
    const SLOTS: usize;

    /// The reply command of a doit that answers with a message, or `None` for ack-only ones.
    fn reply_cmd(cmd: u8) -> Option<u8>;
    /// An ack-only doit.
    fn set(net: NetRef<'_>, cmd: u8, attrs: &[Option<&[u8]>]) -> Result<(), Errno>;
    /// A doit that answers: writes the reply's attributes.
    fn get(net: NetRef<'_>, cmd: u8, attrs: &[Option<&[u8]>], w: &mut Writer<'_>) -> Result<(), Errno>;
    /// A dump: appends entries with [`Dump::entry`] until done or full.
    fn dump(net: NetRef<'_>, dump: &mut Dump<'_>);
}

/// The largest policy a family may have here (IPVS has 7 slots).
const MAX_POLICY: usize = 16;
/// The most ops a family may have here (IPVS has 16).
const MAX_OPS: usize = 24;

struct Storage {
    family: Opaque<bindings::genl_family>,
    ops: [bindings::genl_small_ops; MAX_OPS],
    policy: [bindings::nla_policy; MAX_POLICY],
}

/// A registered family; unregistered on drop.
pub(crate) struct Registration<F: Family> {
    storage: KBox<Storage>,
    _family: PhantomData<F>,
}

// SAFETY: after registration the storage is only read by genetlink (which serialises its own
// updates of `family`), and dropping unregisters before freeing.
unsafe impl<F: Family> Send for Registration<F> {}
// SAFETY: as above; `&Registration` gives no access to the storage.
unsafe impl<F: Family> Sync for Registration<F> {}

fn policy_entry(rule: Rule) -> bindings::nla_policy {
    let (kind, len) = match rule {
        Rule::Ignore => (bindings::NLA_UNSPEC, 0),
        Rule::MinLen(n) => (bindings::NLA_UNSPEC, n),
        Rule::U8 => (bindings::NLA_U8, 0),
        Rule::U16 => (bindings::NLA_U16, 0),
        Rule::U32 => (bindings::NLA_U32, 0),
        Rule::NulString(n) => (bindings::NLA_NUL_STRING, n),
        Rule::Binary(n) => (bindings::NLA_BINARY, n),
        Rule::Nested => (bindings::NLA_NESTED, 0),
    };
    bindings::nla_policy {
        type_: kind as u8,
        len: len as u16,
        ..Default::default()
    }
}

impl<F: Family> Registration<F> {
    /// Registers the family. Fails with the kernel's errno, e.g. EEXIST when another module
    /// (stock ip_vs) already holds the name.
    pub(crate) fn register(module: &'static ThisModule) -> Result<Self> {
        if F::POLICY.len() > MAX_POLICY || F::OPS.len() > MAX_OPS || F::NAME.len() >= 16 {
            return Err(EINVAL);
        }
        let mut storage = KBox::new(
            Storage {
                family: Opaque::new(bindings::genl_family::default()),
                ops: [bindings::genl_small_ops::default(); MAX_OPS],
                policy: [bindings::nla_policy::default(); MAX_POLICY],
            },
            GFP_KERNEL,
        )?;
        for (slot, rule) in storage.policy.iter_mut().zip(F::POLICY) {
            *slot = policy_entry(*rule);
        }
        for (slot, op) in storage.ops.iter_mut().zip(F::OPS) {
            *slot = bindings::genl_small_ops {
                doit: if op.doit { Some(doit_cb::<F>) } else { None },
                dumpit: if op.dumpit { Some(dumpit_cb::<F>) } else { None },
                cmd: op.cmd,
                internal_flags: 0,
                flags: bindings::GENL_ADMIN_PERM as u8,
                validate: (bindings::genl_validate_flags_GENL_DONT_VALIDATE_STRICT
                    | bindings::genl_validate_flags_GENL_DONT_VALIDATE_DUMP) as u8,
            };
        }
        let fam = storage.family.get();
        // SAFETY: `fam` points into our fresh allocation, not yet shared with the kernel.
        unsafe {
            for (dst, src) in (*fam).name.iter_mut().zip(F::NAME.bytes()) {
                *dst = src as kernel::ffi::c_char;
            }
            (*fam).version = u32::from(F::VERSION);
            (*fam).maxattr = (F::POLICY.len() - 1) as u32;
            (*fam).set_netnsok(1);
            (*fam).policy = storage.policy.as_ptr();
            (*fam).small_ops = storage.ops.as_ptr();
            (*fam).n_small_ops = F::OPS.len() as u8;
            (*fam).resv_start_op = F::RESV_START_OP;
            (*fam).module = module.as_ptr().cast();
        }
        // SAFETY: the family and the arrays it points to live in `storage`, which stays
        // allocated until `drop` has unregistered the family.
        let ret = unsafe { bindings::genl_register_family(fam) };
        if ret != 0 {
            return Err(Error::from_errno(ret));
        }
        Ok(Registration { storage, _family: PhantomData })
    }
}

impl<F: Family> Drop for Registration<F> {
    fn drop(&mut self) {
        // SAFETY: the family was registered by `register`. Unregistering waits for running
        // doits (genl_mutex); dumps hold a module reference, so none can be running now.
        unsafe { bindings::genl_unregister_family(self.storage.family.get()) };
    }
}

fn to_ret(err: Errno) -> c_int {
    -err.0
}

/// Reads the top-level attributes genetlink parsed (and validated against our policy).
///
/// # Safety
///
/// `info` must be the live `genl_info` of a doit of a family whose maxattr is `slots - 1`.
unsafe fn request_attrs<'a, const N: usize>(info: *const bindings::genl_info, slots: usize) -> AttrSlots<'a, N> {
    let mut out: AttrSlots<'a, N> = [None; N];
    // SAFETY: per the contract, `attrs` has `slots` entries (or is NULL with no attrs).
    unsafe {
        let attrs = (*info).attrs;
        if attrs.is_null() {
            return out;
        }
        for (i, slot) in out.iter_mut().enumerate().take(slots).skip(1) {
            let nla = *attrs.add(i);
            if !nla.is_null() {
                let len = usize::from((*nla).nla_len).saturating_sub(NLA_HDRLEN);
                *slot = Some(core::slice::from_raw_parts(nla.cast::<u8>().add(NLA_HDRLEN), len));
            }
        }
    }
    out
}

/// genetlink's doit for every command of `F`.
///
/// # Safety
///
/// Only genetlink may call it, with the live skb and info of a request to our family.
unsafe extern "C" fn doit_cb<F: Family>(
    _skb: *mut bindings::sk_buff,
    info: *mut bindings::genl_info,
) -> c_int {
    // SAFETY: genetlink passes a live info whose net, header and attrs outlive this call.
    let (net, cmd, attrs) = unsafe {
        let net = NetRef::from_raw(bindings::ipvs_rs_genl_info_net(info));
        let cmd = (*(*info).genlhdr).cmd;
        (net, cmd, request_attrs::<{ MAX_POLICY }>(info, F::SLOTS))
    };
    let attrs = &attrs[..F::SLOTS];
    let Some(reply_cmd) = F::reply_cmd(cmd) else {
        return match F::set(net, cmd, attrs) {
            Ok(()) => 0,
            Err(e) => to_ret(e),
        };
    };
    // SAFETY: plain allocation.
    let msg = unsafe { bindings::ipvs_rs_nlmsg_new_default() };
    if msg.is_null() {
        return to_ret(Errno::ENOMEM);
    }
    // SAFETY: `msg` is ours; `info` and its family are live.
    let hdr = unsafe { bindings::ipvs_rs_genlmsg_put_reply(msg, info, (*info).family, reply_cmd) };
    let mut result = Err(Errno::EMSGSIZE);
    if !hdr.is_null() {
        // SAFETY: `msg` is ours to extend.
        let filled = unsafe {
            fill_tailroom(msg, |w| match F::get(net, cmd, attrs, w) {
                Ok(()) => Ok(()),
                Err(e) => {
                    result = Err(e);
                    Err(Full)
                }
            })
        };
        if filled.is_ok() {
            result = Ok(());
        }
    }
    match result {
        Ok(()) => {
            // SAFETY: `hdr` belongs to `msg`; genlmsg_reply consumes `msg`.
            unsafe {
                bindings::ipvs_rs_genlmsg_end(msg, hdr);
                bindings::ipvs_rs_genlmsg_reply(msg, info)
            }
        }
        Err(e) => {
            // SAFETY: `msg` is still ours.
            unsafe { bindings::ipvs_rs_nlmsg_free(msg) };
            to_ret(e)
        }
    }
}

/// genetlink's dumpit for every dump of `F`.
///
/// # Safety
///
/// Only genetlink may call it, with the live skb and callback of a dump of our family.
unsafe extern "C" fn dumpit_cb<F: Family>(
    skb: *mut bindings::sk_buff,
    cb: *mut bindings::netlink_callback,
) -> c_int {
    // SAFETY: genetlink passes the dump's live skb (whose socket pins the net) and callback.
    let net = unsafe { NetRef::from_raw(bindings::ipvs_rs_skb_sock_net(skb)) };
    let mut dump = Dump {
        skb,
        cb,
        // SAFETY: `cb` belongs to a genetlink dump, so its dumpit info names the family.
        family: unsafe { bindings::ipvs_rs_dump_family(cb) },
        _life: PhantomData,
    };
    F::dump(net, &mut dump);
    // SAFETY: `skb` is live.
    unsafe { bindings::ipvs_rs_skb_len(skb) as c_int }
}
