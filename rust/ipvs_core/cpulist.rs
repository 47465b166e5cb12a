// SPDX-License-Identifier: GPL-2.0
//! CPU lists as `est_cpulist` takes and shows them. In: the grammar of the kernel's
//! `bitmap_parselist()`: regions "3", "0-7", "0-15:2/4" (the first two of every four), "N"
//! for the last CPU and "all", separated by commas or white space, a newline ending the list.
//! Out: its `%*pbl` ranges ("0-3,8").

use super::errno::{Errno, Result};
use core::fmt::{self, Write};

/// Parses `text` into `mask` (CPU `n` is bit `n % 64` of word `n / 64`), clearing it first.
/// A CPU at or past `nbits` is refused with ERANGE, a number past `u32` with EOVERFLOW, and
/// anything else malformed (an empty range, "5-2", "0-7:3/2") with EINVAL.
pub fn parse(text: &[u8], nbits: u32, mask: &mut [u64]) -> Result<()> {
    mask.fill(0);
    let mut s = Cursor { text, pos: 0 };
    loop {
        while s.peek().is_some_and(|c| c == b',' || is_space(c)) {
            s.pos += 1;
        }
        if is_end(s.peek()) {
            return Ok(());
        }
        let (region, more) = region(&mut s, nbits)?;
        region.check(nbits)?;
        region.set(mask);
        if !more {
            return Ok(());
        }
    }
}

/// Writes the CPUs of `mask` below `nbits` as ranges ("0-3,8"; nothing for none).
pub fn format(mask: &[u64], nbits: u32, out: &mut impl Write) -> fmt::Result {
    let mut cpu = 0;
    let mut first = true;
    while cpu < nbits {
        if !has(mask, cpu) {
            cpu += 1;
            continue;
        }
        let start = cpu;
        while cpu + 1 < nbits && has(mask, cpu + 1) {
            cpu += 1;
        }
        if !first {
            out.write_char(',')?;
        }
        first = false;
        if start == cpu {
            write!(out, "{start}")?;
        } else {
            write!(out, "{start}-{cpu}")?;
        }
        cpu += 1;
    }
    Ok(())
}

/// Whether `mask` has no CPU.
pub fn is_empty(mask: &[u64]) -> bool {
    mask.iter().all(|&w| w == 0)
}

/// Whether `cpu` is in `mask`.
pub fn has(mask: &[u64], cpu: u32) -> bool {
    mask.get(cpu as usize / 64).is_some_and(|w| w & (1u64 << (cpu % 64)) != 0)
}

/// The CPU of `mask` (of `nbits`) a task allowed on `mask` would run on: `now`, the one it runs
/// on, if `mask` has it and it is `usable`; else the lowest usable one in `mask`. `None` when
/// none is.
pub fn pick(mask: &[u64], nbits: u32, now: u32, usable: impl Fn(u32) -> bool) -> Option<u32> {
    if now < nbits && has(mask, now) && usable(now) {
        return Some(now);
    }
    (0..nbits).find(|&cpu| has(mask, cpu) && usable(cpu))
}

struct Cursor<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// A number, or "N" for `last`.
    fn number(&mut self, last: u32) -> Result<u32> {
        if self.peek() == Some(b'N') {
            self.pos += 1;
            return Ok(last);
        }
        let mut n: u64 = 0;
        let mut digits = 0;
        let mut overflow = false;
        while let Some(c @ b'0'..=b'9') = self.peek() {
            match n.checked_mul(10).and_then(|n| n.checked_add(u64::from(c - b'0'))) {
                Some(v) => n = v,
                None => overflow = true,
            }
            digits += 1;
            self.pos += 1;
        }
        if digits == 0 {
            return Err(Errno::EINVAL);
        }
        if overflow {
            return Err(Errno::EOVERFLOW);
        }
        u32::try_from(n).map_err(|_| Errno::EOVERFLOW)
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn starts_with_all(&self) -> bool {
        self.text.get(self.pos..self.pos + 3).is_some_and(|w| w.eq_ignore_ascii_case(b"all"))
    }
}

/// The end of the whole list: the text's end, a NUL or a newline.
fn is_end(c: Option<u8>) -> bool {
    matches!(c, None | Some(b'\0') | Some(b'\n'))
}

/// `isspace()` of the kernel's ctype (space, \t, \n, \v, \f, \r).
fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_region_end(c: Option<u8>) -> bool {
    is_end(c) || c.is_some_and(|c| c == b',' || is_space(c))
}

/// Every `group` CPUs from `start` to `end` (inclusive), the first `used` of them.
struct Region {
    start: u32,
    end: u32,
    used: u32,
    group: u32,
}

impl Region {
    fn check(&self, nbits: u32) -> Result<()> {
        if self.start > self.end || self.group == 0 || self.used > self.group {
            return Err(Errno::EINVAL);
        }
        if self.end >= nbits {
            return Err(Errno::ERANGE);
        }
        Ok(())
    }

    fn set(&self, mask: &mut [u64]) {
        let (end, used, group) = (u64::from(self.end), u64::from(self.used), u64::from(self.group));
        let mut base = u64::from(self.start);
        while base <= end {
            for cpu in base..base + (end - base + 1).min(used) {
                if let Some(w) = mask.get_mut((cpu / 64) as usize) {
                    *w |= 1 << (cpu % 64);
                }
            }
            base += group;
        }
    }
}

/// One region, and whether the list may go on after it.
fn region(s: &mut Cursor<'_>, nbits: u32) -> Result<(Region, bool)> {
    let last = nbits.wrapping_sub(1);
    let (start, end) = if s.starts_with_all() {
        s.pos += 3;
        (0, last)
    } else {
        let start = s.number(last)?;
        if is_region_end(s.peek()) {
            let more = !is_end(s.peek());
            let len = start.wrapping_add(1);
            return Ok((Region { start, end: start, used: len, group: len }, more));
        }
        if !s.eat(b'-') {
            return Err(Errno::EINVAL);
        }
        (start, s.number(last)?)
    };
    if is_region_end(s.peek()) {
        let more = !is_end(s.peek());
        let len = end.wrapping_add(1);
        return Ok((Region { start, end, used: len, group: len }, more));
    }
    if !s.eat(b':') {
        return Err(Errno::EINVAL);
    }
    let used = s.number(last)?;
    if !s.eat(b'/') {
        return Err(Errno::EINVAL);
    }
    let group = s.number(last)?;
    // As the kernel: what follows the group size is looked at as the next region.
    Ok((Region { start, end, used, group }, true))
}
