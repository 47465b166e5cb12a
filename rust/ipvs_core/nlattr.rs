// SPDX-License-Identifier: GPL-2.0
//! Netlink attributes: walking, policy validation and encoding, without allocation.
//!
//! Validation follows the kernel's *liberal* (deprecated) mode, which upstream IPVS uses for
//! every nested attribute: unknown types are skipped, a too-long fixed-size integer is accepted,
//! trailing garbage is ignored, and the last of duplicate attributes wins. The errno of each
//! failed check matches `lib/nlattr.c`, so clients see the same errors as with stock ip_vs.

use super::errno::{Errno, Result};

pub const NLA_HDRLEN: usize = 4;
pub const NLA_F_NESTED: u16 = 1 << 15;
pub const NLA_F_NET_BYTEORDER: u16 = 1 << 14;
pub const NLA_TYPE_MASK: u16 = !(NLA_F_NESTED | NLA_F_NET_BYTEORDER);
/// Length of the generic netlink header (cmd, version, reserved) that precedes the attributes.
pub const GENL_HDRLEN: usize = 4;
/// Length of `struct nlmsghdr`.
pub const NLMSG_HDRLEN: usize = 16;

/// Rounds up to the 4-byte netlink alignment.
pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// One attribute as found in a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attr<'a> {
    /// The type with the NESTED and NET_BYTEORDER flags masked off.
    pub kind: u16,
    pub payload: &'a [u8],
}

/// Walks the attributes of a buffer the way `nla_for_each_attr` does: it stops at the first
/// header that is short or claims more bytes than remain.
#[derive(Clone)]
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Attrs { rest: buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let (hdr, _) = self.rest.split_first_chunk::<NLA_HDRLEN>()?;
        let len = usize::from(u16::from_ne_bytes([hdr[0], hdr[1]]));
        let raw_type = u16::from_ne_bytes([hdr[2], hdr[3]]);
        let Some(payload) = self.rest.get(NLA_HDRLEN..len) else {
            // Shorter than a header, or claims more than remains: the walk ends here.
            self.rest = &[];
            return None;
        };
        self.rest = self.rest.get(align(len)..).unwrap_or(&[]);
        Some(Attr { kind: raw_type & NLA_TYPE_MASK, payload })
    }
}

/// What a policy entry demands of an attribute (the subset of `enum nla_policy_type` IPVS uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// No constraint: the attribute type is unused by this policy.
    Ignore,
    /// `NLA_UNSPEC` with a minimum payload length.
    MinLen(usize),
    U8,
    U16,
    U32,
    /// `NLA_NUL_STRING` with a maximum string length (the NUL not counted).
    NulString(usize),
    /// `NLA_BINARY` with a maximum payload length.
    Binary(usize),
    /// `NLA_NESTED` without a nested policy: empty, or at least one attribute header.
    Nested,
}

impl Rule {
    /// Checks one attribute's payload, with the errno `validate_nla()` gives in liberal mode.
    pub fn check(self, payload: &[u8]) -> Result<()> {
        let len = payload.len();
        let ok = match self {
            Rule::Ignore => true,
            Rule::MinLen(min) => len >= min,
            // A wrong exact length only warns in liberal mode; too short is an error.
            Rule::U8 => len >= 1,
            Rule::U16 => len >= 2,
            Rule::U32 => len >= 4,
            Rule::NulString(max) => {
                let scan = if max > 0 { len.min(max + 1) } else { len };
                let head = payload.get(..scan).unwrap_or(&[]);
                if head.is_empty() || !head.contains(&0) {
                    return Err(Errno::EINVAL);
                }
                let strlen = if payload.last() == Some(&0) { len - 1 } else { len };
                max == 0 || strlen <= max
            }
            Rule::Binary(max) => max == 0 || len <= max,
            Rule::Nested => len == 0 || len >= NLA_HDRLEN,
        };
        if ok {
            Ok(())
        } else {
            Err(Errno::ERANGE)
        }
    }
}

/// The attributes of one nesting level, indexed by type. `N` is the policy's max type + 1.
pub struct Table<'a, const N: usize> {
    slots: [Option<&'a [u8]>; N],
}

impl<'a, const N: usize> Table<'a, N> {
    /// Parses and validates `buf` against `policy` (indexed by attribute type; index 0 unused).
    pub fn parse(buf: &'a [u8], policy: &[Rule; N]) -> Result<Self> {
        let mut slots = [None; N];
        for attr in Attrs::new(buf) {
            let kind = usize::from(attr.kind);
            if kind == 0 {
                continue;
            }
            let (Some(rule), Some(slot)) = (policy.get(kind), slots.get_mut(kind)) else {
                continue; // beyond the policy's max type: skipped, as in liberal mode
            };
            rule.check(attr.payload)?;
            *slot = Some(attr.payload);
        }
        Ok(Table { slots })
    }

    /// A table with nothing in it.
    #[cfg(ipvs_host)]
    pub fn empty() -> Self {
        Table { slots: [None; N] }
    }

    /// Builds a table from payloads the kernel's genetlink core already validated.
    pub fn from_slots(slots: [Option<&'a [u8]>; N]) -> Self {
        Table { slots }
    }

    pub fn get(&self, kind: u16) -> Option<&'a [u8]> {
        self.slots.get(usize::from(kind)).copied().flatten()
    }

    pub fn has(&self, kind: u16) -> bool {
        self.get(kind).is_some()
    }

    // The getters below read a validated attribute, which is at least as long as its type.
    pub fn u8(&self, kind: u16) -> Option<u8> {
        self.get(kind).and_then(|p| p.first().copied())
    }

    pub fn u16(&self, kind: u16) -> Option<u16> {
        self.get(kind).and_then(|p| Some(u16::from_ne_bytes([*p.first()?, *p.get(1)?])))
    }

    /// A `__be16` read as its two wire bytes (a port, in network order).
    pub fn be16(&self, kind: u16) -> Option<[u8; 2]> {
        self.get(kind).and_then(|p| Some([*p.first()?, *p.get(1)?]))
    }

    pub fn u32(&self, kind: u16) -> Option<u32> {
        self.get(kind).and_then(|p| Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?)))
    }

    /// `nla_memcpy()`: copy what fits and zero the rest.
    pub fn bytes<const M: usize>(&self, kind: u16) -> Option<[u8; M]> {
        self.get(kind).map(|p| {
            let mut out = [0u8; M];
            for (dst, src) in out.iter_mut().zip(p) {
                *dst = *src;
            }
            out
        })
    }

    /// A NUL-terminated string attribute, without its NUL.
    pub fn cstr(&self, kind: u16) -> Option<&'a [u8]> {
        self.get(kind).map(|p| p.split(|&b| b == 0).next().unwrap_or(p))
    }
}

/// The buffer had no room for what was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

/// Appends attributes to a caller-provided buffer.
pub struct Writer<'a> {
    buf: &'a mut [u8],
    len: usize,
}

/// An open nest: where its header was written.
#[must_use]
pub struct Nest(usize);

impl<'a> Writer<'a> {
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, len: 0 }
    }

    /// The bytes written so far.
    #[cfg(ipvs_host)]
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.len
    }

    #[cfg(ipvs_host)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Writes a header claiming `payload_len` bytes, then the payload pieces, then zero padding.
    fn put_parts(&mut self, kind: u16, payload_len: usize, parts: &[&[u8]]) -> core::result::Result<(), Full> {
        let nla_len = NLA_HDRLEN.checked_add(payload_len).ok_or(Full)?;
        let nla_len16 = u16::try_from(nla_len).map_err(|_| Full)?;
        let end = self.len.checked_add(align(nla_len)).ok_or(Full)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(Full)?;
        dst.fill(0);
        let (hdr, body) = dst.split_at_mut(NLA_HDRLEN);
        let ([l0, l1], [k0, k1]) = (nla_len16.to_ne_bytes(), kind.to_ne_bytes());
        hdr.copy_from_slice(&[l0, l1, k0, k1]);
        let mut at = 0;
        for part in parts {
            let piece = body.get_mut(at..at + part.len()).ok_or(Full)?;
            piece.copy_from_slice(part);
            at += part.len();
        }
        self.len = end;
        Ok(())
    }

    /// Writes one attribute, zero-padding it to the alignment.
    pub fn put(&mut self, kind: u16, payload: &[u8]) -> core::result::Result<(), Full> {
        self.put_parts(kind, payload.len(), &[payload])
    }

    pub fn put_u8(&mut self, kind: u16, v: u8) -> core::result::Result<(), Full> {
        self.put(kind, &[v])
    }

    pub fn put_u16(&mut self, kind: u16, v: u16) -> core::result::Result<(), Full> {
        self.put(kind, &v.to_ne_bytes())
    }

    pub fn put_u32(&mut self, kind: u16, v: u32) -> core::result::Result<(), Full> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// `nla_put_u64_64bit()`: on x86-64 (efficient unaligned access) no PAD attribute is needed.
    pub fn put_u64(&mut self, kind: u16, v: u64) -> core::result::Result<(), Full> {
        self.put(kind, &v.to_ne_bytes())
    }

    /// A NUL-terminated string (the NUL comes from the zero fill).
    pub fn put_cstr(&mut self, kind: u16, s: &[u8]) -> core::result::Result<(), Full> {
        self.put_parts(kind, s.len() + 1, &[s])
    }

    /// Opens a nested attribute; its length is fixed by [`Writer::nest_end`]. Like upstream
    /// IPVS (`nla_nest_start_noflag`), the type carries no NLA_F_NESTED flag.
    pub fn nest_start(&mut self, kind: u16) -> core::result::Result<Nest, Full> {
        let start = self.len;
        self.put_parts(kind, 0, &[])?;
        Ok(Nest(start))
    }

    pub fn nest_end(&mut self, nest: Nest) -> core::result::Result<(), Full> {
        let len = u16::try_from(self.len - nest.0).map_err(|_| Full)?;
        let hdr = self.buf.get_mut(nest.0..nest.0 + 2).ok_or(Full)?;
        hdr.copy_from_slice(&len.to_ne_bytes());
        Ok(())
    }
}
