//! LCS: the longest common subsequence of two strings, as Redis 7 computes
//! it (the same table, the same walk back through it, so the same answer
//! among equally long ones, and the same match ranges).
//!
//! The table holds (len(a)+1) x (len(b)+1) lengths; its size is bounded
//! (`MAX_TABLE_BYTES`): a read holds its partition while it runs.

use crate::db::{Db, ExecCtx};
use crate::num::parse_i64;
use bytes::Bytes;
use weir_protocol::Frame;

/// The most memory the table may take (Redis bounds it by
/// proto-max-bulk-len, 512 MB; here a partition waits while it fills, so
/// less: 16M cells, e.g. two 4,000-byte strings, ~50 ms).
pub const MAX_TABLE_BYTES: usize = 64 << 20;

#[derive(Default)]
struct Options {
    len: bool,
    idx: bool,
    with_match_len: bool,
    min_match_len: u64,
}

fn options(args: &[Bytes]) -> Result<Options, Frame> {
    let mut o = Options::default();
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        match args[i].to_ascii_uppercase().as_slice() {
            b"IDX" => o.idx = true,
            b"LEN" => o.len = true,
            b"WITHMATCHLEN" => o.with_match_len = true,
            b"MINMATCHLEN" if more => {
                i += 1;
                let n = parse_i64(&args[i]).ok_or_else(super::not_integer)?;
                o.min_match_len = n.max(0) as u64;
            }
            _ => return Err(super::syntax()),
        }
        i += 1;
    }
    if o.idx && o.len {
        return Err(Frame::error("ERR If you want both the length and indexes, please just use IDX."));
    }
    Ok(o)
}

/// A key's string for LCS: absent is empty, another type an error.
fn string_of(db: &Db, key: &[u8], now: u64) -> Result<Bytes, ()> {
    match db.get(key, now) {
        None => Ok(Bytes::new()),
        Some(entry) => entry.value.string_bytes().ok_or(()),
    }
}

pub fn lcs(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let (a, b) = match (string_of(db, &args[1], ctx.now_ms), string_of(db, &args[2], ctx.now_ms)) {
        (Ok(a), Ok(b)) => (a, b),
        _ => return Frame::error("ERR The specified keys must contain string values"),
    };
    let o = match options(args) {
        Ok(o) => o,
        Err(e) => return e,
    };
    let cells = (a.len() + 1).saturating_mul(b.len() + 1);
    if cells.saturating_mul(4) > MAX_TABLE_BYTES {
        return Frame::error(format!(
            "ERR Insufficient memory, transient memory for LCS exceeds {} MiB",
            MAX_TABLE_BYTES >> 20
        ));
    }
    let table = Table::fill(&a, &b);
    let walk = table.walk(&a, &b, o.idx || !o.len, o.min_match_len);
    if o.idx {
        let matches = walk.ranges.into_iter().map(|r| r.frame(o.with_match_len)).collect();
        return Frame::Map(vec![
            (Frame::bulk("matches"), Frame::Array(matches)),
            (Frame::bulk("len"), Frame::Integer(i64::from(table.total()))),
        ]);
    }
    if o.len {
        return Frame::Integer(i64::from(table.total()));
    }
    Frame::Bulk(Bytes::from(walk.common))
}

/// LCS lengths of every pair of prefixes: `at(i, j)` for a[..i], b[..j].
struct Table {
    cells: Vec<u32>,
    width: usize,
    a_len: usize,
    b_len: usize,
}

impl Table {
    fn fill(a: &[u8], b: &[u8]) -> Table {
        let width = b.len() + 1;
        let mut cells = vec![0u32; (a.len() + 1) * width];
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                cells[i * width + j] = if a[i - 1] == b[j - 1] {
                    cells[(i - 1) * width + j - 1] + 1
                } else {
                    cells[(i - 1) * width + j].max(cells[i * width + j - 1])
                };
            }
        }
        Table { cells, width, a_len: a.len(), b_len: b.len() }
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    fn total(&self) -> u32 {
        self.at(self.a_len, self.b_len)
    }

    /// Walks back from the end as Redis does: on equal bytes both step
    /// back, else the side with the longer LCS (`b` on ties). Collects the
    /// common bytes and the contiguous match ranges, last first.
    fn walk(&self, a: &[u8], b: &[u8], compute: bool, min_match_len: u64) -> Walk {
        let total = self.total() as usize;
        let mut common = vec![0u8; if compute { total } else { 0 }];
        let mut ranges = Vec::new();
        let mut open: Option<Range> = None;
        let (mut i, mut j, mut left) = (self.a_len, self.b_len, total);
        while compute && i > 0 && j > 0 {
            let mut emit = false;
            if a[i - 1] == b[j - 1] {
                common[left - 1] = a[i - 1];
                match &mut open {
                    None => open = Some(Range { a: (i - 1, i - 1), b: (j - 1, j - 1) }),
                    // Contiguous with the open range: extend it backwards.
                    Some(r) if r.a.0 == i && r.b.0 == j => {
                        r.a.0 -= 1;
                        r.b.0 -= 1;
                    }
                    Some(_) => emit = true,
                }
                // A range reaching either string's start ends the walk.
                emit |= open.as_ref().is_some_and(|r| r.a.0 == 0 || r.b.0 == 0);
                (left, i, j) = (left - 1, i - 1, j - 1);
            } else {
                if self.at(i - 1, j) > self.at(i, j - 1) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = open.is_some();
            }
            if emit {
                if let Some(r) = open.take().filter(|r| min_match_len == 0 || r.len() >= min_match_len) {
                    ranges.push(r);
                }
            }
        }
        Walk { common, ranges }
    }
}

struct Walk {
    common: Vec<u8>,
    ranges: Vec<Range>,
}

/// A run of matching bytes: inclusive index ranges in `a` and `b`.
struct Range {
    a: (usize, usize),
    b: (usize, usize),
}

impl Range {
    fn len(&self) -> u64 {
        (self.a.1 - self.a.0 + 1) as u64
    }

    fn frame(&self, with_len: bool) -> Frame {
        let pair =
            |(start, end): (usize, usize)| Frame::Array(vec![Frame::Integer(start as i64), Frame::Integer(end as i64)]);
        let mut items = vec![pair(self.a), pair(self.b)];
        if with_len {
            items.push(Frame::Integer(self.len() as i64));
        }
        Frame::Array(items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &str, b: &str, extra: &[&str]) -> Frame {
        let mut db = Db::new();
        let mut ctx = ExecCtx::new(1, crate::db::Mode::Apply, 1);
        let mut set = |k: &str, v: &str| {
            let args: Vec<Bytes> = ["SET", k, v].iter().map(|s| Bytes::from(s.to_string())).collect();
            db.execute(&mut ctx, &args)
        };
        set("a", a);
        set("b", b);
        let args: Vec<Bytes> = ["LCS", "a", "b"].iter().chain(extra).map(|s| Bytes::from(s.to_string())).collect();
        let mut ctx = ExecCtx::new(1, crate::db::Mode::Read, 1);
        lcs(&mut db, &mut ctx, &args)
    }

    fn ints(values: &[i64]) -> Frame {
        Frame::Array(values.iter().map(|&v| Frame::Integer(v)).collect())
    }

    #[test]
    fn the_documented_example() {
        assert_eq!(run("ohmytext", "mynewtext", &[]), Frame::bulk("mytext"));
        assert_eq!(run("ohmytext", "mynewtext", &["LEN"]), Frame::Integer(6));
        let idx = run("ohmytext", "mynewtext", &["IDX", "MINMATCHLEN", "4", "WITHMATCHLEN"]);
        let expected = Frame::Map(vec![
            (
                Frame::bulk("matches"),
                Frame::Array(vec![Frame::Array(vec![ints(&[4, 7]), ints(&[5, 8]), Frame::Integer(4)])]),
            ),
            (Frame::bulk("len"), Frame::Integer(6)),
        ]);
        assert_eq!(idx, expected);
    }

    #[test]
    fn bad_options_and_the_bound() {
        assert_eq!(
            run("a", "b", &["LEN", "IDX"]),
            Frame::error("ERR If you want both the length and indexes, please just use IDX.")
        );
        assert_eq!(run("a", "b", &["FOO"]), Frame::error("ERR syntax error"));
        assert_eq!(run("a", "b", &["MINMATCHLEN"]), Frame::error("ERR syntax error"));
        assert_eq!(run("a", "b", &["MINMATCHLEN", "x"]), Frame::error("ERR value is not an integer or out of range"));
        let long = "x".repeat(5000);
        assert!(matches!(run(&long, &long, &[]), Frame::Error(e) if e.starts_with(b"ERR Insufficient memory")));
        assert_eq!(run("", "", &[]), Frame::bulk(""));
    }
}
