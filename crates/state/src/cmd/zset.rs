//! Sorted-set commands, with Redis 7's replies and argument-checking order.
//! The container is [`crate::zset::ZSet`]; ranges are resolved to ranks
//! once (O(log n)) and then read in order.

use super::list::{mpop_count, numkeys_args, timeout_arg};
use super::{int_arg, is, not_float, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::num::parse_f64;
use crate::value::{copy_shared, Elem, Value};
use crate::zset::{LexBound, ScoreBound, ZSet};
use bytes::Bytes;
use rand::Rng;
use weir_protocol::Frame;

fn read<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Option<&'a ZSet>, Frame> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(wrongtype()),
    }
}

fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut ZSet>, Frame> {
    let entry = db.get_mut_kind(key, now, |v| matches!(v, Value::ZSet(_))).map_err(|_| wrongtype())?;
    match entry.map(|e| &mut e.value) {
        Some(Value::ZSet(z)) => Ok(Some(z)),
        _ => Ok(None),
    }
}

fn create<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<&'a mut ZSet, Frame> {
    if read(db, key, now)?.is_none() {
        db.put(key, Value::ZSet(Box::default()), 0);
    }
    Ok(write(db, key, now)?.expect("exists"))
}

fn score_arg(arg: &[u8]) -> Result<f64, Frame> {
    parse_f64(arg).ok_or_else(not_float)
}

fn nan_error() -> Frame {
    Frame::error("ERR resulting score is not a number (NaN)")
}

#[derive(Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

fn zadd_flags(args: &[Bytes]) -> (AddFlags, usize) {
    let mut f = AddFlags::default();
    let mut i = 2;
    while let Some(arg) = args.get(i) {
        let flag = match arg.to_ascii_lowercase().as_slice() {
            b"nx" => &mut f.nx,
            b"xx" => &mut f.xx,
            b"gt" => &mut f.gt,
            b"lt" => &mut f.lt,
            b"ch" => &mut f.ch,
            b"incr" => &mut f.incr,
            _ => break,
        };
        *flag = true;
        i += 1;
    }
    (f, i)
}

fn zadd_check(f: &AddFlags, pairs: &[Bytes]) -> Result<Vec<(f64, Bytes)>, Frame> {
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Err(syntax());
    }
    if f.nx && f.xx {
        return Err(Frame::error("ERR XX and NX options at the same time are not compatible"));
    }
    if ((f.gt || f.lt) && f.nx) || (f.gt && f.lt) {
        return Err(Frame::error("ERR GT, LT, and/or NX options at the same time are not compatible"));
    }
    if f.incr && pairs.len() > 2 {
        return Err(Frame::error("ERR INCR option supports a single increment-element pair"));
    }
    pairs.chunks(2).map(|p| Ok((score_arg(&p[0])?, p[1].clone()))).collect()
}

/// What one ZADD element did.
enum Added {
    New(f64),
    Updated(f64),
    Same(f64),
    Skipped,
}

fn zadd_one(z: &mut ZSet, f: &AddFlags, score: f64, member: &[u8]) -> Result<Added, Frame> {
    let outcome = zadd_decide(z.score(member), f, score)?;
    if let Added::New(new) | Added::Updated(new) = outcome {
        z.insert(member, new);
    }
    Ok(outcome)
}

/// What adding `score` does to a member whose score is `current`.
fn zadd_decide(current: Option<f64>, f: &AddFlags, score: f64) -> Result<Added, Frame> {
    let Some(current) = current else {
        return Ok(if f.xx { Added::Skipped } else { Added::New(score) });
    };
    if f.nx {
        return Ok(Added::Skipped);
    }
    let new = if f.incr { current + score } else { score };
    if new.is_nan() {
        return Err(nan_error());
    }
    if (f.lt && new >= current) || (f.gt && new <= current) {
        return Ok(Added::Skipped);
    }
    if new == current {
        return Ok(Added::Same(new));
    }
    Ok(Added::Updated(new))
}

pub fn zadd(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let (flags, at) = zadd_flags(args);
        let pairs = zadd_check(&flags, &args[at..])?;
        let key = &args[1];
        let unchanged =
            |last: Option<f64>| if flags.incr { last.map_or(Frame::Null, Frame::Double) } else { Frame::Integer(0) };
        match read(db, key, ctx.now_ms)? {
            None if flags.xx => return Ok(unchanged(None)),
            None => {}
            // Decided on the set as it is: when no member would be added or
            // changed, nothing is written (no change for WATCH, as in Redis).
            Some(z) => {
                let mut last = None;
                let mut changes = false;
                for (score, member) in &pairs {
                    match zadd_decide(z.score(member), &flags, *score)? {
                        Added::New(_) | Added::Updated(_) => changes = true,
                        Added::Same(s) => last = Some(s),
                        Added::Skipped => {}
                    }
                }
                if !changes {
                    return Ok(unchanged(last));
                }
            }
        }
        let z = create(db, key, ctx.now_ms)?;
        let (mut added, mut updated, mut last) = (0, 0, None);
        for (score, member) in &pairs {
            let outcome = zadd_one(z, &flags, *score, member);
            let outcome = match outcome {
                Ok(outcome) => outcome,
                Err(e) => {
                    db.drop_if_empty(key);
                    return Err(e);
                }
            };
            match outcome {
                Added::New(s) => (added, last) = (added + 1, Some(s)),
                Added::Updated(s) => (updated, last) = (updated + 1, Some(s)),
                Added::Same(s) => last = Some(s),
                Added::Skipped => {}
            }
        }
        db.drop_if_empty(key);
        if added > 0 {
            db.signal_ready(key);
        }
        Ok(match flags.incr {
            true => last.map_or(Frame::Null, Frame::Double),
            false => Frame::Integer(added + if flags.ch { updated } else { 0 }),
        })
    })())
}

pub fn zincrby(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let by = score_arg(&args[2])?;
        let z = create(db, &args[1], ctx.now_ms)?;
        let new = z.score(&args[3]).unwrap_or(0.0) + by;
        if new.is_nan() {
            db.drop_if_empty(&args[1]);
            return Err(nan_error());
        }
        z.insert(&args[3], new);
        db.signal_ready(&args[1]);
        Ok(Frame::Double(new))
    })())
}

pub fn zscore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|z| z.and_then(|z| z.score(&args[2])).map_or(Frame::Null, Frame::Double)))
}

pub fn zmscore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|z| {
        let score = |m: &Bytes| z.and_then(|z| z.score(m)).map_or(Frame::Null, Frame::Double);
        Frame::Array(args[2..].iter().map(score).collect())
    }))
}

fn rank(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], rev: bool) -> Result<Frame, Frame> {
    if args.len() > 4 {
        return Err(super::wrong_arity(&args[0]));
    }
    let withscore = match args.get(3) {
        None => false,
        Some(arg) if is(arg, "withscore") => true,
        Some(_) => return Err(syntax()),
    };
    let missing = if withscore { Frame::NullArray } else { Frame::Null };
    let Some(z) = read(db, &args[1], ctx.now_ms)? else { return Ok(missing) };
    let (Some(r), Some(score)) = (z.rank(&args[2]), z.score(&args[2])) else { return Ok(missing) };
    let r = if rev { z.len() - 1 - r } else { r } as i64;
    Ok(if withscore { Frame::Array(vec![Frame::Integer(r), Frame::Double(score)]) } else { Frame::Integer(r) })
}

pub fn zrank(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(rank(db, ctx, args, false))
}

pub fn zrevrank(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(rank(db, ctx, args, true))
}

fn score_bound(arg: &[u8]) -> Result<ScoreBound, Frame> {
    let bad = || Frame::error("ERR min or max is not a float");
    match arg.strip_prefix(b"(") {
        Some(rest) => parse_f64(rest).map(ScoreBound::Exclusive).ok_or_else(bad),
        None => parse_f64(arg).map(ScoreBound::Inclusive).ok_or_else(bad),
    }
}

fn lex_bound(arg: &Bytes) -> Result<LexBound, Frame> {
    match arg.first() {
        Some(b'-') if arg.len() == 1 => Ok(LexBound::NegInf),
        Some(b'+') if arg.len() == 1 => Ok(LexBound::PosInf),
        Some(b'[') => Ok(LexBound::Inclusive(arg.slice(1..))),
        Some(b'(') => Ok(LexBound::Exclusive(arg.slice(1..))),
        _ => Err(Frame::error("ERR min or max not valid string range item")),
    }
}

/// Which ranks (ascending, `start..end`) a score or lex range covers.
enum By {
    Rank(i64, i64),
    Score(ScoreBound, ScoreBound),
    Lex(LexBound, LexBound),
}

pub(super) struct RangeQuery {
    by: By,
    rev: bool,
    limit: Option<(i64, i64)>,
    withscores: bool,
}

impl RangeQuery {
    /// Parses `min max` (or `max min` when `rev` for score and lex ranges).
    fn bounds(kind: u8, a: &Bytes, b: &Bytes, rev: bool) -> Result<By, Frame> {
        let (lo, hi) = if rev && kind != b'r' { (b, a) } else { (a, b) };
        Ok(match kind {
            b's' => By::Score(score_bound(lo)?, score_bound(hi)?),
            b'l' => By::Lex(lex_bound(lo)?, lex_bound(hi)?),
            _ => By::Rank(int_arg(lo)?, int_arg(hi)?),
        })
    }
}

/// Parses ZRANGE's options (and the fixed forms, via `kind` and `rev`;
/// `store` for ZRANGESTORE, which has no WITHSCORES).
pub(super) fn range_query(
    args: &[Bytes],
    mut kind: u8,
    mut rev: bool,
    zrange: bool,
    store: bool,
) -> Result<RangeQuery, Frame> {
    let (mut limit, mut withscores) = (None, false);
    let mut i = 4;
    while i < args.len() {
        let arg = &args[i];
        if !store && is(arg, "withscores") {
            withscores = true;
        } else if is(arg, "limit") && i + 2 < args.len() {
            limit = Some((int_arg(&args[i + 1])?, int_arg(&args[i + 2])?));
            i += 2;
        } else if zrange && is(arg, "byscore") {
            kind = b's';
        } else if zrange && is(arg, "bylex") {
            kind = b'l';
        } else if zrange && is(arg, "rev") {
            rev = true;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    if withscores && kind == b'l' {
        return Err(Frame::error("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    if limit.is_some() && kind == b'r' {
        return Err(Frame::error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        ));
    }
    let by = RangeQuery::bounds(kind, &args[2], &args[3], rev)?;
    Ok(RangeQuery { by, rev, limit, withscores })
}

/// The ascending ranks `start..end` a range covers in `z`.
fn covered(z: &ZSet, by: &By, rev: bool) -> (usize, usize) {
    match by {
        By::Rank(start, stop) => match super::list::clamp_range(*start, *stop, z.len()) {
            None => (0, 0),
            Some((a, b)) if rev => (z.len() - 1 - b, z.len() - a),
            Some((a, b)) => (a, b + 1),
        },
        By::Score(min, max) => (z.rank_of_score(*min), z.rank_after_score(*max)),
        By::Lex(min, max) => (z.rank_of_lex(min), z.rank_after_lex(max)),
    }
}

/// Applies LIMIT to an ordered count of `n` items: (skip, take).
fn limited(n: usize, limit: Option<(i64, i64)>) -> (usize, usize) {
    match limit {
        None => (0, n),
        Some((offset, _)) if offset < 0 => (0, 0),
        Some((offset, count)) => {
            let skip = (offset as u64).min(n as u64) as usize;
            let take = if count < 0 { n - skip } else { (count as u64).min((n - skip) as u64) as usize };
            (skip, take)
        }
    }
}

/// The members a range query selects, in reply order.
pub(super) fn range_items<'a>(z: &'a ZSet, q: &RangeQuery) -> Vec<(&'a [u8], f64)> {
    let (start, end) = covered(z, &q.by, q.rev);
    let n = end.saturating_sub(start);
    let (skip, take) = limited(n, q.limit);
    if q.rev {
        z.range_by_rank(start, start + n).rev().skip(skip).take(take).collect()
    } else {
        z.range_by_rank(start, start + n).skip(skip).take(take).collect()
    }
}

/// A reply listing members, in order, with their scores if asked (the
/// members copied out into one allocation).
pub(super) fn run_range_items(items: Vec<(&[u8], f64)>, withscores: bool) -> Frame {
    let members = copy_shared(items.iter().map(|(m, _)| *m));
    if withscores {
        let scores = items.iter().map(|(_, s)| Frame::Double(*s));
        return Frame::Pairs(members.into_iter().map(Frame::Bulk).zip(scores).collect());
    }
    Frame::Array(members.into_iter().map(Frame::Bulk).collect())
}

fn range(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], kind: u8, rev: bool, zrange: bool) -> Frame {
    let run = |q: RangeQuery| {
        let z = read(db, &args[1], ctx.now_ms)?;
        Ok(z.map_or(Frame::Array(Vec::new()), |z| run_range_items(range_items(z, &q), q.withscores)))
    };
    reply(range_query(args, kind, rev, zrange, false).and_then(run))
}

pub fn zrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    range(db, ctx, args, b'r', false, true)
}

pub fn zrevrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    range(db, ctx, args, b'r', true, false)
}

pub fn zrangebyscore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    range(db, ctx, args, b's', false, false)
}

pub fn zrevrangebyscore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    range(db, ctx, args, b's', true, false)
}

pub fn zrangebylex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    range(db, ctx, args, b'l', false, false)
}

pub fn zrevrangebylex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    range(db, ctx, args, b'l', true, false)
}

pub fn zrem(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let Some(z) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Integer(0)) };
        if !args[2..].iter().any(|m| z.score(m).is_some()) {
            return Ok(Frame::Integer(0));
        }
        let z = write(db, &args[1], ctx.now_ms)?.expect("read above");
        let removed = args[2..].iter().filter(|m| z.remove(m).is_some()).count();
        db.drop_if_empty(&args[1]);
        Ok(Frame::Integer(removed as i64))
    })())
}

fn remove_range(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], kind: u8) -> Frame {
    reply((|| {
        let by = RangeQuery::bounds(kind, &args[2], &args[3], false)?;
        let Some(z) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Integer(0)) };
        let (start, end) = covered(z, &by, false);
        if end <= start {
            return Ok(Frame::Integer(0));
        }
        let removed = write(db, &args[1], ctx.now_ms)?.expect("read above").remove_range_by_rank(start, end);
        db.drop_if_empty(&args[1]);
        Ok(Frame::Integer(removed as i64))
    })())
}

pub fn zremrangebyrank(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    remove_range(db, ctx, args, b'r')
}

pub fn zremrangebyscore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    remove_range(db, ctx, args, b's')
}

pub fn zremrangebylex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    remove_range(db, ctx, args, b'l')
}

pub fn zcard(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|z| Frame::Integer(z.map_or(0, |z| z.len() as i64))))
}

fn count_in(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], kind: u8) -> Frame {
    reply((|| {
        let by = RangeQuery::bounds(kind, &args[2], &args[3], false)?;
        let Some(z) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Integer(0)) };
        let (start, end) = covered(z, &by, false);
        Ok(Frame::Integer(end.saturating_sub(start) as i64))
    })())
}

pub fn zcount(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    count_in(db, ctx, args, b's')
}

pub fn zlexcount(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    count_in(db, ctx, args, b'l')
}

/// Pops up to `count` members from the low (`max == false`) or high end.
fn pop_members(db: &mut Db, key: &[u8], now: u64, max: bool, count: usize) -> Result<Vec<(Elem, f64)>, Frame> {
    let Some(z) = write(db, key, now)? else { return Ok(Vec::new()) };
    let popped = (0..count.min(z.len())).filter_map(|_| if max { z.pop_last() } else { z.pop_first() }).collect();
    db.drop_if_empty(key);
    Ok(popped)
}

fn pairs(popped: Vec<(Elem, f64)>) -> Vec<(Frame, Frame)> {
    let members = Elem::copy_all(popped.iter().map(|(m, _)| m));
    members.into_iter().zip(popped).map(|(m, (_, s))| (Frame::Bulk(m), Frame::Double(s))).collect()
}

fn zpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], max: bool) -> Result<Frame, Frame> {
    if args.len() > 3 {
        return Err(syntax());
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => Some(
            usize::try_from(int_arg(c)?).map_err(|_| Frame::error("ERR value is out of range, must be positive"))?,
        ),
    };
    let popped = pop_members(db, &args[1], ctx.now_ms, max, count.unwrap_or(1))?;
    Ok(match count {
        Some(_) => Frame::Pairs(pairs(popped)),
        None => Frame::Array(pairs(popped).into_iter().flat_map(|(m, s)| [m, s]).collect()),
    })
}

pub fn zpopmin(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(zpop(db, ctx, args, false))
}

pub fn zpopmax(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(zpop(db, ctx, args, true))
}

fn min_or_max(arg: &[u8]) -> Result<bool, Frame> {
    if is(arg, "min") {
        Ok(false)
    } else if is(arg, "max") {
        Ok(true)
    } else {
        Err(syntax())
    }
}

/// ZMPOP from `numkeys` on: `[key, [[member, score], ...]]` or a null array.
fn mpop(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let (keys, rest) = numkeys_args(args)?;
    let max = min_or_max(&rest[0])?;
    let count = mpop_count(&rest[1..])?;
    for key in keys {
        if read(db, key, now)?.is_some() {
            let popped = pop_members(db, key, now, max, count)?;
            let nested = pairs(popped).into_iter().map(|(m, s)| Frame::Array(vec![m, s])).collect();
            return Ok(Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Array(nested)]));
        }
    }
    Ok(Frame::NullArray)
}

pub fn zmpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(mpop(db, ctx.now_ms, &args[1..]))
}

pub fn bzmpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(timeout_arg(&args[1]).and_then(|_| mpop(db, ctx.now_ms, &args[2..])))
}

fn bzpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], max: bool) -> Result<Frame, Frame> {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    timeout_arg(&timeout[0])?;
    for key in keys {
        if read(db, key, ctx.now_ms)?.is_some() {
            let (member, score) = pop_members(db, key, ctx.now_ms, max, 1)?.pop().expect("non-empty set");
            let member = ctx.copy(member.as_bytes());
            return Ok(Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Bulk(member), Frame::Double(score)]));
        }
    }
    Ok(Frame::NullArray)
}

pub fn bzpopmin(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bzpop(db, ctx, args, false))
}

pub fn bzpopmax(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bzpop(db, ctx, args, true))
}

pub fn zrandmember(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let counted = super::random::count_and_flag(args, "withscores")?;
        let z = read(db, &args[1], ctx.now_ms)?;
        let Some((count, withscores)) = counted else {
            let Some(z) = z else { return Ok(Frame::Null) };
            let (m, _) = z.get_by_rank(ctx.rng.gen_range(0..z.len())).expect("in range");
            return Ok(Frame::Bulk(Bytes::copy_from_slice(m)));
        };
        let Some(z) = z else { return Ok(Frame::Array(Vec::new())) };
        let picks = super::random::pick_ranks(z.len(), count, &mut ctx.rng)?;
        let chosen = picks
            .into_iter()
            .filter_map(|r| z.get_by_rank(r))
            .map(|(m, s)| (Frame::Bulk(Bytes::copy_from_slice(m)), s));
        Ok(match withscores {
            true => Frame::Pairs(chosen.map(|(m, s)| (m, Frame::Double(s))).collect()),
            false => Frame::Array(chosen.map(|(m, _)| m).collect()),
        })
    })())
}

/// ZSCAN returns the whole set in one call with cursor 0, scores as text.
pub fn zscan(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(super::hash::scan_args(&args[2..], &args[3..]).and_then(|(pattern, _)| {
        let Some(z) = read(db, &args[1], ctx.now_ms)? else {
            return Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(Vec::new())]));
        };
        let mut items = Vec::new();
        for (m, s) in z.iter().filter(|(m, _)| pattern.as_ref().is_none_or(|p| crate::glob_match(p, m))) {
            items.push(Frame::Bulk(Bytes::copy_from_slice(m)));
            items.push(Frame::Bulk(Bytes::from(weir_protocol::format_double(s))));
        }
        Ok(Frame::Array(vec![Frame::bulk("0"), Frame::Array(items)]))
    }))
}
