#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
//! `est_cpulist`'s CPU lists (`ipvs_core::cpulist`): the kernel's `bitmap_parselist()` grammar
//! in, `%*pbl` out. selftests/t_est_cpulist_diff compares the same inputs with stock's.
use ipvs_core_host::ipvs_core::cpulist::{format, has, is_empty, parse, pick};
use ipvs_core_host::ipvs_core::errno::Errno;
use proptest::prelude::*;

/// The list `text` parses to with `nbits` CPUs, shown as the kernel shows it.
fn shown(text: &str, nbits: u32) -> Result<String, Errno> {
    let mut mask = [u64::MAX; 2];
    parse(text.as_bytes(), nbits, &mut mask)?;
    let mut out = String::new();
    format(&mask, nbits, &mut out).map_err(|_| Errno::ENOSPC)?;
    Ok(out)
}

#[test]
fn lists_ranges_and_patterns() {
    assert_eq!(shown("0", 8), Ok("0".into()));
    assert_eq!(shown("0-3\n", 8), Ok("0-3".into()));
    assert_eq!(shown("1,3,5-7", 8), Ok("1,3,5-7".into()));
    assert_eq!(shown("  5-7 , 0\t2", 8), Ok("0,2,5-7".into()));
    assert_eq!(shown("0-7:2/4", 8), Ok("0-1,4-5".into()));
    assert_eq!(shown("0-7:1/3", 8), Ok("0,3,6".into()));
    assert_eq!(shown("0-7:0/3", 8), Ok("".into()));
    assert_eq!(shown("N", 8), Ok("7".into()));
    assert_eq!(shown("2-N", 8), Ok("2-7".into()));
    assert_eq!(shown("all", 8), Ok("0-7".into()));
    assert_eq!(shown("ALL:1/2", 8), Ok("0,2,4,6".into()));
    assert_eq!(shown("100-127", 128), Ok("100-127".into()));
}

/// The estimator stays on its CPU if the list has it and it is usable, else goes to the
/// lowest usable CPU of the list; nowhere when none is.
#[test]
fn picks_the_cpu_to_run_on() {
    let mask = [0b1010_0110u64, 1];
    let all = |_| true;
    assert_eq!(pick(&mask, 128, 5, all), Some(5));
    assert_eq!(pick(&mask, 128, 0, all), Some(1));
    assert_eq!(pick(&mask, 128, 64, all), Some(64));
    assert_eq!(pick(&mask, 64, 64, all), Some(1), "CPU 64 is past nbits");
    assert_eq!(pick(&mask, 128, 7, |c| c != 7), Some(1));
    assert_eq!(pick(&mask, 128, 3, |c| c >= 6), Some(7));
    assert_eq!(pick(&mask, 128, 1, |_| false), None);
    assert_eq!(pick(&[0, 0], 128, 0, all), None);
    assert_eq!(pick(&mask[..1], 128, 64, all), Some(1), "a short mask has no CPU 64");
}

proptest! {
    /// `pick` answers a usable CPU of the list, the current one whenever it qualifies, and
    /// `None` only when no CPU qualifies.
    #[test]
    fn pick_answers_a_usable_listed_cpu(mask in any::<[u64; 2]>(), unusable in any::<[u64; 2]>(), now in 0u32..140, nbits in 1u32..=128) {
        let usable = |c: u32| !has(&unusable, c);
        let ok = |c: u32| c < nbits && has(&mask, c) && usable(c);
        match pick(&mask, nbits, now, usable) {
            Some(c) => {
                prop_assert!(ok(c));
                prop_assert!(c == now || !ok(now));
                prop_assert!(c == now || (0..c).all(|d| !ok(d)));
            }
            None => prop_assert!((0..nbits).all(|d| !ok(d))),
        }
    }
}

#[test]
fn empty_lists() {
    for text in ["", "\n", " ", ",", " , \n", "\0", "\n0"] {
        let got = shown(text, 8);
        // A newline ends the list; "\n0" is skipped over as a separator first, as the kernel does.
        let want = if text == "\n0" { "0" } else { "" };
        assert_eq!(got, Ok(want.into()), "{text:?}");
    }
    let mut mask = [0u64; 1];
    parse(b" ", 8, &mut mask).unwrap();
    assert!(is_empty(&mask));
}

#[test]
fn a_newline_ends_the_list() {
    assert_eq!(shown("1\n3", 8), Ok("1".into()));
    assert_eq!(shown("1\0 3", 8), Ok("1".into()));
}

#[test]
fn refusals_as_the_kernel() {
    for (text, errno) in [
        ("8", Errno::ERANGE),
        ("0-8", Errno::ERANGE),
        ("x", Errno::EINVAL),
        ("-1", Errno::EINVAL),
        ("3-1", Errno::EINVAL),
        ("0-", Errno::EINVAL),
        ("0-3:", Errno::EINVAL),
        ("0-3:1", Errno::EINVAL),
        ("0-3:1/", Errno::EINVAL),
        ("0-3:3/2", Errno::EINVAL),
        ("0-3:1/0", Errno::EINVAL),
        ("0-3:1/2x", Errno::EINVAL),
        ("1x", Errno::EINVAL),
        ("1;2", Errno::EINVAL),
        ("4294967296", Errno::EOVERFLOW),
        ("99999999999999999999999", Errno::EOVERFLOW),
        // 2^32 - 1 as a single CPU: its group length wraps to 0 first.
        ("4294967295", Errno::EINVAL),
        ("4294967294", Errno::ERANGE),
        ("0,x", Errno::EINVAL),
    ] {
        assert_eq!(shown(text, 8), Err(errno), "{text:?}");
    }
}

proptest! {
    /// What format writes, parse reads back as the same set.
    #[test]
    fn format_then_parse_is_the_same_set(a in any::<u64>(), b in any::<u64>(), nbits in 1u32..=128) {
        let mut mask = [a, b];
        if nbits < 128 {
            let keep = |w: usize| {
                let lo = w as u32 * 64;
                if nbits >= lo + 64 { u64::MAX } else if nbits <= lo { 0 } else { (1u64 << (nbits - lo)) - 1 }
            };
            mask[0] &= keep(0);
            mask[1] &= keep(1);
        }
        let mut text = String::new();
        format(&mask, nbits, &mut text).unwrap();
        let mut back = [0u64; 2];
        parse(text.as_bytes(), nbits, &mut back).unwrap();
        prop_assert_eq!(back, mask);
    }

    /// Any bytes: an answer, never a panic, and never a CPU past nbits.
    #[test]
    fn any_text_is_answered(text in proptest::collection::vec(any::<u8>(), 0..40), nbits in 1u32..=128) {
        let mut mask = [0u64; 2];
        if parse(&text, nbits, &mut mask).is_ok() && nbits < 128 {
            let hi = if nbits >= 64 { mask[1] >> (nbits - 64) } else { mask[0] >> nbits | mask[1] };
            prop_assert_eq!(hi, 0);
        }
    }

    /// Texts made of the grammar's own pieces (the fuzzing above rarely builds a valid one).
    #[test]
    fn grammar_texts_are_answered(parts in proptest::collection::vec(
        prop_oneof![Just("0"), Just("7"), Just("N"), Just("all"), Just("-"), Just(":"), Just("/"),
                    Just(","), Just(" "), Just("\n"), Just("2"), Just("63"), Just("64"), Just("x")], 0..12)) {
        let text: String = parts.concat();
        let mut mask = [0u64; 2];
        let _ = parse(text.as_bytes(), 64, &mut mask);
        prop_assert_eq!(mask[1], 0);
    }
}
