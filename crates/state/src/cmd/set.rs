//! Set commands. Members are kept ordered so random picks (SPOP) depend
//! only on the batch's seed, identically on every replica and replay.

use super::{int_arg, reply, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::value::Value;
use bytes::Bytes;
use rand::Rng;
use std::collections::BTreeSet;
use weir_protocol::Frame;

type Set = BTreeSet<Bytes>;

fn read<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Option<&'a Set>, Frame> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Set(s)) => Ok(Some(s)),
        Some(_) => Err(wrongtype()),
    }
}

pub fn sadd(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let now = ctx.now_ms;
    match read(db, &args[1], now) {
        Err(e) => return e,
        // Nothing to add: no change for WATCH to see, as in Redis.
        Ok(Some(set)) if args[2..].iter().all(|m| set.contains(m)) => return Frame::Integer(0),
        Ok(_) => {}
    }
    if db.get_mut(&args[1], now).is_none() {
        db.put(&args[1], Value::Set(Set::new()), 0);
    }
    let Some(Value::Set(set)) = db.get_mut(&args[1], now).map(|e| &mut e.value) else { return wrongtype() };
    let added = args[2..].iter().filter(|m| set.insert(Bytes::copy_from_slice(m))).count();
    Frame::Integer(added as i64)
}

pub fn srem(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let now = ctx.now_ms;
    match read(db, &args[1], now) {
        Err(e) => return e,
        Ok(None) => return Frame::Integer(0),
        Ok(Some(set)) if !args[2..].iter().any(|m| set.contains(m)) => return Frame::Integer(0),
        Ok(Some(_)) => {}
    }
    let Some(Value::Set(set)) = db.get_mut(&args[1], now).map(|e| &mut e.value) else { return wrongtype() };
    let removed = args[2..].iter().filter(|m| set.remove(*m)).count();
    db.drop_if_empty(&args[1]);
    Frame::Integer(removed as i64)
}

pub fn sismember(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|s| Frame::Integer(i64::from(s.is_some_and(|s| s.contains(&args[2]))))))
}

pub fn smismember(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|s| {
        Frame::Array(args[2..].iter().map(|m| Frame::Integer(i64::from(s.is_some_and(|s| s.contains(m))))).collect())
    }))
}

pub fn smembers(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(
        read(db, &args[1], ctx.now_ms).map(|s| Frame::Set(s.into_iter().flatten().cloned().map(Frame::Bulk).collect())),
    )
}

pub fn scard(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|s| Frame::Integer(s.map(|s| s.len() as i64).unwrap_or(0))))
}

fn count_arg(args: &[Bytes]) -> Result<Option<i64>, Frame> {
    match args.get(2) {
        None => Ok(None),
        Some(c) => int_arg(c).map(Some),
    }
}

pub fn spop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(spop_inner(db, ctx, args))
}

fn spop_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    if args.len() > 3 {
        return Err(super::syntax());
    }
    let count = count_arg(args)?;
    if count.is_some_and(|c| c < 0) {
        return Err(Frame::error("ERR value is out of range, must be positive"));
    }
    let Some(set) = read(db, &args[1], ctx.now_ms)? else {
        return Ok(if count.is_some() { Frame::Set(Vec::new()) } else { Frame::Null });
    };
    let want = count.unwrap_or(1).min(set.len() as i64) as usize;
    let mut picked = Vec::with_capacity(want);
    let mut members: Vec<Bytes> = set.iter().cloned().collect();
    for _ in 0..want {
        let i = ctx.rng.gen_range(0..members.len());
        picked.push(members.swap_remove(i));
    }
    if let Some(Value::Set(set)) = db.get_mut(&args[1], ctx.now_ms).map(|e| &mut e.value) {
        for m in &picked {
            set.remove(m);
        }
    }
    db.drop_if_empty(&args[1]);
    Ok(match count {
        None => picked.pop().map(Frame::Bulk).unwrap_or(Frame::Null),
        Some(_) => Frame::Set(picked.into_iter().map(Frame::Bulk).collect()),
    })
}

pub fn srandmember(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(srandmember_inner(db, ctx, args))
}

fn srandmember_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    if args.len() > 3 {
        return Err(super::syntax());
    }
    let count = args.get(2).map(|c| super::random::count(c)).transpose()?;
    let Some(set) = read(db, &args[1], ctx.now_ms)? else {
        return Ok(if count.is_some() { Frame::Array(Vec::new()) } else { Frame::Null });
    };
    let members: Vec<&Bytes> = set.iter().collect();
    match count {
        None => Ok(Frame::Bulk(members[ctx.rng.gen_range(0..members.len())].clone())),
        Some(c) if c < 0 => {
            let n = super::random::repeats(c)?;
            Ok(Frame::Array(
                (0..n).map(|_| Frame::Bulk(members[ctx.rng.gen_range(0..members.len())].clone())).collect(),
            ))
        }
        Some(c) => {
            let mut pool: Vec<&Bytes> = members;
            let n = (c as usize).min(pool.len());
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                let i = ctx.rng.gen_range(0..pool.len());
                out.push(Frame::Bulk(pool.swap_remove(i).clone()));
            }
            Ok(Frame::Array(out))
        }
    }
}

/// SSCAN returns the whole set in one call with cursor 0 (allowed by the
/// SCAN contract; Redis does the same for small sets).
pub fn sscan(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(super::hash::scan_args(&args[2..], &args[3..]).and_then(|(pattern, _)| {
        let set = read(db, &args[1], ctx.now_ms)?;
        let items = set
            .into_iter()
            .flatten()
            .filter(|m| pattern.as_ref().is_none_or(|p| crate::glob_match(p, m)))
            .cloned()
            .map(Frame::Bulk)
            .collect();
        Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(items)]))
    }))
}
