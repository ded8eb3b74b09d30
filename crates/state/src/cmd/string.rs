//! String and counter commands.

use super::{int_arg, is, not_float, not_integer, overflow, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx, Ttl};
use crate::value::Value;
use bytes::{Bytes, BytesMut};
use weir_protocol::Frame;

/// Redis's proto-max-bulk-len: no string may grow past it.
const MAX_STRING: usize = 512 << 20;

/// The string at `key`: Ok(None) if absent, Err(WRONGTYPE) if another type.
fn read_string(db: &Db, key: &[u8], now: u64) -> Result<Option<Bytes>, Frame> {
    match db.get(key, now) {
        None => Ok(None),
        Some(entry) => entry.value.string_bytes().map(Some).ok_or_else(wrongtype),
    }
}

pub fn get(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read_string(db, &args[1], ctx.now_ms).map(|v| v.map(Frame::Bulk).unwrap_or(Frame::Null)))
}

#[derive(Default)]
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    expire_at: Option<u64>,
}

/// Parses EX/PX/EXAT/PXAT into an absolute deadline.
fn deadline(unit: &[u8], value: &[u8], now: u64, command: &str) -> Result<u64, Frame> {
    let n = int_arg(value)?;
    let invalid = || Frame::error(format!("ERR invalid expire time in '{command}' command"));
    if n <= 0 {
        return Err(invalid());
    }
    let at = if is(unit, "ex") {
        n.checked_mul(1000).and_then(|ms| ms.checked_add(now as i64))
    } else if is(unit, "px") {
        n.checked_add(now as i64)
    } else if is(unit, "exat") {
        n.checked_mul(1000)
    } else {
        Some(n)
    };
    at.map(|at| at.max(1) as u64).ok_or_else(invalid)
}

fn set_options(args: &[Bytes], now: u64) -> Result<SetOptions, Frame> {
    let mut o = SetOptions::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if is(a, "nx") && !o.xx {
            o.nx = true;
        } else if is(a, "xx") && !o.nx {
            o.xx = true;
        } else if is(a, "get") {
            o.get = true;
        } else if is(a, "keepttl") && o.expire_at.is_none() {
            o.keepttl = true;
        } else if ["ex", "px", "exat", "pxat"].iter().any(|u| is(a, u))
            && o.expire_at.is_none()
            && !o.keepttl
            && i + 1 < args.len()
        {
            o.expire_at = Some(deadline(a, &args[i + 1], now, "set")?);
            i += 1;
        } else {
            return Err(syntax());
        }
        i += 1;
    }
    Ok(o)
}

pub fn set(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(set_inner(db, ctx.now_ms, args))
}

fn set_inner(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let o = set_options(&args[3..], now)?;
    let key = &args[1];
    if !(o.nx || o.xx || o.get || o.keepttl) {
        let ttl = o.expire_at.map(Ttl::At).unwrap_or(Ttl::Clear);
        db.upsert(key, now, Value::string(&args[2]), ttl);
        return Ok(Frame::ok());
    }
    let old = if o.get { read_string(db, key, now)? } else { None };
    let exists = db.get(key, now).is_some();
    if (o.nx && exists) || (o.xx && !exists) {
        return Ok(if o.get { old.map(Frame::Bulk).unwrap_or(Frame::Null) } else { Frame::Null });
    }
    let ttl = match (o.expire_at, o.keepttl) {
        (Some(at), _) => Ttl::At(at),
        (None, true) => Ttl::Keep,
        (None, false) => Ttl::Clear,
    };
    db.upsert(key, now, Value::string(&args[2]), ttl);
    Ok(if o.get { old.map(Frame::Bulk).unwrap_or(Frame::Null) } else { Frame::ok() })
}

pub fn setnx(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    if db.get_mut(&args[1], ctx.now_ms).is_some() {
        return Frame::Integer(0);
    }
    db.put(&args[1], Value::string(&args[2]), 0);
    Frame::Integer(1)
}

fn set_with_ttl(db: &mut Db, now: u64, args: &[Bytes], unit: &str, command: &str) -> Frame {
    match deadline(unit.as_bytes(), &args[2], now, command) {
        Err(e) => e,
        Ok(at) => {
            db.get_mut(&args[1], now);
            db.put(&args[1], Value::string(&args[3]), at);
            Frame::ok()
        }
    }
}

pub fn setex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    set_with_ttl(db, ctx.now_ms, args, "ex", "setex")
}

pub fn psetex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    set_with_ttl(db, ctx.now_ms, args, "px", "psetex")
}

pub fn getset(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read_string(db, &args[1], ctx.now_ms).map(|old| {
        db.get_mut(&args[1], ctx.now_ms);
        db.put(&args[1], Value::string(&args[2]), 0);
        old.map(Frame::Bulk).unwrap_or(Frame::Null)
    }))
}

pub fn getdel(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read_string(db, &args[1], ctx.now_ms).map(|old| {
        if old.is_some() {
            db.remove(&args[1]);
        }
        old.map(Frame::Bulk).unwrap_or(Frame::Null)
    }))
}

pub fn getex(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(getex_inner(db, ctx.now_ms, args))
}

fn getex_inner(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let value = read_string(db, &args[1], now)?;
    let change = match &args[2..] {
        [] => None,
        [p] if is(p, "persist") => Some(0),
        [unit, n] if ["ex", "px", "exat", "pxat"].iter().any(|u| is(unit, u)) => Some(deadline(unit, n, now, "getex")?),
        _ => return Err(syntax()),
    };
    if let (Some(at), Some(_)) = (change, &value) {
        db.get_mut(&args[1], now);
        db.set_expire(&args[1], at);
    }
    Ok(value.map(Frame::Bulk).unwrap_or(Frame::Null))
}

pub fn mget(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let values = args[1..].iter().map(|k| match read_string(db, k, ctx.now_ms) {
        Ok(Some(v)) => Frame::Bulk(v),
        _ => Frame::Null,
    });
    Frame::Array(values.collect())
}

pub fn mset(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    if args.len().is_multiple_of(2) {
        return Frame::error("ERR wrong number of arguments for 'mset' command");
    }
    for pair in args[1..].chunks(2) {
        db.get_mut(&pair[0], ctx.now_ms);
        db.put(&pair[0], Value::string(&pair[1]), 0);
    }
    Frame::ok()
}

pub fn msetnx(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    if args.len().is_multiple_of(2) {
        return Frame::error("ERR wrong number of arguments for 'msetnx' command");
    }
    if args[1..].chunks(2).any(|pair| db.get(&pair[0], ctx.now_ms).is_some()) {
        return Frame::Integer(0);
    }
    mset(db, ctx, args);
    Frame::Integer(1)
}

/// Adds `delta` to the integer at `key`.
fn incr_by(db: &mut Db, now: u64, key: &[u8], delta: i64) -> Frame {
    let Some(entry) = db.get_mut(key, now) else {
        db.upsert(key, now, Value::Int(delta), Ttl::Clear);
        return Frame::Integer(delta);
    };
    let current = match &entry.value {
        Value::Int(n) => Some(*n),
        Value::Inline(s) => crate::num::parse_i64(s.as_bytes()),
        Value::Str(s) => crate::num::parse_i64(s),
        _ => return wrongtype(),
    };
    let Some(current) = current else { return not_integer() };
    let Some(next) = current.checked_add(delta) else { return overflow() };
    // Updated in place: the key keeps its deadline, as in Redis.
    entry.value = Value::Int(next);
    Frame::Integer(next)
}

pub fn incr(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    incr_by(db, ctx.now_ms, &args[1], 1)
}

pub fn decr(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    incr_by(db, ctx.now_ms, &args[1], -1)
}

pub fn incrby(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    match int_arg(&args[2]) {
        Ok(delta) => incr_by(db, ctx.now_ms, &args[1], delta),
        Err(e) => e,
    }
}

pub fn decrby(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    match int_arg(&args[2]) {
        Ok(i64::MIN) => Frame::error("ERR decrement would overflow"),
        Ok(delta) => incr_by(db, ctx.now_ms, &args[1], -delta),
        Err(e) => e,
    }
}

pub fn incrbyfloat(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(incrbyfloat_inner(db, ctx.now_ms, args))
}

fn incrbyfloat_inner(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    // Redis checks the key's type, then its value, then the increment.
    let current = match read_string(db, &args[1], now)? {
        None => 0.0,
        Some(s) => crate::num::parse_f64(&s).ok_or_else(not_float)?,
    };
    let delta = crate::num::parse_f64(&args[2]).ok_or_else(not_float)?;
    let next = current + delta;
    if !next.is_finite() {
        return Err(Frame::error("ERR increment would produce NaN or Infinity"));
    }
    let text = crate::num::format_incr_float(next);
    let expire_at = db.get(&args[1], now).map(|e| e.expire_at).unwrap_or(0);
    db.get_mut(&args[1], now);
    db.put(&args[1], Value::string(text.as_bytes()), expire_at);
    Ok(Frame::Bulk(Bytes::from(text)))
}

pub fn append(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read_string(db, &args[1], ctx.now_ms).and_then(|old| {
        let old = old.unwrap_or_default();
        if old.len() + args[2].len() > MAX_STRING {
            return Err(Frame::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
        }
        let mut joined = BytesMut::with_capacity(old.len() + args[2].len());
        joined.extend_from_slice(&old);
        joined.extend_from_slice(&args[2]);
        let len = joined.len() as i64;
        store_keeping_ttl(db, ctx.now_ms, &args[1], Value::string_from(joined.freeze()));
        Ok(Frame::Integer(len))
    }))
}

fn store_keeping_ttl(db: &mut Db, now: u64, key: &[u8], value: Value) {
    let expire_at = db.get(key, now).map(|e| e.expire_at).unwrap_or(0);
    db.get_mut(key, now);
    db.put(key, value, expire_at);
}

pub fn strlen(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read_string(db, &args[1], ctx.now_ms).map(|v| Frame::Integer(v.map(|v| v.len() as i64).unwrap_or(0))))
}

pub fn getrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let (start, end) = match (int_arg(&args[2]), int_arg(&args[3])) {
        (Ok(s), Ok(e)) => (s, e),
        _ => return not_integer(),
    };
    reply(read_string(db, &args[1], ctx.now_ms).map(|v| {
        let v = v.unwrap_or_default();
        let len = v.len() as i64;
        if start < 0 && end < 0 && start > end {
            return Frame::bulk(Bytes::new());
        }
        let s = if start < 0 { (len + start).max(0) } else { start };
        let e = if end < 0 { (len + end).max(0) } else { end.min(len - 1) };
        if s > e || len == 0 || s >= len {
            return Frame::bulk(Bytes::new());
        }
        Frame::Bulk(v.slice(s as usize..=e as usize))
    }))
}

pub fn setrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let offset = match int_arg(&args[2]) {
        Ok(o) if o < 0 => return Frame::error("ERR offset is out of range"),
        Ok(o) => o as usize,
        Err(e) => return e,
    };
    reply(read_string(db, &args[1], ctx.now_ms).and_then(|old| {
        let patch = &args[3];
        let old = old.unwrap_or_default();
        if patch.is_empty() {
            return Ok(Frame::Integer(old.len() as i64));
        }
        if offset + patch.len() > MAX_STRING {
            return Err(Frame::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
        }
        let mut out = BytesMut::from(&old[..]);
        if out.len() < offset + patch.len() {
            out.resize(offset + patch.len(), 0);
        }
        out[offset..offset + patch.len()].copy_from_slice(patch);
        let len = out.len() as i64;
        store_keeping_ttl(db, ctx.now_ms, &args[1], Value::string_from(out.freeze()));
        Ok(Frame::Integer(len))
    }))
}
