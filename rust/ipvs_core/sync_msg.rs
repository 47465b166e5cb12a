// SPDX-License-Identifier: GPL-2.0
//! The connection sync messages a master director multicasts to its backups (to
//! `daemon::DEFAULT_GROUP`, port `daemon::DEFAULT_PORT` unless configured), byte for byte as
//! stock IPVS writes and reads them (`ip_vs_sync.c`), in both versions it speaks:
//! - [`MessageWriter`] fills one message in a buffer the caller provides, as the master's
//!   `ip_vs_sync_conn` (version 1) and `ip_vs_sync_conn_v0` do;
//! - [`decode`] checks a received datagram and yields its entries, with the backup's checks
//!   in its order (`ip_vs_process_message`, `ip_vs_proc_sync_conn`,
//!   `ip_vs_process_message_v0`): what drops the whole datagram ([`MessageDrop`]), what ends
//!   it after the entries before ([`FatalReason`]), and what skips one entry ([`SkipReason`]);
//! - [`sync_needed`] decides whether the master syncs a connection on this packet
//!   (`ip_vs_sync_conn_needed`).
//!
//! The layout (all numbers big-endian unless said otherwise):
//! - version 1 header, 8 bytes: reserved 0, sync id, message size (u16, header included),
//!   number of entries, protocol version 1, two spare bytes 0. Its first byte, zero, is the
//!   entry count of a version 0 header: a version 0 backup sees an empty message.
//! - version 1 entry: type (bit 0: IPv6), protocol, a u16 holding the entry's size in its
//!   low 12 bits and the entry version 0 in its top 4, flags (u32), state (u16), client,
//!   virtual and dest ports, firewall mark (u32), timeout in seconds (u32), then the client,
//!   virtual and dest addresses, 4 bytes each (36 bytes in all) or 16 (72). Options follow,
//!   each a type byte, a length byte and that many bytes of data; the size counts them. Every
//!   entry starts 4-byte aligned from the start of the message: zero padding in front of it,
//!   which the message size counts and the entry size does not.
//! - version 0 header, 4 bytes: number of entries, sync id, message size.
//! - version 0 entry, 24 bytes: reserved 0, protocol, client, virtual and dest ports, client,
//!   virtual and dest IPv4 addresses, the low 16 bits of the flags, the state (u16); then,
//!   when the flags have `SEQ_MASK` bits, the two [`Seq`]s (24 bytes) in the *sender's* byte
//!   order (upstream copies them as they are in memory).

use super::ip::{addr_wire, v4_to_16};
use super::packet::{PROTO_TCP, PROTO_UDP};
use super::proto_tcp::{udp, TcpState, TCP_STATE_COUNT};
use super::uapi::{AF_INET, AF_INET6, PEDATA_MAXLEN, PENAME_MAXLEN};

/// The connection flags are part of the ABI; they live in `uapi`.
pub use super::uapi::conn_flag;

/// The protocol version a version 1 header names (`SYNC_PROTO_VER`).
pub const PROTOCOL_VERSION: u8 = 1;
/// Header lengths of each version.
pub const HEADER_V0_LEN: usize = 4;
pub const HEADER_V1_LEN: usize = 8;
/// A version 0 entry, without and with its sequence options.
pub const ENTRY_V0_LEN: usize = 24;
pub const ENTRY_V0_SEQ_LEN: usize = ENTRY_V0_LEN + SEQ_OPTIONS_LEN;
/// The fixed part of a version 1 entry, IPv4 and IPv6.
pub const ENTRY_V4_LEN: usize = 36;
pub const ENTRY_V6_LEN: usize = 72;
/// An option's type and length bytes.
pub const OPTION_HEADER_LEN: usize = 2;
/// The input and output [`Seq`] (`struct ip_vs_sync_conn_options`).
pub const SEQ_OPTIONS_LEN: usize = 24;
/// The longest entry [`MessageWriter`] writes: IPv6 with its sequence options.
pub const MAX_ENTRY_LEN: usize = ENTRY_V6_LEN + OPTION_HEADER_LEN + SEQ_OPTIONS_LEN;
/// The type bit of an IPv6 entry (`STYPE_F_INET6`).
pub const TYPE_F_INET6: u8 = 1;
/// How a version 1 entry's size field splits into size and entry version.
pub const ENTRY_SIZE_MASK: u16 = 0x0fff;
pub const ENTRY_VERSION_SHIFT: u32 = 12;
/// Option types (`IPVS_OPT_*`): sequence numbers, persistence-engine data and its engine's
/// name. An unknown type is an error unless it has the "optional" bit (`IPVS_OPT_F_PARAM`),
/// which the known types may carry too.
pub const OPT_SEQ_DATA: u8 = 1;
pub const OPT_PE_DATA: u8 = 2;
pub const OPT_PE_NAME: u8 = 3;
pub const OPT_F_OPTIONAL: u8 = 1 << (7 - 1);
/// The most entries one message carries: its count is a byte.
pub const MAX_CONNS: u8 = u8::MAX;
/// The states of a persistence template (`IP_VS_CTPL_S_*`), whatever its protocol.
pub const TEMPLATE_STATE_NONE: u16 = 0;
pub const TEMPLATE_STATE_ASSURED: u16 = 1;
pub const TEMPLATE_STATE_COUNT: u16 = 2;
/// UDP has one state.
const UDP_STATE_COUNT: usize = udp::STATE_NORMAL + 1;

/// The two formats. Version 0 carries IPv4 only, and neither timeout nor firewall mark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    V0,
    V1,
}

/// The header length of a message of `version`.
pub const fn header_len(version: Version) -> usize {
    match version {
        Version::V0 => HEADER_V0_LEN,
        Version::V1 => HEADER_V1_LEN,
    }
}

/// The sequence-number adjustment of one direction of a connection (`struct ip_vs_seq`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Seq {
    pub init_seq: u32,
    pub delta: u32,
    pub previous_delta: u32,
}

/// Both directions' adjustments, as an entry carries them (`struct ip_vs_sync_conn_options`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqOptions {
    pub in_seq: Seq,
    pub out_seq: Seq,
}

/// One connection or template as an entry carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncConn {
    /// `AF_INET` or `AF_INET6`.
    pub af: u16,
    pub protocol: u8,
    /// `conn_flag` bits. Written as given less `HASHED` (version 0: the low 16 bits); as
    /// decoded, masked with `BACKUP_MASK` and with `SYNC` added.
    pub flags: u32,
    /// The TCP state index, 0 for UDP, or a template's `TEMPLATE_STATE_*`.
    pub state: u16,
    /// Ports in network byte order.
    pub cport: [u8; 2],
    pub vport: [u8; 2],
    pub dport: [u8; 2],
    /// Zero in version 0.
    pub fwmark: u32,
    /// Seconds; zero in version 0 ("unknown").
    pub timeout: u32,
    /// Addresses in 16-byte form (IPv4 in the first 4 bytes, the rest zero).
    pub caddr: [u8; 16],
    pub vaddr: [u8; 16],
    pub daddr: [u8; 16],
    /// Sequence adjustments. Written when `flags` has `SEQ_MASK` bits (zeros if `None`),
    /// whatever this holds; decoded when the entry carries them.
    pub seq: Option<SeqOptions>,
}

/// The bytes `c` takes in a message of `version` (padding not counted); `None` when that
/// version cannot carry it (version 0: anything but IPv4; either: a family other than IPv4
/// and IPv6). [`MessageWriter`] writes no persistence-engine options.
pub fn entry_len(c: &SyncConn, version: Version) -> Option<usize> {
    let seq = c.flags & conn_flag::SEQ_MASK != 0;
    match version {
        Version::V0 => (c.af == AF_INET).then_some(if seq { ENTRY_V0_SEQ_LEN } else { ENTRY_V0_LEN }),
        Version::V1 => {
            let fixed = match c.af {
                AF_INET => ENTRY_V4_LEN,
                AF_INET6 => ENTRY_V6_LEN,
                _ => return None,
            };
            Some(fixed + if seq { OPTION_HEADER_LEN + SEQ_OPTIONS_LEN } else { 0 })
        }
    }
}

/// The capacity of a new message whose first entry is `first`: `sync_maxlen`, but at least
/// the header and that entry, so that one entry always fits in a new message (upstream's
/// `ip_vs_sync_buff_create`). At most 65535, what the size field holds.
pub fn message_capacity(sync_maxlen: usize, first: &SyncConn, version: Version) -> usize {
    let least = header_len(version) + entry_len(first, version).unwrap_or(0);
    sync_maxlen.max(least).min(usize::from(u16::MAX))
}

/// Fills one message in a buffer; the buffer's length (at most 65535) is the message's
/// capacity. The message's state is its header: [`MessageWriter::resume`] picks up a
/// message written before.
pub struct MessageWriter<'a> {
    buf: &'a mut [u8],
    version: Version,
    /// The message's size so far (what its header says).
    len: usize,
    nr_conns: u8,
}

impl<'a> MessageWriter<'a> {
    /// Starts an empty message of `version` from sync id `syncid`; `None` if `buf` cannot
    /// hold the header.
    pub fn new(buf: &'a mut [u8], version: Version, syncid: u8) -> Option<Self> {
        let hlen = header_len(version);
        let mut w = MessageWriter { buf, version, len: hlen, nr_conns: 0 };
        // Size and count are written by `write_header`; version 0 takes the first 4 bytes.
        let first = match version {
            Version::V0 => [0, syncid, 0, 0, 0, 0, 0, 0],
            Version::V1 => [0, syncid, 0, 0, 0, PROTOCOL_VERSION, 0, 0],
        };
        let head = w.buf.get_mut(..hlen)?;
        for (d, s) in head.iter_mut().zip(first.iter()) {
            *d = *s;
        }
        w.write_header();
        Some(w)
    }

    /// Continues the message of `version` that `buf` starts with; `None` if its header is
    /// not one this writer wrote (for version 0: its size does not match its entry count).
    pub fn resume(buf: &'a mut [u8], version: Version) -> Option<Self> {
        let [b0, _, s0, s1] = read::<4>(buf, 0)?;
        let len = usize::from(u16::from_be_bytes([s0, s1]));
        let nr_conns = match version {
            Version::V1 => {
                let [_, _, _, _, nr, ver, sp0, sp1] = read::<8>(buf, 0)?;
                if b0 != 0 || ver != PROTOCOL_VERSION || sp0 != 0 || sp1 != 0 || len < HEADER_V1_LEN {
                    return None;
                }
                nr
            }
            Version::V0 => {
                let body = len.checked_sub(HEADER_V0_LEN)?;
                let n = usize::from(b0);
                if body % ENTRY_V0_LEN != 0 || body < n * ENTRY_V0_LEN || body > n * ENTRY_V0_SEQ_LEN {
                    return None;
                }
                b0
            }
        };
        let w = MessageWriter { buf, version, len, nr_conns };
        (len <= w.capacity()).then_some(w)
    }

    #[cfg(ipvs_host)]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The most bytes the message may grow to.
    pub fn capacity(&self) -> usize {
        self.buf.len().min(usize::from(u16::MAX))
    }

    /// The entries written.
    #[cfg(ipvs_host)]
    pub fn nr_conns(&self) -> u8 {
        self.nr_conns
    }

    /// The message's size: header, entries and padding.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the message has no entry yet.
    #[cfg(ipvs_host)]
    pub fn is_empty(&self) -> bool {
        self.nr_conns == 0
    }

    /// The message as it is to be sent.
    #[cfg(ipvs_host)]
    pub fn bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    /// The zero bytes that go in front of the next entry: entries of version 1 start 4-byte
    /// aligned from the message's start (upstream aligns the address in a kmalloc'd, thus
    /// aligned, buffer). Version 0 entries are all multiples of 4 long.
    fn pad(&self) -> usize {
        match self.version {
            Version::V0 => 0,
            Version::V1 => self.len.wrapping_neg() & 3,
        }
    }

    /// Whether `c` goes into this message: the version carries it, the count is below
    /// [`MAX_CONNS`] and it fits with its padding. When not, upstream sends this message
    /// and starts a new one.
    pub fn fits(&self, c: &SyncConn) -> bool {
        self.end_with(c).is_some()
    }

    /// Where the message would end with `c` added, if it goes in.
    fn end_with(&self, c: &SyncConn) -> Option<usize> {
        let elen = entry_len(c, self.version)?;
        if self.nr_conns == MAX_CONNS {
            return None;
        }
        self.len.checked_add(self.pad() + elen).filter(|&end| end <= self.capacity())
    }

    /// Adds `c`; false, writing nothing, when it does not go in (see [`Self::fits`]).
    pub fn push(&mut self, c: &SyncConn) -> bool {
        let Some(end) = self.end_with(c) else { return false };
        let pad = self.pad();
        let entry = match self.version {
            Version::V0 => entry_v0(c),
            Version::V1 => entry_v1(c, end - self.len - pad),
        };
        let Some(dst) = self.buf.get_mut(self.len..end) else { return false };
        dst.fill(0);
        if let Some(dst) = dst.get_mut(pad..) {
            for (d, s) in dst.iter_mut().zip(entry.iter()) {
                *d = *s;
            }
        }
        self.len = end;
        self.nr_conns += 1;
        self.write_header();
        true
    }

    /// Writes the size and the count into the header.
    fn write_header(&mut self) {
        let [s0, s1] = (self.len as u16).to_be_bytes();
        let count_at = match self.version {
            Version::V0 => 0,
            Version::V1 => 4,
        };
        for (at, v) in [(2, s0), (3, s1), (count_at, self.nr_conns)] {
            if let Some(b) = self.buf.get_mut(at) {
                *b = v;
            }
        }
    }
}

/// Appends bytes to an entry under construction.
struct Put {
    bytes: [u8; MAX_ENTRY_LEN],
    at: usize,
}

impl Put {
    fn new() -> Self {
        Put { bytes: [0; MAX_ENTRY_LEN], at: 0 }
    }

    fn put(&mut self, s: &[u8]) {
        if let Some(d) = self.bytes.get_mut(self.at..) {
            for (d, s) in d.iter_mut().zip(s) {
                *d = *s;
            }
        }
        self.at += s.len();
    }

    fn seq(&mut self, s: &SeqOptions, order: fn(u32) -> [u8; 4]) {
        for q in [s.in_seq, s.out_seq] {
            for v in [q.init_seq, q.delta, q.previous_delta] {
                self.put(&order(v));
            }
        }
    }
}

/// A version 1 entry of `len` bytes (what [`entry_len`] says).
fn entry_v1(c: &SyncConn, len: usize) -> [u8; MAX_ENTRY_LEN] {
    let mut e = Put::new();
    let ty = if c.af == AF_INET6 { TYPE_F_INET6 } else { 0 };
    e.put(&[ty, c.protocol]);
    e.put(&(len as u16 & ENTRY_SIZE_MASK).to_be_bytes());
    e.put(&(c.flags & !conn_flag::HASHED).to_be_bytes());
    e.put(&c.state.to_be_bytes());
    e.put(&c.cport);
    e.put(&c.vport);
    e.put(&c.dport);
    e.put(&c.fwmark.to_be_bytes());
    e.put(&c.timeout.to_be_bytes());
    for a in [&c.caddr, &c.vaddr, &c.daddr] {
        e.put(addr_wire(c.af, a));
    }
    if c.flags & conn_flag::SEQ_MASK != 0 {
        e.put(&[OPT_SEQ_DATA, SEQ_OPTIONS_LEN as u8]);
        e.seq(&c.seq.unwrap_or_default(), u32::to_be_bytes);
    }
    e.bytes
}

/// A version 0 entry (IPv4).
fn entry_v0(c: &SyncConn) -> [u8; MAX_ENTRY_LEN] {
    let mut e = Put::new();
    e.put(&[0, c.protocol]);
    e.put(&c.cport);
    e.put(&c.vport);
    e.put(&c.dport);
    for a in [&c.caddr, &c.vaddr, &c.daddr] {
        e.put(addr_wire(AF_INET, a));
    }
    e.put(&((c.flags & !conn_flag::HASHED) as u16).to_be_bytes());
    e.put(&c.state.to_be_bytes());
    if c.flags & conn_flag::SEQ_MASK != 0 {
        e.seq(&c.seq.unwrap_or_default(), u32::to_ne_bytes);
    }
    e.bytes
}

/// Why a whole datagram is dropped before any entry is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageDrop {
    /// Shorter than a version 0 header.
    TooShort,
    /// Its size field is not its length.
    SizeMismatch,
    /// From another sync id than the backup's (which is not 0, "any").
    OtherSyncId,
}

/// Why the rest of a datagram is dropped (the entries before stay applied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FatalReason {
    /// Version 1: fewer bytes left than an IPv4 entry's fixed part, where an entry should
    /// start ("too small").
    EntryHeaderTruncated,
    /// Version 1: the entry's size runs past the datagram.
    EntryBeyondMessage,
    /// Version 1: an entry version other than 0.
    EntryVersion,
    /// A type neither 0 (IPv4) nor with the IPv6 bit set (upstream's -10).
    BadType,
    /// The size is shorter than the family's fixed part (-20).
    FixedPartBeyondEntry,
    /// An option's type and length run past the entry (-30).
    OptionHeaderTruncated,
    /// An option of length 0, or running past the entry (-40).
    OptionLength,
    /// Sequence options not 24 bytes long, or twice (-50).
    BadSeqOption,
    /// Persistence-engine data twice (its length byte cannot exceed `PEDATA_MAXLEN`) (-60).
    BadPeData,
    /// An engine name longer than `PENAME_MAXLEN`, or twice (-70).
    BadPeName,
    /// Version 0: an entry runs past the datagram.
    V0EntryTruncated,
    /// Version 0: an entry's sequence options run past the datagram.
    V0OptionsTruncated,
}

/// Why one entry is passed over (the next is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    /// An option of unknown type without the optional bit (upstream's 20).
    MandatoryOptionUnknown,
    /// `NO_CPORT` on a template, or `ONE_PACKET` (25).
    InvalidFlags,
    /// A connection (not a template) of a protocol this module serves no service of: TCP
    /// and UDP are served; SCTP, AH and ESP, which stock also syncs, are not (30).
    UnsupportedProtocol,
    /// A state out of its protocol's range, or a template's out of `TEMPLATE_STATE_*` (40).
    InvalidState,
    /// Persistence-engine data without the engine's name (50).
    PeDataWithoutName,
}

/// What is wrong with one entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryFault {
    Skip(SkipReason),
    /// The last item [`Entries`] yields.
    Fatal(FatalReason),
}

/// One entry that passed the checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    pub conn: SyncConn,
    /// The persistence engine's data and name options, as carried (version 1 only).
    pub pe_data: Option<&'a [u8]>,
    pub pe_name: Option<&'a [u8]>,
}

impl<'a> Decoded<'a> {
    /// The engine the entry is bound to: its name when it carries engine data (a name comes
    /// with it: the decoder skips data without one). Such an entry is for that engine to
    /// apply, and is to be skipped without one of that name (this module has none). A name
    /// without data binds nothing: the entry is applied as if it had none.
    pub fn engine(&self) -> Option<&'a [u8]> {
        self.pe_data.and(self.pe_name)
    }
}

/// The entries of a datagram that passed the message checks, in order: each `Ok`, or a
/// fault. After a [`EntryFault::Fatal`] nothing more is yielded.
#[derive(Clone, Debug)]
pub struct Entries<'a> {
    buf: &'a [u8],
    version: Version,
    #[cfg_attr(not(ipvs_host), allow(dead_code))]
    syncid: u8,
    /// Entries the header announces that have not been read.
    left: u8,
    /// Where the next entry (or its padding) starts.
    at: usize,
}

/// Checks a datagram of `buf.len()` bytes received by a backup of sync id `backup_syncid`
/// (0: any; one above 255 matches no message, which carries a byte) and returns its entries.
/// Version 1 when the header has reserved 0, version 1 and spare 0 (a datagram shorter than
/// that header is version 0), else version 0.
pub fn decode(buf: &[u8], backup_syncid: u32) -> Result<Entries<'_>, MessageDrop> {
    let [b0, syncid, s0, s1] = read::<4>(buf, 0).ok_or(MessageDrop::TooShort)?;
    if usize::from(u16::from_be_bytes([s0, s1])) != buf.len() {
        return Err(MessageDrop::SizeMismatch);
    }
    if backup_syncid != 0 && u32::from(syncid) != backup_syncid {
        return Err(MessageDrop::OtherSyncId);
    }
    let entries = match read::<8>(buf, 0) {
        Some([0, _, _, _, nr, PROTOCOL_VERSION, 0, 0]) => {
            Entries { buf, version: Version::V1, syncid, left: nr, at: HEADER_V1_LEN }
        }
        _ => Entries { buf, version: Version::V0, syncid, left: b0, at: HEADER_V0_LEN },
    };
    Ok(entries)
}

impl<'a> Entries<'a> {
    /// The message's format.
    #[cfg(ipvs_host)]
    pub fn version(&self) -> Version {
        self.version
    }

    /// The sync id it came from.
    #[cfg(ipvs_host)]
    pub fn syncid(&self) -> u8 {
        self.syncid
    }

    /// `ip_vs_process_message`'s framing of the next version 1 entry.
    fn next_v1(&mut self) -> Result<Decoded<'a>, EntryFault> {
        let buf: &'a [u8] = self.buf;
        let truncated = EntryFault::Fatal(FatalReason::EntryHeaderTruncated);
        let rest = buf.get(self.at..).filter(|r| r.len() >= ENTRY_V4_LEN).ok_or(truncated)?;
        let ver_size = be16(rest, 2).ok_or(truncated)?;
        let size = usize::from(ver_size & ENTRY_SIZE_MASK);
        if size > rest.len() {
            return Err(EntryFault::Fatal(FatalReason::EntryBeyondMessage));
        }
        if ver_size >> ENTRY_VERSION_SHIFT != 0 {
            return Err(EntryFault::Fatal(FatalReason::EntryVersion));
        }
        self.at = self.at.saturating_add((size + 3) & !3);
        entry_v1_fields(rest, size)
    }

    /// `ip_vs_process_message_v0`'s reading of the next entry.
    fn next_v0(&mut self) -> Result<Decoded<'a>, EntryFault> {
        let at = self.at;
        let e = read::<ENTRY_V0_LEN>(self.buf, at).ok_or(EntryFault::Fatal(FatalReason::V0EntryTruncated))?;
        let [_, protocol, c0, c1, v0, v1, d0, d1, ca0, ca1, ca2, ca3, va0, va1, va2, va3, da0, da1, da2, da3, f0, f1, st0, st1] =
            e;
        let flags = u32::from(u16::from_be_bytes([f0, f1]));
        let seq = if flags & conn_flag::SEQ_MASK != 0 {
            let o = read::<SEQ_OPTIONS_LEN>(self.buf, at + ENTRY_V0_LEN);
            let o = o.ok_or(EntryFault::Fatal(FatalReason::V0OptionsTruncated))?;
            self.at = at + ENTRY_V0_SEQ_LEN;
            Some(seq_options(&o, u32::from_ne_bytes))
        } else {
            self.at = at + ENTRY_V0_LEN;
            None
        };
        let state = u16::from_be_bytes([st0, st1]);
        let flags = admit(flags, protocol, state).map_err(EntryFault::Skip)?;
        let conn = SyncConn {
            af: AF_INET,
            protocol,
            flags,
            state,
            cport: [c0, c1],
            vport: [v0, v1],
            dport: [d0, d1],
            fwmark: 0,
            timeout: 0,
            caddr: v4_to_16([ca0, ca1, ca2, ca3]),
            vaddr: v4_to_16([va0, va1, va2, va3]),
            daddr: v4_to_16([da0, da1, da2, da3]),
            seq,
        };
        Ok(Decoded { conn, pe_data: None, pe_name: None })
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = Result<Decoded<'a>, EntryFault>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = match self.version {
            Version::V1 => self.next_v1(),
            Version::V0 => self.next_v0(),
        };
        if let Err(EntryFault::Fatal(_)) = item {
            self.left = 0;
        }
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(usize::from(self.left)))
    }
}

impl core::iter::FusedIterator for Entries<'_> {}

/// `ip_vs_proc_sync_conn`: one version 1 entry of `size` bytes at the start of `rest` (which
/// holds at least an IPv4 entry's fixed part and `size` bytes).
fn entry_v1_fields(rest: &[u8], size: usize) -> Result<Decoded<'_>, EntryFault> {
    use EntryFault::{Fatal, Skip};
    let ty = rest.first().copied().unwrap_or(0);
    let (af, fixed) = if ty & TYPE_F_INET6 != 0 {
        (AF_INET6, ENTRY_V6_LEN)
    } else if ty == 0 {
        (AF_INET, ENTRY_V4_LEN)
    } else {
        return Err(Fatal(FatalReason::BadType));
    };
    let entry = rest.get(..size).filter(|_| size >= fixed).ok_or(Fatal(FatalReason::FixedPartBeyondEntry))?;
    let (mut seq, mut pe_data, mut pe_name) = (None, None, None);
    let mut at = fixed;
    while at < size {
        let (Some(&ptype), Some(&plen)) = (entry.get(at), entry.get(at + 1)) else {
            return Err(Fatal(FatalReason::OptionHeaderTruncated));
        };
        at += OPTION_HEADER_LEN;
        let plen = usize::from(plen);
        let data = entry.get(at..at + plen).filter(|_| plen != 0).ok_or(Fatal(FatalReason::OptionLength))?;
        match ptype & !OPT_F_OPTIONAL {
            OPT_SEQ_DATA => {
                let o = read::<SEQ_OPTIONS_LEN>(data, 0).filter(|_| plen == SEQ_OPTIONS_LEN && seq.is_none());
                let o = o.ok_or(Fatal(FatalReason::BadSeqOption))?;
                seq = Some(seq_options(&o, u32::from_be_bytes));
            }
            OPT_PE_DATA => {
                if plen > PEDATA_MAXLEN || pe_data.is_some() {
                    return Err(Fatal(FatalReason::BadPeData));
                }
                pe_data = Some(data);
            }
            OPT_PE_NAME => {
                if plen > PENAME_MAXLEN || pe_name.is_some() {
                    return Err(Fatal(FatalReason::BadPeName));
                }
                pe_name = Some(data);
            }
            // Upstream stops reading the entry here: later options are not looked at.
            _ if ptype & OPT_F_OPTIONAL == 0 => return Err(Skip(SkipReason::MandatoryOptionUnknown)),
            _ => {}
        }
        at += plen;
    }
    let short = Fatal(FatalReason::FixedPartBeyondEntry);
    let protocol = entry.get(1).copied().ok_or(short)?;
    let flags = be32(entry, 4).ok_or(short)?;
    let state = be16(entry, 8).ok_or(short)?;
    let flags = admit(flags, protocol, state).map_err(Skip)?;
    if pe_data.is_some() && pe_name.is_none() {
        return Err(Skip(SkipReason::PeDataWithoutName));
    }
    let addr = |i: usize| -> Option<[u8; 16]> {
        if af == AF_INET6 {
            read::<16>(entry, 24 + 16 * i)
        } else {
            read::<4>(entry, 24 + 4 * i).map(v4_to_16)
        }
    };
    let conn = SyncConn {
        af,
        protocol,
        flags,
        state,
        cport: read::<2>(entry, 10).ok_or(short)?,
        vport: read::<2>(entry, 12).ok_or(short)?,
        dport: read::<2>(entry, 14).ok_or(short)?,
        fwmark: be32(entry, 16).ok_or(short)?,
        timeout: be32(entry, 20).ok_or(short)?,
        caddr: addr(0).ok_or(short)?,
        vaddr: addr(1).ok_or(short)?,
        daddr: addr(2).ok_or(short)?,
        seq,
    };
    Ok(Decoded { conn, pe_data, pe_name })
}

/// The checks both versions make of an entry's flags and state (`ip_vs_sync_validate_flags`
/// and the protocol's state count), and the flags a backup keeps.
fn admit(flags: u32, protocol: u8, state: u16) -> Result<u32, SkipReason> {
    let no_cport_template = flags & conn_flag::NO_CPORT != 0 && flags & conn_flag::TEMPLATE != 0;
    if no_cport_template || flags & conn_flag::ONE_PACKET != 0 {
        return Err(SkipReason::InvalidFlags);
    }
    let flags = (flags & conn_flag::BACKUP_MASK) | conn_flag::SYNC;
    let states = if flags & conn_flag::TEMPLATE != 0 {
        usize::from(TEMPLATE_STATE_COUNT)
    } else {
        match protocol {
            PROTO_TCP => TCP_STATE_COUNT,
            PROTO_UDP => UDP_STATE_COUNT,
            _ => return Err(SkipReason::UnsupportedProtocol),
        }
    };
    if usize::from(state) >= states {
        return Err(SkipReason::InvalidState);
    }
    Ok(flags)
}

/// Both [`Seq`]s from their 24 bytes, each number in `order`.
fn seq_options(b: &[u8; SEQ_OPTIONS_LEN], order: fn([u8; 4]) -> u32) -> SeqOptions {
    let n = |i: usize| read::<4>(b, 4 * i).map_or(0, order);
    SeqOptions {
        in_seq: Seq { init_seq: n(0), delta: n(1), previous_delta: n(2) },
        out_seq: Seq { init_seq: n(3), delta: n(4), previous_delta: n(5) },
    }
}

/// `N` bytes of `b` at `at`, if there are.
fn read<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    read::<2>(b, at).map(u16::from_be_bytes)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    read::<4>(b, at).map(u32::from_be_bytes)
}

/// What the master's sync decision looks at, for one connection or template on one packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeedInput {
    /// A persistence template.
    pub template: bool,
    pub protocol: u8,
    /// Its state now (TCP state index; templates' and other protocols' are not looked at).
    pub state: u16,
    /// `sync_persist_mode` is on and a template controls this connection: only the
    /// template is synced.
    pub in_persistence: bool,
    /// The connection's packet count (a template's: its incremented `in_pkts`; for a
    /// controlling connection that is not a template, the threshold).
    pub pkts: i32,
    /// The `sync_threshold` sysctl's two numbers: threshold and period.
    pub threshold: i32,
    pub period: i32,
    /// `sync_refresh_period`, in jiffies (0: off).
    pub refresh_period: u32,
    /// `sync_retries` (0 to 3).
    pub retries: u32,
    /// Jiffies now, the connection's timeout in jiffies, and jiffies per second.
    pub now: u64,
    pub timeout: u64,
    pub hz: u64,
}

/// The master's sync decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeedOutcome {
    /// Not now; nothing changes.
    Skip,
    /// Record the state as the one last synced, and store `endtime` as the connection's
    /// `sync_endtime` if it still holds the value the decision was made on (a
    /// compare-exchange). The connection is synced if that store happened, or anyway when
    /// `force` (its TCP state changed).
    Sync { endtime: u64, force: bool },
}

/// Upstream's `ip_vs_sync_conn_needed`, over the connection's state when last synced
/// (`old_state`) and its `sync_endtime`: the expiry time at the last sync, rounded down to
/// a multiple of 4, whose low 2 bits count the retries within one refresh period.
/// - A template is looked at whatever its state, never forced.
/// - A connection under a template in persist mode is never synced (its template is).
/// - A TCP connection only in ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSE and CLOSE_WAIT; a
///   change to one of those but ESTABLISHED is synced at once (forced); a change to
///   ESTABLISHED is forced but still passes the checks below.
/// - UDP (and any other protocol) has one state and is never forced.
///
/// Then, with a refresh period: an entry whose new expiry differs from the last synced
/// one by less than both the refresh period and max(half its timeout, 10 s) is synced
/// again only `retries` times, each no earlier than an eighth of the refresh period after
/// the last sync. With a sync period, a connection is synced when its packet count modulo
/// the period equals the threshold (templates whatever their count); with neither period,
/// only on the packet that reaches the threshold.
pub fn sync_needed(inp: &NeedInput, old_state: u16, endtime: u64) -> NeedOutcome {
    let mut n = inp.now.wrapping_add(inp.timeout) & !3;
    let force = if inp.template {
        false
    } else if inp.in_persistence {
        return NeedOutcome::Skip;
    } else if inp.protocol == PROTO_TCP {
        let syncs = TcpState::from_index(usize::from(inp.state)).is_some_and(|s| {
            matches!(
                s,
                TcpState::Established | TcpState::FinWait | TcpState::Close | TcpState::CloseWait | TcpState::TimeWait
            )
        });
        if !syncs {
            return NeedOutcome::Skip;
        }
        let changed = inp.state != old_state;
        if changed && inp.state != TcpState::Established as u16 {
            return NeedOutcome::Sync { endtime: n, force: true };
        }
        changed
    } else {
        false
    };
    let refresh = inp.refresh_period;
    if refresh > 0 {
        // Jiffies wrap: differences are signed, as upstream's `long`.
        let diff = n.wrapping_sub(endtime) as i64;
        let min_diff = (inp.timeout >> 1).max(inp.hz.saturating_mul(10));
        if diff.wrapping_abs() < i64::from(refresh).min(min_diff as i64) {
            let retries = (endtime & 3) as u32;
            if retries >= inp.retries {
                return NeedOutcome::Skip;
            }
            let not_before = endtime.wrapping_sub(inp.timeout).wrapping_add(u64::from(refresh >> 3));
            if (inp.now.wrapping_sub(not_before) as i64) < 0 {
                return NeedOutcome::Skip;
            }
            n |= u64::from(retries + 1);
        }
    }
    if inp.period > 0 {
        if !inp.template && inp.pkts % inp.period != inp.threshold {
            return NeedOutcome::Skip;
        }
    } else if refresh == 0 && inp.pkts != inp.threshold {
        return NeedOutcome::Skip;
    }
    NeedOutcome::Sync { endtime: n, force }
}
