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

/// `ip_vs_addr_equal()`: IPv4 compares the first 4 bytes only.
pub fn addr_equal(af: u16, a: &[u8; 16], b: &[u8; 16]) -> bool {
    if af == uapi::AF_INET6 {
        a == b
    } else {
        a.get(..4) == b.get(..4)
    }
}
