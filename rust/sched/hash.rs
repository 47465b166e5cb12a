// SPDX-License-Identifier: GPL-2.0
//! The hash functions upstream's hashing schedulers use, bit for bit: `hash_32()`
//! (multiplicative, `GOLDEN_RATIO_32`) and the 64-bit kernels' `hsiphash()`, which is
//! SipHash-1-3 with a 64-bit key pair truncated to 32 bits. The address fold they hash
//! (`ntohl(addr_fold)`) is [`crate::ipvs_core::addr::fold`].

/// `GOLDEN_RATIO_32` of include/linux/hash.h.
const GOLDEN_RATIO_32: u32 = 0x61c8_8647;

/// `hash_32(val, bits)`: the top `bits` bits of `val * GOLDEN_RATIO_32`.
pub fn hash_32(val: u32, bits: u32) -> u32 {
    let bits = bits.clamp(1, 32);
    val.wrapping_mul(GOLDEN_RATIO_32) >> (32 - bits)
}

/// `hsiphash_key_t` on a 64-bit kernel.
pub type HsipKey = [u64; 2];

struct SipState([u64; 4]);

impl SipState {
    fn new(key: &HsipKey) -> Self {
        SipState([
            0x736f_6d65_7073_6575 ^ key[0],
            0x646f_7261_6e64_6f6d ^ key[1],
            0x6c79_6765_6e65_7261 ^ key[0],
            0x7465_6462_7974_6573 ^ key[1],
        ])
    }

    fn round(&mut self) {
        let [mut a, mut b, mut c, mut d] = self.0;
        a = a.wrapping_add(b);
        b = b.rotate_left(13) ^ a;
        a = a.rotate_left(32);
        c = c.wrapping_add(d);
        d = d.rotate_left(16) ^ c;
        a = a.wrapping_add(d);
        d = d.rotate_left(21) ^ a;
        c = c.wrapping_add(b);
        b = b.rotate_left(17) ^ c;
        c = c.rotate_left(32);
        self.0 = [a, b, c, d];
    }

    /// One compression round per message word.
    fn absorb(&mut self, m: u64) {
        self.0[3] ^= m;
        self.round();
        self.0[0] ^= m;
    }

    /// The last word (length and tail bytes), then three finalisation rounds.
    fn finish(mut self, b: u64) -> u32 {
        self.absorb(b);
        self.0[2] ^= 0xff;
        self.round();
        self.round();
        self.round();
        let [a, b, c, d] = self.0;
        (a ^ b ^ c ^ d) as u32
    }
}

/// `hsiphash(data, len, key)` of a 64-bit kernel: the general form, which the host tests
/// check `hsiphash_u32` against.
#[cfg(ipvs_host)]
pub fn hsiphash(data: &[u8], key: &HsipKey) -> u32 {
    let mut st = SipState::new(key);
    let mut words = data.chunks_exact(8);
    for w in &mut words {
        let mut m = [0u8; 8];
        m.copy_from_slice(w);
        st.absorb(u64::from_le_bytes(m));
    }
    let mut tail = [0u8; 8];
    for (dst, src) in tail.iter_mut().zip(words.remainder()) {
        *dst = *src;
    }
    st.finish(((data.len() as u64) << 56) | u64::from_le_bytes(tail))
}

/// `hsiphash(&v, sizeof(v), key)` of a `u32` in the (little-endian) memory order of x86-64.
pub fn hsiphash_u32(v: u32, key: &HsipKey) -> u32 {
    SipState::new(key).finish((4u64 << 56) | u64::from(v))
}
