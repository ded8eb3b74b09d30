//! Stream commands: XADD, XLEN, XRANGE, XREVRANGE, XDEL, XTRIM, XSETID.
//! Replies and error texts follow Redis 7.

use super::{is, reply, syntax, wrong_arity, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::stream::id::{Parsed, MAX_ID_TEXT};
use crate::stream::{Entry, Fields, Stream, StreamId, Trim, DEFAULT_TRIM_LIMIT};
use crate::value::{SharedText, Value};
use bytes::Bytes;
use weir_protocol::Frame;

pub(super) fn read<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Option<&'a Stream>, Frame> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Stream(s)) => Ok(Some(s)),
        Some(_) => Err(wrongtype()),
    }
}

/// The stream at `key` for writing; a key of another type is left
/// untouched (no version change for WATCH).
pub(super) fn write_existing<'a>(db: &'a mut Db, key: &[u8], now: u64) -> Result<Option<&'a mut Stream>, Frame> {
    let entry = db.get_mut_kind(key, now, |v| matches!(v, Value::Stream(_))).map_err(|_| wrongtype())?;
    match entry.map(|e| &mut e.value) {
        Some(Value::Stream(s)) => Ok(Some(s)),
        _ => Ok(None),
    }
}

/// An entry as Redis replies it: `[id, [field, value, ...]]`.
pub fn entry_frame(id: StreamId, entry: &Entry) -> Frame {
    entry_frames(&[(id, entry)]).pop().expect("one entry, one frame")
}

/// Entries as Redis replies them (XRANGE, XREAD, XREADGROUP, XCLAIM), their
/// IDs formatted and their fields copied into one shared allocation: one
/// allocation per reply, not one per ID or field.
pub fn entry_frames(entries: &[(StreamId, &Entry)]) -> Vec<Frame> {
    let bytes = entries.iter().map(|(_, e)| MAX_ID_TEXT + e.fields.text_len()).sum();
    let mut shared = SharedText::with_capacity(bytes, entries.iter().map(|(_, e)| 1 + e.fields.len()).sum());
    for (id, entry) in entries {
        shared.push_with(|text| id.write_text(text));
        entry.fields.iter().for_each(|field| shared.push(field));
    }
    let mut texts = shared.finish().into_iter().map(Frame::Bulk);
    entries
        .iter()
        .map(|(_, entry)| {
            let id = texts.next().expect("a text per ID");
            let fields = texts.by_ref().take(entry.fields.len()).collect();
            Frame::Array(vec![id, Frame::Array(fields)])
        })
        .collect()
}

/// The trimming options shared by XADD and XTRIM.
#[derive(Default)]
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    /// Entries the trim may remove (0: unlimited).
    limit: u64,
    nomkstream: bool,
}

/// Parses options from `args[2..]`; for XADD stops at `*` or the ID and
/// returns its index.
fn trim_args(args: &[Bytes], xadd: bool) -> Result<(TrimArgs, usize), Frame> {
    let mut out = TrimArgs::default();
    let mut i = 2;
    while i < args.len() {
        let more = args.len() - 1 - i;
        let opt = &args[i];
        if xadd && opt.as_ref() == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            let maxlen = is(opt, "maxlen");
            let mut next = &args[i + 1];
            if (next.as_ref() == b"~" || next.as_ref() == b"=") && more > 1 {
                out.approx = next.as_ref() == b"~";
                i += 1;
                next = &args[i + 1];
            }
            let trim = if maxlen {
                let n = crate::num::parse_i64(next).ok_or_else(super::not_integer)?;
                if n < 0 {
                    return Err(Frame::error("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(StreamId::parse_exact(next, 0)?)
            };
            if out.trim.is_some_and(|t| std::mem::discriminant(&t) != std::mem::discriminant(&trim)) {
                return Err(Frame::error(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            out.trim = Some(trim);
            i += 2;
        } else if is(opt, "limit") && more > 0 {
            let n = super::int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(Frame::error("ERR The LIMIT argument must be >= 0."));
            }
            out.limit = n as u64;
            i += 2;
        } else if xadd && is(opt, "nomkstream") {
            out.nomkstream = true;
            i += 1;
        } else if xadd {
            break; // the ID (checked by the caller)
        } else {
            return Err(syntax());
        }
    }
    if out.limit != 0 && out.trim.is_none() {
        return Err(Frame::error("ERR syntax error, LIMIT cannot be used without specifying a trimming strategy"));
    }
    if !xadd && out.trim.is_none() {
        return Err(Frame::error("ERR syntax error, XTRIM must be called with a trimming strategy"));
    }
    if out.limit != 0 && !out.approx {
        return Err(Frame::error("ERR syntax error, LIMIT cannot be used without the special ~ option"));
    }
    if out.approx && out.limit == 0 {
        out.limit = DEFAULT_TRIM_LIMIT;
    }
    Ok((out, i))
}

/// The ID XADD assigns: `*`, `ms-*` or explicit, greater than `last`.
fn next_id(arg: &[u8], last: StreamId, now_ms: u64) -> Result<StreamId, Frame> {
    let too_small = || Frame::error("ERR The ID specified in XADD is equal or smaller than the target stream top item");
    if last == StreamId::MAX {
        return Err(Frame::error("ERR The stream has exhausted the last possible ID, unable to add more items"));
    }
    if arg == b"*" {
        return Ok(match now_ms > last.ms {
            true => StreamId::new(now_ms, 0),
            false => last.next().expect("last is not MAX"),
        });
    }
    let id = match StreamId::parse_strict(arg, 0, true)? {
        Parsed::Id(id) => id,
        Parsed::AutoSeq(ms) if ms > last.ms => StreamId::new(ms, 0),
        Parsed::AutoSeq(ms) if ms == last.ms => StreamId::new(ms, last.seq.checked_add(1).ok_or_else(too_small)?),
        Parsed::AutoSeq(_) => return Err(too_small()),
    };
    if id <= last {
        return Err(too_small());
    }
    Ok(id)
}

pub fn xadd(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xadd_inner(db, ctx, args))
}

fn xadd_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let (opts, id_at) = trim_args(args, true)?;
    // The ID's syntax is checked first, then the arity, then 0-0, all
    // before a stream is created.
    let explicit = match args.get(id_at) {
        Some(arg) if arg.as_ref() != b"*" => Some(StreamId::parse_strict(arg, 0, true)?),
        _ => None,
    };
    let fields = args.get(id_at + 1..).unwrap_or_default();
    if id_at >= args.len() || fields.is_empty() || fields.len() % 2 == 1 {
        return Err(wrong_arity(&args[0]));
    }
    if explicit == Some(Parsed::Id(StreamId::MIN)) {
        return Err(Frame::error("ERR The ID specified in XADD must be greater than 0-0"));
    }
    let now = ctx.now_ms;
    // The ID is settled before anything changes: a refused one touches
    // nothing a WATCH sees.
    let last_id = match read(db, &args[1], now)? {
        Some(stream) => Some(stream.last_id),
        None if opts.nomkstream => return Ok(Frame::Null),
        None => None,
    };
    let id = next_id(&args[id_at], last_id.unwrap_or_else(|| Stream::default().last_id), now)?;
    if last_id.is_none() {
        db.put(&args[1], Value::Stream(Box::default()), 0);
    }
    let stream = write_existing(db, &args[1], now)?.expect("created above");
    // Copied: the arguments are slices of the whole Raft batch.
    stream.push(id, Fields::pack(fields.iter().map(|f| &f[..])));
    if let Some(trim) = opts.trim {
        stream.trim(trim, opts.approx, opts.limit);
    }
    db.signal_ready(&args[1]);
    Ok(Frame::Bulk(ctx.text(MAX_ID_TEXT, |out| id.write_text(out))))
}

pub fn xlen(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, &args[1], ctx.now_ms).map(|s| Frame::Integer(s.map_or(0, |s| s.len() as i64))))
}

pub fn xrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(range(db, ctx, args, false))
}

pub fn xrevrange(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(range(db, ctx, args, true))
}

fn range(db: &Db, ctx: &ExecCtx, args: &[Bytes], rev: bool) -> Result<Frame, Frame> {
    let (start_arg, end_arg) = if rev { (&args[3], &args[2]) } else { (&args[2], &args[3]) };
    let (mut start, start_ex) = StreamId::parse_bound(start_arg, 0)?;
    if start_ex {
        start = start.next().ok_or_else(|| Frame::error("ERR invalid start ID for the interval"))?;
    }
    let (mut end, end_ex) = StreamId::parse_bound(end_arg, u64::MAX)?;
    if end_ex {
        end = end.prev().ok_or_else(|| Frame::error("ERR invalid end ID for the interval"))?;
    }
    let mut count: Option<i64> = None;
    let mut i = 4;
    while i < args.len() {
        if is(&args[i], "count") && i + 1 < args.len() {
            count = Some(super::int_arg(&args[i + 1])?.max(0));
            i += 2;
        } else {
            return Err(syntax());
        }
    }
    let Some(stream) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Array(Vec::new())) };
    if count == Some(0) {
        return Ok(Frame::NullArray);
    }
    let entries = stream.range(start, end, rev, count.unwrap_or(0) as usize);
    Ok(Frame::Array(entry_frames(&entries)))
}

pub fn xdel(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let ids: Result<Vec<StreamId>, Frame> = args[2..].iter().map(|a| StreamId::parse_exact(a, 0)).collect();
    let ids = match ids {
        Ok(ids) => ids,
        Err(e) => return e,
    };
    // Deleting none of its entries changes nothing (no change for WATCH).
    match read(db, &args[1], ctx.now_ms) {
        Err(e) => return e,
        Ok(None) => return Frame::Integer(0),
        Ok(Some(stream)) if !ids.iter().any(|id| stream.contains(*id)) => return Frame::Integer(0),
        Ok(Some(_)) => {}
    }
    reply(write_existing(db, &args[1], ctx.now_ms).map(|stream| {
        let Some(stream) = stream else { return Frame::Integer(0) };
        Frame::Integer(ids.into_iter().filter(|id| stream.delete(*id)).count() as i64)
    }))
}

pub fn xtrim(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xtrim_inner(db, ctx, args))
}

fn xtrim_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let Some(stream) = read(db, &args[1], ctx.now_ms)? else { return Ok(Frame::Integer(0)) };
    let (opts, _) = trim_args(args, false)?;
    let trim = opts.trim.expect("trim_args insists on a strategy for XTRIM");
    // A trim that removes nothing changes nothing (no change for WATCH).
    if !stream.trims_any(trim, opts.approx, opts.limit) {
        return Ok(Frame::Integer(0));
    }
    let stream = write_existing(db, &args[1], ctx.now_ms)?.expect("checked above");
    Ok(Frame::Integer(stream.trim(trim, opts.approx, opts.limit) as i64))
}

pub fn xsetid(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xsetid_inner(db, ctx, args))
}

fn xsetid_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let id = StreamId::parse_exact(&args[2], 0)?;
    let (mut entries_added, mut max_deleted) = (None, None);
    let mut i = 3;
    while i < args.len() {
        let more = i + 1 < args.len();
        if is(&args[i], "entriesadded") && more {
            let n = super::int_arg(&args[i + 1])?;
            if n < 0 {
                return Err(Frame::error("ERR entries_added must be positive"));
            }
            entries_added = Some(n as u64);
        } else if is(&args[i], "maxdeletedid") && more {
            max_deleted = Some(StreamId::parse_exact(&args[i + 1], 0)?);
        } else {
            return Err(syntax());
        }
        i += 2;
    }
    // Checked on the stream as it is, changed only once every check passed.
    let stream = read(db, &args[1], ctx.now_ms)?.ok_or_else(|| Frame::error("ERR no such key"))?;
    // Redis 7's order of checks.
    if !stream.is_empty() {
        if id < stream.max_live_id() {
            return Err(Frame::error("ERR The ID specified in XSETID is smaller than the target stream top item"));
        }
        if entries_added.is_some_and(|n| (stream.len() as u64) > n) {
            return Err(Frame::error(
                "ERR The entries_added specified in XSETID is smaller than the target stream length",
            ));
        }
    }
    match max_deleted {
        Some(max) if id < max => {
            return Err(Frame::error(
                "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
            ))
        }
        None if id < stream.max_deleted_id => {
            return Err(Frame::error("ERR The ID specified in XSETID is smaller than current max_deleted_entry_id"))
        }
        _ => {}
    }
    let stream = write_existing(db, &args[1], ctx.now_ms)?.expect("checked above");
    stream.last_id = id;
    if let Some(n) = entries_added {
        stream.entries_added = n;
    }
    if let Some(max) = max_deleted.filter(|max| *max != StreamId::MIN) {
        stream.max_deleted_id = max;
    }
    Ok(Frame::ok())
}
