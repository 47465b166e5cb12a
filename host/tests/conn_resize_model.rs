#![allow(clippy::indexing_slicing, clippy::panic)]
//! A model of the connection table's resize (`rust/sys/conntab.rs`) against one lookup, step
//! by step under every interleaving proptest draws: the mover takes entries one at a time from
//! the old generation's buckets to the tail of their new bucket (each bucket's move count odd
//! while it is emptied); the reader notes the move count of its old bucket (again later if odd),
//! walks its bucket of the new generation, then its bucket of the old one, a link per step (so
//! a moved entry can carry it into the new chain), and starts over if the count changed. The
//! model says a present entry is always found, and that without the count check a lookup can
//! miss (so the model can tell the difference).
use proptest::prelude::*;

const OLD: usize = 4;
const NEW: usize = 8;

fn old_bucket(key: usize) -> usize {
    key % OLD
}

fn new_bucket(key: usize) -> usize {
    (key * 5 + 3) % NEW
}

struct Table {
    next: Vec<Option<usize>>,
    old: Vec<Option<usize>>,
    new: Vec<Option<usize>>,
    moves: Vec<u32>,
    /// The old bucket being emptied; `OLD` once all are.
    at: usize,
}

impl Table {
    /// Entries 0..n, each at the head of its old bucket in turn.
    fn new(n: usize) -> Self {
        let mut t = Table { next: vec![None; n], old: vec![None; OLD], new: vec![None; NEW], moves: vec![0; OLD], at: 0 };
        for key in 0..n {
            let b = old_bucket(key);
            t.next[key] = t.old[b];
            t.old[b] = Some(key);
        }
        t
    }

    /// One step of the mover: begin a bucket, move one entry, or end a bucket.
    fn mover_step(&mut self) {
        let Some(&moves) = self.moves.get(self.at) else { return };
        let head = self.old[self.at];
        match (moves % 2, head) {
            (0, Some(_)) => self.moves[self.at] += 1,
            (1, Some(p)) => {
                self.old[self.at] = self.next[p];
                self.next[p] = None;
                let b = new_bucket(p);
                match self.new[b] {
                    None => self.new[b] = Some(p),
                    Some(mut last) => {
                        while let Some(n) = self.next[last] {
                            last = n;
                        }
                        self.next[last] = Some(p);
                    }
                }
            }
            (1, None) => {
                self.moves[self.at] += 1;
                self.at += 1;
            }
            _ => self.at += 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Reader {
    Start,
    InNew { moves: u32, at: Option<usize> },
    InOld { moves: u32, at: Option<usize> },
    Found,
    Missed,
}

/// One step of the lookup of `key`; `check` is the move count check (off: the broken lookup).
fn reader_step(t: &Table, key: usize, r: Reader, check: bool) -> Reader {
    let b = old_bucket(key);
    match r {
        Reader::Start if t.moves[b] % 2 == 1 => Reader::Start,
        Reader::Start => Reader::InNew { moves: t.moves[b], at: t.new[new_bucket(key)] },
        Reader::InNew { at: Some(p), .. } | Reader::InOld { at: Some(p), .. } if p == key => Reader::Found,
        Reader::InNew { moves, at: Some(p) } => Reader::InNew { moves, at: t.next[p] },
        Reader::InNew { moves, at: None } => Reader::InOld { moves, at: t.old[b] },
        Reader::InOld { moves, at: Some(p) } => Reader::InOld { moves, at: t.next[p] },
        Reader::InOld { moves, at: None } if check && t.moves[b] != moves => Reader::Start,
        Reader::InOld { at: None, .. } => Reader::Missed,
        done => done,
    }
}

/// Runs one lookup of `key` in a table of `n` entries while it resizes, interleaved as
/// `schedule` says (true: a reader step), then both to the end; the lookup's outcome.
fn run(n: usize, key: usize, schedule: &[bool], check: bool) -> Reader {
    let mut t = Table::new(n);
    let mut r = Reader::Start;
    for &reader in schedule {
        if reader {
            r = reader_step(&t, key, r, check);
        } else {
            t.mover_step();
        }
    }
    for _ in 0..10 * (n + OLD + NEW) {
        t.mover_step();
    }
    for _ in 0..10 * (n + OLD + NEW) {
        r = reader_step(&t, key, r, check);
    }
    assert!(t.old.iter().all(Option::is_none), "the mover left entries behind");
    r
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]
    #[test]
    fn a_lookup_during_a_resize_finds_every_entry(
        n in 1usize..24,
        key in 0usize..24,
        schedule in proptest::collection::vec(any::<bool>(), 0..120),
    ) {
        let key = key % n;
        prop_assert_eq!(run(n, key, &schedule, true), Reader::Found);
    }
}

#[test]
fn without_the_move_count_a_lookup_can_miss() {
    // A small deterministic search over schedules (xorshift), for one that makes the broken
    // lookup miss: the model is not too coarse to show what the check is for.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut missed = 0;
    for _ in 0..20_000 {
        let mut schedule = Vec::new();
        for _ in 0..60 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            schedule.push(x & 1 == 1);
        }
        let n = 12;
        let key = (x % 12) as usize;
        if run(n, key, &schedule, false) == Reader::Missed {
            missed += 1;
        }
        assert_eq!(run(n, key, &schedule, true), Reader::Found);
    }
    assert!(missed > 0, "no schedule made the unchecked lookup miss");
}
