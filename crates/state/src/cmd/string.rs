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
    if db.get(&args[1], ctx.now_ms).is_some() {
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

/// Adds `delta` to the integer at `key`. A refused increment (wrong
/// type, not an integer, overflow) leaves the key untouched.
fn incr_by(db: &mut Db, now: u64, key: &[u8], delta: i64) -> Frame {
    let checked = db.get_mut_checked(key, now, |value| {
        let current = match value {
            Value::Int(n) => Some(*n),
            Value::Inline(s) => crate::num::parse_i64(s.as_bytes()),
            Value::Str(s) => crate::num::parse_i64(s),
            _ => return Err(wrongtype()),
        };
        current.ok_or_else(not_integer)?.checked_add(delta).ok_or_else(overflow)
    });
    match checked {
        Err(refused) => refused,
        Ok(None) => {
            db.upsert(key, now, Value::Int(delta), Ttl::Clear);
            Frame::Integer(delta)
        }
        Ok(Some((entry, next))) => {
            // Updated in place: the key keeps its deadline, as in Redis.
            entry.value = Value::Int(next);
            Frame::Integer(next)
        }
    }
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
    let suffix = &args[2];
    reply(string_len(db, &args[1], ctx.now_ms).and_then(|len| {
        let Some(len) = len else {
            db.put(&args[1], Value::string(suffix), 0);
            return Ok(Frame::Integer(suffix.len() as i64));
        };
        if len + suffix.len() > MAX_STRING {
            return Err(too_long());
        }
        edit_string(db, ctx.now_ms, &args[1], 0, |buf| {
            make_room(buf, buf.len() + suffix.len());
            buf.extend_from_slice(suffix);
            Frame::Integer(buf.len() as i64)
        })
    }))
}

fn too_long() -> Frame {
    Frame::error("ERR string exceeds maximum allowed size (proto-max-bulk-len)")
}

/// The length of the string at `key`: Ok(None) if absent, Err(WRONGTYPE)
/// if another type. Copies nothing.
pub(crate) fn string_len(db: &Db, key: &[u8], now: u64) -> Result<Option<usize>, Frame> {
    match db.get(key, now).map(|entry| &entry.value) {
        None => Ok(None),
        Some(Value::Str(b)) => Ok(Some(b.len())),
        Some(Value::Inline(s)) => Ok(Some(s.as_bytes().len())),
        Some(Value::Int(n)) => Ok(Some(decimal_len(*n))),
        Some(_) => Err(wrongtype()),
    }
}

/// How many bytes `n` takes in decimal.
fn decimal_len(n: i64) -> usize {
    let digits = n.unsigned_abs().checked_ilog10().map_or(1, |log| log as usize + 1);
    digits + usize::from(n < 0)
}

/// Below this a string buffer that must grow doubles (as Redis's sds);
/// from it on it grows by an eighth, at least this much, so its spare room
/// stays bounded while a run of appends still copies each byte O(1) times.
const GREEDY_BELOW: usize = 1 << 20;

/// Makes room in `buf` for `needed` bytes. A buffer that was empty gets
/// exactly that (most strings are written once); one that grows gets spare
/// room, so the next append to it copies nothing.
pub(crate) fn make_room(buf: &mut BytesMut, needed: usize) {
    if buf.capacity() >= needed {
        return;
    }
    let capacity = if buf.is_empty() {
        needed
    } else if needed < GREEDY_BELOW {
        needed * 2
    } else {
        needed + (needed / 8).max(GREEDY_BELOW)
    };
    let mut grown = BytesMut::with_capacity(capacity);
    grown.extend_from_slice(buf);
    *buf = grown;
}

/// Changes the string at `key` where it lies: `edit` gets its bytes,
/// padded with zero bytes to at least `min_len`, and returns the reply;
/// the deadline is kept. The stored buffer itself is changed when nothing
/// else holds it, so APPEND costs what it appends and SETRANGE and SETBIT
/// what they patch, as in Redis; otherwise it is copied once. A missing
/// key starts empty. Err(WRONGTYPE) for another type, nothing changed.
pub(crate) fn edit_string(
    db: &mut Db,
    now: u64,
    key: &[u8],
    min_len: usize,
    edit: impl FnOnce(&mut BytesMut) -> Frame,
) -> Result<Frame, Frame> {
    assert!(min_len <= MAX_STRING, "callers bound the length first");
    let entry = db.get_mut_kind(key, now, Value::is_string).map_err(|_| wrongtype())?;
    let (mut buf, entry) = match entry {
        Some(entry) => {
            let value = std::mem::replace(&mut entry.value, Value::Int(0));
            (value.into_string_buffer().expect("checked to be a string"), Some(entry))
        }
        None => (BytesMut::new(), None),
    };
    if buf.len() < min_len {
        make_room(&mut buf, min_len);
        buf.resize(min_len, 0);
    }
    let out = edit(&mut buf);
    let value = Value::string_from(buf.freeze());
    match entry {
        Some(entry) => entry.value = value,
        None => db.put(key, value, 0),
    }
    Ok(out)
}

pub fn strlen(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(string_len(db, &args[1], ctx.now_ms).map(|len| Frame::Integer(len.unwrap_or(0) as i64)))
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
    let patch = &args[3];
    reply(string_len(db, &args[1], ctx.now_ms).and_then(|len| {
        // An empty patch changes nothing, not even a missing key.
        if patch.is_empty() {
            return Ok(Frame::Integer(len.unwrap_or(0) as i64));
        }
        let end = offset.checked_add(patch.len()).filter(|&end| end <= MAX_STRING).ok_or_else(too_long)?;
        edit_string(db, ctx.now_ms, &args[1], end, |buf| {
            buf[offset..end].copy_from_slice(patch);
            Frame::Integer(buf.len() as i64)
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(db: &mut Db, words: &[&str]) -> Frame {
        let mut ctx = ExecCtx::new(1, crate::db::Mode::Apply, 1);
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        db.execute(&mut ctx, &args)
    }

    fn stored_ptr(db: &Db, key: &str) -> *const u8 {
        match &db.get(key.as_bytes(), 1).expect("present").value {
            Value::Str(b) => b.as_ptr(),
            other => panic!("expected a long string, got {other:?}"),
        }
    }

    #[test]
    fn appends_change_the_stored_buffer_where_it_lies() {
        let mut db = Db::new();
        let chunk = "x".repeat(100);
        exec(&mut db, &["APPEND", "log", &chunk]);
        exec(&mut db, &["APPEND", "log", &chunk]);
        // The second append grew the buffer with room to spare: the next
        // ones fill that room without moving or copying the string.
        let ptr = stored_ptr(&db, "log");
        assert_eq!(exec(&mut db, &["APPEND", "log", &chunk]), Frame::Integer(300));
        assert_eq!(exec(&mut db, &["APPEND", "log", &chunk]), Frame::Integer(400));
        assert_eq!(stored_ptr(&db, "log"), ptr);
        assert_eq!(exec(&mut db, &["SETRANGE", "log", "398", "yz"]), Frame::Integer(400));
        assert_eq!(stored_ptr(&db, "log"), ptr);
        assert_eq!(exec(&mut db, &["GETRANGE", "log", "396", "-1"]), Frame::bulk("xxyz"));
    }

    #[test]
    fn a_buffer_a_reply_still_holds_is_copied_not_changed() {
        let mut db = Db::new();
        let long = "a".repeat(64);
        exec(&mut db, &["SET", "k", &long]);
        let read = exec(&mut db, &["GET", "k"]);
        assert_eq!(exec(&mut db, &["APPEND", "k", "b"]), Frame::Integer(65));
        assert_eq!(read, Frame::bulk(long.clone()), "the earlier reply is unchanged");
        assert_eq!(exec(&mut db, &["GET", "k"]), Frame::bulk(format!("{long}b")));
    }

    #[test]
    fn growth_keeps_spare_room_bounded() {
        let mut buf = BytesMut::new();
        make_room(&mut buf, 10);
        assert_eq!(buf.capacity(), 10, "a first write gets what it needs");
        buf.extend_from_slice(&[1; 10]);
        make_room(&mut buf, 11);
        assert!(buf.capacity() >= 22);
        let mut big = BytesMut::from(&vec![7u8; 8 << 20][..]);
        make_room(&mut big, (8 << 20) + 1);
        assert!(big.capacity() <= (9 << 20) + 1, "an eighth more, not double");
        assert!(big.iter().all(|&b| b == 7));
    }

    #[test]
    fn lengths_of_every_encoding() {
        let mut db = Db::new();
        for (value, len) in [("0", 1), ("-1", 2), ("9223372036854775807", 19), ("-9223372036854775808", 20), ("ab", 2)]
        {
            exec(&mut db, &["SET", "k", value]);
            assert_eq!(exec(&mut db, &["STRLEN", "k"]), Frame::Integer(len), "{value}");
            assert_eq!(exec(&mut db, &["APPEND", "k", "1"]), Frame::Integer(len + 1), "{value}");
        }
    }
}
