//! Hash commands.

use super::{int_arg, is, not_float, overflow, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::value::Value;
use bytes::Bytes;
use rand::Rng;
use std::collections::BTreeMap;
use weir_protocol::Frame;

type Hash = BTreeMap<Bytes, Bytes>;

fn read<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Option<&'a Hash>, Frame> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Hash(h)) => Ok(Some(h)),
        Some(_) => Err(wrongtype()),
    }
}

/// The hash at `key` for writing, created empty if absent.
fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<&'a mut Hash, Frame> {
    let found = db.get_mut_kind(key, now, |v| matches!(v, Value::Hash(_))).map_err(|_| wrongtype())?;
    if found.is_none() {
        db.put(key, Value::Hash(Hash::new()), 0);
    }
    match db.get_mut(key, now).map(|e| &mut e.value) {
        Some(Value::Hash(h)) => Ok(h),
        _ => Err(wrongtype()),
    }
}

fn own(b: &[u8]) -> Bytes {
    Bytes::copy_from_slice(b)
}

fn hset_pairs(db: &mut Db, now: u64, args: &[Bytes], name: &str) -> Result<i64, Frame> {
    if !args.len().is_multiple_of(2) {
        return Err(Frame::error(format!("ERR wrong number of arguments for '{name}' command")));
    }
    let hash = write(db, &args[1], now)?;
    let mut added = 0;
    for pair in args[2..].chunks(2) {
        if hash.insert(own(&pair[0]), own(&pair[1])).is_none() {
            added += 1;
        }
    }
    Ok(added)
}

pub fn hset(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(hset_pairs(db, ctx.now_ms, args, "hset").map(Frame::Integer))
}

pub fn hmset(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(hset_pairs(db, ctx.now_ms, args, "hmset").map(|_| Frame::ok()))
}

pub fn hsetnx(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    // A field already there: no change for WATCH to see, as in Redis.
    match read(db, &args[1], ctx.now_ms) {
        Err(e) => return e,
        Ok(Some(hash)) if hash.contains_key(&args[2]) => return Frame::Integer(0),
        Ok(_) => {}
    }
    reply(write(db, &args[1], ctx.now_ms).map(|hash| {
        hash.insert(own(&args[2]), own(&args[3]));
        Frame::Integer(1)
    }))
}

pub fn hget(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(
        read(db, &args[1], ctx.now_ms)
            .map(|h| h.and_then(|h| h.get(&args[2]).cloned()).map(Frame::Bulk).unwrap_or(Frame::Null)),
    )
}

pub fn hmget(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|h| {
        let get = |f: &Bytes| h.and_then(|h| h.get(f).cloned()).map(Frame::Bulk).unwrap_or(Frame::Null);
        Frame::Array(args[2..].iter().map(get).collect())
    }))
}

pub fn hgetall(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|h| {
        let pairs = h.into_iter().flatten().map(|(k, v)| (Frame::Bulk(k.clone()), Frame::Bulk(v.clone())));
        Frame::Map(pairs.collect())
    }))
}

pub fn hdel(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let now = ctx.now_ms;
    match read(db, &args[1], now) {
        Err(e) => return e,
        Ok(None) => return Frame::Integer(0),
        Ok(Some(hash)) if !args[2..].iter().any(|f| hash.contains_key(f)) => return Frame::Integer(0),
        Ok(Some(_)) => {}
    }
    let removed = match write(db, &args[1], now) {
        Ok(hash) => args[2..].iter().filter(|f| hash.remove(*f).is_some()).count(),
        Err(e) => return e,
    };
    db.drop_if_empty(&args[1]);
    Frame::Integer(removed as i64)
}

pub fn hlen(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|h| Frame::Integer(h.map(|h| h.len() as i64).unwrap_or(0))))
}

pub fn hexists(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(
        read(db, &args[1], ctx.now_ms).map(|h| Frame::Integer(i64::from(h.is_some_and(|h| h.contains_key(&args[2]))))),
    )
}

pub fn hkeys(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(
        read(db, &args[1], ctx.now_ms)
            .map(|h| Frame::Array(h.into_iter().flatten().map(|(k, _)| Frame::Bulk(k.clone())).collect())),
    )
}

pub fn hvals(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(
        read(db, &args[1], ctx.now_ms)
            .map(|h| Frame::Array(h.into_iter().flatten().map(|(_, v)| Frame::Bulk(v.clone())).collect())),
    )
}

pub fn hstrlen(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(
        read(db, &args[1], ctx.now_ms)
            .map(|h| Frame::Integer(h.and_then(|h| h.get(&args[2])).map(|v| v.len() as i64).unwrap_or(0))),
    )
}

pub fn hincrby(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(hincrby_inner(db, ctx.now_ms, args))
}

fn hincrby_inner(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let delta = int_arg(&args[3])?;
    // Settled on the hash as it is: a refused increment changes nothing.
    let current = match read(db, &args[1], now)?.and_then(|hash| hash.get(&args[2])) {
        None => 0,
        Some(v) => crate::num::parse_i64(v).ok_or_else(|| Frame::error("ERR hash value is not an integer"))?,
    };
    let next = current.checked_add(delta).ok_or_else(overflow)?;
    write(db, &args[1], now)?.insert(own(&args[2]), Bytes::from(next.to_string()));
    Ok(Frame::Integer(next))
}

pub fn hincrbyfloat(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(hincrbyfloat_inner(db, ctx.now_ms, args))
}

fn hincrbyfloat_inner(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let delta = crate::num::parse_f64(&args[3]).ok_or_else(not_float)?;
    // Settled on the hash as it is: a refused increment changes nothing.
    let current = match read(db, &args[1], now)?.and_then(|hash| hash.get(&args[2])) {
        None => 0.0,
        Some(v) => crate::num::parse_f64(v).ok_or_else(|| Frame::error("ERR hash value is not a float"))?,
    };
    let next = current + delta;
    if !next.is_finite() {
        return Err(Frame::error("ERR increment would produce NaN or Infinity"));
    }
    let text = Bytes::from(crate::num::format_incr_float(next));
    write(db, &args[1], now)?.insert(own(&args[2]), text.clone());
    Ok(Frame::Bulk(text))
}

pub fn hrandfield(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(hrandfield_inner(db, ctx, args))
}

/// Fields picked at random (with their values on request), as Redis 7.0
/// picks them: distinct for a count, repeats allowed for a negative one.
fn hrandfield_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let counted = super::random::count_and_flag(args, "withvalues")?;
    let hash = read(db, &args[1], ctx.now_ms)?;
    let Some((count, withvalues)) = counted else {
        let Some(hash) = hash else { return Ok(Frame::Null) };
        let at = ctx.rng.gen_range(0..hash.len());
        return Ok(Frame::Bulk(hash.keys().nth(at).expect("in range").clone()));
    };
    let Some(hash) = hash else { return Ok(Frame::Array(Vec::new())) };
    let fields: Vec<(&Bytes, &Bytes)> = hash.iter().collect();
    let picks = super::random::pick_ranks(fields.len(), count, &mut ctx.rng)?;
    let chosen = picks.into_iter().map(|at| fields[at]);
    Ok(match withvalues {
        true => Frame::Pairs(chosen.map(|(f, v)| (Frame::Bulk(f.clone()), Frame::Bulk(v.clone()))).collect()),
        false => Frame::Array(chosen.map(|(f, _)| Frame::Bulk(f.clone())).collect()),
    })
}

/// HSCAN returns the whole hash in one call with cursor 0, which the SCAN
/// contract allows (Redis does the same for small hashes).
pub fn hscan(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(scan_args(&args[2..], &args[3..]).and_then(|(pattern, novalues)| {
        let hash = read(db, &args[1], ctx.now_ms)?;
        let mut items = Vec::new();
        for (k, v) in hash.into_iter().flatten() {
            if pattern.as_ref().is_none_or(|p| crate::glob_match(p, k)) {
                items.push(Frame::Bulk(k.clone()));
                if !novalues {
                    items.push(Frame::Bulk(v.clone()));
                }
            }
        }
        Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(items)]))
    }))
}

/// Validates a collection scan's cursor and options: (MATCH pattern, NOVALUES).
pub fn scan_args(cursor_and_rest: &[Bytes], rest: &[Bytes]) -> Result<(Option<Bytes>, bool), Frame> {
    if std::str::from_utf8(&cursor_and_rest[0]).ok().and_then(|s| s.parse::<u64>().ok()).is_none() {
        return Err(Frame::error("ERR invalid cursor"));
    }
    let (mut pattern, mut novalues, mut i) = (None, false, 0);
    while i < rest.len() {
        if is(&rest[i], "match") && i + 1 < rest.len() {
            pattern = Some(rest[i + 1].clone());
            i += 2;
        } else if is(&rest[i], "count") && i + 1 < rest.len() {
            if int_arg(&rest[i + 1])? < 1 {
                return Err(syntax());
            }
            i += 2;
        } else if is(&rest[i], "novalues") {
            novalues = true;
            i += 1;
        } else {
            return Err(syntax());
        }
    }
    Ok((pattern, novalues))
}
