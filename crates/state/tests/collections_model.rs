//! proptest: lists and sorted sets in a partition's `Db`, driven only through
//! `apply_batch`, against a simple model (a `VecDeque`, and a map sorted on
//! demand by score then member), including ranks, ranges, score ties and
//! wrong types; plus replay and snapshot determinism.

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use std::collections::{BTreeMap, VecDeque};
use weir_protocol::Frame;
use weir_state::{BatchBuilder, Db};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

#[derive(Clone, Debug)]
enum M {
    List(VecDeque<Vec<u8>>),
    Z(BTreeMap<Vec<u8>, f64>),
}

#[derive(Clone, Debug)]
enum Op {
    Push(bool, u8, u8),
    Pop(bool, u8, Option<usize>),
    Range(u8, i64, i64),
    Index(u8, i64),
    Set(u8, i64, u8),
    Rem(u8, i64, u8),
    Trim(u8, i64, i64),
    Move(u8, u8, bool, bool),
    ZAdd(u8, f64, u8),
    ZIncr(u8, f64, u8),
    ZRem(u8, u8),
    ZRank(u8, u8),
    ZRange(u8, i64, i64),
    ZByScore(u8, f64, f64),
    ZPopMin(u8, usize),
    ZRemByScore(u8, f64, f64),
    ZScore(u8, u8),
    /// ZUNIONSTORE / ZINTERSTORE / ZDIFFSTORE dst 2 a b WEIGHTS 1 w AGGREGATE agg.
    ZStore(Algebra, u8, u8, u8, f64, Agg),
}

#[derive(Clone, Copy, Debug)]
enum Algebra {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, Debug)]
enum Agg {
    Sum,
    Min,
    Max,
}

impl Agg {
    /// As Redis folds: ties (signed zeros) keep the running value.
    fn fold(self, a: f64, b: f64) -> f64 {
        match self {
            Agg::Sum if (a + b).is_nan() => 0.0,
            Agg::Sum => a + b,
            Agg::Min if b < a => b,
            Agg::Max if b > a => b,
            Agg::Min | Agg::Max => a,
        }
    }
}

fn key(k: u8) -> Vec<u8> {
    vec![b'a' + k]
}

fn elem(e: u8) -> Vec<u8> {
    vec![b'p' + e]
}

fn text(x: impl ToString) -> Vec<u8> {
    x.to_string().into_bytes()
}

fn end(left: bool) -> &'static [u8] {
    if left {
        b"LEFT"
    } else {
        b"RIGHT"
    }
}

impl Op {
    fn args(&self) -> Vec<Bytes> {
        let words: Vec<Vec<u8>> = match self.clone() {
            Op::Push(left, k, e) => vec![(if left { "LPUSH" } else { "RPUSH" }).into(), key(k), elem(e)],
            Op::Pop(left, k, count) => {
                let mut w = vec![(if left { "LPOP" } else { "RPOP" }).into(), key(k)];
                w.extend(count.map(text));
                w
            }
            Op::Range(k, a, b) => vec!["LRANGE".into(), key(k), text(a), text(b)],
            Op::Index(k, i) => vec!["LINDEX".into(), key(k), text(i)],
            Op::Set(k, i, e) => vec!["LSET".into(), key(k), text(i), elem(e)],
            Op::Rem(k, n, e) => vec!["LREM".into(), key(k), text(n), elem(e)],
            Op::Trim(k, a, b) => vec!["LTRIM".into(), key(k), text(a), text(b)],
            Op::Move(s, d, from, to) => vec!["LMOVE".into(), key(s), key(d), end(from).into(), end(to).into()],
            Op::ZAdd(k, s, m) => vec!["ZADD".into(), key(k), text(s), elem(m)],
            Op::ZIncr(k, s, m) => vec!["ZINCRBY".into(), key(k), text(s), elem(m)],
            Op::ZRem(k, m) => vec!["ZREM".into(), key(k), elem(m)],
            Op::ZRank(k, m) => vec!["ZRANK".into(), key(k), elem(m)],
            Op::ZRange(k, a, b) => vec!["ZRANGE".into(), key(k), text(a), text(b), "WITHSCORES".into()],
            Op::ZByScore(k, lo, hi) => vec!["ZRANGEBYSCORE".into(), key(k), text(lo), text(hi)],
            Op::ZPopMin(k, n) => vec!["ZPOPMIN".into(), key(k), text(n)],
            Op::ZRemByScore(k, lo, hi) => vec!["ZREMRANGEBYSCORE".into(), key(k), text(lo), text(hi)],
            Op::ZScore(k, m) => vec!["ZSCORE".into(), key(k), elem(m)],
            Op::ZStore(op, d, a, b, w, agg) => {
                let name = match op {
                    Algebra::Union => "ZUNIONSTORE",
                    Algebra::Inter => "ZINTERSTORE",
                    Algebra::Diff => "ZDIFFSTORE",
                };
                let mut words = vec![name.into(), key(d), text(2), key(a), key(b)];
                if !matches!(op, Algebra::Diff) {
                    words.extend([text("WEIGHTS"), text(1), text(w), text("AGGREGATE"), text(format!("{agg:?}"))]);
                }
                words
            }
        };
        words.into_iter().map(Bytes::from).collect()
    }
}

fn bulk(b: &[u8]) -> Frame {
    Frame::Bulk(Bytes::copy_from_slice(b))
}

/// Redis's inclusive range over `len` items.
fn clamp(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop.min(len - 1) };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

fn sorted(z: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut items: Vec<_> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    items.sort_by(|a, b| a.1.partial_cmp(&b.1).expect("no NaN").then_with(|| a.0.cmp(&b.0)));
    items
}

#[derive(Default)]
struct Model {
    keys: BTreeMap<Vec<u8>, M>,
}

impl Model {
    fn list(&mut self, k: u8) -> Result<Option<&mut VecDeque<Vec<u8>>>, Frame> {
        match self.keys.get_mut(&key(k)) {
            None => Ok(None),
            Some(M::List(l)) => Ok(Some(l)),
            Some(_) => Err(Frame::error(WRONGTYPE)),
        }
    }

    fn zset(&mut self, k: u8) -> Result<Option<&mut BTreeMap<Vec<u8>, f64>>, Frame> {
        match self.keys.get_mut(&key(k)) {
            None => Ok(None),
            Some(M::Z(z)) => Ok(Some(z)),
            Some(_) => Err(Frame::error(WRONGTYPE)),
        }
    }

    /// Collections never stay empty.
    fn tidy(&mut self) {
        self.keys.retain(|_, v| match v {
            M::List(l) => !l.is_empty(),
            M::Z(z) => !z.is_empty(),
        });
    }

    fn apply(&mut self, op: &Op) -> Frame {
        let reply = self.run(op).unwrap_or_else(|e| e);
        self.tidy();
        reply
    }

    fn run(&mut self, op: &Op) -> Result<Frame, Frame> {
        match *op {
            Op::Push(left, k, e) => {
                if self.list(k)?.is_none() {
                    self.keys.insert(key(k), M::List(VecDeque::new()));
                }
                let l = self.list(k)?.expect("created");
                if left {
                    l.push_front(elem(e))
                } else {
                    l.push_back(elem(e))
                }
                Ok(Frame::Integer(l.len() as i64))
            }
            Op::Pop(left, k, count) => {
                let Some(l) = self.list(k)? else {
                    return Ok(if count.is_some() { Frame::NullArray } else { Frame::Null });
                };
                let n = count.unwrap_or(1).min(l.len());
                let popped: Vec<Frame> =
                    (0..n).filter_map(|_| if left { l.pop_front() } else { l.pop_back() }).map(|e| bulk(&e)).collect();
                Ok(match count {
                    None => popped.into_iter().next().unwrap_or(Frame::Null),
                    Some(_) => Frame::Array(popped),
                })
            }
            Op::Range(k, a, b) => {
                let Some(l) = self.list(k)? else { return Ok(Frame::Array(vec![])) };
                let items = clamp(a, b, l.len()).map_or(vec![], |(x, y)| l.range(x..=y).map(|e| bulk(e)).collect());
                Ok(Frame::Array(items))
            }
            Op::Index(k, i) => {
                let Some(l) = self.list(k)? else { return Ok(Frame::Null) };
                let i = if i < 0 { i + l.len() as i64 } else { i };
                Ok(usize::try_from(i).ok().and_then(|i| l.get(i)).map_or(Frame::Null, |e| bulk(e)))
            }
            Op::Set(k, i, e) => {
                let Some(l) = self.list(k)? else { return Err(Frame::error("ERR no such key")) };
                let i = if i < 0 { i + l.len() as i64 } else { i };
                let slot = usize::try_from(i).ok().and_then(|i| l.get_mut(i));
                *slot.ok_or_else(|| Frame::error("ERR index out of range"))? = elem(e);
                Ok(Frame::ok())
            }
            Op::Rem(k, n, e) => {
                let Some(l) = self.list(k)? else { return Ok(Frame::Integer(0)) };
                let target = elem(e);
                let limit = if n == 0 { usize::MAX } else { n.unsigned_abs() as usize };
                let mut hits: Vec<usize> =
                    l.iter().enumerate().filter(|(_, x)| **x == target).map(|(i, _)| i).collect();
                if n < 0 {
                    hits.reverse();
                }
                hits.truncate(limit);
                hits.sort_unstable();
                for i in hits.iter().rev() {
                    l.remove(*i);
                }
                Ok(Frame::Integer(hits.len() as i64))
            }
            Op::Trim(k, a, b) => {
                let Some(l) = self.list(k)? else { return Ok(Frame::ok()) };
                *l = clamp(a, b, l.len()).map_or(VecDeque::new(), |(x, y)| l.range(x..=y).cloned().collect());
                Ok(Frame::ok())
            }
            Op::Move(s, d, from, to) => {
                if self.list(s)?.is_none() {
                    return Ok(Frame::Null);
                }
                self.list(d)?;
                let l = self.list(s)?.expect("checked");
                let e = if from { l.pop_front() } else { l.pop_back() }.expect("non-empty");
                if self.list(d)?.is_none() {
                    self.keys.insert(key(d), M::List(VecDeque::new()));
                }
                let dst = self.list(d)?.expect("created");
                if to {
                    dst.push_front(e.clone())
                } else {
                    dst.push_back(e.clone())
                }
                Ok(bulk(&e))
            }
            Op::ZAdd(k, s, m) => {
                let z = self.zset_or_new(k)?;
                Ok(Frame::Integer(i64::from(z.insert(elem(m), s).is_none())))
            }
            Op::ZIncr(k, s, m) => {
                let z = self.zset_or_new(k)?;
                let new = z.get(&elem(m)).copied().unwrap_or(0.0) + s;
                z.insert(elem(m), new);
                Ok(Frame::Double(new))
            }
            Op::ZRem(k, m) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Integer(0)) };
                Ok(Frame::Integer(i64::from(z.remove(&elem(m)).is_some())))
            }
            Op::ZRank(k, m) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Null) };
                let rank = sorted(z).iter().position(|(x, _)| *x == elem(m));
                Ok(rank.map_or(Frame::Null, |r| Frame::Integer(r as i64)))
            }
            Op::ZRange(k, a, b) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Array(vec![])) };
                let all = sorted(z);
                let items = clamp(a, b, all.len()).map_or(vec![], |(x, y)| all[x..=y].to_vec());
                Ok(Frame::Pairs(items.into_iter().map(|(m, s)| (bulk(&m), Frame::Double(s))).collect()))
            }
            Op::ZByScore(k, lo, hi) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Array(vec![])) };
                let items = sorted(z).into_iter().filter(|(_, s)| *s >= lo && *s <= hi).map(|(m, _)| bulk(&m));
                Ok(Frame::Array(items.collect()))
            }
            Op::ZPopMin(k, n) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Pairs(vec![])) };
                let popped: Vec<_> = sorted(z).into_iter().take(n).collect();
                for (m, _) in &popped {
                    z.remove(m);
                }
                Ok(Frame::Pairs(popped.into_iter().map(|(m, s)| (bulk(&m), Frame::Double(s))).collect()))
            }
            Op::ZRemByScore(k, lo, hi) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Integer(0)) };
                let before = z.len();
                z.retain(|_, s| !(*s >= lo && *s <= hi));
                Ok(Frame::Integer((before - z.len()) as i64))
            }
            Op::ZScore(k, m) => {
                let Some(z) = self.zset(k)? else { return Ok(Frame::Null) };
                Ok(z.get(&elem(m)).map_or(Frame::Null, |s| Frame::Double(*s)))
            }
            Op::ZStore(op, d, a, b, w, agg) => {
                let first = self.zset(a)?.cloned().unwrap_or_default();
                let second = self.zset(b)?.cloned().unwrap_or_default();
                let weighted = |s: f64, w: f64| if (s * w).is_nan() { 0.0 } else { s * w };
                // Union and intersection visit the smaller input first, as Redis does.
                let mut inputs = [(first.clone(), 1.0), (second.clone(), w)];
                if inputs[1].0.len() < inputs[0].0.len() {
                    inputs.swap(0, 1);
                }
                let mut out = BTreeMap::new();
                match op {
                    Algebra::Union => {
                        for (z, w) in &inputs {
                            for (m, s) in z {
                                let v = weighted(*s, *w);
                                let folded = out.get(m).map_or(v, |old| agg.fold(*old, v));
                                out.insert(m.clone(), folded);
                            }
                        }
                    }
                    Algebra::Inter => {
                        let [(small, w0), (large, w1)] = &inputs;
                        for (m, s) in small {
                            if let Some(t) = large.get(m) {
                                out.insert(m.clone(), agg.fold(weighted(*s, *w0), *t * w1));
                            }
                        }
                    }
                    Algebra::Diff => {
                        out.extend(first.into_iter().filter(|(m, _)| !second.contains_key(m)));
                    }
                }
                let len = out.len() as i64;
                if out.is_empty() {
                    self.keys.remove(&key(d));
                } else {
                    self.keys.insert(key(d), M::Z(out));
                }
                Ok(Frame::Integer(len))
            }
        }
    }

    fn zset_or_new(&mut self, k: u8) -> Result<&mut BTreeMap<Vec<u8>, f64>, Frame> {
        if self.zset(k)?.is_none() {
            self.keys.insert(key(k), M::Z(BTreeMap::new()));
        }
        Ok(self.zset(k)?.expect("created"))
    }
}

fn op() -> impl Strategy<Value = Op> {
    let k = || 0u8..3;
    let e = || 0u8..4;
    let i = || -4i64..5;
    let score = || prop::sample::select(vec![-1.0, 0.0, 1.0, 2.5]);
    prop_oneof![
        4 => (any::<bool>(), k(), e()).prop_map(|(l, k, e)| Op::Push(l, k, e)),
        2 => (any::<bool>(), k(), prop::option::of(0usize..4)).prop_map(|(l, k, c)| Op::Pop(l, k, c)),
        1 => (k(), i(), i()).prop_map(|(k, a, b)| Op::Range(k, a, b)),
        1 => (k(), i()).prop_map(|(k, i)| Op::Index(k, i)),
        1 => (k(), i(), e()).prop_map(|(k, i, e)| Op::Set(k, i, e)),
        1 => (k(), -2i64..3, e()).prop_map(|(k, n, e)| Op::Rem(k, n, e)),
        1 => (k(), i(), i()).prop_map(|(k, a, b)| Op::Trim(k, a, b)),
        1 => (k(), k(), any::<bool>(), any::<bool>()).prop_map(|(s, d, f, t)| Op::Move(s, d, f, t)),
        4 => (k(), score(), e()).prop_map(|(k, s, m)| Op::ZAdd(k, s, m)),
        2 => (k(), score(), e()).prop_map(|(k, s, m)| Op::ZIncr(k, s, m)),
        1 => (k(), e()).prop_map(|(k, m)| Op::ZRem(k, m)),
        1 => (k(), e()).prop_map(|(k, m)| Op::ZRank(k, m)),
        1 => (k(), i(), i()).prop_map(|(k, a, b)| Op::ZRange(k, a, b)),
        1 => (k(), score(), score()).prop_map(|(k, a, b)| Op::ZByScore(k, a, b)),
        1 => (k(), 0usize..3).prop_map(|(k, n)| Op::ZPopMin(k, n)),
        1 => (k(), score(), score()).prop_map(|(k, a, b)| Op::ZRemByScore(k, a, b)),
        1 => (k(), e()).prop_map(|(k, m)| Op::ZScore(k, m)),
        2 => (algebra(), k(), k(), k(), score(), agg()).prop_map(|(o, d, a, b, w, g)| Op::ZStore(o, d, a, b, w, g)),
    ]
}

fn algebra() -> impl Strategy<Value = Algebra> {
    prop::sample::select(vec![Algebra::Union, Algebra::Inter, Algebra::Diff])
}

fn agg() -> impl Strategy<Value = Agg> {
    prop::sample::select(vec![Agg::Sum, Agg::Min, Agg::Max])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn lists_and_sorted_sets_match_the_model(batches in prop::collection::vec(prop::collection::vec(op(), 1..8), 1..40)) {
        let mut db = Db::new();
        let mut model = Model::default();
        let mut encoded = Vec::new();
        for (n, ops) in batches.iter().enumerate() {
            let mut builder = BatchBuilder::new(1_000 + n as u64, n as u64);
            for op in ops {
                builder.push_command(&op.args());
            }
            let bytes = builder.finish();
            let replies = db.apply_batch(&bytes).expect("applies");
            encoded.push(bytes);
            for (op, reply) in ops.iter().zip(replies) {
                prop_assert_eq!(reply, model.apply(op), "op {:?}", op);
            }
        }
        // Determinism: a replay and a snapshot load reach the same state.
        common::deterministic(&db, &encoded)?;
    }
}
