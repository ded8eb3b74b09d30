//! Generic key commands: DEL, EXISTS, TYPE, the EXPIRE family, TTL family,
//! PERSIST, RENAME.

use super::{int_arg, is, reply};
use crate::db::{Db, ExecCtx};
use bytes::Bytes;
use weir_protocol::Frame;

pub fn del(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let mut removed = 0;
    for key in &args[1..] {
        if db.get_mut(key, ctx.now_ms).is_some() {
            db.remove(key);
            removed += 1;
        }
    }
    Frame::Integer(removed)
}

pub fn exists(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    Frame::Integer(args[1..].iter().filter(|k| db.get(k, ctx.now_ms).is_some()).count() as i64)
}

pub fn type_of(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    Frame::simple(db.get(&args[1], ctx.now_ms).map(|e| e.value.type_name()).unwrap_or("none"))
}

#[derive(Clone, Copy)]
enum Unit {
    RelativeSeconds,
    RelativeMillis,
    AbsoluteSeconds,
    AbsoluteMillis,
}

fn expire_generic(db: &mut Db, now: u64, args: &[Bytes], unit: Unit, command: &str) -> Result<Frame, Frame> {
    let n = int_arg(&args[2])?;
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in &args[3..] {
        match () {
            _ if is(option, "nx") => nx = true,
            _ if is(option, "xx") => xx = true,
            _ if is(option, "gt") => gt = true,
            _ if is(option, "lt") => lt = true,
            _ => return Err(Frame::error(format!("ERR Unsupported option {}", String::from_utf8_lossy(option)))),
        }
    }
    if nx && (xx || gt || lt) {
        return Err(Frame::error("ERR NX and XX, GT or LT options at the same time are not compatible"));
    }
    if gt && lt {
        return Err(Frame::error("ERR GT and LT options at the same time are not compatible"));
    }
    let invalid = || Frame::error(format!("ERR invalid expire time in '{command}' command"));
    let at = match unit {
        Unit::RelativeSeconds => n.checked_mul(1000).and_then(|ms| ms.checked_add(now as i64)),
        Unit::RelativeMillis => n.checked_add(now as i64),
        Unit::AbsoluteSeconds => n.checked_mul(1000),
        Unit::AbsoluteMillis => Some(n),
    }
    .ok_or_else(invalid)?;
    let Some(entry) = db.get(&args[1], now) else { return Ok(Frame::Integer(0)) };
    let current = entry.expire_at;
    // No TTL counts as infinite for GT/LT.
    let skip = (nx && current != 0)
        || (xx && current == 0)
        || (gt && (current == 0 || (at as u64) <= current))
        || (lt && current != 0 && (at.max(0) as u64) >= current);
    if skip {
        return Ok(Frame::Integer(0));
    }
    if at <= now as i64 {
        db.remove(&args[1]);
    } else {
        db.get_mut(&args[1], now);
        db.set_expire(&args[1], at as u64);
    }
    Ok(Frame::Integer(1))
}

pub fn expire(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(expire_generic(db, ctx.now_ms, args, Unit::RelativeSeconds, "expire"))
}

pub fn pexpire(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(expire_generic(db, ctx.now_ms, args, Unit::RelativeMillis, "pexpire"))
}

pub fn expireat(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(expire_generic(db, ctx.now_ms, args, Unit::AbsoluteSeconds, "expireat"))
}

pub fn pexpireat(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(expire_generic(db, ctx.now_ms, args, Unit::AbsoluteMillis, "pexpireat"))
}

/// -2 absent, -1 no TTL, else `f(deadline)`.
fn ttl_generic(db: &Db, now: u64, key: &[u8], f: impl Fn(u64) -> i64) -> Frame {
    match db.get(key, now) {
        None => Frame::Integer(-2),
        Some(e) if e.expire_at == 0 => Frame::Integer(-1),
        Some(e) => Frame::Integer(f(e.expire_at)),
    }
}

pub fn ttl(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let now = ctx.now_ms;
    ttl_generic(db, now, &args[1], |at| ((at - now + 500) / 1000) as i64)
}

pub fn pttl(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let now = ctx.now_ms;
    ttl_generic(db, now, &args[1], |at| (at - now) as i64)
}

pub fn expiretime(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    ttl_generic(db, ctx.now_ms, &args[1], |at| (at / 1000) as i64)
}

pub fn pexpiretime(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    ttl_generic(db, ctx.now_ms, &args[1], |at| at as i64)
}

pub fn persist(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    match db.get(&args[1], ctx.now_ms) {
        Some(e) if e.expire_at != 0 => {
            db.set_expire(&args[1], 0);
            Frame::Integer(1)
        }
        _ => Frame::Integer(0),
    }
}

fn rename_generic(db: &mut Db, now: u64, args: &[Bytes], nx: bool) -> Frame {
    let Some(entry) = db.get(&args[1], now).cloned() else { return Frame::error("ERR no such key") };
    if args[1] == args[2] {
        return if nx { Frame::Integer(0) } else { Frame::ok() };
    }
    if nx && db.get(&args[2], now).is_some() {
        return Frame::Integer(0);
    }
    db.remove(&args[1]);
    db.get_mut(&args[2], now);
    db.put(&args[2], entry.value, entry.expire_at);
    if nx {
        Frame::Integer(1)
    } else {
        Frame::ok()
    }
}

pub fn rename(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    rename_generic(db, ctx.now_ms, args, false)
}

pub fn renamenx(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    rename_generic(db, ctx.now_ms, args, true)
}

/// COPY source destination [DB destination-db] [REPLACE]: the value and
/// its deadline, under a key of the same slot (there is one database).
pub fn copy(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let mut replace = false;
    let mut at = 3;
    while at < args.len() {
        if is(&args[at], "replace") {
            replace = true;
            at += 1;
        } else if is(&args[at], "db") && at + 1 < args.len() {
            // Checked where it is read, as Redis does (before a later
            // syntax error).
            match int_arg(&args[at + 1]) {
                Ok(0) => {}
                Ok(_) => return Frame::error("ERR DB index is out of range"),
                Err(e) => return e,
            }
            at += 2;
        } else {
            return Frame::error("ERR syntax error");
        }
    }
    if args[1] == args[2] {
        return Frame::error("ERR source and destination objects are the same");
    }
    let now = ctx.now_ms;
    let Some(entry) = db.get(&args[1], now).cloned() else { return Frame::Integer(0) };
    if !replace && db.get(&args[2], now).is_some() {
        return Frame::Integer(0);
    }
    db.get_mut(&args[2], now);
    db.put(&args[2], entry.value, entry.expire_at);
    Frame::Integer(1)
}
