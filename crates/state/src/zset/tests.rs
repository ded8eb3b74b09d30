//! The container against a sorted `Vec` model, with small chunks so splits,
//! merges and Fenwick rebuilds happen constantly.

use super::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

fn model_order(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut items: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, s)| (m.clone(), *s)).collect();
    // Independent of the container's own comparison: scores, then bytes.
    items.sort_by(|a, b| a.1.partial_cmp(&b.1).expect("no NaN").then_with(|| a.0.cmp(&b.0)));
    items
}

fn check(z: &ZSet, model: &BTreeMap<Vec<u8>, f64>) {
    let expected = model_order(model);
    assert_eq!(z.len(), expected.len());
    let actual: Vec<(Vec<u8>, f64)> = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
    assert_eq!(actual, expected);
    for (rank, (member, score)) in expected.iter().enumerate() {
        assert_eq!(z.rank(member), Some(rank));
        assert_eq!(z.score(member), Some(*score));
        let (m, s) = z.get_by_rank(rank).expect("rank in range");
        assert_eq!((m, s), (member.as_slice(), *score));
    }
    for x in [-1.0, 0.0, 1.0, 2.5, f64::INFINITY, f64::NEG_INFINITY] {
        let at_least = expected.iter().position(|(_, s)| *s >= x).unwrap_or(expected.len());
        let above = expected.iter().position(|(_, s)| *s > x).unwrap_or(expected.len());
        assert_eq!(z.rank_of_score(ScoreBound::Inclusive(x)), at_least);
        assert_eq!(z.rank_of_score(ScoreBound::Exclusive(x)), above);
        assert_eq!(z.rank_after_score(ScoreBound::Inclusive(x)), above);
        assert_eq!(z.rank_after_score(ScoreBound::Exclusive(x)), at_least);
    }
    let n = expected.len();
    let forward: Vec<_> = z.range_by_rank(n / 3, n).map(|(m, _)| m.to_vec()).collect();
    let backward: Vec<_> = z.range_by_rank(n / 3, n).rev().map(|(m, _)| m.to_vec()).collect();
    let want: Vec<_> = expected[n / 3..].iter().map(|(m, _)| m.clone()).collect();
    assert_eq!(forward, want);
    assert_eq!(backward, want.into_iter().rev().collect::<Vec<_>>());
}

#[derive(Clone, Debug)]
enum Op {
    Insert(u8, f64),
    Remove(u8),
    PopFirst,
    PopLast,
    RemoveRange(usize, usize),
}

fn op() -> impl Strategy<Value = Op> {
    let score = prop::sample::select(vec![-1.0, 0.0, 1.0, 2.5, f64::INFINITY, f64::NEG_INFINITY]);
    prop_oneof![
        6 => (0u8..40, score).prop_map(|(m, s)| Op::Insert(m, s)),
        2 => (0u8..40).prop_map(Op::Remove),
        1 => Just(Op::PopFirst),
        1 => Just(Op::PopLast),
        1 => (0usize..40, 0usize..12).prop_map(|(a, n)| Op::RemoveRange(a, a + n)),
    ]
}

fn member(m: u8) -> Vec<u8> {
    format!("m{m:02}").into_bytes()
}

proptest! {
    #[test]
    fn matches_a_sorted_model(ops in prop::collection::vec(op(), 1..300)) {
        let mut z = ZSet::with_chunk_max(4);
        let mut model = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(m, s) => prop_assert_eq!(z.insert(&member(m), s), model.insert(member(m), s)),
                Op::Remove(m) => prop_assert_eq!(z.remove(&member(m)), model.remove(&member(m))),
                Op::PopFirst | Op::PopLast => {
                    let sorted = model_order(&model);
                    let want = if matches!(op, Op::PopFirst) { sorted.first() } else { sorted.last() };
                    let got = if matches!(op, Op::PopFirst) { z.pop_first() } else { z.pop_last() };
                    prop_assert_eq!(got.map(|(m, s)| (m.as_bytes().to_vec(), s)), want.cloned());
                    if let Some((m, _)) = want {
                        model.remove(m);
                    }
                }
                Op::RemoveRange(start, end) => {
                    let sorted = model_order(&model);
                    let doomed = sorted.get(start.min(sorted.len())..end.min(sorted.len())).unwrap_or(&[]);
                    prop_assert_eq!(z.remove_range_by_rank(start, end), doomed.len());
                    for (m, _) in doomed {
                        model.remove(m);
                    }
                }
            }
            check(&z, &model);
        }
    }
}

#[test]
fn ties_order_by_member_bytes() {
    let mut z = ZSet::new();
    for m in ["b", "a", "c", "ab"] {
        z.insert(m.as_bytes(), 1.0);
    }
    z.insert(b"z", 0.5);
    let order: Vec<&[u8]> = z.iter().map(|(m, _)| m).collect();
    assert_eq!(order, vec![&b"z"[..], b"a", b"ab", b"b", b"c"]);
    assert_eq!(z.insert(b"z", 2.0), Some(0.5), "re-scoring moves the member");
    assert_eq!(z.rank(b"z"), Some(4));
}

#[test]
fn lex_bounds_follow_redis() {
    let mut z = ZSet::new();
    for m in ["a", "b", "c", "d"] {
        z.insert(m.as_bytes(), 0.0);
    }
    let b = |s: &'static str| Bytes::from_static(s.as_bytes());
    assert_eq!(z.rank_of_lex(&LexBound::Inclusive(b("b"))), 1);
    assert_eq!(z.rank_of_lex(&LexBound::Exclusive(b("b"))), 2);
    assert_eq!(z.rank_after_lex(&LexBound::Inclusive(b("c"))), 3);
    assert_eq!(z.rank_after_lex(&LexBound::Exclusive(b("c"))), 2);
    assert_eq!(z.rank_of_lex(&LexBound::NegInf), 0);
    assert_eq!(z.rank_after_lex(&LexBound::PosInf), 4);
}

#[test]
fn large_sets_keep_ranks_through_splits_and_range_removal() {
    let mut z = ZSet::new();
    for i in 0..10_000u32 {
        // Scores out of order, so inserts land in every chunk.
        z.insert(format!("m{i}").as_bytes(), f64::from((i * 7919) % 10_000));
    }
    assert_eq!(z.len(), 10_000);
    for (rank, (_, score)) in z.iter().enumerate() {
        assert_eq!(score, rank as f64);
    }
    assert_eq!(z.remove_range_by_rank(100, 9_900), 9_800);
    assert_eq!(z.len(), 200);
    assert_eq!(z.get_by_rank(100).map(|(_, s)| s), Some(9_900.0));
    assert!(z.heap_bytes(0) > 200 * 32, "at least the items themselves");
}
