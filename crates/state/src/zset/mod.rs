//! The sorted-set container: members with `f64` scores, ordered by (score,
//! member bytes), with rank queries in O(log n).
//!
//! Structure: a counted B-tree of height two. Elements sit in sorted chunks
//! of at most [`CHUNK_MAX`]; a Fenwick tree over the chunk lengths turns a
//! rank into (chunk, offset) and back in O(log chunks). A chunk is found by
//! binary search on chunk ends, an element within it by binary search. A
//! hash map gives member → score in O(1) (never iterated, so nothing
//! observable depends on its order). Versus a skip list: no pointers per
//! element, contiguous scans for ranges, and no randomness to make replicas
//! differ. Splits and merges rebuild the Fenwick tree (O(chunks)), at most
//! once per CHUNK_MAX/2 inserts. Members are `Elem`s: up to 22 bytes sit
//! inside the element, so a binary search compares them without following
//! a pointer per probe (with members behind pointers, ZINCRBY on a 100k
//! set spent half its time in those cache misses).

use crate::value::Elem;
use bytes::Bytes;
use std::cmp::Ordering;
use std::collections::HashMap;

/// Elements per chunk before it splits. An insert shifts half a chunk on
/// average (CHUNK_MAX/2 × 32 bytes), which stays cheaper than pointer
/// chasing.
pub const CHUNK_MAX: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ScoreBound {
    Inclusive(f64),
    Exclusive(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub enum LexBound {
    NegInf,
    PosInf,
    Inclusive(Bytes),
    Exclusive(Bytes),
}

type Item = (f64, Elem);

#[derive(Clone)]
pub struct ZSet {
    chunks: Vec<Vec<Item>>,
    /// Fenwick tree (1-based) over `chunks[i].len()`.
    fenwick: Vec<usize>,
    /// Each member a second time (its own copy: an inline `Elem` is no
    /// larger than a pointer to shared bytes would be).
    scores: HashMap<Elem, f64>,
    chunk_max: usize,
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::with_chunk_max(CHUNK_MAX)
    }
}

/// Redis's order: by score, then by member bytes. Scores are never NaN.
fn order(a: (f64, &[u8]), b: (f64, &[u8])) -> Ordering {
    debug_assert!(!a.0.is_nan() && !b.0.is_nan());
    a.0.partial_cmp(&b.0).unwrap_or(Ordering::Equal).then_with(|| a.1.cmp(b.1))
}

impl ZSet {
    pub fn new() -> ZSet {
        ZSet::default()
    }

    /// A set with small chunks, so tests exercise splits and merges.
    pub fn with_chunk_max(chunk_max: usize) -> ZSet {
        assert!(chunk_max >= 4, "chunks must hold a few elements");
        ZSet { chunks: Vec::new(), fenwick: vec![0], scores: HashMap::new(), chunk_max }
    }

    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Elements in `chunks[..chunk]`.
    fn prefix(&self, chunk: usize) -> usize {
        let (mut i, mut sum) = (chunk, 0);
        while i > 0 {
            sum += self.fenwick[i];
            i &= i - 1;
        }
        sum
    }

    fn fenwick_add(&mut self, chunk: usize, delta: isize) {
        let mut i = chunk + 1;
        while i < self.fenwick.len() {
            self.fenwick[i] = self.fenwick[i].wrapping_add_signed(delta);
            i += i & i.wrapping_neg();
        }
    }

    fn rebuild_fenwick(&mut self) {
        let n = self.chunks.len();
        self.fenwick = vec![0; n + 1];
        for (i, chunk) in self.chunks.iter().enumerate() {
            self.fenwick[i + 1] += chunk.len();
            let parent = (i + 1) + ((i + 1) & (i + 1).wrapping_neg());
            if parent <= n {
                self.fenwick[parent] += self.fenwick[i + 1];
            }
        }
    }

    /// Every member is in exactly one chunk (checked after each change).
    fn debug_check(&self) {
        debug_assert_eq!(self.prefix(self.chunks.len()), self.scores.len());
    }

    /// (chunk, offset) of a rank `< len`.
    fn locate_rank(&self, rank: usize) -> (usize, usize) {
        debug_assert!(rank < self.len());
        let (mut pos, mut rest) = (0, rank);
        let mut step = (self.fenwick.len() - 1).next_power_of_two();
        while step > 0 {
            let next = pos + step;
            if next < self.fenwick.len() && self.fenwick[next] <= rest {
                pos = next;
                rest -= self.fenwick[next];
            }
            step /= 2;
        }
        (pos, rest)
    }

    /// The first position whose element satisfies `pred`, which must be
    /// false then true along the order. Returns (chunk, offset).
    fn first_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> (usize, usize) {
        let chunk = self.chunks.partition_point(|c| c.last().is_some_and(|(s, m)| !pred(*s, m.as_bytes())));
        let offset = self.chunks.get(chunk).map_or(0, |c| c.partition_point(|(s, m)| !pred(*s, m.as_bytes())));
        (chunk, offset)
    }

    fn rank_where(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let (chunk, offset) = self.first_where(pred);
        self.prefix(chunk) + offset
    }

    /// Where (score, member) is, or would be inserted.
    fn position(&self, score: f64, member: &[u8]) -> (usize, usize) {
        self.first_where(|s, m| order((s, m), (score, member)) != Ordering::Less)
    }

    /// Inserts or re-scores; returns the previous score. A re-scored member
    /// keeps its bytes: one hash lookup, no allocation.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        let Some(current) = self.scores.get_mut(member) else {
            let member = Elem::new(member);
            self.scores.insert(member.clone(), score);
            self.place((score, member));
            self.debug_check();
            return None;
        };
        let previous = std::mem::replace(current, score);
        let (chunk, offset) = self.position(previous, member);
        debug_assert_eq!(self.chunks[chunk][offset].1.as_bytes(), member);
        if !self.rescore_in_chunk(chunk, offset, score) {
            let (_, member) = self.take_at(chunk, offset);
            self.place((score, member));
        }
        self.debug_check();
        Some(previous)
    }

    /// Re-scores the element at (chunk, offset) where its new place is in
    /// the same chunk: the elements between shift by one, instead of a
    /// removal and an insertion (half a chunk of shifting each, and a
    /// second search). ZINCRBY mostly moves a member a few places. False
    /// (nothing changed) when the new place may be in another chunk.
    fn rescore_in_chunk(&mut self, chunk: usize, offset: usize, score: f64) -> bool {
        let items = &self.chunks[chunk];
        let others = items.len() - 1;
        let member = items[offset].1.as_bytes();
        let goes_up = order((items[offset].0, member), (score, member)) == Ordering::Less;
        // Elements before the new place, itself excluded: the chunk is
        // sorted, so "less than the new item" is true then false along it.
        let below = items.partition_point(|(s, m)| order((*s, m.as_bytes()), (score, member)) == Ordering::Less);
        let target = below - usize::from(goes_up);
        let first_chunk = chunk == 0;
        let last_chunk = chunk + 1 == self.chunks.len();
        if (target == 0 && !first_chunk) || (target == others && !last_chunk) {
            return false;
        }
        let items = &mut self.chunks[chunk];
        match target.cmp(&offset) {
            Ordering::Greater => items[offset..=target].rotate_left(1),
            Ordering::Less => items[target..=offset].rotate_right(1),
            Ordering::Equal => {}
        }
        items[target].0 = score;
        true
    }

    /// Puts an element in order (its score is already in `scores`).
    fn place(&mut self, item: Item) {
        let (mut chunk, mut offset) = self.position(item.0, item.1.as_bytes());
        if self.chunks.is_empty() {
            self.chunks.push(Vec::new());
            self.rebuild_fenwick();
        }
        if chunk == self.chunks.len() {
            chunk -= 1;
            offset = self.chunks[chunk].len();
        }
        self.chunks[chunk].insert(offset, item);
        self.fenwick_add(chunk, 1);
        if self.chunks[chunk].len() > self.chunk_max {
            let tail = self.chunks[chunk].split_off(self.chunk_max / 2);
            self.chunks.insert(chunk + 1, tail);
            self.rebuild_fenwick();
        }
    }

    /// Removes; returns the score it had.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let score = self.scores.get(member).copied()?;
        let (chunk, offset) = self.position(score, member);
        debug_assert_eq!(self.chunks[chunk][offset].1.as_bytes(), member);
        self.remove_at(chunk, offset);
        Some(score)
    }

    fn remove_at(&mut self, chunk: usize, offset: usize) -> Item {
        let item = self.take_at(chunk, offset);
        self.scores.remove(item.1.as_bytes());
        self.debug_check();
        item
    }

    /// Takes an element out of order (leaving `scores` alone).
    fn take_at(&mut self, chunk: usize, offset: usize) -> Item {
        let item = self.chunks[chunk].remove(offset);
        self.fenwick_add(chunk, -1);
        self.rebalance(chunk);
        item
    }

    /// Drops an empty chunk, or merges a small one into a neighbour.
    fn rebalance(&mut self, chunk: usize) {
        let len = self.chunks[chunk].len();
        if len == 0 {
            self.chunks.remove(chunk);
            return self.rebuild_fenwick();
        }
        if len >= self.chunk_max / 4 {
            return;
        }
        let fits = |other: Option<&Vec<Item>>| other.is_some_and(|o| o.len() + len <= self.chunk_max);
        let left = if fits(self.chunks.get(chunk + 1)) {
            chunk
        } else if chunk > 0 && fits(self.chunks.get(chunk - 1)) {
            chunk - 1
        } else {
            return;
        };
        let right = self.chunks.remove(left + 1);
        self.chunks[left].extend(right);
        self.rebuild_fenwick();
    }

    /// 0-based rank in ascending order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let score = self.score(member)?;
        let (chunk, offset) = self.position(score, member);
        Some(self.prefix(chunk) + offset)
    }

    /// The element at a 0-based ascending rank.
    pub fn get_by_rank(&self, rank: usize) -> Option<(&[u8], f64)> {
        if rank >= self.len() {
            return None;
        }
        let (chunk, offset) = self.locate_rank(rank);
        let (score, member) = &self.chunks[chunk][offset];
        Some((member.as_bytes(), *score))
    }

    /// Elements with ascending ranks in `start..end` (clamped), in order.
    pub fn range_by_rank(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + '_ {
        let end = end.min(self.len());
        let (first, last) =
            if start < end { (self.locate_rank(start), self.locate_rank(end - 1)) } else { ((0, 0), (0, 0)) };
        let chunks = if start < end { &self.chunks[first.0..=last.0] } else { &self.chunks[..0] };
        let count = chunks.len();
        chunks.iter().enumerate().flat_map(move |(i, chunk)| {
            let lo = if i == 0 { first.1 } else { 0 };
            let hi = if i + 1 == count { last.1 + 1 } else { chunk.len() };
            chunk[lo..hi].iter().map(|(score, member)| (member.as_bytes(), *score))
        })
    }

    /// Rank of the first element with score >= min (or > min).
    pub fn rank_of_score(&self, min: ScoreBound) -> usize {
        match min {
            ScoreBound::Inclusive(x) => self.rank_where(|s, _| s >= x),
            ScoreBound::Exclusive(x) => self.rank_where(|s, _| s > x),
        }
    }

    /// Rank just past the last element with score <= max (or < max).
    pub fn rank_after_score(&self, max: ScoreBound) -> usize {
        match max {
            ScoreBound::Inclusive(x) => self.rank_where(|s, _| s > x),
            ScoreBound::Exclusive(x) => self.rank_where(|s, _| s >= x),
        }
    }

    /// First rank whose member is within the lower bound (lex ranges assume
    /// equal scores, as Redis documents).
    pub fn rank_of_lex(&self, min: &LexBound) -> usize {
        match min {
            LexBound::NegInf => 0,
            LexBound::PosInf => self.len(),
            LexBound::Inclusive(x) => self.rank_where(|_, m| m >= x.as_ref()),
            LexBound::Exclusive(x) => self.rank_where(|_, m| m > x.as_ref()),
        }
    }

    /// Rank just past the last member within the upper bound.
    pub fn rank_after_lex(&self, max: &LexBound) -> usize {
        match max {
            LexBound::NegInf => 0,
            LexBound::PosInf => self.len(),
            LexBound::Inclusive(x) => self.rank_where(|_, m| m > x.as_ref()),
            LexBound::Exclusive(x) => self.rank_where(|_, m| m >= x.as_ref()),
        }
    }

    /// Heap bytes (MEMORY USAGE, `crate::memory_usage`): the chunks and
    /// the Fenwick tree as allocated, the member map's table, and members
    /// too long to sit inline (twice: the map keeps its own copy), sampled
    /// over `samples` members (0: all).
    pub fn heap_bytes(&self, samples: usize) -> usize {
        use crate::memory_usage::alloc_size;
        use std::mem::size_of;
        let chunks = alloc_size(self.chunks.capacity() * size_of::<Vec<Item>>())
            + self.chunks.iter().map(|c| alloc_size(c.capacity() * size_of::<Item>())).sum::<usize>();
        let fenwick = alloc_size(self.fenwick.capacity() * size_of::<usize>());
        // hashbrown: a power-of-two bucket count at most 7/8 full, one
        // control byte per bucket.
        let buckets = (self.scores.capacity() * 8 / 7).next_power_of_two();
        let map = alloc_size(buckets * (size_of::<(Elem, f64)>() + 1) + 16);
        let members = self.chunks.iter().flatten().map(|(_, member)| member);
        let heap_members = crate::memory_usage::sampled(members, self.len(), samples, |m| 2 * m.heap_bytes());
        chunks + fenwick + map + heap_members
    }

    /// Ascending.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.chunks.iter().flatten().map(|(score, member)| (member.as_bytes(), *score))
    }

    pub fn pop_first(&mut self) -> Option<(Elem, f64)> {
        if self.is_empty() {
            return None;
        }
        let (score, member) = self.remove_at(0, 0);
        Some((member, score))
    }

    pub fn pop_last(&mut self) -> Option<(Elem, f64)> {
        let chunk = self.chunks.len().checked_sub(1)?;
        let offset = self.chunks[chunk].len() - 1;
        let (score, member) = self.remove_at(chunk, offset);
        Some((member, score))
    }

    /// Removes ascending ranks `start..end`; returns how many.
    pub fn remove_range_by_rank(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        let (c0, o0) = self.locate_rank(start);
        let (c1, o1) = self.locate_rank(end - 1);
        let mut doomed: Vec<Item> = Vec::with_capacity(end - start);
        if c0 == c1 {
            doomed.extend(self.chunks[c0].drain(o0..=o1));
        } else {
            doomed.extend(self.chunks[c0].drain(o0..));
            for chunk in self.chunks.drain(c0 + 1..c1) {
                doomed.extend(chunk);
            }
            doomed.extend(self.chunks[c0 + 1].drain(..=o1));
        }
        for (_, member) in &doomed {
            self.scores.remove(member.as_bytes());
        }
        self.chunks.retain(|c| !c.is_empty());
        self.rebuild_fenwick();
        doomed.len()
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &ZSet) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests;
