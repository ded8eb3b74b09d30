//! Set algebra: SINTER, SUNION, SDIFF (and their STORE forms), SINTERCARD
//! and SMOVE, with Redis 7's argument checks and replies. The social-app
//! uses: mutual friends (SINTER), "followed by any of" (SUNION), moving a
//! member between two sets atomically (SMOVE). All keys share one slot, so
//! each command is one step of its partition's writer.

use super::{is, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::value::Value;
use bytes::Bytes;
use std::collections::BTreeSet;
use weir_protocol::Frame;

type Set = BTreeSet<Bytes>;

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// Every input, type-checked first as Redis does (a missing key is an
/// empty set).
fn inputs<'a>(db: &'a Db, keys: &[Bytes], now: u64) -> Result<Vec<Option<&'a Set>>, Frame> {
    keys.iter()
        .map(|key| match db.get(key, now).map(|e| &e.value) {
            None => Ok(None),
            Some(Value::Set(s)) => Ok(Some(s)),
            Some(_) => Err(wrongtype()),
        })
        .collect()
}

/// Members in every input, at most `limit` of them (0: all), found by
/// walking the smallest.
fn inter<'a>(sets: &[Option<&'a Set>], limit: usize) -> Vec<&'a Bytes> {
    let Some(present) = sets.iter().copied().collect::<Option<Vec<&Set>>>() else { return Vec::new() };
    let smallest = present.iter().min_by_key(|s| s.len()).expect("at least one key");
    let mut out = Vec::new();
    for member in smallest.iter() {
        if present.iter().all(|s| s.contains(member)) {
            out.push(member);
            if out.len() == limit {
                break;
            }
        }
    }
    out
}

fn combine<'a>(sets: &[Option<&'a Set>], op: Op) -> BTreeSet<&'a Bytes> {
    match op {
        Op::Inter => inter(sets, 0).into_iter().collect(),
        Op::Union => sets.iter().flatten().flat_map(|s| s.iter()).collect(),
        Op::Diff => {
            let (first, others) = sets.split_first().expect("at least one key");
            let absent = |m: &&Bytes| others.iter().flatten().all(|s| !s.contains(*m));
            first.iter().flat_map(|s| s.iter()).filter(absent).collect()
        }
    }
}

fn read_form(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], op: Op) -> Frame {
    let sets = match inputs(db, &args[1..], ctx.now_ms) {
        Ok(sets) => sets,
        Err(e) => return e,
    };
    Frame::Set(combine(&sets, op).into_iter().cloned().map(Frame::Bulk).collect())
}

/// Stores the result at `args[1]` (replacing any value and TTL), or
/// deletes it when the result is empty; replies with the stored size.
fn store_form(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], op: Op) -> Frame {
    let sets = match inputs(db, &args[2..], ctx.now_ms) {
        Ok(sets) => sets,
        Err(e) => return e,
    };
    // Copied: the result must not share storage with its inputs.
    let result: Set = combine(&sets, op).into_iter().map(|m| Bytes::copy_from_slice(m)).collect();
    let len = result.len();
    if len == 0 {
        db.remove(&args[1]);
    } else {
        db.put(&args[1], Value::Set(result), 0);
    }
    Frame::Integer(len as i64)
}

pub fn sinter(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    read_form(db, ctx, args, Op::Inter)
}

pub fn sunion(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    read_form(db, ctx, args, Op::Union)
}

pub fn sdiff(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    read_form(db, ctx, args, Op::Diff)
}

pub fn sinterstore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    store_form(db, ctx, args, Op::Inter)
}

pub fn sunionstore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    store_form(db, ctx, args, Op::Union)
}

pub fn sdiffstore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    store_form(db, ctx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit].
pub fn sintercard(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let run = || {
        let numkeys = crate::num::parse_i64(&args[1]).filter(|n| *n > 0);
        let numkeys = numkeys.ok_or_else(|| Frame::error("ERR numkeys should be greater than 0"))? as u64;
        if numkeys > (args.len() - 2) as u64 {
            return Err(Frame::error("ERR Number of keys can't be greater than number of args"));
        }
        let keys = &args[2..2 + numkeys as usize];
        let mut rest = &args[2 + keys.len()..];
        let mut limit = 0;
        while let Some(word) = rest.first() {
            if !(rest.len() >= 2 && is(word, "limit")) {
                return Err(syntax());
            }
            let parsed = crate::num::parse_i64(&rest[1]).filter(|l| *l >= 0);
            limit = parsed.ok_or_else(|| Frame::error("ERR LIMIT can't be negative"))? as usize;
            rest = &rest[2..];
        }
        let sets = inputs(db, keys, ctx.now_ms)?;
        Ok(Frame::Integer(inter(&sets, limit).len() as i64))
    };
    reply(run())
}

/// SMOVE source destination member, in Redis's order of checks: a missing
/// source answers 0 before any type check.
pub fn smove(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let (src, dst, member, now) = (&args[1], &args[2], &args[3], ctx.now_ms);
    let mut run = || {
        let Some(source) = inputs(db, std::slice::from_ref(src), now).map(|s| s[0])? else {
            return Ok(Frame::Integer(0));
        };
        let present = source.contains(&member[..]);
        inputs(db, std::slice::from_ref(dst), now)?;
        if src == dst || !present {
            return Ok(Frame::Integer(i64::from(present)));
        }
        if let Some(Value::Set(s)) = db.get_mut(src, now).map(|e| &mut e.value) {
            s.remove(&member[..]);
        }
        db.drop_if_empty(src);
        if db.get(dst, now).is_none() {
            db.put(dst, Value::Set(Set::new()), 0);
        }
        if let Some(Value::Set(s)) = db.get_mut(dst, now).map(|e| &mut e.value) {
            s.insert(Bytes::copy_from_slice(member));
        }
        Ok(Frame::Integer(1))
    };
    reply(run())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(members: &[&str]) -> Set {
        members.iter().map(|m| Bytes::copy_from_slice(m.as_bytes())).collect()
    }

    #[test]
    fn a_missing_input_empties_an_intersection_and_nothing_else() {
        let (a, b) = (set(&["x", "y", "z"]), set(&["y", "z", "w"]));
        assert_eq!(inter(&[Some(&a), Some(&b)], 0).len(), 2);
        assert_eq!(inter(&[Some(&a), Some(&b)], 1).len(), 1);
        assert!(inter(&[Some(&a), None], 0).is_empty());
        assert_eq!(combine(&[Some(&a), None, Some(&b)], Op::Union).len(), 4);
        assert_eq!(combine(&[Some(&a), None, Some(&b)], Op::Diff), [&Bytes::from("x")].into_iter().collect());
        assert!(combine(&[None, Some(&a)], Op::Diff).is_empty());
    }
}
