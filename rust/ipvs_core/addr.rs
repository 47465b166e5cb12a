// SPDX-License-Identifier: GPL-2.0
//! Addresses as IPVS keeps them: 16 bytes (`union nf_inet_addr`), an IPv4 address in the first
//! 4. A leaf: services, dests and the schedulers all use it.

use super::uapi;

/// `ip_vs_addr_copy()`: an IPv4 address keeps only its first 4 bytes.
pub fn normalize_addr(af: u16, addr: [u8; 16]) -> [u8; 16] {
    if af == uapi::AF_INET6 {
        addr
    } else {
        let mut out = [0u8; 16];
        for (dst, src) in out.iter_mut().zip(addr.iter()).take(4) {
            *dst = *src;
        }
        out
    }
}

/// Word `i` (0..4) of an address, read big-endian (as `ntohl` would); 0 past the end.
pub fn word(addr: &[u8; 16], i: usize) -> u32 {
    match addr.get(i * 4..i * 4 + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// An address folded to 32 bits in host order, as the address-hashing schedulers and the
/// service table hash it: an IPv4 address itself, an IPv6 one the XOR of its four words.
pub fn fold(af: u16, addr: &[u8; 16]) -> u32 {
    if af == uapi::AF_INET6 {
        word(addr, 0) ^ word(addr, 1) ^ word(addr, 2) ^ word(addr, 3)
    } else {
        word(addr, 0)
    }
}

/// `ip_vs_addr_equal()`: IPv4 compares the first 4 bytes only.
pub fn addr_equal(af: u16, a: &[u8; 16], b: &[u8; 16]) -> bool {
    if af == uapi::AF_INET6 {
        a == b
    } else {
        a.get(..4) == b.get(..4)
    }
}

/// Whether an IPv6 address is one upstream takes as a real server only if it is local
/// (`ip_vs_new_dest`: `ipv6_addr_type` not unicast, or link-local): the unspecified address,
/// multicast, IPv4-mapped, and link-local addresses.
pub fn v6_dest_needs_local(addr: &[u8; 16]) -> bool {
    !v6_is_unicast(addr) || word(addr, 0) & 0xffc0_0000 == 0xfe80_0000
}

/// `ipv6_addr_type() & IPV6_ADDR_UNICAST`: every address but multicast, the unspecified
/// address and IPv4-mapped ones (loopback, link-local and IPv4-compatible are unicast).
pub fn v6_is_unicast(addr: &[u8; 16]) -> bool {
    let w0 = word(addr, 0);
    if w0 & 0xff00_0000 == 0xff00_0000 {
        return false;
    }
    if w0 | word(addr, 1) == 0 {
        let (w2, w3) = (word(addr, 2), word(addr, 3));
        if w2 == 0 {
            return w3 != 0;
        }
        if w2 == 0x0000_ffff {
            return false;
        }
    }
    true
}
