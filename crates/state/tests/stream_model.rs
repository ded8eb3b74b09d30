//! proptest: streams in a partition's `Db`, driven only through
//! `apply_batch`, against a simple model (a sorted map of IDs, the last ID
//! and the largest deleted ID): explicit and auto IDs, deletes, exact trims
//! and ranges; plus replay and snapshot determinism, approximate trims
//! included.

mod common;

use bytes::Bytes;
use proptest::prelude::*;
use std::collections::BTreeMap;
use weir_protocol::Frame;
use weir_state::{BatchBuilder, Db};

type Id = (u64, u64);

#[derive(Clone, Debug)]
enum Op {
    /// Explicit `ms-seq`, or (`None`) `*` at the batch clock.
    Add(Option<Id>, u8),
    Del(Id),
    TrimLen(u64, bool),
    TrimMinId(Id),
    Range(Id, Id, Option<i64>, bool),
    Len,
}

const KEY: &str = "s";

fn id_text((ms, seq): Id) -> String {
    format!("{ms}-{seq}")
}

impl Op {
    fn args(&self) -> Vec<Bytes> {
        let words: Vec<String> = match self {
            Op::Add(id, v) => {
                vec!["XADD".into(), KEY.into(), id.map_or("*".into(), id_text), "f".into(), v.to_string()]
            }
            Op::Del(id) => vec!["XDEL".into(), KEY.into(), id_text(*id)],
            Op::TrimLen(n, approx) => {
                vec![
                    "XTRIM".into(),
                    KEY.into(),
                    "MAXLEN".into(),
                    (if *approx { "~" } else { "=" }).into(),
                    n.to_string(),
                ]
            }
            Op::TrimMinId(id) => vec!["XTRIM".into(), KEY.into(), "MINID".into(), id_text(*id)],
            Op::Range(a, b, count, rev) => {
                let (first, second) = if *rev { (*b, *a) } else { (*a, *b) };
                let mut w = vec![
                    (if *rev { "XREVRANGE" } else { "XRANGE" }).into(),
                    KEY.into(),
                    id_text(first),
                    id_text(second),
                ];
                if let Some(c) = count {
                    w.extend(["COUNT".into(), c.to_string()]);
                }
                w
            }
            Op::Len => vec!["XLEN".into(), KEY.into()],
        };
        words.into_iter().map(Bytes::from).collect()
    }
}

#[derive(Default)]
struct Model {
    exists: bool,
    entries: BTreeMap<Id, u8>,
    last: Id,
    max_deleted: Id,
}

fn bulk(s: String) -> Frame {
    Frame::Bulk(Bytes::from(s))
}

impl Model {
    fn apply(&mut self, op: &Op, now: u64) -> Frame {
        match op {
            Op::Add(id, v) => {
                let id = match id {
                    Some(id) if *id == (0, 0) => {
                        return Frame::error("ERR The ID specified in XADD must be greater than 0-0")
                    }
                    Some(id) if *id <= self.last => {
                        return Frame::error(
                            "ERR The ID specified in XADD is equal or smaller than the target stream top item",
                        )
                    }
                    Some(id) => *id,
                    None if now > self.last.0 => (now, 0),
                    None => (self.last.0, self.last.1 + 1),
                };
                self.exists = true;
                self.entries.insert(id, *v);
                self.last = id;
                bulk(id_text(id))
            }
            Op::Del(id) => {
                let gone = self.entries.remove(id).is_some();
                if gone {
                    self.max_deleted = self.max_deleted.max(*id);
                }
                Frame::Integer(i64::from(gone))
            }
            Op::TrimLen(n, _) => {
                let mut removed = 0;
                while self.entries.len() as u64 > *n {
                    let first = *self.entries.keys().next().expect("non-empty");
                    self.entries.remove(&first);
                    self.max_deleted = self.max_deleted.max(first);
                    removed += 1;
                }
                Frame::Integer(removed)
            }
            Op::TrimMinId(min) => {
                let below: Vec<Id> = self.entries.range(..*min).map(|(id, _)| *id).collect();
                for id in &below {
                    self.entries.remove(id);
                    self.max_deleted = self.max_deleted.max(*id);
                }
                Frame::Integer(below.len() as i64)
            }
            Op::Range(a, b, count, rev) => {
                if !self.exists {
                    return Frame::Array(Vec::new());
                }
                if *count == Some(0) || count.is_some_and(|c| c < 0) {
                    return Frame::NullArray;
                }
                let limit = count.map_or(usize::MAX, |c| c as usize);
                let entry = |(id, v): (&Id, &u8)| {
                    Frame::Array(vec![bulk(id_text(*id)), Frame::Array(vec![bulk("f".into()), bulk(v.to_string())])])
                };
                if a > b {
                    return Frame::Array(Vec::new());
                }
                let in_range = self.entries.range(*a..=*b);
                Frame::Array(match rev {
                    true => in_range.rev().take(limit).map(entry).collect(),
                    false => in_range.take(limit).map(entry).collect(),
                })
            }
            Op::Len => Frame::Integer(self.entries.len() as i64),
        }
    }
}

fn small_id() -> impl Strategy<Value = Id> {
    (0u64..6, 0u64..3)
}

fn op(approx: bool) -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (prop::option::of(small_id()), any::<u8>()).prop_map(|(id, v)| Op::Add(id, v)),
        1 => small_id().prop_map(Op::Del),
        1 => (0u64..4, Just(approx)).prop_map(|(n, a)| Op::TrimLen(n, a)),
        1 => small_id().prop_map(Op::TrimMinId),
        2 => (small_id(), small_id(), prop::option::of(-1i64..4), any::<bool>()).prop_map(|(a, b, c, r)| Op::Range(a, b, c, r)),
        1 => Just(Op::Len),
    ]
}

fn run(batches: &[Vec<Op>], mut check: impl FnMut(&Op, Frame, u64)) -> (Db, Vec<Bytes>) {
    let mut db = Db::new();
    let mut encoded = Vec::new();
    for (n, ops) in batches.iter().enumerate() {
        // A clock that sometimes stands still, as a fast writer's does.
        let now = 3 + n as u64 / 2;
        let mut builder = BatchBuilder::new(now, n as u64);
        for op in ops {
            builder.push_command(&op.args());
        }
        let bytes = builder.finish();
        let replies = db.apply_batch(&bytes).expect("applies");
        for (op, reply) in ops.iter().zip(replies) {
            check(op, reply, now);
        }
        encoded.push(bytes);
    }
    (db, encoded)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn streams_match_the_model(batches in prop::collection::vec(prop::collection::vec(op(false), 1..8), 1..30)) {
        let mut model = Model::default();
        let mut failure = None;
        let (db, encoded) = run(&batches, |op, reply, now| {
            let want = model.apply(op, now);
            if failure.is_none() && reply != want {
                failure = Some(format!("{op:?}: got {reply:?}, model {want:?}"));
            }
        });
        prop_assert!(failure.is_none(), "{}", failure.unwrap_or_default());
        common::deterministic(&db, &encoded)?;
    }

    #[test]
    fn approximate_trims_replay_and_snapshot_exactly(batches in prop::collection::vec(prop::collection::vec(op(true), 1..8), 1..30)) {
        let (db, encoded) = run(&batches, |_, _, _| {});
        common::deterministic(&db, &encoded)?;
    }
}
