// SPDX-License-Identifier: GPL-2.0
//! Kernel UDP sockets for the sync daemons: made in a netns, set up as a multicast sender
//! (connected to the group, out of one interface) or receiver (bound to the group's port on
//! one interface, member of the group), and used without blocking. A [`Receiver`] tells its
//! owner that data arrived.

use super::bindings;
use super::rcu::ReadGuard;
use super::NetRef;
use crate::ipvs_core::daemon::Group;
use crate::ipvs_core::errno::Errno;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicPtr, Ordering};

type Result<T> = core::result::Result<T, Errno>;

/// A socket address as the UAPI lays it out (`sockaddr_in` or `sockaddr_in6`), in a buffer
/// aligned for either.
#[repr(C, align(4))]
struct SockAddr {
    bytes: [u8; 28],
    len: i32,
}

impl SockAddr {
    /// `sockaddr_in`: family, port and address in network order, then zero padding;
    /// `sockaddr_in6`: family, port, flow info, address, scope id.
    fn new(group: &Group, port: u16) -> Self {
        let mut bytes = [0u8; 28];
        let (af, len, addr): (u16, i32, &[u8]) = match group {
            Group::V4(a) => (bindings::AF_INET as u16, 16, a),
            Group::V6(a) => (bindings::AF_INET6 as u16, 28, a),
        };
        let at = if len == 16 { 4 } else { 8 };
        bytes[..2].copy_from_slice(&af.to_ne_bytes());
        bytes[2..4].copy_from_slice(&port.to_be_bytes());
        bytes[at..at + addr.len()].copy_from_slice(addr);
        SockAddr { bytes, len }
    }

    fn as_ptr(&mut self) -> *mut bindings::sockaddr {
        self.bytes.as_mut_ptr().cast()
    }
}

/// A kernel UDP socket, released on drop.
///
/// # Invariants
///
/// `sock` was made by `sock_create_kern` and is released only by our drop.
pub(crate) struct UdpSocket {
    sock: NonNull<bindings::socket>,
}

// SAFETY: a kernel socket may be used from any task; its operations lock it themselves.
unsafe impl Send for UdpSocket {}
// SAFETY: `send` and `recv` take `&self` and are serialised by the socket's own locks.
unsafe impl Sync for UdpSocket {}

impl Drop for UdpSocket {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own the socket; releasing leaves its groups, which
        // may sleep: sockets are dropped in process context, outside the control locks.
        unsafe { bindings::sock_release(self.sock.as_ptr()) };
    }
}

fn check(ret: i32) -> Result<()> {
    if ret < 0 {
        Err(Errno(-ret))
    } else {
        Ok(())
    }
}

impl UdpSocket {
    /// A UDP socket of the group's family in `net` (process context).
    fn new(net: NetRef<'_>, group: &Group) -> Result<Self> {
        let family = match group {
            Group::V4(_) => bindings::AF_INET,
            Group::V6(_) => bindings::AF_INET6,
        };
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `net` is alive for the call; `sock` receives the new socket on success.
        check(unsafe {
            bindings::sock_create_kern(
                net.as_ptr(),
                family as i32,
                bindings::sock_type_SOCK_DGRAM as i32,
                bindings::IPPROTO_UDP as i32,
                &mut sock,
            )
        })?;
        // INVARIANT: made by sock_create_kern just now.
        NonNull::new(sock).map(|sock| UdpSocket { sock }).ok_or(Errno::ENOMEM)
    }

    fn setsockopt(&self, level: u32, name: u32, value: &[u8]) -> Result<()> {
        // SAFETY: an all-zero `sockptr_t` is a null user pointer; we make it a kernel one.
        let mut optval: bindings::sockptr_t = unsafe { core::mem::zeroed() };
        optval.__bindgen_anon_1.kernel = value.as_ptr() as *mut c_void;
        optval.set_is_kernel(true);
        // SAFETY: the socket is ours (type invariant); `optval` is a kernel pointer to
        // `value.len()` readable bytes, which the option handlers copy.
        check(unsafe {
            bindings::do_sock_setsockopt(self.sock.as_ptr(), false, level as i32, name as i32, optval, value.len() as i32)
        })
    }

    fn set_int(&self, level: u32, name: u32, value: i32) -> Result<()> {
        self.setsockopt(level, name, &value.to_ne_bytes())
    }

    fn sk(&self) -> *mut bindings::sock {
        // SAFETY: the socket is ours (type invariant), and a made socket has its `sk`.
        unsafe { (*self.sock.as_ptr()).sk }
    }

    /// A multicast sender for `group`:`port` out of interface `ifindex`: no loop back, TTL
    /// (hop limit) `ttl`, fragmentation allowed, a send buffer of `sndbuf` when non-zero,
    /// bound to the interface's address (IPv4) and connected to the group.
    pub(crate) fn sender(net: NetRef<'_>, group: &Group, port: u16, ifindex: i32, ttl: u8, sndbuf: i32) -> Result<Self> {
        let s = Self::new(net, group)?;
        match group {
            Group::V4(_) => {
                // `struct ip_mreqn`: group, local address, interface index.
                let mut mreqn = [0u8; 12];
                mreqn[8..].copy_from_slice(&ifindex.to_ne_bytes());
                s.setsockopt(bindings::SOL_IP, bindings::IP_MULTICAST_IF, &mreqn)?;
                s.set_int(bindings::SOL_IP, bindings::IP_MULTICAST_LOOP, 0)?;
                s.set_int(bindings::SOL_IP, bindings::IP_MULTICAST_TTL, i32::from(ttl))?;
                s.set_int(bindings::SOL_IP, bindings::IP_MTU_DISCOVER, bindings::IP_PMTUDISC_DONT as i32)?;
            }
            Group::V6(_) => {
                s.set_int(bindings::SOL_IPV6, bindings::IPV6_MULTICAST_IF, ifindex)?;
                s.set_int(bindings::SOL_IPV6, bindings::IPV6_MULTICAST_LOOP, 0)?;
                s.set_int(bindings::SOL_IPV6, bindings::IPV6_MULTICAST_HOPS, i32::from(ttl))?;
                s.set_int(bindings::SOL_IPV6, bindings::IPV6_MTU_DISCOVER, bindings::IP_PMTUDISC_DONT as i32)?;
            }
        }
        if sndbuf > 0 {
            s.set_int(bindings::SOL_SOCKET, bindings::SO_SNDBUF, sndbuf)?;
        }
        if let Group::V4(_) = group {
            // The interface's address is the messages' source (zero when it has none).
            let mut local = SockAddr::new(&Group::V4(interface_v4_addr(net, ifindex)), 0);
            // SAFETY: the socket is ours; `local` is a valid `sockaddr_in` of `local.len` bytes.
            check(unsafe { bindings::kernel_bind(s.sock.as_ptr(), local.as_ptr(), local.len) })?;
        }
        let mut dst = SockAddr::new(group, port);
        // SAFETY: as above, for the group's address.
        check(unsafe { bindings::kernel_connect(s.sock.as_ptr(), dst.as_ptr(), dst.len, 0) })?;
        Ok(s)
    }

    /// A multicast receiver of `group`:`port` on interface `ifindex`: address reuse, a
    /// receive buffer of `rcvbuf` when non-zero, bound to the interface and to the group's
    /// port, member of the group there.
    pub(crate) fn receiver(net: NetRef<'_>, group: &Group, port: u16, ifindex: i32, rcvbuf: i32) -> Result<Self> {
        let s = Self::new(net, group)?;
        s.set_int(bindings::SOL_SOCKET, bindings::SO_REUSEADDR, 1)?;
        if rcvbuf > 0 {
            s.set_int(bindings::SOL_SOCKET, bindings::SO_RCVBUF, rcvbuf)?;
        }
        // SAFETY: the socket and its `sk` are ours; not yet bound.
        check(unsafe { bindings::sock_bindtoindex(s.sk(), ifindex, true) })?;
        let mut addr = SockAddr::new(group, port);
        // SAFETY: the socket is ours; `addr` is a valid socket address of `addr.len` bytes.
        check(unsafe { bindings::kernel_bind(s.sock.as_ptr(), addr.as_ptr(), addr.len) })?;
        match group {
            Group::V4(g) => {
                let mut mreqn = [0u8; 12];
                mreqn[..4].copy_from_slice(g);
                mreqn[8..].copy_from_slice(&ifindex.to_ne_bytes());
                s.setsockopt(bindings::SOL_IP, bindings::IP_ADD_MEMBERSHIP, &mreqn)?;
            }
            Group::V6(g) => {
                // `struct ipv6_mreq`: group, interface index.
                let mut mreq = [0u8; 20];
                mreq[..16].copy_from_slice(g);
                mreq[16..].copy_from_slice(&ifindex.to_ne_bytes());
                s.setsockopt(bindings::SOL_IPV6, bindings::IPV6_ADD_MEMBERSHIP, &mreq)?;
            }
        }
        Ok(s)
    }

    /// Sends `msg` as one datagram without blocking: the bytes sent, or EAGAIN when the send
    /// buffer is full.
    pub(crate) fn send(&self, msg: &[u8]) -> Result<usize> {
        // SAFETY: zeroed `msghdr` is valid (no name, no control data).
        let mut hdr: bindings::msghdr = unsafe { core::mem::zeroed() };
        hdr.msg_flags = bindings::MSG_DONTWAIT | bindings::MSG_NOSIGNAL;
        let mut iov = bindings::kvec { iov_base: msg.as_ptr() as *mut c_void, iov_len: msg.len() };
        // SAFETY: the socket is ours; `iov` describes `msg`, which the call only reads.
        let ret = unsafe { bindings::kernel_sendmsg(self.sock.as_ptr(), &mut hdr, &mut iov, 1, msg.len()) };
        if ret < 0 {
            return Err(Errno(-ret));
        }
        Ok(ret as usize)
    }

    /// Receives one datagram into `buf` without blocking: its length (cut to `buf`), or
    /// EAGAIN when none is queued.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> Result<usize> {
        // SAFETY: zeroed `msghdr` is valid.
        let mut hdr: bindings::msghdr = unsafe { core::mem::zeroed() };
        let mut iov = bindings::kvec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
        // SAFETY: the socket is ours; `iov` describes `buf`, writable for its length.
        let ret = unsafe {
            bindings::kernel_recvmsg(self.sock.as_ptr(), &mut hdr, &mut iov, 1, buf.len(), bindings::MSG_DONTWAIT as i32)
        };
        if ret < 0 {
            return Err(Errno(-ret));
        }
        Ok((ret as usize).min(buf.len()))
    }
}

/// The primary IPv4 address of interface `ifindex` in `net` (`inet_select_addr` with
/// universe scope), or zero.
fn interface_v4_addr(net: NetRef<'_>, ifindex: i32) -> [u8; 4] {
    let _rcu = ReadGuard::new();
    // SAFETY: `net` is alive; the lookup runs under the RCU read lock it needs, and the
    // device is only used under it.
    let dev = unsafe { bindings::dev_get_by_index_rcu(net.as_ptr(), ifindex) };
    if dev.is_null() {
        return [0; 4];
    }
    // SAFETY: `dev` is a live device (RCU read side held).
    let addr = unsafe { bindings::inet_select_addr(dev, 0, bindings::rt_scope_t_RT_SCOPE_UNIVERSE as _) };
    addr.to_ne_bytes()
}

/// A device of `net` by name: its index and MTU (`__dev_get_by_name`).
pub(crate) fn device_by_name(net: NetRef<'_>, name: &[u8]) -> Option<crate::ipvs_core::daemon::Device> {
    let mut c_name = [0u8; bindings::IFNAMSIZ as usize];
    let len = name.len().min(c_name.len() - 1);
    c_name[..len].copy_from_slice(&name[..len]);
    let _rcu = ReadGuard::new();
    // SAFETY: `net` is alive; `c_name` is NUL-terminated; the lookup runs under RCU.
    let dev = unsafe { bindings::dev_get_by_name_rcu(net.as_ptr(), c_name.as_ptr().cast()) };
    if dev.is_null() {
        return None;
    }
    // SAFETY: `dev` is live under the RCU read lock held; plain reads of two fields.
    let (ifindex, mtu) = unsafe { ((*dev).ifindex, (*dev).mtu) };
    Some(crate::ipvs_core::daemon::Device { ifindex, mtu })
}

/// Who a [`Receiver`] tells when data arrives (softirq context: it may only queue work).
pub(crate) trait DataReady: Sync + 'static {
    fn data_ready(&self);
}

/// A receiving socket whose arrivals call `T::data_ready` on its owner once [`listen`] ran:
/// the socket's `sk_data_ready` is ours until [`unlisten`] (or the drop) restores it under
/// the socket's callback lock, after which no call for the owner is in flight.
///
/// [`listen`]: Receiver::listen
/// [`unlisten`]: Receiver::unlisten
///
/// # Invariants
///
/// While `owner` is non-null, the socket's `sk_user_data` is `owner` and its
/// `sk_data_ready` is `data_ready_cb::<T>`, and `owner` is alive.
pub(crate) struct Receiver<T: DataReady> {
    sock: UdpSocket,
    owner: AtomicPtr<T>,
    saved: Option<unsafe extern "C" fn(*mut bindings::sock)>,
}

// SAFETY: `owner` is only dereferenced as `&T` with `T: Sync`; the socket is Send + Sync.
unsafe impl<T: DataReady> Send for Receiver<T> {}
// SAFETY: as above.
unsafe impl<T: DataReady> Sync for Receiver<T> {}

impl<T: DataReady> Receiver<T> {
    pub(crate) fn new(sock: UdpSocket) -> Self {
        // SAFETY: `sk` is our socket's and not yet shared; reading its default callback.
        let saved = unsafe { (*sock.sk()).sk_data_ready };
        Receiver { sock, owner: AtomicPtr::new(core::ptr::null_mut()), saved }
    }

    /// Routes arrivals to `owner` from now on, and tells it once for what came before.
    ///
    /// # Safety
    ///
    /// `owner` must stay alive until [`Receiver::unlisten`] ran (or this receiver dropped).
    pub(crate) unsafe fn listen(&self, owner: &T) {
        let sk = self.sock.sk();
        let ptr = core::ptr::from_ref(owner).cast_mut();
        // SAFETY: `sk` is our socket's; the callback lock serialises us with arrivals.
        unsafe {
            bindings::ipvs_rs_sk_callback_write_lock(sk);
            (*sk).sk_user_data = ptr.cast();
            (*sk).sk_data_ready = Some(data_ready_cb::<T>);
            bindings::ipvs_rs_sk_callback_write_unlock(sk);
        }
        // INVARIANT: registered above; the caller keeps `owner` alive until `unlisten`.
        self.owner.store(ptr, Ordering::Release);
        owner.data_ready();
    }

    /// Stops routing arrivals to the owner: when this returns, no call is in flight.
    pub(crate) fn unlisten(&self) {
        if self.owner.swap(core::ptr::null_mut(), Ordering::AcqRel).is_null() {
            return;
        }
        let sk = self.sock.sk();
        // SAFETY: restores the socket's own callback under the callback lock; arrivals run
        // `data_ready_cb` under its read side, so none is inside it afterwards.
        unsafe {
            bindings::ipvs_rs_sk_callback_write_lock(sk);
            (*sk).sk_user_data = core::ptr::null_mut();
            (*sk).sk_data_ready = self.saved;
            bindings::ipvs_rs_sk_callback_write_unlock(sk);
        }
    }

    pub(crate) fn socket(&self) -> &UdpSocket {
        &self.sock
    }
}

impl<T: DataReady> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.unlisten();
    }
}

/// # Safety
///
/// Called by the network stack for a socket of a live [`Receiver<T>`].
unsafe extern "C" fn data_ready_cb<T: DataReady>(sk: *mut bindings::sock) {
    // SAFETY: `sk` is live for the call; the read side of its callback lock keeps `listen`
    // and the receiver's drop from changing `sk_user_data` meanwhile.
    unsafe {
        bindings::ipvs_rs_sk_callback_read_lock(sk);
        let owner = (*sk).sk_user_data.cast::<T>().cast_const();
        // SAFETY: a non-null `sk_user_data` is the receiver's owner (type invariant), alive
        // while registered.
        if let Some(owner) = owner.as_ref() {
            owner.data_ready();
        }
        bindings::ipvs_rs_sk_callback_read_unlock(sk);
    }
}
