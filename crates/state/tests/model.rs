//! proptest: a partition's `Db`, driven only through `apply_batch`, against a
//! simple model; plus determinism (replaying the same batches, or loading a
//! snapshot, gives the identical state).

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use weir_protocol::Frame;
use weir_state::{BatchBuilder, Db, ExecCtx, Mode};

#[derive(Clone, Debug, PartialEq)]
enum M {
    Str(Vec<u8>),
    Hash(BTreeMap<Vec<u8>, Vec<u8>>),
    Set(BTreeSet<Vec<u8>>),
}

#[derive(Default)]
struct Model {
    keys: BTreeMap<Vec<u8>, (M, u64)>,
}

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

impl Model {
    fn live(&mut self, key: &[u8], now: u64) -> Option<&mut (M, u64)> {
        if self.keys.get(key).is_some_and(|(_, at)| *at != 0 && *at <= now) {
            self.keys.remove(key);
        }
        self.keys.get_mut(key)
    }

    fn apply(&mut self, op: &Op, now: u64) -> Frame {
        let k = op.key();
        match op {
            Op::Set(_, v) => {
                self.keys.insert(k.to_vec(), (M::Str(v.clone()), 0));
                Frame::ok()
            }
            Op::SetPx(_, v, ms) => {
                self.keys.insert(k.to_vec(), (M::Str(v.clone()), now + ms));
                Frame::ok()
            }
            Op::Incr(_) => match self.live(k, now) {
                None => {
                    self.keys.insert(k.to_vec(), (M::Str(b"1".to_vec()), 0));
                    Frame::Integer(1)
                }
                Some((M::Str(s), _)) => match std::str::from_utf8(s).ok().and_then(|t| t.parse::<i64>().ok()) {
                    Some(n) if n.to_string().as_bytes() == s.as_slice() => match n.checked_add(1) {
                        Some(m) => {
                            *s = m.to_string().into_bytes();
                            Frame::Integer(m)
                        }
                        None => Frame::error("ERR increment or decrement would overflow"),
                    },
                    _ => Frame::error("ERR value is not an integer or out of range"),
                },
                Some(_) => Frame::error(WRONGTYPE),
            },
            Op::Append(_, v) => match self.live(k, now) {
                None => {
                    self.keys.insert(k.to_vec(), (M::Str(v.clone()), 0));
                    Frame::Integer(v.len() as i64)
                }
                Some((M::Str(s), _)) => {
                    s.extend_from_slice(v);
                    Frame::Integer(s.len() as i64)
                }
                Some(_) => Frame::error(WRONGTYPE),
            },
            Op::SetBit(_, offset, on) => {
                let (byte, mask) = (offset / 8, 0x80u8 >> (offset % 8));
                let s = match self.live(k, now) {
                    None => &mut self.keys.entry(k.to_vec()).or_insert((M::Str(Vec::new()), 0)).0,
                    Some((m, _)) => m,
                };
                let M::Str(s) = s else { return Frame::error(WRONGTYPE) };
                if s.len() <= byte {
                    s.resize(byte + 1, 0);
                }
                let was = s[byte] & mask != 0;
                s[byte] = if *on { s[byte] | mask } else { s[byte] & !mask };
                Frame::Integer(i64::from(was))
            }
            Op::Del(_) => Frame::Integer(i64::from(self.live(k, now).is_some() && self.keys.remove(k).is_some())),
            Op::HSet(_, f, v) => match self.live(k, now) {
                None => {
                    self.keys.insert(k.to_vec(), (M::Hash(BTreeMap::from([(f.clone(), v.clone())])), 0));
                    Frame::Integer(1)
                }
                Some((M::Hash(h), _)) => Frame::Integer(i64::from(h.insert(f.clone(), v.clone()).is_none())),
                Some(_) => Frame::error(WRONGTYPE),
            },
            Op::SAdd(_, m) => match self.live(k, now) {
                None => {
                    self.keys.insert(k.to_vec(), (M::Set(BTreeSet::from([m.clone()])), 0));
                    Frame::Integer(1)
                }
                Some((M::Set(s), _)) => Frame::Integer(i64::from(s.insert(m.clone()))),
                Some(_) => Frame::error(WRONGTYPE),
            },
            Op::SRem(_, m) => match self.live(k, now) {
                None => Frame::Integer(0),
                Some((M::Set(s), _)) => {
                    let removed = s.remove(m);
                    if s.is_empty() {
                        self.keys.remove(k);
                    }
                    Frame::Integer(i64::from(removed))
                }
                Some(_) => Frame::error(WRONGTYPE),
            },
        }
    }
}

#[derive(Clone, Debug)]
enum Op {
    Set(Vec<u8>, Vec<u8>),
    SetPx(Vec<u8>, Vec<u8>, u64),
    Incr(Vec<u8>),
    Append(Vec<u8>, Vec<u8>),
    SetBit(Vec<u8>, usize, bool),
    Del(Vec<u8>),
    HSet(Vec<u8>, Vec<u8>, Vec<u8>),
    SAdd(Vec<u8>, Vec<u8>),
    SRem(Vec<u8>, Vec<u8>),
}

impl Op {
    fn key(&self) -> &[u8] {
        match self {
            Op::Set(k, _) | Op::SetPx(k, _, _) | Op::Incr(k) | Op::Del(k) => k,
            Op::Append(k, _) | Op::SetBit(k, _, _) => k,
            Op::HSet(k, _, _) | Op::SAdd(k, _) | Op::SRem(k, _) => k,
        }
    }

    fn args(&self) -> Vec<Bytes> {
        let b = |x: &[u8]| Bytes::copy_from_slice(x);
        match self {
            Op::Set(k, v) => vec![b(b"SET"), b(k), b(v)],
            Op::SetPx(k, v, ms) => vec![b(b"SET"), b(k), b(v), b(b"PX"), b(ms.to_string().as_bytes())],
            Op::Incr(k) => vec![b(b"INCR"), b(k)],
            Op::Del(k) => vec![b(b"DEL"), b(k)],
            Op::Append(k, v) => vec![b(b"APPEND"), b(k), b(v)],
            Op::SetBit(k, offset, on) => {
                vec![b(b"SETBIT"), b(k), b(offset.to_string().as_bytes()), b(if *on { b"1" } else { b"0" })]
            }
            Op::HSet(k, f, v) => vec![b(b"HSET"), b(k), b(f), b(v)],
            Op::SAdd(k, m) => vec![b(b"SADD"), b(k), b(m)],
            Op::SRem(k, m) => vec![b(b"SREM"), b(k), b(m)],
        }
    }
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()])
}

fn small() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(vec![
        b"1".to_vec(),
        b"x".to_vec(),
        b"-5".to_vec(),
        b"9223372036854775807".to_vec(),
        b"07".to_vec(),
    ])
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (key(), small()).prop_map(|(k, v)| Op::Set(k, v)),
        (key(), small(), 1u64..50).prop_map(|(k, v, ms)| Op::SetPx(k, v, ms)),
        key().prop_map(Op::Incr),
        key().prop_map(Op::Del),
        (key(), small()).prop_map(|(k, v)| Op::Append(k, v)),
        (key(), 0usize..300, any::<bool>()).prop_map(|(k, offset, on)| Op::SetBit(k, offset, on)),
        (key(), small(), small()).prop_map(|(k, f, v)| Op::HSet(k, f, v)),
        (key(), small()).prop_map(|(k, m)| Op::SAdd(k, m)),
        (key(), small()).prop_map(|(k, m)| Op::SRem(k, m)),
    ]
}

/// Batches: each has a time step and some operations.
fn batches() -> impl Strategy<Value = Vec<(u64, Vec<Op>)>> {
    prop::collection::vec((0u64..30, prop::collection::vec(op(), 1..6)), 1..30)
}

fn read(db: &mut Db, now: u64, words: &[&[u8]]) -> Frame {
    let mut ctx = ExecCtx::new(now, Mode::Read, 0);
    let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w)).collect();
    db.execute(&mut ctx, &args)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn db_matches_the_model_and_replays_identically(batches in batches()) {
        let mut db = Db::new();
        let mut model = Model::default();
        let mut encoded = Vec::new();
        let mut now = 1_000;
        for (step, ops) in &batches {
            now += step;
            let mut builder = BatchBuilder::new(now, now);
            for op in ops {
                builder.push_command(&op.args());
            }
            let bytes = builder.finish();
            let replies = db.apply_batch(&bytes).expect("applies");
            encoded.push(bytes);
            for (op, reply) in ops.iter().zip(replies) {
                prop_assert_eq!(reply, model.apply(op, now), "op {:?}", op);
            }
        }
        for key in [b"a", b"b", b"c"] {
            let (expected_type, expected) = match model.live(key, now).cloned() {
                None => ("none", None),
                Some((M::Str(s), _)) => ("string", Some(Frame::Bulk(Bytes::from(s)))),
                Some((M::Hash(h), _)) => ("hash", Some(Frame::Map(h.into_iter().map(|(f, v)| (Frame::Bulk(f.into()), Frame::Bulk(v.into()))).collect()))),
                Some((M::Set(s), _)) => ("set", Some(Frame::Set(s.into_iter().map(|m| Frame::Bulk(m.into())).collect()))),
            };
            prop_assert_eq!(read(&mut db, now, &[b"TYPE", key]), Frame::simple(expected_type));
            let got = match expected_type {
                "string" => Some(read(&mut db, now, &[b"GET", key])),
                "hash" => Some(read(&mut db, now, &[b"HGETALL", key])),
                "set" => Some(read(&mut db, now, &[b"SMEMBERS", key])),
                _ => None,
            };
            prop_assert_eq!(got, expected);
        }
        // Determinism: a replay and a snapshot load reach the same state.
        common::deterministic(&db, &encoded)?;
    }
}
