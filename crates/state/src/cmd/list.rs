//! List commands, with Redis 7's replies and argument-checking order.
//!
//! A list is a `VecDeque` of compact elements: O(1) at both ends and by
//! index. The blocking variants (BLPOP and friends) are here too, in their
//! non-blocking form: what they do when they run. Waiting for data is the
//! partition writer's job (`weir_server::blocking`): it re-runs the command
//! when a key it waits on is pushed to, as a logged write like any other.

use super::{int_arg, is, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::value::{Elem, Value};
use bytes::Bytes;
use std::collections::VecDeque;
use weir_protocol::Frame;

type List = VecDeque<Elem>;

fn read<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Option<&'a List>, Frame> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(wrongtype()),
    }
}

/// The live list at `key` for writing (`None` if absent; WRONGTYPE if not a list).
fn write<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut List>, Frame> {
    let entry = db.get_mut_kind(key, now, |v| matches!(v, Value::List(_))).map_err(|_| wrongtype())?;
    match entry.map(|e| &mut e.value) {
        Some(Value::List(l)) => Ok(Some(l)),
        _ => Ok(None),
    }
}

/// Which end of a list.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum End {
    Left,
    Right,
}

fn end_arg(arg: &[u8]) -> Result<End, Frame> {
    if is(arg, "left") {
        Ok(End::Left)
    } else if is(arg, "right") {
        Ok(End::Right)
    } else {
        Err(syntax())
    }
}

fn pop_end(list: &mut List, end: End) -> Option<Elem> {
    match end {
        End::Left => list.pop_front(),
        End::Right => list.pop_back(),
    }
}

fn push_end(list: &mut List, end: End, elem: Elem) {
    match end {
        End::Left => list.push_front(elem),
        End::Right => list.push_back(elem),
    }
}

fn push(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], end: End, only_existing: bool) -> Result<Frame, Frame> {
    let key = &args[1];
    let list = match write(db, key, ctx.now_ms)? {
        Some(list) => list,
        None if only_existing => return Ok(Frame::Integer(0)),
        None => {
            db.put(key, Value::List(List::new()), 0);
            write(db, key, ctx.now_ms)?.expect("just created")
        }
    };
    for elem in &args[2..] {
        push_end(list, end, Elem::new(elem));
    }
    let len = list.len();
    db.signal_ready(key);
    Ok(Frame::Integer(len as i64))
}

pub fn lpush(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(push(db, ctx, args, End::Left, false))
}

pub fn rpush(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(push(db, ctx, args, End::Right, false))
}

pub fn lpushx(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(push(db, ctx, args, End::Left, true))
}

pub fn rpushx(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(push(db, ctx, args, End::Right, true))
}

/// Pops up to `count` elements from one end, dropping the key if emptied.
fn pop_many(db: &mut Db, key: &[u8], now: u64, end: End, count: usize) -> Result<Vec<Bytes>, Frame> {
    let Some(list) = write(db, key, now)? else { return Ok(Vec::new()) };
    let take = count.min(list.len());
    let popped: Vec<Elem> = (0..take).filter_map(|_| pop_end(list, end)).collect();
    if list.is_empty() {
        db.remove(key);
    }
    Ok(Elem::copy_all(popped.iter()))
}

/// One element popped from `key`, copied out for the reply.
fn pop_one(db: &mut Db, ctx: &mut ExecCtx, key: &[u8], end: End) -> Result<Option<Bytes>, Frame> {
    let Some(list) = write(db, key, ctx.now_ms)? else { return Ok(None) };
    let popped = pop_end(list, end);
    if list.is_empty() {
        db.remove(key);
    }
    Ok(popped.map(|elem| ctx.copy(elem.as_bytes())))
}

fn pop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], end: End) -> Result<Frame, Frame> {
    if args.len() > 3 {
        return Err(super::wrong_arity(&args[0]));
    }
    let count = match args.get(2) {
        None => None,
        Some(c) => Some(positive(c, "ERR value is out of range, must be positive")?),
    };
    let key = &args[1];
    // Empty lists are removed: a key that is there has an element to pop.
    Ok(match count {
        None => pop_one(db, ctx, key, end)?.map_or(Frame::Null, Frame::Bulk),
        Some(count) => match read(db, key, ctx.now_ms)? {
            None => Frame::NullArray,
            // Popping none changes nothing (no change for WATCH, as in Redis).
            Some(_) if count == 0 => Frame::Array(Vec::new()),
            Some(_) => Frame::Array(super::bulks(pop_many(db, key, ctx.now_ms, end, count)?)),
        },
    })
}

/// A non-negative integer argument; `message` when it is not one (Redis
/// uses the same message for "not a number" and "negative").
fn positive(arg: &[u8], message: &str) -> Result<usize, Frame> {
    int_arg(arg).ok().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| Frame::error(message))
}

pub fn lpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(pop(db, ctx, args, End::Left))
}

pub fn rpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(pop(db, ctx, args, End::Right))
}

pub fn llen(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|l| Frame::Integer(l.map_or(0, |l| l.len() as i64))))
}

/// Redis's inclusive index range, clamped to the list; `None` when empty.
pub fn clamp_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let stop = if stop < 0 { stop + len } else { stop.min(len - 1) };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

/// A Redis index (negative counts from the end) into a list of `len`.
fn index(i: i64, len: usize) -> Option<usize> {
    let i = if i < 0 { i + len as i64 } else { i };
    (0..len as i64).contains(&i).then_some(i as usize)
}

pub fn lrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let (start, stop) = (int_arg(&args[2])?, int_arg(&args[3])?);
        let Some(list) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Array(Vec::new())) };
        let Some((from, to)) = clamp_range(start, stop, list.len()) else { return Ok(Frame::Array(Vec::new())) };
        Ok(Frame::Array(Elem::copy_all(list.range(from..=to)).into_iter().map(Frame::Bulk).collect()))
    })())
}

pub fn lindex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let Some(list) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Null) };
        let i = int_arg(&args[2])?;
        Ok(index(i, list.len()).and_then(|i| list.get(i)).map_or(Frame::Null, |e| Frame::Bulk(e.to_bytes())))
    })())
}

pub fn lset(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let Some(list) = read(db, &args[1], ctx.now_ms)? else { return Err(Frame::error("ERR no such key")) };
        let i = int_arg(&args[2])?;
        let i = index(i, list.len()).ok_or_else(|| Frame::error("ERR index out of range"))?;
        let list = write(db, &args[1], ctx.now_ms)?.expect("checked above");
        list[i] = Elem::new(&args[3]);
        Ok(Frame::ok())
    })())
}

pub fn linsert(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let after = if is(&args[2], "after") {
            true
        } else if is(&args[2], "before") {
            false
        } else {
            return Err(syntax());
        };
        let Some(list) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Integer(0)) };
        let Some(at) = list.iter().position(|e| e.as_bytes() == &args[3][..]) else { return Ok(Frame::Integer(-1)) };
        let list = write(db, &args[1], ctx.now_ms)?.expect("checked above");
        list.insert(at + usize::from(after), Elem::new(&args[4]));
        Ok(Frame::Integer(list.len() as i64))
    })())
}

pub fn lrem(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let count = int_arg(&args[2])?;
        let Some(list) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Integer(0)) };
        let target = &args[3][..];
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs().min(usize::MAX as u64) as usize };
        let matches: Vec<usize> = if count < 0 {
            let hits = list.iter().enumerate().rev().filter(|(_, e)| e.as_bytes() == target).map(|(i, _)| i);
            hits.take(limit).collect()
        } else {
            let hits = list.iter().enumerate().filter(|(_, e)| e.as_bytes() == target).map(|(i, _)| i);
            hits.take(limit).collect()
        };
        if matches.is_empty() {
            return Ok(Frame::Integer(0));
        }
        let list = write(db, &args[1], ctx.now_ms)?.expect("checked above");
        let mut doomed = matches.clone();
        doomed.sort_unstable();
        let mut position = 0;
        list.retain(|_| {
            let keep = doomed.binary_search(&position).is_err();
            position += 1;
            keep
        });
        db.drop_if_empty(&args[1]);
        Ok(Frame::Integer(matches.len() as i64))
    })())
}

pub fn ltrim(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let (start, stop) = (int_arg(&args[2])?, int_arg(&args[3])?);
        let Some(list) = write(db, &args[1], ctx.now_ms)? else { return Ok(Frame::ok()) };
        match clamp_range(start, stop, list.len()) {
            None => list.clear(),
            Some((from, to)) => {
                list.truncate(to + 1);
                list.drain(..from);
            }
        }
        db.drop_if_empty(&args[1]);
        Ok(Frame::ok())
    })())
}

struct LposArgs {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn lpos_args(rest: &[Bytes]) -> Result<LposArgs, Frame> {
    let mut out = LposArgs { rank: 1, count: None, maxlen: 0 };
    let mut i = 0;
    while i < rest.len() {
        let value = rest.get(i + 1).ok_or_else(syntax)?;
        if is(&rest[i], "rank") {
            out.rank = int_arg(value)?;
            if out.rank == 0 {
                return Err(Frame::error(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... \
                     or use negative to start from the end of the list",
                ));
            }
            if out.rank == i64::MIN {
                return Err(Frame::error(
                    "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
                ));
            }
        } else if is(&rest[i], "count") {
            out.count = Some(positive(value, "ERR COUNT can't be negative")?);
        } else if is(&rest[i], "maxlen") {
            out.maxlen = positive(value, "ERR MAXLEN can't be negative")?;
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    Ok(out)
}

pub fn lpos(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply((|| {
        let opts = lpos_args(&args[3..])?;
        let Some(list) = read(db, &args[1], ctx.now_ms)? else {
            return Ok(if opts.count.is_some() { Frame::Array(Vec::new()) } else { Frame::Null });
        };
        let scan = if opts.maxlen == 0 { list.len() } else { opts.maxlen.min(list.len()) };
        let target = &args[2][..];
        let skip = (opts.rank.unsigned_abs() - 1) as usize;
        let want = match opts.count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let hits: Vec<Frame> = if opts.rank > 0 {
            let found = list.iter().take(scan).enumerate().filter(|(_, e)| e.as_bytes() == target);
            found.skip(skip).take(want).map(|(i, _)| Frame::Integer(i as i64)).collect()
        } else {
            let found = list.iter().enumerate().rev().take(scan).filter(|(_, e)| e.as_bytes() == target);
            found.skip(skip).take(want).map(|(i, _)| Frame::Integer(i as i64)).collect()
        };
        Ok(match opts.count {
            Some(_) => Frame::Array(hits),
            None => hits.into_iter().next().unwrap_or(Frame::Null),
        })
    })())
}

/// LMOVE's work once its arguments are parsed: `None` when `src` is empty.
fn lmove_inner(
    db: &mut Db,
    now: u64,
    (src, dst): (&Bytes, &Bytes),
    (from, to): (End, End),
) -> Result<Option<Bytes>, Frame> {
    if read(db, src, now)?.is_none() {
        return Ok(None);
    }
    read(db, dst, now)?;
    let elem = {
        let list = write(db, src, now)?.expect("checked above");
        pop_end(list, from).expect("lists are never empty")
    };
    db.drop_if_empty(src);
    let bytes = elem.to_bytes();
    if write(db, dst, now)?.is_none() {
        db.put(dst, Value::List(List::new()), 0);
    }
    push_end(write(db, dst, now)?.expect("exists"), to, elem);
    db.signal_ready(dst);
    Ok(Some(bytes))
}

fn moved(result: Result<Option<Bytes>, Frame>) -> Frame {
    reply(result.map(|m| m.map_or(Frame::Null, Frame::Bulk)))
}

pub fn lmove(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    moved((|| {
        let ends = (end_arg(&args[3])?, end_arg(&args[4])?);
        lmove_inner(db, ctx.now_ms, (&args[1], &args[2]), ends)
    })())
}

pub fn rpoplpush(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    moved(lmove_inner(db, ctx.now_ms, (&args[1], &args[2]), (End::Right, End::Left)))
}

/// Parsed `numkeys key... LEFT|RIGHT [COUNT n]` (LMPOP from `numkeys` on).
struct Mpop<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

/// Parses `numkeys key... WHERE ...` (LMPOP, ZMPOP): the keys, and what
/// follows them (never empty).
pub fn numkeys_args(args: &[Bytes]) -> Result<(&[Bytes], &[Bytes]), Frame> {
    let numkeys_error = || Frame::error("ERR numkeys should be greater than 0");
    let numkeys = int_arg(&args[0]).map_err(|_| numkeys_error())?;
    if numkeys <= 0 {
        return Err(numkeys_error());
    }
    // Redis: the direction must follow the keys, else a syntax error.
    if numkeys as u64 + 1 >= args.len() as u64 {
        return Err(syntax());
    }
    let n = numkeys as usize;
    Ok((&args[1..=n], &args[n + 1..]))
}

/// Parses a `COUNT n` tail shared by LMPOP and ZMPOP (default 1).
pub fn mpop_count(rest: &[Bytes]) -> Result<usize, Frame> {
    let mut count = None;
    let mut i = 0;
    while i < rest.len() {
        if !is(&rest[i], "count") || count.is_some() || i + 1 >= rest.len() {
            return Err(syntax());
        }
        let n = int_arg(&rest[i + 1]).map_err(|_| Frame::error("ERR count should be greater than 0"))?;
        if n <= 0 {
            return Err(Frame::error("ERR count should be greater than 0"));
        }
        count = Some(n as usize);
        i += 2;
    }
    Ok(count.unwrap_or(1))
}

fn mpop_args(args: &[Bytes]) -> Result<Mpop<'_>, Frame> {
    let (keys, rest) = numkeys_args(args)?;
    let end = end_arg(&rest[0])?;
    Ok(Mpop { keys, end, count: mpop_count(&rest[1..])? })
}

fn mpop_run(db: &mut Db, now: u64, mpop: Mpop<'_>) -> Result<Frame, Frame> {
    for key in mpop.keys {
        if read(db, key, now)?.is_some() {
            let popped = pop_many(db, key, now, mpop.end, mpop.count)?;
            return Ok(Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Array(super::bulks(popped))]));
        }
    }
    Ok(Frame::NullArray)
}

pub fn lmpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(mpop_args(&args[1..]).and_then(|m| mpop_run(db, ctx.now_ms, m)))
}

/// A blocking command's timeout in seconds, as Redis validates it.
pub fn timeout_arg(arg: &[u8]) -> Result<f64, Frame> {
    let seconds = crate::num::parse_f64(arg)
        .filter(|s| s.is_finite())
        .ok_or_else(|| Frame::error("ERR timeout is not a float or out of range"))?;
    if seconds < 0.0 {
        return Err(Frame::error("ERR timeout is negative"));
    }
    if seconds * 1000.0 > i64::MAX as f64 / 2.0 {
        return Err(Frame::error("ERR timeout is out of range"));
    }
    Ok(seconds)
}

fn bpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], end: End) -> Result<Frame, Frame> {
    let (keys, timeout) = args[1..].split_at(args.len() - 2);
    timeout_arg(&timeout[0])?;
    for key in keys {
        if read(db, key, ctx.now_ms)?.is_some() {
            let elem = pop_one(db, ctx, key, end)?.expect("non-empty list");
            return Ok(Frame::Array(vec![Frame::Bulk(key.clone()), Frame::Bulk(elem)]));
        }
    }
    Ok(Frame::NullArray)
}

pub fn blpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bpop(db, ctx, args, End::Left))
}

pub fn brpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bpop(db, ctx, args, End::Right))
}

pub fn blmove(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    moved((|| {
        let ends = (end_arg(&args[3])?, end_arg(&args[4])?);
        timeout_arg(&args[5])?;
        lmove_inner(db, ctx.now_ms, (&args[1], &args[2]), ends)
    })())
}

pub fn brpoplpush(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    moved(
        timeout_arg(&args[3]).and_then(|_| lmove_inner(db, ctx.now_ms, (&args[1], &args[2]), (End::Right, End::Left))),
    )
}

pub fn blmpop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(timeout_arg(&args[1]).and_then(|_| mpop_args(&args[2..])).and_then(|m| mpop_run(db, ctx.now_ms, m)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_like_redis() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(3, 1, 5), None);
        assert_eq!(clamp_range(5, 10, 5), None);
        assert_eq!(clamp_range(-2, -1, 5), Some((3, 4)));
        assert_eq!(clamp_range(0, -6, 5), None);
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn timeouts_validate_like_redis() {
        assert_eq!(timeout_arg(b"0.5"), Ok(0.5));
        assert!(timeout_arg(b"-1").is_err_and(|e| e == Frame::error("ERR timeout is negative")));
        assert!(timeout_arg(b"x").is_err());
        assert!(timeout_arg(b"inf").is_err());
    }
}
