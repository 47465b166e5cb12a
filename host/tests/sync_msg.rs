#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! The connection sync messages (upstream's `ip_vs_sync.c`): byte-exact version 1 and version
//! 0 messages against vectors computed by hand from upstream's structs, the backup's checks
//! (every drop, fatal and skip reason, the sync id filter), round trips, decoding of random
//! and mutated datagrams, and the master's sync decision (`ip_vs_sync_conn_needed`).
use ipvs_core_host::ipvs_core::ip::v4_to_16;
use ipvs_core_host::ipvs_core::sync_msg::{
    conn_flag, decode, entry_len, header_len, message_capacity, sync_needed, Decoded, EntryFault, FatalReason,
    MessageDrop, MessageWriter, NeedInput, NeedOutcome, Seq, SeqOptions, SkipReason, SyncConn, Version, MAX_CONNS,
};
use ipvs_core_host::ipvs_core::uapi::{fwd, AF_INET, AF_INET6};
use proptest::prelude::*;

const TCP: u8 = 6;
const UDP: u8 = 17;
const SCTP: u8 = 132;

fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert_eq!(digits.len() % 2, 0, "odd number of hex digits");
    digits.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
}

fn v6(s: &str) -> [u8; 16] {
    s.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

fn port(p: u16) -> [u8; 2] {
    p.to_be_bytes()
}

/// A TCP connection by direct routing, established, hashed (which no message carries).
fn conn_a() -> SyncConn {
    SyncConn {
        af: AF_INET,
        protocol: TCP,
        flags: fwd::DROUTE | conn_flag::HASHED,
        state: 1,
        cport: port(40000),
        vport: port(80),
        dport: port(8080),
        fwmark: 0,
        timeout: 900,
        caddr: v4_to_16([192, 168, 1, 10]),
        vaddr: v4_to_16([10, 0, 0, 1]),
        daddr: v4_to_16([10, 0, 0, 2]),
        seq: None,
    }
}

/// An inactive UDP flow of an IPv6 firewall-mark service.
fn conn_b() -> SyncConn {
    SyncConn {
        af: AF_INET6,
        protocol: UDP,
        flags: fwd::MASQ | conn_flag::INACTIVE,
        state: 0,
        cport: port(54321),
        vport: port(53),
        dport: port(53),
        fwmark: 7,
        timeout: 300,
        caddr: v6("2001:db8::10"),
        vaddr: v6("2001:db8::1"),
        daddr: v6("2001:db8:1::2"),
        seq: None,
    }
}

/// An FTP control connection by NAT whose sequence numbers are being adjusted.
fn conn_c() -> SyncConn {
    SyncConn {
        af: AF_INET,
        protocol: TCP,
        flags: conn_flag::SEQ_MASK,
        state: 1,
        cport: port(0x1234),
        vport: port(21),
        dport: port(21),
        fwmark: 0,
        timeout: 900,
        caddr: v4_to_16([192, 168, 1, 10]),
        vaddr: v4_to_16([10, 0, 0, 1]),
        daddr: v4_to_16([172, 16, 0, 5]),
        seq: Some(SeqOptions {
            in_seq: Seq { init_seq: 0x1122_3344, delta: 5, previous_delta: 3 },
            out_seq: Seq { init_seq: 0xaabb_ccdd, delta: (-5i32) as u32, previous_delta: 0 },
        }),
    }
}

/// The template of firewall mark 100 for the clients of 192.168.1.0/24: protocol 0, its
/// "virtual address" the mark (as `ip_vs_sched_persist` makes it), ports 0.
fn template_d() -> SyncConn {
    SyncConn {
        af: AF_INET,
        protocol: 0,
        flags: conn_flag::TEMPLATE | fwd::DROUTE,
        state: 0,
        cport: port(0),
        vport: port(0),
        dport: port(0),
        fwmark: 100,
        timeout: 360,
        caddr: v4_to_16([192, 168, 1, 0]),
        vaddr: v4_to_16([0, 0, 0, 100]),
        daddr: v4_to_16([10, 0, 0, 2]),
        seq: None,
    }
}

/// `c` as the backup sees it: flags masked, `SYNC` added; version 0 has no timeout or mark.
fn as_received(c: &SyncConn, version: Version) -> SyncConn {
    let mut c = *c;
    c.flags = (c.flags & conn_flag::BACKUP_MASK) | conn_flag::SYNC;
    if version == Version::V0 {
        c.timeout = 0;
        c.fwmark = 0;
    }
    c
}

fn write(version: Version, syncid: u8, conns: &[SyncConn]) -> Vec<u8> {
    let mut buf = vec![0xa5; 1500];
    let mut w = MessageWriter::new(&mut buf, version, syncid).unwrap();
    for c in conns {
        assert!(w.push(c), "{c:?} fits");
    }
    w.bytes().to_vec()
}

fn decode_all(buf: &[u8], syncid: u32) -> Result<Vec<Result<Decoded<'_>, EntryFault>>, MessageDrop> {
    decode(buf, syncid).map(|e| e.collect())
}

fn conns(buf: &[u8]) -> Vec<SyncConn> {
    decode_all(buf, 0).unwrap().into_iter().map(|r| r.unwrap().conn).collect()
}

const GOLDEN_V1_A: &str = "
    00 05 00 2c  01 01 00 00
    00 06 00 24  00 00 00 03  00 01 9c 40  00 50 1f 90  00 00 00 00  00 00 03 84
    c0 a8 01 0a  0a 00 00 01  0a 00 00 02";

#[test]
fn v1_ipv4_entry() {
    // Header: reserved, sync id 5, size 8 + 36, one entry, version 1, spare. The entry: type
    // IPv4, TCP, size 36 (entry version 0), flags without HASHED, ESTABLISHED, ports 40000,
    // 80, 8080, no mark, 900 s, then the three addresses.
    let msg = write(Version::V1, 5, &[conn_a()]);
    assert_eq!(msg, hex(GOLDEN_V1_A));
    assert_eq!(conns(&msg), vec![as_received(&conn_a(), Version::V1)]);
    assert_eq!(conns(&msg)[0].flags, fwd::DROUTE | conn_flag::SYNC);
}

#[test]
fn v1_ipv6_entry() {
    let msg = write(Version::V1, 0, &[conn_b()]);
    let golden = hex(
        "00 00 00 50  01 01 00 00
         01 11 00 48  00 00 01 00  00 00 d4 31  00 35 00 35  00 00 00 07  00 00 01 2c
         20 01 0d b8  00 00 00 00  00 00 00 00  00 00 00 10
         20 01 0d b8  00 00 00 00  00 00 00 00  00 00 00 01
         20 01 0d b8  00 01 00 00  00 00 00 00  00 00 00 02",
    );
    assert_eq!(msg, golden);
    assert_eq!(conns(&msg), vec![as_received(&conn_b(), Version::V1)]);
}

/// Two entries: the first with its sequence options (62 bytes, ending at 70), so the
/// second, a firewall-mark template, starts after 2 bytes of padding, at 72; the message
/// size counts the padding, the entry size does not.
const GOLDEN_V1_SEQ_PAD: &str = "
    00 2a 00 6c  02 01 00 00
    00 06 00 3e  00 00 06 00  00 01 12 34  00 15 00 15  00 00 00 00  00 00 03 84
    c0 a8 01 0a  0a 00 00 01  ac 10 00 05
    01 18  11 22 33 44  00 00 00 05  00 00 00 03  aa bb cc dd  ff ff ff fb  00 00 00 00
    00 00
    00 00 00 24  00 00 10 03  00 00 00 00  00 00 00 00  00 00 00 64  00 00 01 68
    c0 a8 01 00  00 00 00 64  0a 00 00 02";

#[test]
fn v1_seq_options_and_padding() {
    let msg = write(Version::V1, 42, &[conn_c(), template_d()]);
    assert_eq!(msg, hex(GOLDEN_V1_SEQ_PAD));
    assert_eq!(msg.len(), 108);
    let got = conns(&msg);
    assert_eq!(got, vec![as_received(&conn_c(), Version::V1), as_received(&template_d(), Version::V1)]);
    assert_eq!(got[0].flags, conn_flag::SEQ_MASK | conn_flag::SYNC);
    assert_eq!(got[1].flags, conn_flag::TEMPLATE | fwd::DROUTE | conn_flag::SYNC);
}

#[test]
fn v1_seq_flag_without_seq_writes_zeros() {
    let mut c = conn_a();
    c.flags |= conn_flag::IN_SEQ;
    c.seq = None;
    let msg = write(Version::V1, 0, &[c]);
    assert_eq!(msg.len(), 8 + 62);
    assert_eq!(&msg[8 + 36..8 + 38], &[1, 24]);
    assert!(msg[8 + 38..].iter().all(|&b| b == 0));
    assert_eq!(conns(&msg)[0].seq, Some(SeqOptions::default()));
}

#[test]
fn v0_entry() {
    // Header: one entry, sync id 5, size 4 + 24. The entry: reserved, TCP, the ports, the
    // addresses, the flags' low 16 bits without HASHED, the state. No timeout, no mark.
    let msg = write(Version::V0, 5, &[conn_a()]);
    let golden = hex(
        "01 05 00 1c
         00 06 9c 40  00 50 1f 90  c0 a8 01 0a  0a 00 00 01  0a 00 00 02  00 03 00 01",
    );
    assert_eq!(msg, golden);
    assert_eq!(conns(&msg), vec![as_received(&conn_a(), Version::V0)]);
    assert_eq!(decode(&msg, 0).unwrap().version(), Version::V0);
}

#[test]
#[cfg(target_endian = "little")]
fn v0_seq_options_in_host_order() {
    // Upstream copies `cp->in_seq` and `cp->out_seq` as they lie in memory.
    let msg = write(Version::V0, 0, &[conn_c(), conn_a()]);
    let golden = hex(
        "02 00 00 4c
         00 06 12 34  00 15 00 15  c0 a8 01 0a  0a 00 00 01  ac 10 00 05  06 00 00 01
         44 33 22 11  05 00 00 00  03 00 00 00  dd cc bb aa  fb ff ff ff  00 00 00 00
         00 06 9c 40  00 50 1f 90  c0 a8 01 0a  0a 00 00 01  0a 00 00 02  00 03 00 01",
    );
    assert_eq!(msg, golden);
    assert_eq!(conns(&msg), vec![as_received(&conn_c(), Version::V0), as_received(&conn_a(), Version::V0)]);
}

#[test]
fn v0_carries_ipv4_only_and_16_flag_bits() {
    let mut buf = [0u8; 200];
    let mut w = MessageWriter::new(&mut buf, Version::V0, 1).unwrap();
    assert!(!w.fits(&conn_b()));
    assert!(!w.push(&conn_b()));
    assert_eq!((w.len(), w.nr_conns()), (4, 0));
    assert_eq!(entry_len(&conn_b(), Version::V0), None);
    assert_eq!(entry_len(&conn_b(), Version::V1), Some(72));
    let mut c = conn_a();
    c.flags |= conn_flag::NFCT;
    assert!(w.push(&c));
    assert_eq!(&w.bytes()[24..26], &[0, 3]);
    // Version 1 carries all 32 bits (the backup drops NFCT).
    let msg = write(Version::V1, 0, &[c]);
    assert_eq!(&msg[12..16], &[0, 1, 0, 3]);
    assert_eq!(conns(&msg)[0].flags, fwd::DROUTE | conn_flag::SYNC);
}

#[test]
fn unknown_family_is_refused() {
    let mut c = conn_a();
    c.af = 7;
    assert_eq!(entry_len(&c, Version::V1), None);
    let mut buf = [0u8; 100];
    assert!(!MessageWriter::new(&mut buf, Version::V1, 0).unwrap().push(&c));
}

/// A message from a stock master with the SIP persistence engine: a template with engine
/// data (the Call-ID) and the engine's name.
#[test]
fn stock_pe_entry_is_reported() {
    let msg = hex(
        "00 00 00 38  01 01 00 00
         00 11 00 30  00 00 10 00  00 00 13 c4  13 c4 13 c4  00 00 00 00  00 00 00 b4
         c0 a8 01 0a  0a 00 00 01  0a 00 00 02
         02 05 61 62 63 40 78  03 03 73 69 70",
    );
    let got = decode_all(&msg, 0).unwrap();
    let d = got[0].unwrap();
    assert_eq!(d.pe_data, Some(&b"abc@x"[..]));
    assert_eq!(d.pe_name, Some(&b"sip"[..]));
    assert_eq!(d.engine(), Some(&b"sip"[..]));
    assert_eq!(d.conn.flags, conn_flag::TEMPLATE | conn_flag::SYNC);
    assert_eq!(d.conn.timeout, 180);
}

#[test]
fn pe_name_without_data_binds_nothing() {
    let mut e = entry(0, TCP, 0, 1);
    e.extend_from_slice(&[3, 3, b's', b'i', b'p']);
    let msg = msg_v1(0, 1, &[e]);
    let d = decode_all(&msg, 0).unwrap()[0].unwrap();
    assert_eq!(d.pe_name, Some(&b"sip"[..]));
    assert_eq!(d.engine(), None);
}

// Crafted messages.

/// The size field [`msg_v1`] sets to the entry's length.
const PLACEHOLDER: [u8; 2] = [0xff, 0xff];

/// The fixed part of a version 1 IPv4 entry (its size set by [`msg_v1`]).
fn entry(ty: u8, protocol: u8, flags: u32, state: u16) -> Vec<u8> {
    let mut e = vec![ty, protocol, PLACEHOLDER[0], PLACEHOLDER[1]];
    e.extend_from_slice(&flags.to_be_bytes());
    e.extend_from_slice(&state.to_be_bytes());
    e.extend_from_slice(&[0x9c, 0x40, 0, 80, 0, 80]);
    e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 60]);
    e.extend_from_slice(&[192, 168, 1, 10, 10, 0, 0, 1, 10, 0, 0, 2]);
    assert_eq!(e.len(), 36);
    e
}

/// A version 1 message of `entries`, each's size field set to its length unless set by
/// [`with_size`], padded as upstream pads.
fn msg_v1(syncid: u8, nr: u8, entries: &[Vec<u8>]) -> Vec<u8> {
    let mut m = vec![0, syncid, 0, 0, nr, 1, 0, 0];
    for e in entries {
        while m.len() % 4 != 0 {
            m.push(0);
        }
        let mut e = e.clone();
        if e.len() >= 4 && e[2..4] == PLACEHOLDER {
            let l = e.len() as u16;
            e[2..4].copy_from_slice(&l.to_be_bytes());
        }
        m.extend_from_slice(&e);
    }
    let l = m.len() as u16;
    m[2..4].copy_from_slice(&l.to_be_bytes());
    m
}

fn with_size(mut e: Vec<u8>, ver_size: u16) -> Vec<u8> {
    e[2..4].copy_from_slice(&ver_size.to_be_bytes());
    e
}

fn faults(buf: &[u8]) -> Vec<Result<(), EntryFault>> {
    decode_all(buf, 0).unwrap().into_iter().map(|r| r.map(|_| ())).collect()
}

fn fatal(r: FatalReason) -> Result<(), EntryFault> {
    Err(EntryFault::Fatal(r))
}

fn skip(r: SkipReason) -> Result<(), EntryFault> {
    Err(EntryFault::Skip(r))
}

#[test]
fn whole_message_drops() {
    assert_eq!(decode_all(&[], 0).unwrap_err(), MessageDrop::TooShort);
    assert_eq!(decode_all(&[0, 0, 0], 0).unwrap_err(), MessageDrop::TooShort);
    let mut msg = hex(GOLDEN_V1_A);
    msg.push(0);
    assert_eq!(decode_all(&msg, 0).unwrap_err(), MessageDrop::SizeMismatch);
    msg.truncate(msg.len() - 2);
    assert_eq!(decode_all(&msg, 0).unwrap_err(), MessageDrop::SizeMismatch);
}

#[test]
fn syncid_filter() {
    let msg = hex(GOLDEN_V1_A); // sync id 5
    assert_eq!(decode_all(&msg, 0).unwrap().len(), 1, "0 takes any");
    assert_eq!(decode_all(&msg, 5).unwrap().len(), 1);
    assert_eq!(decode_all(&msg, 6).unwrap_err(), MessageDrop::OtherSyncId);
    // A backup's sync id above 255 matches no message, not its low byte.
    assert_eq!(decode_all(&msg, 256 + 5).unwrap_err(), MessageDrop::OtherSyncId);
    assert_eq!(decode(&msg, 5).unwrap().syncid(), 5);
    // The size is checked first.
    let mut long = msg.clone();
    long.push(0);
    assert_eq!(decode_all(&long, 6).unwrap_err(), MessageDrop::SizeMismatch);
}

#[test]
fn version_detection() {
    let msg = hex(GOLDEN_V1_A);
    assert_eq!(decode(&msg, 0).unwrap().version(), Version::V1);
    // Anything but reserved 0, version 1, spare 0 is version 0: here an empty one (its entry
    // count is the reserved byte).
    for (at, v) in [(5, 2u8), (6, 1), (7, 1)] {
        let mut m = msg.clone();
        m[at] = v;
        let e = decode(&m, 0).unwrap();
        assert_eq!(e.version(), Version::V0);
        assert_eq!(e.count(), 0);
    }
    // Too short for a version 1 header: version 0.
    let tiny = [0, 0, 0, 4];
    assert_eq!(decode(&tiny, 0).unwrap().version(), Version::V0);
    assert_eq!(decode_all(&tiny, 0).unwrap(), vec![]);
    let tiny = [1, 0, 0, 4];
    assert_eq!(faults(&tiny), vec![fatal(FatalReason::V0EntryTruncated)]);
}

#[test]
fn v1_framing_faults() {
    let good = entry(0, TCP, 0, 1);
    // Announced entries that are not there: "too small" after the first.
    assert_eq!(faults(&msg_v1(0, 2, std::slice::from_ref(&good))), vec![Ok(()), fatal(FatalReason::EntryHeaderTruncated)]);
    // Fewer than 36 bytes where an entry starts, even if its size says less.
    let short = msg_v1(0, 1, &[good[..20].to_vec()]);
    assert_eq!(faults(&short), vec![fatal(FatalReason::EntryHeaderTruncated)]);
    // Size past the end.
    assert_eq!(
        faults(&msg_v1(0, 1, &[with_size(good.clone(), 40)])),
        vec![fatal(FatalReason::EntryBeyondMessage)]
    );
    // Entry version 1.
    assert_eq!(
        faults(&msg_v1(0, 1, &[with_size(good.clone(), 0x1000 | 36)])),
        vec![fatal(FatalReason::EntryVersion)]
    );
    // Entries beyond the count are not read.
    assert_eq!(faults(&msg_v1(0, 1, &[good.clone(), vec![0xff; 36]])), vec![Ok(())]);
    assert_eq!(faults(&msg_v1(0, 0, &[good])), vec![]);
}

#[test]
fn v1_entry_fatal_faults() {
    let good = || entry(0, TCP, 0, 1);
    let with_opts = |opts: &[u8]| {
        let mut e = good();
        e.extend_from_slice(opts);
        e
    };
    let cases: Vec<(Vec<u8>, FatalReason)> = vec![
        (entry(2, TCP, 0, 1), FatalReason::BadType),
        (entry(0x80, TCP, 0, 1), FatalReason::BadType),
        // IPv6 in 36 bytes.
        (entry(1, TCP, 0, 1), FatalReason::FixedPartBeyondEntry),
        // Type bit 0 with others: still IPv6.
        (entry(3, TCP, 0, 1), FatalReason::FixedPartBeyondEntry),
        (with_size(good(), 35), FatalReason::FixedPartBeyondEntry),
        (with_size(good(), 0), FatalReason::FixedPartBeyondEntry),
        (with_opts(&[1]), FatalReason::OptionHeaderTruncated),
        (with_opts(&[0x41, 0]), FatalReason::OptionLength),
        (with_opts(&[2, 4, 1, 2, 3]), FatalReason::OptionLength),
        (with_opts(&[1, 23]).into_iter().chain([0; 23]).collect(), FatalReason::BadSeqOption),
        ([with_opts(&[1, 24]), vec![0; 24], vec![1, 24], vec![0; 24]].concat(), FatalReason::BadSeqOption),
        (with_opts(&[2, 1, 9, 2, 1, 9, 3, 1, b'x']), FatalReason::BadPeData),
        (with_opts(&[3, 17]).into_iter().chain([b'a'; 17]).collect(), FatalReason::BadPeName),
        (with_opts(&[3, 1, b'a', 0x43, 1, b'b']), FatalReason::BadPeName),
    ];
    for (e, why) in cases {
        // The entry before stays applied; the one after is not read.
        let msg = msg_v1(0, 3, &[good(), e.clone(), good()]);
        assert_eq!(faults(&msg), vec![Ok(()), fatal(why)], "{e:02x?}");
    }
}

#[test]
fn v1_entry_skips() {
    let good = || entry(0, TCP, 0, 1);
    let with_opts = |opts: &[u8]| {
        let mut e = good();
        e.extend_from_slice(opts);
        e
    };
    let cases: Vec<(Vec<u8>, SkipReason)> = vec![
        (with_opts(&[9, 1, 0]), SkipReason::MandatoryOptionUnknown),
        // Upstream stops at the unknown option: the broken one after it does not count.
        (with_opts(&[9, 1, 0, 1, 0]), SkipReason::MandatoryOptionUnknown),
        (entry(0, TCP, conn_flag::ONE_PACKET, 1), SkipReason::InvalidFlags),
        (entry(0, TCP, conn_flag::NO_CPORT | conn_flag::TEMPLATE, 1), SkipReason::InvalidFlags),
        (entry(0, SCTP, 0, 1), SkipReason::UnsupportedProtocol),
        (entry(0, 50, 0, 0), SkipReason::UnsupportedProtocol),
        (entry(0, TCP, 0, 11), SkipReason::InvalidState),
        (entry(0, UDP, 0, 1), SkipReason::InvalidState),
        (entry(0, TCP, conn_flag::TEMPLATE, 2), SkipReason::InvalidState),
        (with_opts(&[2, 3, 1, 2, 3]), SkipReason::PeDataWithoutName),
        // The checks' order: flags before protocol before state before engine data.
        (entry(0, SCTP, conn_flag::ONE_PACKET, 99), SkipReason::InvalidFlags),
        (entry(0, SCTP, 0, 99), SkipReason::UnsupportedProtocol),
        ([entry(0, TCP, 0, 99), vec![2, 1, 0]].concat(), SkipReason::InvalidState),
    ];
    for (e, why) in cases {
        let msg = msg_v1(0, 3, &[good(), e.clone(), good()]);
        assert_eq!(faults(&msg), vec![Ok(()), skip(why), Ok(())], "{e:02x?}");
    }
}

#[test]
fn v1_entries_accepted() {
    let ok = |e: Vec<u8>| faults(&msg_v1(0, 1, &[e])) == vec![Ok(())];
    // Unknown optional options are passed over; known types may carry the optional bit.
    assert!(ok([entry(0, TCP, 0, 1), vec![0x49, 2, 0, 0, 0x40, 1, 7]].concat()));
    assert!(ok([entry(0, TCP, 0, 1), vec![0x41, 24], vec![0; 24]].concat()));
    // NO_CPORT on a connection; a template in ASSURED whatever its protocol; UDP state 0;
    // the last TCP state.
    assert!(ok(entry(0, TCP, conn_flag::NO_CPORT, 1)));
    assert!(ok(entry(0, SCTP, conn_flag::TEMPLATE, 1)));
    assert!(ok(entry(0, UDP, 0, 0)));
    assert!(ok(entry(0, TCP, 0, 10)));
    // The flags a backup keeps.
    let flags = !(conn_flag::ONE_PACKET | conn_flag::NO_CPORT);
    let msg = msg_v1(0, 1, &[entry(0, TCP, flags, 1)]);
    let all = decode_all(&msg, 0).unwrap();
    assert_eq!(all[0].unwrap().conn.flags, (conn_flag::BACKUP_MASK & !conn_flag::NO_CPORT) | conn_flag::SYNC);
    // An entry of 39 bytes: the next starts 40 bytes after it.
    let odd = [entry(0, TCP, 0, 1), vec![0x40, 1, 0]].concat(); // 39 bytes
    let msg = msg_v1(0, 2, &[odd, entry(0, UDP, 0, 0)]);
    assert_eq!(msg.len(), 8 + 40 + 36);
    assert_eq!(faults(&msg), vec![Ok(()), Ok(())]);
}

#[test]
fn v0_faults() {
    let a = write(Version::V0, 0, &[conn_a()]);
    let body = |e: &[u8]| e[4..].to_vec();
    let v0 = |nr: u8, bodies: &[Vec<u8>]| {
        let mut m = vec![nr, 0, 0, 0];
        for b in bodies {
            m.extend_from_slice(b);
        }
        let l = m.len() as u16;
        m[2..4].copy_from_slice(&l.to_be_bytes());
        m
    };
    let with = |flags: u16, proto: u8, state: u16| {
        let mut e = body(&a);
        e[1] = proto;
        e[20..22].copy_from_slice(&flags.to_be_bytes());
        e[22..24].copy_from_slice(&state.to_be_bytes());
        e
    };
    let good = body(&a);
    assert_eq!(faults(&v0(2, std::slice::from_ref(&good))), vec![Ok(()), fatal(FatalReason::V0EntryTruncated)]);
    let seq = with(conn_flag::IN_SEQ as u16, TCP, 1);
    assert_eq!(
        faults(&v0(2, &[good.clone(), seq.clone(), vec![0; 23]])),
        vec![Ok(()), fatal(FatalReason::V0OptionsTruncated)]
    );
    assert_eq!(faults(&v0(2, &[seq, vec![0; 24], good.clone()])), vec![Ok(()), Ok(())]);
    for (e, why) in [
        (with(conn_flag::ONE_PACKET as u16, TCP, 1), SkipReason::InvalidFlags),
        (with((conn_flag::NO_CPORT | conn_flag::TEMPLATE) as u16, TCP, 0), SkipReason::InvalidFlags),
        (with(0, SCTP, 1), SkipReason::UnsupportedProtocol),
        (with(0, TCP, 11), SkipReason::InvalidState),
        (with(0, UDP, 1), SkipReason::InvalidState),
        (with(conn_flag::TEMPLATE as u16, 0, 2), SkipReason::InvalidState),
    ] {
        assert_eq!(faults(&v0(3, &[good.clone(), e, good.clone()])), vec![Ok(()), skip(why), Ok(())]);
    }
    // A skipped entry with sequence options is passed over whole.
    let bad_seq = with((conn_flag::SEQ_MASK | conn_flag::ONE_PACKET) as u16, TCP, 1);
    assert_eq!(
        faults(&v0(2, &[bad_seq, vec![0xee; 24], good.clone()])),
        vec![skip(SkipReason::InvalidFlags), Ok(())]
    );
    // A template of any protocol, timeout and mark zero.
    let t = decode_all(&v0(1, &[with(conn_flag::TEMPLATE as u16, 0, 1)]), 0).unwrap()[0].unwrap().conn;
    assert_eq!((t.flags, t.timeout, t.fwmark), (conn_flag::TEMPLATE | conn_flag::SYNC, 0, 0));
}

// The writer.

#[test]
fn writer_splits_like_upstream() {
    // A message's capacity is sync_maxlen, or the header and its first entry if more.
    assert_eq!(message_capacity(1, &conn_a(), Version::V1), 44);
    assert_eq!(message_capacity(1, &conn_c(), Version::V0), 52);
    assert_eq!(message_capacity(1472, &conn_a(), Version::V1), 1472);
    assert_eq!(message_capacity(100_000, &conn_a(), Version::V1), 65535);
    let mut buf = vec![0u8; message_capacity(1, &conn_a(), Version::V1)];
    let mut w = MessageWriter::new(&mut buf, Version::V1, 0).unwrap();
    assert!(w.push(&conn_a()));
    assert!(!w.push(&conn_a()), "sync_maxlen 1: one entry a message");
    // Room for the entry but not its padding.
    let mut buf = vec![0u8; 8 + 62 + 36 + 1];
    let mut w = MessageWriter::new(&mut buf, Version::V1, 0).unwrap();
    assert!(w.push(&conn_c()));
    assert!(!w.fits(&conn_a()));
    assert!(!w.push(&conn_a()));
    assert_eq!(w.len(), 70);
    let mut buf = vec![0u8; 8 + 62 + 2 + 36];
    let mut w = MessageWriter::new(&mut buf, Version::V1, 0).unwrap();
    assert!(w.push(&conn_c()) && w.push(&conn_a()));
    assert_eq!(w.len(), 108);
    // A buffer too small for the header.
    assert!(MessageWriter::new(&mut [0u8; 7], Version::V1, 0).is_none());
    assert!(MessageWriter::new(&mut [0u8; 4], Version::V0, 0).is_some());
    assert_eq!(header_len(Version::V1), 8);
}

#[test]
fn at_most_255_entries() {
    for version in [Version::V0, Version::V1] {
        let mut buf = vec![0u8; 65535];
        let mut w = MessageWriter::new(&mut buf, version, 0).unwrap();
        for _ in 0..MAX_CONNS {
            assert!(w.push(&conn_a()));
        }
        assert!(!w.fits(&conn_a()));
        assert!(!w.push(&conn_a()));
        assert_eq!(w.nr_conns(), 255);
        let msg = w.bytes().to_vec();
        assert_eq!(decode_all(&msg, 0).unwrap().iter().filter(|r| r.is_ok()).count(), 255);
    }
}

#[test]
fn resume_continues_a_message() {
    let mut buf = vec![0u8; 300];
    {
        let mut w = MessageWriter::new(&mut buf, Version::V1, 42).unwrap();
        assert!(w.push(&conn_c()));
    }
    {
        let mut w = MessageWriter::resume(&mut buf, Version::V1).unwrap();
        assert_eq!((w.nr_conns(), w.len()), (1, 70));
        assert!(w.push(&template_d()));
        assert_eq!(w.bytes(), &hex(GOLDEN_V1_SEQ_PAD)[..]);
    }
    assert!(MessageWriter::resume(&mut buf, Version::V0).is_none());
    let mut v0 = vec![0u8; 300];
    MessageWriter::new(&mut v0, Version::V0, 1).unwrap();
    assert!(MessageWriter::resume(&mut v0, Version::V1).is_none());
    {
        let mut w = MessageWriter::resume(&mut v0, Version::V0).unwrap();
        assert!(w.is_empty());
        assert!(w.push(&conn_c()) && w.push(&conn_a()));
    }
    let w = MessageWriter::resume(&mut v0, Version::V0).unwrap();
    assert_eq!((w.nr_conns(), w.len()), (2, 4 + 48 + 24));
    assert!(MessageWriter::resume(&mut v0, Version::V1).is_none());
    // A header claiming more than the buffer.
    assert!(MessageWriter::resume(&mut v0[..60], Version::V0).is_none());
}

// Round trips and random input.

fn addr_of(af: u16) -> BoxedStrategy<[u8; 16]> {
    if af == AF_INET6 {
        any::<[u8; 16]>().boxed()
    } else {
        any::<[u8; 4]>().prop_map(v4_to_16).boxed()
    }
}

/// Entries as a backup accepts them and sees them again: flags within `BACKUP_MASK` with
/// `SYNC`, a served protocol and its states (templates: any protocol), sequence options
/// exactly when flagged.
fn sync_conn(version: Version) -> impl Strategy<Value = SyncConn> {
    let af = if version == Version::V0 { Just(AF_INET).boxed() } else { prop_oneof![Just(AF_INET), Just(AF_INET6)].boxed() };
    af.prop_flat_map(move |af| {
        (
            any::<bool>(),
            prop_oneof![Just(TCP), Just(UDP), Just(0u8), Just(SCTP)],
            0u16..11,
            any::<u32>(),
            (any::<[u8; 2]>(), any::<[u8; 2]>(), any::<[u8; 2]>(), any::<u32>(), any::<u32>()),
            (addr_of(af), addr_of(af), addr_of(af)),
            any::<[u32; 6]>(),
        )
            .prop_map(move |(template, proto, state, fl, (cport, vport, dport, fwmark, timeout), (c, v, d), s)| {
                let mut flags = (fl & conn_flag::BACKUP_MASK) | conn_flag::SYNC;
                let (protocol, state) = if template {
                    flags = (flags | conn_flag::TEMPLATE) & !conn_flag::NO_CPORT;
                    (proto, state % 2)
                } else {
                    flags &= !conn_flag::TEMPLATE;
                    let proto = if proto == UDP { UDP } else { TCP };
                    (proto, if proto == UDP { 0 } else { state })
                };
                let seq = (flags & conn_flag::SEQ_MASK != 0).then_some(SeqOptions {
                    in_seq: Seq { init_seq: s[0], delta: s[1], previous_delta: s[2] },
                    out_seq: Seq { init_seq: s[3], delta: s[4], previous_delta: s[5] },
                });
                let (fwmark, timeout) = if version == Version::V0 { (0, 0) } else { (fwmark, timeout) };
                SyncConn { af, protocol, flags, state, cport, vport, dport, fwmark, timeout, caddr: c, vaddr: v, daddr: d, seq }
            })
    })
}

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![Just(Version::V0), Just(Version::V1)]
}

/// Writes `conns` into as many messages as upstream's master would, for a `maxlen`.
fn write_all(version: Version, maxlen: usize, conns: &[SyncConn]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut cur: Option<Vec<u8>> = None;
    for c in conns {
        if let Some(buf) = cur.as_mut() {
            let w = MessageWriter::resume(buf, version).unwrap();
            if !w.fits(c) {
                out.push(w.bytes().to_vec());
                cur = None;
            }
        }
        let buf = cur.get_or_insert_with(|| {
            let mut b = vec![0u8; message_capacity(maxlen, c, version)];
            MessageWriter::new(&mut b, version, 9).unwrap();
            b
        });
        let mut w = MessageWriter::resume(buf, version).unwrap();
        assert!(w.push(c));
        assert!(w.len() <= maxlen.max(header_len(version) + entry_len(c, version).unwrap()));
    }
    if let Some(mut buf) = cur {
        out.push(MessageWriter::resume(&mut buf, version).unwrap().bytes().to_vec());
    }
    out
}

proptest! {
    #[test]
    fn round_trip(
        (version, list) in version().prop_flat_map(|v| (Just(v), prop::collection::vec(sync_conn(v), 0..40))),
        maxlen in prop_oneof![Just(1usize), 40usize..400, Just(1472)],
    ) {
        let msgs = write_all(version, maxlen, &list);
        let mut back = Vec::new();
        for m in &msgs {
            let e = decode(m, 9).unwrap();
            prop_assert_eq!(e.version(), version);
            for r in e {
                let d = r.unwrap();
                prop_assert_eq!(d.pe_data, None);
                back.push(d.conn);
            }
        }
        prop_assert_eq!(back, list);
    }

    #[test]
    fn decode_never_panics_on_random_bytes(mut buf in prop::collection::vec(any::<u8>(), 0..400), fix_size in any::<bool>(), v1 in any::<bool>()) {
        if fix_size && buf.len() >= 8 {
            // Past the size check, and often the version 1 header's.
            let l = buf.len() as u16;
            buf[2..4].copy_from_slice(&l.to_be_bytes());
            if v1 {
                buf[0] = 0;
                buf[5] = 1;
                buf[6] = 0;
                buf[7] = 0;
            }
        }
        check_decode(&buf);
    }

    #[test]
    fn decode_never_panics_on_mutated_messages(
        (version, list) in version().prop_flat_map(|v| (Just(v), prop::collection::vec(sync_conn(v), 1..8))),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..6),
        cut in any::<prop::sample::Index>(),
        cut_it in any::<bool>(),
    ) {
        let mut msg = write_all(version, 1472, &list).remove(0);
        for (i, v) in flips {
            let i = i.index(msg.len());
            // Keep the size field right more often than not, to get past it.
            if i != 2 && i != 3 {
                msg[i] = v;
            }
        }
        if cut_it {
            msg.truncate(cut.index(msg.len() + 1));
            if msg.len() >= 4 {
                let l = msg.len() as u16;
                msg[2..4].copy_from_slice(&l.to_be_bytes());
            }
        }
        check_decode(&msg);
    }
}

/// Decodes `buf` whole: at most the announced entries, nothing after a fatal fault, every
/// decoded entry one the backup accepts.
fn check_decode(buf: &[u8]) {
    let Ok(entries) = decode(buf, 0) else { return };
    let announced = match entries.version() {
        Version::V1 => buf[4],
        Version::V0 => buf[0],
    };
    let all: Vec<_> = entries.collect();
    assert!(all.len() <= usize::from(announced));
    if let Some(i) = all.iter().position(|r| matches!(r, Err(EntryFault::Fatal(_)))) {
        assert_eq!(i, all.len() - 1);
    }
    for d in all.iter().flatten() {
        assert_eq!(d.conn.flags & !(conn_flag::BACKUP_MASK | conn_flag::SYNC), 0);
        assert!(d.conn.af == AF_INET || d.conn.af == AF_INET6);
        assert!(d.engine().is_none() || d.pe_name.is_some());
    }
}

// The master's decision.

const HZ: u64 = 100;

/// An established TCP connection of 15 minutes' timeout on its `pkts`-th packet, with the
/// default sysctls (threshold 3, period 50, no refresh period, retries 0).
fn need(pkts: i32) -> NeedInput {
    NeedInput {
        template: false,
        protocol: TCP,
        state: 1,
        in_persistence: false,
        pkts,
        threshold: 3,
        period: 50,
        refresh_period: 0,
        retries: 0,
        now: 1_000_000,
        timeout: 900 * HZ,
        hz: HZ,
    }
}

fn endtime(i: &NeedInput) -> u64 {
    (i.now + i.timeout) & !3
}

fn synced(i: &NeedInput, old_state: u16, orig: u64) -> bool {
    matches!(sync_needed(i, old_state, orig), NeedOutcome::Sync { .. })
}

#[test]
fn threshold_and_period() {
    // Synced on the threshold-th packet and every period after it.
    for (pkts, yes) in [(1, false), (2, false), (3, true), (4, false), (53, true), (103, true), (50, false)] {
        let i = need(pkts);
        assert_eq!(synced(&i, 1, 0), yes, "pkts {pkts}");
    }
    assert_eq!(sync_needed(&need(3), 1, 0), NeedOutcome::Sync { endtime: endtime(&need(3)), force: false });
    // Period 0 and no refresh period: only the threshold-th packet.
    let mut i = need(3);
    i.period = 0;
    assert!(synced(&i, 1, 0));
    i.pkts = 53;
    assert!(!synced(&i, 1, 0));
    // UDP likewise, in its one state, never forced.
    let mut u = need(3);
    u.protocol = UDP;
    u.state = 0;
    assert_eq!(sync_needed(&u, 5, 0), NeedOutcome::Sync { endtime: endtime(&u), force: false });
    u.pkts = 4;
    assert_eq!(sync_needed(&u, 5, 0), NeedOutcome::Skip);
    // A negative packet count (the counter wrapped) takes C's remainder.
    let mut w = need(-47);
    assert!(!synced(&w, 1, 0), "-47 % 50 == -47");
    w.threshold = -47;
    assert!(synced(&w, 1, 0));
}

#[test]
fn tcp_states() {
    // Only ESTABLISHED, FIN_WAIT, TIME_WAIT, CLOSE and CLOSE_WAIT are synced.
    for s in 0..12u16 {
        let mut i = need(3);
        i.state = s;
        assert_eq!(synced(&i, s, 0), matches!(s, 1 | 4 | 5 | 6 | 7), "state {s}");
    }
    // A change to FIN_WAIT is forced, whatever the packet count, with no retry bits.
    let mut i = need(4);
    i.state = 4;
    i.refresh_period = 60 * HZ as u32;
    i.retries = 0;
    let orig = endtime(&i) | 3;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Sync { endtime: endtime(&i), force: true });
    // No change: the usual checks.
    assert_eq!(sync_needed(&i, 4, orig), NeedOutcome::Skip);
    // A change to ESTABLISHED is forced but passes the checks first.
    let e = need(4);
    assert_eq!(sync_needed(&e, 3, 0), NeedOutcome::Skip);
    assert_eq!(sync_needed(&need(53), 3, 0), NeedOutcome::Sync { endtime: endtime(&e), force: true });
}

#[test]
fn templates() {
    // Any state, any packet count with a sync period, never forced.
    let mut t = need(7);
    t.template = true;
    t.protocol = 0;
    t.state = 0;
    t.in_persistence = true;
    assert_eq!(sync_needed(&t, 1, 0), NeedOutcome::Sync { endtime: endtime(&t), force: false });
    // Without periods: on the threshold-th packet only.
    t.period = 0;
    assert!(!synced(&t, 0, 0));
    t.pkts = 3;
    assert!(synced(&t, 0, 0));
}

#[test]
fn persist_mode() {
    let mut i = need(3);
    i.in_persistence = true;
    assert_eq!(sync_needed(&i, 1, 0), NeedOutcome::Skip);
    i.state = 4;
    assert_eq!(sync_needed(&i, 1, 0), NeedOutcome::Skip, "not even a forced state change");
}

#[test]
fn refresh_period_with_retries() {
    let mut i = need(4);
    i.period = 0;
    i.refresh_period = 60 * HZ as u32;
    i.retries = 2;
    // Never synced (the expiry differs by far more than the period): synced whatever the
    // packet count, with no retry counted.
    let first = sync_needed(&i, 1, 0);
    assert_eq!(first, NeedOutcome::Sync { endtime: endtime(&i), force: false });
    let mut orig = endtime(&i);
    // A second later: the expiry moved by less than the refresh period, and an eighth of
    // it (7.5 s) has not passed.
    i.now += HZ;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Skip);
    // 7.5 s after the last sync: a retry, counted in the low bits.
    i.now = 1_000_000 + 750;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Sync { endtime: endtime(&i) | 1, force: false });
    orig = endtime(&i) | 1;
    i.now += 750;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Sync { endtime: endtime(&i) | 2, force: false });
    orig = endtime(&i) | 2;
    // Out of retries.
    i.now += 750;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Skip);
    // Once the expiry moved by the refresh period, synced again and the count restarts.
    i.now = 1_001_500 + 60 * HZ + 4;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Sync { endtime: endtime(&i), force: false });
    // With a sync period too, the packet count must match as well.
    i.period = 50;
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Skip);
    i.pkts = 53;
    assert!(synced(&i, 1, orig));
    // A short timeout: the window is max(half of it, 10 s), when below the refresh period.
    let mut s = need(4);
    s.period = 0;
    s.refresh_period = 60 * HZ as u32;
    s.retries = 0;
    s.timeout = 4 * HZ;
    let orig = endtime(&s);
    s.now += 10 * HZ - 8;
    assert_eq!(sync_needed(&s, 1, orig), NeedOutcome::Skip);
    s.now += 8;
    assert!(synced(&s, 1, orig));
}

#[test]
fn jiffies_wrap() {
    let mut i = need(4);
    i.period = 0;
    i.refresh_period = 60 * HZ as u32;
    i.retries = 1;
    i.now = u64::MAX - 200;
    let orig = i.now.wrapping_add(i.timeout) & !3;
    // Ten seconds later, past the wrap of `now`: within the window, a retry.
    i.now = i.now.wrapping_add(10 * HZ);
    assert_eq!(sync_needed(&i, 1, orig), NeedOutcome::Sync { endtime: endtime_wrapping(&i) | 1, force: false });
}

fn endtime_wrapping(i: &NeedInput) -> u64 {
    i.now.wrapping_add(i.timeout) & !3
}

proptest! {
    /// The decision depends on times only through their differences: moving the clock by
    /// any multiple of 4 jiffies (across the wrap too) moves the new endtime alike.
    #[test]
    fn decision_is_shift_invariant(
        pkts in 0i32..200, state in 0u16..11, old_state in 0u16..11, template in any::<bool>(),
        period in 0i32..60, refresh in prop_oneof![Just(0u32), 1u32..20_000], retries in 0u32..4,
        timeout in 0u64..200_000, age in 0u64..100_000, low in 0u64..4, shift in any::<u64>(),
    ) {
        let base = NeedInput { template, state, pkts, period, refresh_period: refresh, retries, timeout, now: 5_000_000, ..need(0) };
        let orig = ((base.now - age + timeout) & !3) | low;
        let shift = shift & !3;
        let moved = NeedInput { now: base.now.wrapping_add(shift), ..base };
        let a = sync_needed(&base, old_state, orig);
        let b = sync_needed(&moved, old_state, orig.wrapping_add(shift));
        let a_shifted = match a {
            NeedOutcome::Sync { endtime, force } => NeedOutcome::Sync { endtime: endtime.wrapping_add(shift), force },
            NeedOutcome::Skip => NeedOutcome::Skip,
        };
        prop_assert_eq!(a_shifted, b);
    }
}
