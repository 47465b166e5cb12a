// SPDX-License-Identifier: GPL-2.0
//! Packets (`struct sk_buff`) as the datapath sees them inside a netfilter hook: bounded reads,
//! in-place rewrites with checksum fix-ups, routing and output. Offsets are from the start of
//! the network (IP) header.

use super::bindings;
use super::NetRef;
use crate::ipvs_core::tunnel::{gre_ethertype, Encap, EncapHeader, Outer, PartialCsum};
use crate::ipvs_core::uapi::{AF_INET, AF_INET6};
use super::rcu::ReadGuard;
use core::marker::PhantomData;

/// A packet owned by the current hook invocation.
pub(crate) struct Skb<'a> {
    raw: *mut bindings::sk_buff,
    /// `AF_INET` or `AF_INET6`: the family of the network header (the hook's).
    af: u16,
    _life: PhantomData<&'a mut bindings::sk_buff>,
}

/// A route to send a packet on: either counted (a `dst_entry` reference of its own, dropped
/// unless given to a packet) or borrowed from a route cache for the RCU read-side section
/// `'rcu`, without a reference, as upstream attaches its cached routes with
/// `skb_dst_set_noref`. A borrowed route can go to a packet only as it is sent
/// ([`Skb::send_on`]); a packet that continues after our hook takes a counted one
/// ([`Route::counted`]).
pub(crate) struct Route<'rcu> {
    dst: *mut bindings::dst_entry,
    /// The route's family: `AF_INET` or `AF_INET6`.
    af: u16,
    /// The source address the route chose, in network byte order: always for IPv4; for
    /// IPv6 only when looked up for a tunnel ([`RouteKind::Tunnel`]), else zero.
    pub(crate) saddr: [u8; 16],
    /// The route delivers to this host.
    local: bool,
    /// We hold a reference on `dst` (else it is borrowed for `'rcu`).
    counted: bool,
    _rcu: PhantomData<&'rcu ReadGuard>,
}

/// What a route is looked up for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RouteKind {
    /// To the packet's new destination (NAT).
    Direct,
    /// Via the destination as known next hop (`FLOWI_FLAG_KNOWN_NH`, direct routing: the
    /// packet keeps its own destination address).
    KnownNextHop,
    /// To a tunnel endpoint, with the source address the outer header needs (for IPv6 chosen
    /// by `ipv6_dev_get_saddr` as upstream's `__ip_vs_route_output_v6`, which the other
    /// kinds do not pay for).
    Tunnel,
}

impl Drop for Route<'_> {
    fn drop(&mut self) {
        if self.counted {
            // SAFETY: we hold one reference on `dst`.
            unsafe { bindings::dst_release(self.dst) };
        }
    }
}

impl Route<'static> {
    fn new_counted(dst: *mut bindings::dst_entry, af: u16, saddr: [u8; 16], local: bool) -> Self {
        Route { dst, af, saddr, local, counted: true, _rcu: PhantomData }
    }

    /// Looks up the route to `daddr` of family `af`, for `kind`.
    pub(crate) fn output(net: NetRef<'_>, af: u16, daddr: &[u8; 16], kind: RouteKind) -> Option<Self> {
        if af == AF_INET6 {
            Self::output_v6(net, daddr, kind)
        } else {
            Self::output_v4(net, [daddr[0], daddr[1], daddr[2], daddr[3]], kind == RouteKind::KnownNextHop)
        }
    }

    fn output_v4(net: NetRef<'_>, daddr: [u8; 4], known_nh: bool) -> Option<Self> {
        let mut fl4 = bindings::flowi4 {
            daddr: u32::from_ne_bytes(daddr),
            __fl_common: bindings::flowi_common {
                flowic_flags: if known_nh { bindings::FLOWI_FLAG_KNOWN_NH as u8 } else { 0 },
                ..Default::default()
            },
            ..Default::default()
        };
        // SAFETY: `net` is live; `fl4` is a valid flow key on our stack.
        let rt = unsafe { bindings::ip_route_output_flow(net.as_ptr(), &mut fl4, core::ptr::null()) };
        if rt.is_null() || (rt as usize) >= (-4095isize) as usize {
            return None;
        }
        // SAFETY: `rt` is a live route we hold a reference on; its dst is its first member.
        let (dst, local) = unsafe { (bindings::ipvs_rs_rt_dst(rt), bindings::ipvs_rs_rt_is_local(rt)) };
        Some(Route::new_counted(dst, AF_INET, v4_to_16(fl4.saddr.to_ne_bytes()), local))
    }

    /// `ip6_route_output`; with [`RouteKind::KnownNextHop`] the kernel makes an uncached
    /// clone whose gateway is `daddr` (`FLOWI_FLAG_KNOWN_NH`), for direct routing; with
    /// [`RouteKind::Tunnel`] a source address is chosen for the outer header (`None` if
    /// there is none), and the route is passed through the IPsec policy lookup
    /// (`xfrm_lookup`), which may wrap it in a bundle (as upstream looks up only an IPv6
    /// tunnel's route: the director's own packets to the real server, from that address).
    fn output_v6(net: NetRef<'_>, daddr: &[u8; 16], kind: RouteKind) -> Option<Self> {
        let known_nh = kind == RouteKind::KnownNextHop;
        let mut fl6 = bindings::flowi6 {
            __fl_common: bindings::flowi_common {
                flowic_flags: if known_nh { bindings::FLOWI_FLAG_KNOWN_NH as u8 } else { 0 },
                ..Default::default()
            },
            ..Default::default()
        };
        fl6.daddr.in6_u.u6_addr8 = *daddr;
        // SAFETY: `net` is live; `fl6` is a valid flow key on our stack. The result is never
        // null: a failed lookup gives a counted route with `error` set.
        let dst = unsafe { bindings::ipvs_rs_ip6_route_output(net.as_ptr(), &mut fl6) };
        if dst.is_null() {
            return None;
        }
        // SAFETY: `dst` is a live route we hold a reference on.
        let (error, local) = unsafe { (bindings::ipvs_rs_dst_error(dst), bindings::ipvs_rs_dst_dev_is_loopback(dst)) };
        let mut route = Route::new_counted(dst, AF_INET6, [0; 16], local);
        if error != 0 {
            return None;
        }
        if kind == RouteKind::Tunnel {
            // SAFETY: reading the plain byte view of the flow's source address (a union of
            // integer arrays, every bit pattern valid).
            let chosen = unsafe { fl6.saddr.in6_u.u6_addr8 };
            if chosen == [0; 16] {
                let mut saddr = bindings::in6_addr::default();
                // SAFETY: `net` and the route are live (we hold a reference); the addresses
                // are on our stack.
                if unsafe { bindings::ipvs_rs_ipv6_dev_get_saddr(net.as_ptr(), dst, &fl6.daddr, &mut saddr) } < 0 {
                    return None;
                }
                // SAFETY: as above, a plain byte view.
                route.saddr = unsafe { saddr.in6_u.u6_addr8 };
                fl6.saddr = saddr;
            } else {
                route.saddr = chosen;
            }
            let dst = core::mem::ManuallyDrop::new(route);
            // SAFETY: `net` is live; the lookup takes over our reference on the route (it
            // returns it, or a bundle holding it, or drops it and returns null on error);
            // `fl6` is the flow the route was looked up for, now with its source.
            let bundled = unsafe { bindings::ipvs_rs_xfrm_lookup6(net.as_ptr(), dst.dst, &mut fl6) };
            if bundled.is_null() {
                return None;
            }
            return Some(Route::new_counted(bundled, dst.af, dst.saddr, dst.local));
        }
        Some(route)
    }
}

impl<'rcu> Route<'rcu> {
    /// A route borrowed without a reference for the read-side section of `_rcu`.
    ///
    /// # Safety
    ///
    /// `dst` must stay live until `_rcu` ends (a cache that holds a reference on it and
    /// drops that only a grace period after unpublishing it), and `af`/`saddr`/`local`
    /// must be what its lookup gave.
    pub(super) unsafe fn borrowed(
        dst: *mut bindings::dst_entry,
        af: u16,
        saddr: [u8; 16],
        local: bool,
        _rcu: &'rcu ReadGuard,
    ) -> Self {
        Route { dst, af, saddr, local, counted: false, _rcu: PhantomData }
    }

    /// The route, for a cache to hold its own reference on.
    pub(super) fn raw(&self) -> *mut bindings::dst_entry {
        self.dst
    }

    /// The same route with a reference of its own, to outlive the read-side section; `None`
    /// if the route is already being released.
    pub(crate) fn counted(self) -> Option<Route<'static>> {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: a borrowed route is live for `'rcu`, which has not ended (we borrow it);
        // `dst_hold_safe` fails rather than revive a route whose last reference went.
        if !this.counted && !unsafe { bindings::ipvs_rs_dst_hold_safe(this.dst) } {
            return None;
        }
        Some(Route::new_counted(this.dst, this.af, this.saddr, this.local))
    }

    /// The route's family (a tunnel's outer header is of this family).
    pub(crate) fn af(&self) -> u16 {
        self.af
    }

    pub(crate) fn mtu(&self) -> u32 {
        // SAFETY: `dst` is a live route we hold a reference on.
        unsafe { bindings::ipvs_rs_dst_mtu(self.dst) }
    }

    /// The route delivers to this host.
    pub(crate) fn is_local(&self) -> bool {
        self.local
    }
}

/// An IPv4 address in the 16-byte form.
fn v4_to_16(a: [u8; 4]) -> [u8; 16] {
    crate::ipvs_core::ip::v4_to_16(a)
}

/// The first `len` bytes of a packet from its network header, made linear and private by
/// [`Skb::make_writable`]. Every write is checked against `len`.
///
/// # Invariants
///
/// `len` bytes from the network header of `skb` are linear and writable; the mutable borrow
/// keeps anything from reallocating the head meanwhile.
pub(crate) struct Writable<'s, 'a> {
    skb: &'s mut Skb<'a>,
    len: usize,
}

impl Writable<'_, '_> {
    /// A pointer to `offset` in the linear data, if `offset + n` lies within the writable part.
    fn at(&mut self, offset: usize, n: usize) -> Option<*mut u8> {
        if offset.checked_add(n)? > self.len {
            return None;
        }
        // SAFETY: by the type invariant the range is in the skb's linear, writable head.
        Some(unsafe { (*self.skb.raw).data.add(self.skb.nh() + offset) })
    }

    /// Reads bytes of the writable part.
    pub(crate) fn read<const N: usize>(&mut self, offset: usize) -> Option<[u8; N]> {
        let p = self.at(offset, N)?;
        let mut out = [0u8; N];
        // SAFETY: `at` checked the range.
        unsafe { core::ptr::copy_nonoverlapping(p, out.as_mut_ptr(), N) };
        Some(out)
    }

    /// Overwrites bytes.
    pub(crate) fn write(&mut self, offset: usize, bytes: &[u8]) -> bool {
        let Some(p) = self.at(offset, bytes.len()) else { return false };
        // SAFETY: `at` checked the range.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), p, bytes.len()) };
        true
    }

    /// Updates the L4 checksum at `csum_off` for a 16-byte (an IPv6 address) or 4-byte field
    /// change (an IPv4 address; both part of the pseudo-header) or a 2-byte change (a port),
    /// honouring CHECKSUM_PARTIAL.
    pub(crate) fn l4_csum_replace(&mut self, csum_off: usize, from: &[u8], to: &[u8], pseudo: bool) -> bool {
        let Some(p) = self.at(csum_off, 2) else { return false };
        let raw = self.skb.raw;
        if let (Ok(from), Ok(to)) = (<&[u8; 16]>::try_from(from), <&[u8; 16]>::try_from(to)) {
            let (from, to) = (addr_words(from), addr_words(to));
            // SAFETY: `p` points at a 2-byte checksum in the writable linear area of `raw`;
            // `from` and `to` are four words each on our stack.
            unsafe { bindings::inet_proto_csum_replace16(p.cast(), raw, from.as_ptr(), to.as_ptr(), pseudo) };
            return true;
        }
        // SAFETY: `p` points at a 2-byte checksum in the writable linear area of `raw`.
        unsafe {
            match (from, to) {
                ([a, b, c, d], [e, f, g, h]) => bindings::inet_proto_csum_replace4(
                    p.cast(), raw, u32::from_ne_bytes([*a, *b, *c, *d]), u32::from_ne_bytes([*e, *f, *g, *h]), pseudo),
                ([a, b], [c, d]) => bindings::ipvs_rs_inet_proto_csum_replace2(
                    p.cast(), raw, u16::from_ne_bytes([*a, *b]), u16::from_ne_bytes([*c, *d]), pseudo),
                _ => return false,
            }
        }
        true
    }

    /// Recomputes the IPv4 header checksum (IPv6 has none: nothing to do).
    pub(crate) fn ip_send_check(&mut self) -> bool {
        self.skb.af == AF_INET6 || self.ipv4_send_check_at(0)
    }

    /// Recomputes the checksum of the IPv4 header at `offset` (the packet's own at 0, or the
    /// one an ICMP error quotes), options included.
    pub(crate) fn ipv4_send_check_at(&mut self, offset: usize) -> bool {
        let Some([vihl]) = self.read::<1>(offset) else { return false };
        let len = usize::from(vihl & 0x0f) * 4;
        if len < 20 {
            return false;
        }
        let Some(p) = self.at(offset, len) else { return false };
        // SAFETY: `at` checked that the whole header (IHL words, which ip_send_check sums)
        // lies in the writable part.
        unsafe { bindings::ip_send_check(p.cast()) };
        true
    }

    /// Fills in the checksum of the ICMP message at `offset`, which runs to the end of the
    /// packet, and marks the packet's checksum as verified (upstream's `ip_vs_nat_icmp`). An
    /// ICMPv6 checksum covers the pseudo-header too, from the addresses as they are now.
    pub(crate) fn icmp_csum_fill(&mut self, offset: usize) -> bool {
        if self.skb.af == AF_INET6 {
            return self.ipv6_full_csum(offset, crate::ipvs_core::icmp::CSUM_OFF, IPPROTO_ICMPV6);
        }
        let Some(p) = self.at(offset + crate::ipvs_core::icmp::CSUM_OFF, 2) else { return false };
        let Ok(off) = u32::try_from(self.skb.nh() + offset) else { return false };
        let raw = self.skb.raw;
        // SAFETY: `p` is the checksum field, in the writable linear part (checked by `at`);
        // skb_checksum reads the rest of the message wherever it lies.
        unsafe {
            // The checksum field counts as zero in the sum.
            core::ptr::write_bytes(p, 0, 2);
            let sum = bindings::ipvs_rs_skb_csum_fold(raw, off);
            core::ptr::copy_nonoverlapping(sum.to_ne_bytes().as_ptr(), p, 2);
            bindings::ipvs_rs_skb_csum_unnecessary(raw);
        }
        true
    }

    /// Whether the packet's checksum is left to the device (CHECKSUM_PARTIAL).
    pub(crate) fn csum_partial(&self) -> bool {
        self.skb.csum_partial()
    }

    /// Computes the whole UDP checksum of the datagram at `udp_off` (from the addresses in
    /// the IP header as they are now), zero sent as all ones, and marks the packet's
    /// checksum as verified (upstream's "full checksum calculation" in the UDP NAT handlers).
    pub(crate) fn udp_full_csum(&mut self, udp_off: usize) -> bool {
        if self.skb.af == AF_INET6 {
            return self.ipv6_full_csum(udp_off, 6, IPPROTO_UDP);
        }
        let (Some(src), Some(dst)) = (self.read::<4>(12), self.read::<4>(16)) else { return false };
        let Some(p) = self.at(udp_off + 6, 2) else { return false };
        let Ok(off) = u32::try_from(self.skb.nh() + udp_off) else { return false };
        let raw = self.skb.raw;
        // SAFETY: `raw` is live and its first `udp_off + 8` bytes from the network header are
        // linear and writable (`at` checked the checksum field); skb_checksum reads the rest
        // of the datagram wherever it lies.
        unsafe {
            // The checksum field counts as zero in the sum.
            core::ptr::write_bytes(p, 0, 2);
            let mut sum = bindings::ipvs_rs_udp4_full_csum(raw, off, u32::from_ne_bytes(src), u32::from_ne_bytes(dst));
            if sum == 0 {
                sum = 0xffff;
            }
            core::ptr::copy_nonoverlapping(sum.to_ne_bytes().as_ptr(), p, 2);
            bindings::ipvs_rs_skb_csum_unnecessary(raw);
        }
        true
    }

    /// The whole checksum of the `protocol` message at `off` (UDP or ICMPv6, which runs to
    /// the end of the packet), its field at `csum_rel` in it, over the IPv6 pseudo-header of
    /// the addresses as they are now; zero is sent as all ones.
    fn ipv6_full_csum(&mut self, off: usize, csum_rel: usize, protocol: u8) -> bool {
        let (Some(src), Some(dst)) = (self.read::<16>(8), self.read::<16>(24)) else { return false };
        let Some(p) = self.at(off + csum_rel, 2) else { return false };
        let Ok(skb_off) = u32::try_from(self.skb.nh() + off) else { return false };
        let raw = self.skb.raw;
        let addr = |a: [u8; 16]| bindings::in6_addr { in6_u: bindings::in6_addr__bindgen_ty_1 { u6_addr8: a } };
        let (src, dst) = (addr(src), addr(dst));
        // SAFETY: `raw` is live and the checksum field is in its writable linear part
        // (checked by `at`); skb_checksum reads the rest wherever it lies; the addresses are
        // on our stack.
        unsafe {
            // The checksum field counts as zero in the sum.
            core::ptr::write_bytes(p, 0, 2);
            let mut sum = bindings::ipvs_rs_ipv6_full_csum(raw, skb_off, &src, &dst, protocol);
            if sum == 0 {
                sum = 0xffff;
            }
            core::ptr::copy_nonoverlapping(sum.to_ne_bytes().as_ptr(), p, 2);
            bindings::ipvs_rs_skb_csum_unnecessary(raw);
        }
        true
    }
}

/// What the hook tells netfilter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Accept,
    Drop,
    /// The packet was consumed (sent on by us).
    Stolen,
}

impl Verdict {
    pub(crate) fn to_raw(self) -> u32 {
        match self {
            Verdict::Accept => bindings::NF_ACCEPT,
            Verdict::Drop => 0, // NF_DROP
            Verdict::Stolen => bindings::NF_STOLEN,
        }
    }
}

impl<'a> Skb<'a> {
    /// # Safety
    ///
    /// `raw` must be a live skb owned by the caller (a netfilter hook) for `'a`, whose
    /// network header is of family `af` (`AF_INET` or `AF_INET6`).
    pub(crate) unsafe fn from_raw(raw: *mut bindings::sk_buff, af: u16) -> Self {
        Skb { raw, af, _life: PhantomData }
    }

    /// The offset of the network header from `skb->data` (`skb_network_offset`). The
    /// fields of the packet's own header are read here rather than through a C call each:
    /// the datapath asks for them several times a packet.
    fn nh(&self) -> usize {
        // SAFETY: live skb; plain reads of its own fields (the header offsets are a union
        // member that is always the one in use).
        let (head, data, network) =
            unsafe { ((*self.raw).head, (*self.raw).data, (*self.raw).__bindgen_anon_4.headers.as_ref().network_header) };
        let offset = (head as usize).wrapping_add(usize::from(network)).wrapping_sub(data as usize) as isize;
        usize::try_from(offset).unwrap_or(0)
    }

    /// `skb->len` and the bytes of it in the linear area (`skb_headlen`).
    fn lengths(&self) -> (u32, u32) {
        // SAFETY: live skb; plain reads of its own fields.
        let (len, data_len) = unsafe { ((*self.raw).len, (*self.raw).data_len) };
        (len, len.saturating_sub(data_len))
    }

    /// Total length from the network header on.
    pub(crate) fn len(&self) -> u32 {
        self.lengths().0.saturating_sub(self.nh() as u32)
    }

    /// Copies `N` bytes at `offset`, or `None` past the end.
    pub(crate) fn read<const N: usize>(&self, offset: usize) -> Option<[u8; N]> {
        let mut buf = [0u8; N];
        let at = self.nh().checked_add(offset)?;
        // The common case: the bytes are in the linear area, copied from it directly (what
        // skb_header_pointer would do, without the call).
        if at.checked_add(N).is_some_and(|end| end <= self.lengths().1 as usize) {
            // SAFETY: `at..at + N` lies within the linear area, which starts at `skb->data`
            // and is readable while we own the skb.
            unsafe { core::ptr::copy_nonoverlapping((*self.raw).data.add(at), buf.as_mut_ptr(), N) };
            return Some(buf);
        }
        let off = i32::try_from(at).ok()?;
        // SAFETY: skb_header_pointer bounds-checks against the skb; the returned pointer is
        // valid for N bytes. When the bytes are not all in the linear area (a packet the
        // stack or we reassembled, paged data) it copies them into `buf` and returns `buf`
        // itself: then there is nothing left to copy, and copy_nonoverlapping of `buf` onto
        // itself would be undefined behaviour (a panic with debug assertions, in softirq).
        unsafe {
            let p = bindings::ipvs_rs_skb_header_pointer(self.raw, off, N as i32, buf.as_mut_ptr().cast())
                .cast::<u8>();
            if p.is_null() {
                return None;
            }
            if p != buf.as_mut_ptr() {
                core::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), N);
            }
        }
        Some(buf)
    }

    pub(crate) fn ipvs_property(&self) -> bool {
        self.headers().ipvs_property() != 0
    }

    /// The `headers` group of the packet's fields (offsets, checksum state, flags): read and
    /// written here in place of a C call each, as skbuff.h's inline functions do, since the
    /// datapath touches them on every packet.
    fn headers(&self) -> &bindings::sk_buff__bindgen_ty_4__bindgen_ty_2 {
        // SAFETY: live skb, ours for `'a`; `headers` is the struct_group's named view of these
        // fields, valid whatever the packet.
        unsafe { (*self.raw).__bindgen_anon_4.headers.as_ref() }
    }

    fn headers_mut(&mut self) -> &mut bindings::sk_buff__bindgen_ty_4__bindgen_ty_2 {
        // SAFETY: as in `headers`; nobody else touches the skb while the hook owns it.
        unsafe { (*self.raw).__bindgen_anon_4.headers.as_mut() }
    }

    /// The firewall mark (`skb->mark`), which selects fwmark services.
    pub(crate) fn mark(&self) -> u32 {
        // SAFETY: live skb.
        unsafe { bindings::ipvs_rs_skb_mark(self.raw) }
    }

    pub(crate) fn is_gso(&self) -> bool {
        // SAFETY: live skb.
        unsafe { bindings::ipvs_rs_skb_is_gso(self.raw) }
    }

    pub(crate) fn csum_partial(&self) -> bool {
        // SAFETY: live skb.
        unsafe { bindings::ipvs_rs_skb_csum_partial(self.raw) }
    }

    /// Whether the ICMP message at `offset` has a good checksum, or one that needs no check
    /// (verified by the device or the stack, or made on this host): upstream's
    /// `ip_vs_checksum_common_check`, which may record the result in the skb.
    pub(crate) fn icmp_csum_ok(&mut self, offset: usize) -> bool {
        let Ok(off) = u32::try_from(self.nh() + offset) else { return false };
        // SAFETY: live skb we own; the check reads the packet and may set its checksum state.
        unsafe {
            if self.af == AF_INET6 {
                bindings::ipvs_rs_icmpv6_csum_ok(self.raw, off)
            } else {
                bindings::ipvs_rs_icmp_csum_ok(self.raw, off)
            }
        }
    }

    /// Makes the first `len` bytes from the network header linear and private to us, and
    /// gives access to exactly those bytes for writing, until the next change of the skb.
    pub(crate) fn make_writable(&mut self, len: usize) -> Option<Writable<'_, 'a>> {
        let total = u32::try_from(self.nh().checked_add(len)?).ok()?;
        // SAFETY: live skb we own; may reallocate the head, which is why pointers into the
        // data are never kept across this call (`Writable` borrows the skb mutably).
        if unsafe { bindings::skb_ensure_writable(self.raw, total) } != 0 {
            return None;
        }
        // INVARIANT: `len` bytes from the network header are linear and writable.
        Some(Writable { skb: self, len })
    }

    /// Replaces the packet's route with a counted one, which the packet keeps wherever it
    /// goes.
    pub(crate) fn set_route(&mut self, route: Route<'static>) {
        let route = core::mem::ManuallyDrop::new(route);
        // SAFETY: the skb takes over our route reference (a `'static` route is counted).
        unsafe {
            bindings::ipvs_rs_skb_dst_drop(self.raw);
            bindings::ipvs_rs_skb_dst_set(self.raw, route.dst);
        }
    }

    /// Sends the packet out on `route` now ([`Skb::local_out`]). A borrowed route is attached
    /// without a reference: it is live for the whole send, which runs inside its read-side
    /// section, and the stack takes a reference (`skb_dst_force`) wherever it keeps the
    /// packet beyond that (a qdisc, a neighbour queue, NFQUEUE).
    pub(crate) fn send_on(self, net: NetRef<'_>, route: Route<'_>) -> Verdict {
        let route = core::mem::ManuallyDrop::new(route);
        // SAFETY: live skb we own; a counted route's reference goes to the skb, a borrowed
        // route outlives this call (see above).
        unsafe {
            bindings::ipvs_rs_skb_dst_drop(self.raw);
            if route.counted {
                bindings::ipvs_rs_skb_dst_set(self.raw, route.dst);
            } else {
                bindings::ipvs_rs_skb_dst_set_noref(self.raw, route.dst);
            }
        }
        self.local_out(net)
    }

    /// Where the packet's transport checksum is to be written, when it is left to offload
    /// (`CHECKSUM_PARTIAL`), from the start of the packet: `Some(None)` when it starts before
    /// the packet (upstream drops such a packet rather than describe it to a GUE receiver);
    /// `None` when the checksum is not left to offload.
    pub(crate) fn partial_csum(&self) -> Option<Option<PartialCsum>> {
        if !self.csum_partial() {
            return None;
        }
        // SAFETY: live skb whose checksum is left to offload; these read its offsets.
        let (start, offset) =
            unsafe { (bindings::ipvs_rs_skb_checksum_start_offset(self.raw), bindings::ipvs_rs_skb_csum_offset(self.raw)) };
        let start = start.checked_sub(self.nh() as i32).and_then(|n| u16::try_from(n).ok());
        Some(start.map(|start| PartialCsum { start, offset }))
    }

    /// The UDP source port of a GUE tunnel carrying this packet (the kernel's hash of its
    /// flow, so one flow keeps one port), network order.
    pub(crate) fn flow_src_port(&mut self, net: NetRef<'_>) -> [u8; 2] {
        // SAFETY: live skb we own (the flow hash may be computed and kept in it), live net.
        unsafe { bindings::ipvs_rs_udp_flow_src_port(net.as_ptr(), self.raw) }.to_ne_bytes()
    }

    /// Wraps the packet in the tunnel header `outer` and the encapsulation `encap` of a
    /// tunnel of kind `kind` (upstream's `ip_vs_tunnel_xmit` and `ip_vs_tunnel_xmit_v6` from
    /// the headroom on): room for both and a link-layer header, the offload state of an
    /// IP-in-IP (IPv4 outside) or IP-in-IPv6 packet, in UDP or GRE when it is, set while the
    /// inner headers are still the packet's, the old network header as transport header;
    /// then the encapsulation pushed and made the transport header, its checksum filled (the
    /// UDP one by the kernel's `udp_set_csum`, which leaves it to offload where it can; a
    /// GRE one over the whole packet, unless segmentation will), and the outer header pushed
    /// in front and made the network header. With remote checksum offload a packet that is
    /// not segmented stops asking for its inner checksum: the receiver fills it. From here
    /// on the packet is of the outer header's family. The inner packet's IP options are
    /// forgotten, the rest of its control block is kept as upstream keeps it
    /// (`frag_max_size` of a request the stack reassembled, so that an IPv4 tunnel packet
    /// leaves in fragments no larger than the client's were). An IPv4 outer header gets its
    /// id. False if the packet cannot be wrapped (the caller drops it).
    pub(crate) fn encapsulate(&mut self, net: NetRef<'_>, outer: &Outer, encap: &EncapHeader, kind: &Encap) -> bool {
        let (header, middle) = (outer.bytes(), encap.bytes());
        let sizes = (u32::try_from(header.len()), u32::try_from(middle.len()), u32::try_from(header.len() + middle.len() + LL_ROOM));
        let (Ok(hlen), Ok(mlen), Ok(room)) = sizes else {
            return false;
        };
        let partial = self.csum_partial();
        let mut gso = if outer.af() == AF_INET6 { bindings::SKB_GSO_IPXIP6 } else { bindings::SKB_GSO_IPXIP4 };
        gso |= match kind {
            Encap::Ip => 0,
            Encap::Gue { .. } => {
                let csum = if kind.udp_csum() { bindings::SKB_GSO_UDP_TUNNEL_CSUM } else { bindings::SKB_GSO_UDP_TUNNEL };
                csum | if kind.uses_remcsum(partial) { bindings::SKB_GSO_TUNNEL_REMCSUM } else { 0 }
            }
            Encap::Gre { .. } => {
                if kind.gre_csum() {
                    bindings::SKB_GSO_GRE_CSUM
                } else {
                    bindings::SKB_GSO_GRE
                }
            }
        };
        // SAFETY: live skb we own whose data starts at its network header. skb_cow_head may
        // reallocate the head before we push (no pointer into the data is held across it);
        // iptunnel_handle_offloads frees nothing on error (we drop the packet); each push
        // stays within the headroom just ensured, and the bytes are copied into it.
        unsafe {
            if bindings::ipvs_rs_skb_cow_head(self.raw, room) != 0 {
                return false;
            }
            if bindings::iptunnel_handle_offloads(self.raw, gso as i32) != 0 {
                return false;
            }
            bindings::ipvs_rs_skb_transport_at_network(self.raw);
            bindings::ipvs_rs_skb_set_inner_ipproto(self.raw, outer.inner_proto());
            bindings::ipvs_rs_skb_inner_mac_at_inner_network(self.raw);
        }
        if !middle.is_empty() {
            if kind.uses_remcsum(partial) && !self.is_gso() {
                // SAFETY: live skb we own; the receiver completes the inner checksum.
                unsafe { bindings::ipvs_rs_skb_csum_none(self.raw) };
            }
            // SAFETY: as above; the push stays within the headroom ensured.
            unsafe {
                let p = bindings::skb_push(self.raw, mlen).cast::<u8>();
                core::ptr::copy_nonoverlapping(middle.as_ptr(), p, middle.len());
                bindings::ipvs_rs_skb_reset_transport_header(self.raw);
            }
            if kind.udp_csum() && !self.fill_udp_csum(outer) {
                return false;
            }
            if let Encap::Gre { .. } = kind {
                let ethertype = gre_ethertype(outer.inner_proto()).to_be();
                // SAFETY: live skb we own; segmentation reads the inner protocol.
                unsafe { bindings::ipvs_rs_skb_set_inner_protocol(self.raw, ethertype) };
                if kind.gre_csum() && !self.is_gso() {
                    // SAFETY: the GRE header with its zero checksum field is the linear data
                    // just pushed; the sum covers it and the payload, as the field says.
                    unsafe {
                        let sum = bindings::ipvs_rs_gre_csum(self.raw);
                        let at = bindings::ipvs_rs_skb_data(self.raw).add(EncapHeader::GRE_CSUM_OFF);
                        core::ptr::write_unaligned(at.cast::<u16>(), sum);
                    }
                }
            }
        }
        // SAFETY: as above.
        unsafe {
            let p = bindings::skb_push(self.raw, hlen).cast::<u8>();
            core::ptr::copy_nonoverlapping(header.as_ptr(), p, header.len());
            bindings::ipvs_rs_skb_reset_network_header(self.raw);
            bindings::ipvs_rs_skb_clear_ip_options(self.raw);
        }
        self.af = outer.af();
        if self.af == AF_INET {
            // SAFETY: live skb whose network header is now the IPv4 header just pushed; live
            // net.
            unsafe { bindings::ipvs_rs_ip_select_ident(net.as_ptr(), self.raw) };
        }
        true
    }

    /// Fills the checksum of the UDP header at the packet's data (its transport header), a
    /// datagram to and from the outer header's addresses.
    fn fill_udp_csum(&mut self, outer: &Outer) -> bool {
        let (saddr, daddr) = outer.addrs();
        // SAFETY: live skb we own whose data and transport header are the UDP header, with
        // the rest of the datagram behind it.
        unsafe {
            let len = bindings::ipvs_rs_skb_len(self.raw) as i32;
            if outer.af() == AF_INET6 {
                let addr = |a: &[u8]| {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(a.get(..16).unwrap_or(&[0; 16]));
                    bindings::in6_addr { in6_u: bindings::in6_addr__bindgen_ty_1 { u6_addr8: b } }
                };
                let (s, d) = (addr(saddr), addr(daddr));
                bindings::udp6_set_csum(false, self.raw, &s, &d, len);
            } else {
                let word = |a: &[u8]| a.get(..4).and_then(|w| <[u8; 4]>::try_from(w).ok()).map(u32::from_ne_bytes);
                let (Some(s), Some(d)) = (word(saddr), word(daddr)) else { return false };
                bindings::udp_set_csum(false, self.raw, s, d, len);
            }
        }
        true
    }

    /// Whether the packet is too big for a path of MTU `mtu`: longer than it, unless it is a
    /// GSO packet whose segments will each fit (upstream's `ip_vs_exceeds_mtu`; one whose
    /// segments do not is refused like any other, so that the sender hears the MTU rather
    /// than having its segments fragmented on the way); for an IPv6 packet that conntrack
    /// reassembled, whether its largest fragment was (upstream's `__mtu_check_toobig_v6`: it
    /// leaves in fragments of that size again).
    pub(crate) fn exceeds_mtu(&self, mtu: u32) -> bool {
        if self.af == AF_INET6 {
            // SAFETY: live skb of an IPv6 hook, whose control block is IPv6's.
            let frag_max = unsafe { bindings::ipvs_rs_ip6cb_frag_max_size(self.raw) };
            if frag_max != 0 {
                return u32::from(frag_max) > mtu;
            }
        }
        // SAFETY: live skb; skb_gso_validate_network_len only reads its GSO state.
        self.len() > mtu && !(self.is_gso() && unsafe { bindings::skb_gso_validate_network_len(self.raw, mtu) })
    }

    /// Tells a local sender's socket the MTU left to its packets inside a tunnel (upstream's
    /// `maybe_update_pmtu`): the route the packet came with (to the virtual address) records
    /// it. Nothing for a packet that came from a device.
    pub(crate) fn update_sender_pmtu(&mut self, mtu: u32) {
        // SAFETY: live skb we own; its route, if any, is live while the skb holds it, and
        // the socket is only passed along when it is a full socket.
        unsafe {
            if !bindings::ipvs_rs_skb_has_dev(self.raw) && bindings::ipvs_rs_skb_sk_fullsock(self.raw) {
                bindings::ipvs_rs_skb_dst_update_pmtu_sk(self.raw, mtu);
            }
        }
    }

    /// Tells the sender the path MTU (ICMP fragmentation needed, ICMPv6 packet too big).
    pub(crate) fn icmp_frag_needed(&mut self, net: NetRef<'_>, mtu: u32) {
        if self.af == AF_INET6 {
            // SAFETY: live skb we own and live net; a local packet (no device yet) is
            // answered from the loopback device, as upstream does.
            unsafe {
                bindings::ipvs_rs_skb_dev_default(self.raw, net.as_ptr());
                bindings::ipvs_rs_icmpv6_send(self.raw, ICMPV6_PKT_TOOBIG, 0, mtu);
            }
            return;
        }
        // SAFETY: live skb with an IPv4 header; icmp_send only reads it.
        unsafe { bindings::ipvs_rs_icmp_send_frag_needed(self.raw, mtu) };
    }

    /// Makes the packet quoted `offset` bytes into this one (in an ICMP error) the packet:
    /// what came before is pulled off, the network header moves to it, and its `header_len`
    /// bytes of header are made linear. For the stack's ICMP and route functions, which read
    /// the packet at its network header. False if it cannot be done (the caller consumes the
    /// skb: it is no longer the packet it was).
    pub(crate) fn pull_to_quoted(&mut self, offset: usize, header_len: usize) -> bool {
        let (Ok(pull), Ok(hlen), Ok(th)) =
            (u32::try_from(self.nh() + offset), u32::try_from(header_len), i32::try_from(header_len))
        else {
            return false;
        };
        // SAFETY: live skb we own. pskb_pull only advances `data` within the packet (or fails
        // without change); the network header is then reset to the new `data`, the IP control
        // block's options (which described the outer header) are cleared, and the quoted
        // header is pulled into the linear area before anything reads it. No pointer into
        // the data is held across these calls.
        unsafe {
            if !bindings::ipvs_rs_pskb_pull(self.raw, pull) {
                return false;
            }
            bindings::ipvs_rs_skb_reset_network_header(self.raw);
            bindings::ipvs_rs_ipcb_clear_options(self.raw);
            if !bindings::ipvs_rs_pskb_may_pull(self.raw, hlen) {
                return false;
            }
            bindings::ipvs_rs_skb_set_transport_header(self.raw, th);
        }
        true
    }

    /// Records path MTU `mtu` for the route the packet at the network header takes (from its
    /// source to its destination), as a "fragmentation needed" about it asks.
    pub(crate) fn update_pmtu(&mut self, net: NetRef<'_>, mtu: u32) {
        // SAFETY: live skb whose network header is an IPv4 header in the linear area (see
        // `pull_to_quoted`); `net` is live.
        unsafe { bindings::ipvs_rs_ipv4_update_pmtu(self.raw, net.as_ptr(), mtu) };
    }

    /// Sends the packet's source the ICMP error `icmp_type`/`code` whose second word is
    /// `info` (in network order: the MTU of a "fragmentation needed", as upstream's relay of
    /// tunnel errors passes it).
    pub(crate) fn icmp_send(&self, icmp_type: u8, code: u8, info: [u8; 4]) {
        // SAFETY: live skb with an IPv4 header at the network header; icmp_send only reads it.
        unsafe { bindings::ipvs_rs_icmp_send(self.raw, icmp_type, code, u32::from_ne_bytes(info)) };
    }

    /// Frees a packet we are done with (not a drop); the hook returns [`Verdict::Stolen`].
    pub(crate) fn consume(self) -> Verdict {
        // SAFETY: we own the skb and give it up here.
        unsafe { bindings::ipvs_rs_consume_skb(self.raw) };
        Verdict::Stolen
    }

    /// Tells the sender its packet's TTL (hop limit) ran out.
    pub(crate) fn icmp_ttl_exceeded(&mut self) {
        if self.af == AF_INET6 {
            // SAFETY: live skb we own; the error leaves from the device of the packet's
            // incoming route, as upstream's `decrement_ttl` sends it.
            unsafe {
                bindings::ipvs_rs_skb_dev_from_dst(self.raw);
                bindings::ipvs_rs_icmpv6_send(self.raw, ICMPV6_TIME_EXCEED, ICMPV6_EXC_HOPLIMIT, 0);
            }
            return;
        }
        // SAFETY: live skb with an IPv4 header; icmp_send only reads it.
        unsafe { bindings::ipvs_rs_icmp_send_ttl_exceeded(self.raw) };
    }

    /// Tells the sender nothing serves its port (no dest available).
    pub(crate) fn icmp_port_unreachable(&mut self, net: NetRef<'_>) {
        if self.af == AF_INET6 {
            // SAFETY: as in `icmp_frag_needed`.
            unsafe {
                bindings::ipvs_rs_skb_dev_default(self.raw, net.as_ptr());
                bindings::ipvs_rs_icmpv6_send(self.raw, ICMPV6_DEST_UNREACH, ICMPV6_PORT_UNREACH, 0);
            }
            return;
        }
        // SAFETY: live skb with an IPv4 header; icmp_send only reads it.
        unsafe { bindings::ipvs_rs_icmp_send_port_unreach(self.raw) };
    }

    /// Lets the stack fragment the packet on its way out even with DF set (`ignore_df`), as
    /// upstream's transmitters do. What had to fit was checked against the route's MTU before
    /// (and answered with an ICMP error from the virtual address the client used); what still
    /// arrives too big at the output is a GSO packet whose segments do not fit, which is
    /// fragmented rather than answered by the output path from the director's own address,
    /// and a tunnel packet sent without path MTU discovery (`pmtu_disc=0`, or an IPv6 outer
    /// header), whose outer packet is fragmented rather than refused.
    pub(crate) fn allow_fragmentation(&mut self) {
        self.headers_mut().set_ignore_df(1);
    }

    /// Marks the packet as IPVS's, so that our own hooks (and a second IPVS pass) let it be.
    pub(crate) fn set_ipvs_property(&mut self) {
        self.headers_mut().set_ipvs_property(1);
    }

    /// Forgets the packet's conntrack entry and marks it untracked (upstream's
    /// `ip_vs_notrack`), so that conntrack and NAT rules (a MASQUERADE on a docker or kube
    /// node) leave the rewritten packet alone.
    pub(crate) fn untrack(&mut self) {
        // SAFETY: live skb; a plain read of its conntrack field (0: no entry at all).
        if unsafe { (*self.raw)._nfct } == 0 {
            return;
        }
        let mut ctinfo = 0;
        // SAFETY: live skb; nf_ct_get only reads its conntrack field.
        let ct = unsafe { bindings::ipvs_rs_nf_ct_get(self.raw, &mut ctinfo) };
        if !ct.is_null() {
            // SAFETY: the skb held one reference on `ct`, which we drop as we detach it.
            unsafe {
                bindings::ipvs_rs_nf_conntrack_put(ct);
                bindings::ipvs_rs_nf_ct_set_untracked(self.raw);
            }
        }
    }

    /// Whether the packet belongs to a conntrack entry already confirmed (in the conntrack
    /// table): for a new connection's first packet, one that an older flow with the same
    /// tuple left behind (upstream's `ip_vs_conn_uses_old_conntrack`).
    pub(crate) fn has_confirmed_conntrack(&self) -> bool {
        let mut ctinfo = 0;
        // SAFETY: live skb; nf_ct_get only reads its conntrack field, and the skb holds a
        // reference on the entry it returns while we look at it.
        unsafe {
            let ct = bindings::ipvs_rs_nf_ct_get(self.raw, &mut ctinfo);
            !ct.is_null() && bindings::ipvs_rs_nf_ct_is_confirmed(ct)
        }
    }

    /// Drops the packet's conntrack reference (`nf_reset_ct`), for a packet that is wrapped
    /// in a tunnel: the outer packet is a new flow.
    pub(crate) fn reset_conntrack(&mut self) {
        // SAFETY: live skb.
        unsafe { bindings::ipvs_rs_nf_reset_ct(self.raw) };
    }

    /// Confirms the packet's conntrack entry before it is tunnelled; false if conntrack
    /// refused it (the packet must then be dropped).
    pub(crate) fn confirm_conntrack(&mut self) -> bool {
        // SAFETY: live skb; confirms (hashes) its unconfirmed conntrack entry, if any.
        unsafe { bindings::ipvs_rs_nf_conntrack_confirm(self.raw) == bindings::NF_ACCEPT as i32 }
    }

    /// Tells the packet's new, unconfirmed conntrack entry what the replies will look like
    /// after IPVS rewrote the packet (upstream's `ip_vs_update_conntrack`): `Source` is the
    /// real server's address and port after a NAT request, `Destination` the virtual service
    /// after a NAT reply. Only entries seen in their original direction are changed.
    pub(crate) fn set_conntrack_reply(&mut self, side: ReplySide, addr: &[u8; 16], port: [u8; 2]) {
        let mut ctinfo = 0;
        // SAFETY: live skb.
        let ct = unsafe { bindings::ipvs_rs_nf_ct_get(self.raw, &mut ctinfo) };
        // SAFETY: a constant.
        let is_reply = unsafe { bindings::ipvs_rs_ip_ct_is_reply() };
        if ct.is_null() || ctinfo >= is_reply {
            return;
        }
        // SAFETY: the skb holds a reference on `ct`; an unconfirmed entry belongs to this
        // packet alone, so its reply tuple may be changed through nf_conntrack_alter_reply.
        unsafe {
            if bindings::ipvs_rs_nf_ct_is_confirmed(ct) || bindings::ipvs_rs_nf_ct_is_dying(ct) {
                return;
            }
            let mut tuple = *bindings::ipvs_rs_nf_ct_reply_tuple(ct);
            let (ip, l4) = match side {
                ReplySide::Source => (&mut tuple.src.u3.all, &mut tuple.src.u.all),
                ReplySide::Destination => (&mut tuple.dst.u3.all, &mut tuple.dst.u.all),
            };
            // The 16 bytes of `nf_inet_addr`: an IPv4 address has zeros after its 4, as the
            // tuples conntrack makes have.
            *ip = addr_words(addr);
            if u32::from(tuple.dst.protonum) != bindings::IPPROTO_ICMP {
                *l4 = u16::from_ne_bytes(port);
            }
            bindings::ipvs_rs_nf_conntrack_alter_reply(ct, &tuple);
        }
    }

    /// Drops CHECKSUM_COMPLETE, which no longer matches a rewritten packet.
    /// Routes a rewritten reply again as if this host sent it from its new source address
    /// (upstream's `ip_vs_route_me_harder`, `snat_reroute`): source-based policy routing then
    /// applies to the virtual address rather than the real server's. A packet routed to this
    /// host is left alone. False when no route is found (the caller drops the packet).
    pub(crate) fn reroute_as_local(&mut self, net: NetRef<'_>) -> bool {
        // SAFETY: live skb we own; `net` is its netns. ip_route_me_harder replaces the skb's
        // dst (it may reallocate headroom, which keeps `self.raw` valid) and never frees it.
        unsafe {
            if self.af == AF_INET6 {
                bindings::ipvs_rs_skb_dst_dev_is_loopback(self.raw) || bindings::ipvs_rs_ip6_route_me_harder(net.as_ptr(), self.raw) == 0
            } else {
                bindings::ipvs_rs_skb_route_is_local(self.raw) || bindings::ipvs_rs_ip_route_me_harder(net.as_ptr(), self.raw) == 0
            }
        }
    }

    pub(crate) fn forward_csum(&mut self) {
        // `skb_forward_csum`: a checksum over the received packet is no use once it changes.
        if u32::from(self.headers().ip_summed()) == bindings::CHECKSUM_COMPLETE {
            self.headers_mut().set_ip_summed(bindings::CHECKSUM_NONE as u8);
        }
    }

    /// Prepares a packet that arrived from a device for sending on from here (the
    /// `!local` half of upstream's `ip_vs_send_or_cont`): checksum state for forwarding, no
    /// receive timestamp (fq would take it for a departure time), and no early-demux socket
    /// (it belongs to this host's stack, not to the real server's flow).
    pub(crate) fn prepare_forward(&mut self) {
        self.forward_csum();
        // SAFETY: live skb we own; plain reads of its device and destructor fields.
        let (has_dev, has_destructor) = unsafe {
            let list = &(*self.raw).__bindgen_anon_1.__bindgen_anon_1;
            (!list.__bindgen_anon_1.dev.is_null(), (*self.raw).__bindgen_anon_3.__bindgen_anon_1.destructor.is_some())
        };
        if !has_dev {
            return;
        }
        // `skb_clear_tstamp`: a receive timestamp goes, a departure time set on purpose stays.
        if self.headers().tstamp_type() == 0 {
            // SAFETY: live skb we own; `tstamp` is the view of that union in use then.
            unsafe { (*self.raw).__bindgen_anon_2.tstamp = 0 };
        }
        // `skb_orphan` has nothing to do without a destructor.
        if has_destructor {
            // SAFETY: live skb we own.
            unsafe { bindings::ipvs_rs_skb_orphan(self.raw) };
        }
    }

    /// Reassembles a fragmented packet (upstream's `ip_vs_gather_frags`).
    pub(crate) fn gather_fragments(self, net: NetRef<'_>, user: DefragUser) -> Gathered<'a> {
        // SAFETY: constants.
        let user = unsafe {
            match user {
                DefragUser::Forward => bindings::ipvs_rs_ip_defrag_vs_fwd(),
                DefragUser::LocalOut => bindings::ipvs_rs_ip_defrag_vs_out(),
            }
        };
        // SAFETY: we own the skb and hand it to ip_defrag, which either gives it back whole
        // (0) or keeps or frees it; bottom halves are off as the fragment queues need (our
        // LOCAL_OUT hook runs in process context).
        let err = unsafe {
            bindings::ipvs_rs_local_bh_disable();
            let err = bindings::ip_defrag(net.as_ptr(), self.raw, user);
            bindings::ipvs_rs_local_bh_enable();
            err
        };
        if err != 0 {
            return Gathered::Consumed;
        }
        let mut whole = self;
        // Reassembly rewrote the length and fragment fields; the header checksum (over the
        // options too) follows.
        let header_len = whole.read::<1>(0).map_or(20, |[vihl]| usize::from(vihl & 0x0f) * 4);
        if whole.make_writable(header_len).is_some_and(|mut w| w.ip_send_check()) {
            Gathered::Whole(whole)
        } else {
            Gathered::Failed(whole)
        }
    }

    /// Sends the packet out through LOCAL_OUT and the route set on it. The skb is consumed,
    /// so it cannot be touched again; the hook returns the [`Verdict::Stolen`] this gives.
    #[must_use]
    pub(crate) fn local_out(self, net: NetRef<'_>) -> Verdict {
        // SAFETY: we own the skb and hand it over; ip_local_out and ip6_local_out free it on
        // every path.
        unsafe {
            if self.af == AF_INET6 {
                bindings::ip6_local_out(net.as_ptr(), core::ptr::null_mut(), self.raw);
            } else {
                bindings::ip_local_out(net.as_ptr(), core::ptr::null_mut(), self.raw);
            }
        }
        Verdict::Stolen
    }
}

const IPPROTO_UDP: u8 = 17;

/// Headroom kept for a link-layer header in front of a tunnel's outer header.
const LL_ROOM: usize = 32;
const IPPROTO_ICMPV6: u8 = 58;

/// ICMPv6 types and codes (include/uapi/linux/icmpv6.h).
const ICMPV6_DEST_UNREACH: u8 = 1;
const ICMPV6_PORT_UNREACH: u8 = 4;
const ICMPV6_PKT_TOOBIG: u8 = 2;
const ICMPV6_TIME_EXCEED: u8 = 3;
const ICMPV6_EXC_HOPLIMIT: u8 = 0;

/// A 16-byte address as the four words of `nf_inet_addr.all`.
pub(super) fn addr_words(a: &[u8; 16]) -> [u32; 4] {
    let mut w = [0u32; 4];
    for (x, b) in w.iter_mut().zip(a.chunks_exact(4)) {
        if let &[b0, b1, b2, b3] = b {
            *x = u32::from_ne_bytes([b0, b1, b2, b3]);
        }
    }
    w
}

/// What [`Skb::gather_fragments`] did with a fragment.
pub(crate) enum Gathered<'a> {
    /// The last fragment came: the whole packet.
    Whole(Skb<'a>),
    /// The fragment was queued for the rest (or dropped): the hook returns `Stolen`.
    Consumed,
    /// Reassembled, but no memory to fix its header: the hook drops it (netfilter frees it
    /// on the verdict, so the skb is handed back only for that).
    Failed(#[allow(dead_code)] Skb<'a>),
}

/// Where fragments are gathered (each has its own reassembly queues).
#[derive(Clone, Copy)]
pub(crate) enum DefragUser {
    Forward,
    LocalOut,
}

/// Which end of a conntrack entry's reply tuple IPVS rewrote.
#[derive(Clone, Copy)]
pub(crate) enum ReplySide {
    Source,
    Destination,
}
