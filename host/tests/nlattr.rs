#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
use ipvs_core_host::ipvs_core::errno::Errno;
use ipvs_core_host::ipvs_core::nlattr::{align, Attrs, Rule, Table, Writer, NLA_F_NESTED};

fn attr(kind: u16, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((4 + payload.len()) as u16).to_ne_bytes());
    v.extend_from_slice(&kind.to_ne_bytes());
    v.extend_from_slice(payload);
    v.resize(align(v.len()), 0);
    v
}

#[test]
fn walks_attributes_and_masks_flags() {
    let mut buf = attr(1 | NLA_F_NESTED, &[1, 2, 3]);
    buf.extend(attr(2, &[]));
    let got: Vec<_> = Attrs::new(&buf).map(|a| (a.kind, a.payload.to_vec())).collect();
    assert_eq!(got, vec![(1, vec![1, 2, 3]), (2, vec![])]);
}

#[test]
fn stops_at_truncated_or_bogus_headers() {
    let mut buf = attr(1, &[9, 9, 9, 9]);
    buf.extend_from_slice(&[3, 0]); // a partial header is leftover, not an error
    assert_eq!(Attrs::new(&buf).count(), 1);
    let bogus_len = [2u8, 0, 1, 0, 0, 0, 0, 0]; // nla_len < header
    assert_eq!(Attrs::new(&bogus_len).count(), 0);
    let too_long = [12u8, 0, 1, 0, 0, 0, 0, 0]; // claims more than remains
    assert_eq!(Attrs::new(&too_long).count(), 0);
}

#[test]
fn last_attr_may_omit_its_padding() {
    let buf = [5u8, 0, 1, 0, 7]; // nla_len 5, no pad bytes at the end of the message
    let got: Vec<_> = Attrs::new(&buf).collect();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload, &[7]);
}

#[test]
fn integer_rules_follow_liberal_mode() {
    assert_eq!(Rule::U32.check(&[0; 4]), Ok(()));
    assert_eq!(Rule::U32.check(&[0; 8]), Ok(()), "too long only warns");
    assert_eq!(Rule::U32.check(&[0; 3]), Err(Errno::ERANGE));
    assert_eq!(Rule::U16.check(&[0; 1]), Err(Errno::ERANGE));
    assert_eq!(Rule::U8.check(&[]), Err(Errno::ERANGE));
}

#[test]
fn nul_string_rules() {
    let r = Rule::NulString(15);
    assert_eq!(r.check(b"rr\0"), Ok(()));
    assert_eq!(r.check(b"rr"), Err(Errno::EINVAL), "no NUL at all");
    assert_eq!(r.check(b""), Err(Errno::EINVAL));
    assert_eq!(r.check(b"0123456789abcde\0"), Ok(()), "15 chars is the max");
    assert_eq!(r.check(b"0123456789abcdef\0"), Err(Errno::EINVAL), "NUL beyond len+1");
    assert_eq!(r.check(b"ab\0cdefghijklmnopq"), Err(Errno::ERANGE), "NUL early but too long");
}

#[test]
fn binary_nested_and_minlen_rules() {
    assert_eq!(Rule::Binary(16).check(&[0; 16]), Ok(()));
    assert_eq!(Rule::Binary(16).check(&[0; 4]), Ok(()));
    assert_eq!(Rule::Binary(16).check(&[0; 17]), Err(Errno::ERANGE));
    assert_eq!(Rule::Nested.check(&[]), Ok(()));
    assert_eq!(Rule::Nested.check(&[0; 3]), Err(Errno::ERANGE));
    assert_eq!(Rule::Nested.check(&[0; 4]), Ok(()));
    assert_eq!(Rule::MinLen(16).check(&[0; 15]), Err(Errno::ERANGE));
}

#[test]
fn table_skips_unknown_types_and_keeps_last_duplicate() {
    let policy = [Rule::Ignore, Rule::U32, Rule::U16];
    let mut buf = attr(1, &1u32.to_ne_bytes());
    buf.extend(attr(7, &[0xff])); // beyond the policy: skipped
    buf.extend(attr(0, &[])); // type 0: skipped
    buf.extend(attr(1, &2u32.to_ne_bytes()));
    let t = Table::parse(&buf, &policy).unwrap();
    assert_eq!(t.u32(1), Some(2));
    assert_eq!(t.u16(2), None);
    let bad = attr(2, &[1]);
    assert_eq!(Table::parse(&bad, &policy).err(), Some(Errno::ERANGE));
}

#[test]
fn bytes_zero_fill_like_nla_memcpy() {
    let policy = [Rule::Ignore, Rule::Binary(16)];
    let buf = attr(1, &[10, 0, 0, 1]);
    let t = Table::parse(&buf, &policy).unwrap();
    let mut want = [0u8; 16];
    want[..4].copy_from_slice(&[10, 0, 0, 1]);
    assert_eq!(t.bytes::<16>(1), Some(want));
}

#[test]
fn writer_encodes_like_nla_put() {
    let mut storage = [0xaau8; 64];
    let mut w = Writer::new(&mut storage);
    w.put_u32(1, 0x010201).unwrap();
    w.put_u8(2, 7).unwrap();
    w.put_cstr(3, b"rr").unwrap();
    let n = w.nest_start(4).unwrap();
    w.put_u16(1, 0x0203).unwrap();
    w.nest_end(n).unwrap();
    let mut want = attr(1, &0x010201u32.to_ne_bytes());
    want.extend(attr(2, &[7]));
    want.extend(attr(3, b"rr\0"));
    want.extend(attr(4, &attr(1, &0x0203u16.to_ne_bytes())[..6]));
    // The nest's length covers the inner attribute with its padding.
    let nest_at = want.len() - 12;
    want[nest_at..nest_at + 2].copy_from_slice(&12u16.to_ne_bytes());
    assert_eq!(w.written(), &want[..]);
}

#[test]
fn writer_reports_full_without_partial_attribute() {
    let mut storage = [0u8; 10];
    let mut w = Writer::new(&mut storage);
    w.put_u32(1, 1).unwrap();
    assert!(w.put_u32(2, 2).is_err());
    assert_eq!(w.len(), 8);
}
