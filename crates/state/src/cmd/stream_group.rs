//! Stream reads and consumer groups: XREAD, XREADGROUP, XGROUP, XACK,
//! XPENDING. Replies and error texts follow Redis 7.0.

use super::stream::{entry_frame, entry_frames, read as stream_ref, write_existing as stream_mut};
use super::{int_arg, is, reply, syntax};
use crate::db::{Db, ExecCtx};
use crate::stream::group::MAX_PENDING_PER_GROUP;
use crate::stream::{Group, Stream, StreamId};
use bytes::Bytes;
use weir_protocol::Frame;

pub(super) fn name(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `-`, `+` or an ID (XGROUP SETID's loose form).
pub(super) fn loose_id(arg: &[u8]) -> Result<StreamId, Frame> {
    match arg {
        b"-" => Ok(StreamId::MIN),
        b"+" => Ok(StreamId::MAX),
        _ => StreamId::parse_exact(arg, 0),
    }
}

/// XREAD / XREADGROUP arguments.
pub struct ReadArgs {
    /// BLOCK, in milliseconds.
    pub block_ms: Option<u64>,
    pub count: usize,
    pub keys: Vec<Bytes>,
    pub ids: Vec<Bytes>,
    pub group: Option<(Bytes, Bytes)>,
    pub noack: bool,
    /// Index of the first key.
    pub keys_at: usize,
}

/// Parses XREAD or XREADGROUP (`group_form`) arguments, Redis's order of
/// checks included.
pub fn read_args(args: &[Bytes], group_form: bool) -> Result<ReadArgs, Frame> {
    let mut out =
        ReadArgs { block_ms: None, count: 0, keys: Vec::new(), ids: Vec::new(), group: None, noack: false, keys_at: 0 };
    let mut streams_at = None;
    let mut i = 1;
    while i < args.len() {
        let more = args.len() - i - 1;
        let opt = &args[i];
        if is(opt, "block") && more > 0 {
            let ms = crate::num::parse_i64(&args[i + 1])
                .ok_or_else(|| Frame::error("ERR timeout is not an integer or out of range"))?;
            if ms < 0 {
                return Err(Frame::error("ERR timeout is negative"));
            }
            out.block_ms = Some(ms as u64);
            i += 2;
        } else if is(opt, "count") && more > 0 {
            out.count = int_arg(&args[i + 1])?.max(0) as usize;
            i += 2;
        } else if is(opt, "streams") && more > 0 {
            let rest = &args[i + 1..];
            if !rest.len().is_multiple_of(2) {
                return Err(Frame::error(
                    "ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified.",
                ));
            }
            streams_at = Some(i + 1);
            break;
        } else if is(opt, "group") && more >= 2 {
            if !group_form {
                return Err(Frame::error(
                    "ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.group = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if is(opt, "noack") {
            if !group_form {
                return Err(Frame::error(
                    "ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead.",
                ));
            }
            out.noack = true;
            i += 1;
        } else {
            return Err(syntax());
        }
    }
    let Some(at) = streams_at else { return Err(syntax()) };
    if group_form && out.group.is_none() {
        return Err(Frame::error("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (args.len() - at) / 2;
    out.keys_at = at;
    out.keys = args[at..at + n].to_vec();
    out.ids = args[at + n..].to_vec();
    Ok(out)
}

/// Where XREAD / XREADGROUP keys sit: the first half after STREAMS (found
/// by the same parse the command uses, so a group named "streams" is no
/// trap). Empty when the arguments are malformed.
pub fn read_keys(args: &[Bytes]) -> std::ops::Range<usize> {
    let group_form = args[0].eq_ignore_ascii_case(b"xreadgroup");
    match read_args(args, group_form) {
        Ok(parsed) => parsed.keys_at..parsed.keys_at + parsed.keys.len(),
        Err(_) => 0..0,
    }
}

/// What one stream's read asks for.
enum From {
    /// Entries after this ID.
    After(StreamId),
    /// XREADGROUP `>`: entries never delivered to the group.
    New,
    /// XREADGROUP with an ID: the consumer's own pending entries after it.
    History(StreamId),
}

pub fn xread(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, ctx, args, false))
}

pub fn xreadgroup(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(read(db, ctx, args, true))
}

fn read(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], group_form: bool) -> Result<Frame, Frame> {
    let parsed = read_args(args, group_form)?;
    let now = ctx.now_ms;
    // Resolve every ID (and check every key and group) before serving any.
    let mut plan = Vec::with_capacity(parsed.keys.len());
    for (key, arg) in parsed.keys.iter().zip(&parsed.ids) {
        let stream = stream_ref(db, key, now)?;
        if let Some((group, _)) = &parsed.group {
            if stream.and_then(|s| s.groups.get(group)).is_none() {
                return Err(Frame::error(format!(
                    "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                    name(key),
                    name(group)
                )));
            }
        }
        let from = match arg.as_ref() {
            b"$" if group_form => return Err(Frame::error(DOLLAR_IN_GROUP)),
            b"$" => From::After(stream.map_or(StreamId::MIN, |s| s.last_id)),
            b">" if !group_form => return Err(Frame::error(
                "ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.",
            )),
            b">" => From::New,
            _ if group_form => From::History(StreamId::parse_exact(arg, 0)?),
            _ => From::After(StreamId::parse_exact(arg, 0)?),
        };
        plan.push((key.clone(), from));
    }
    let mut served = Vec::new();
    for (key, from) in plan {
        let Some(stream) = stream_mut(db, &key, now)? else { continue };
        let entries = match (&parsed.group, from) {
            (None, From::After(after)) => after_entries(stream, after, parsed.count),
            (Some((group, consumer)), from) => group_entries(stream, group, consumer, from, &parsed, now)?,
            (None, _) => unreachable!("group reads need a group"),
        };
        if let Some(entries) = entries {
            served.push((Frame::Bulk(key), Frame::Array(entries)));
        }
    }
    Ok(if served.is_empty() { Frame::NullArray } else { Frame::Keyed(served) })
}

const DOLLAR_IN_GROUP: &str = "ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history \
of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty \
result set.";

/// XREAD: entries after `after`, or `None` if there are none.
fn after_entries(stream: &Stream, after: StreamId, count: usize) -> Option<Vec<Frame>> {
    if stream.is_empty() || stream.max_live_id() <= after {
        return None;
    }
    let start = after.next()?;
    Some(entry_frames(&stream.range(start, StreamId::MAX, false, count)))
}

/// XREADGROUP on one stream: new entries (delivered and made pending) or
/// the consumer's history; `None` when `>` finds nothing new.
fn group_entries(
    stream: &mut Stream,
    group_name: &Bytes,
    consumer: &Bytes,
    from: From,
    parsed: &ReadArgs,
    now: u64,
) -> Result<Option<Vec<Frame>>, Frame> {
    let (name, mut group) = stream.groups.remove_entry(&group_name[..]).expect("checked by the caller");
    let served = serve_group(stream, &mut group, consumer, from, parsed, now);
    stream.groups.insert(name, group);
    served
}

fn serve_group(
    stream: &Stream,
    group: &mut Group,
    consumer: &Bytes,
    from: From,
    parsed: &ReadArgs,
    now: u64,
) -> Result<Option<Vec<Frame>>, Frame> {
    match from {
        From::History(after) => {
            group.consumer(consumer, now);
            let mine = &group.consumers[consumer].pending;
            let limit = if parsed.count == 0 { usize::MAX } else { parsed.count };
            // After `after`, as for new entries.
            let bounds = (std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded);
            let ids: Vec<StreamId> = mine.range(bounds).take(limit).copied().collect();
            let mut out = Vec::with_capacity(ids.len());
            for id in ids {
                match stream.entries.get(&id) {
                    Some(entry) => {
                        let pending = group.pel.get_mut(&id).expect("a consumer's pending entry is in the PEL");
                        pending.delivered_ms = now;
                        pending.deliveries += 1;
                        out.push(entry_frame(id, entry));
                    }
                    // Deleted since delivery: the ID with a null entry.
                    None => out.push(Frame::Array(vec![Frame::Bulk(id.to_bytes()), Frame::NullArray])),
                }
            }
            Ok(Some(out))
        }
        From::New | From::After(_) => {
            if stream.is_empty() || stream.max_live_id() <= group.last_delivered {
                return Ok(None);
            }
            if !parsed.noack && group.pel.len() >= MAX_PENDING_PER_GROUP {
                return Err(Frame::error(format!(
                    "ERR the group's pending entries list is full ({MAX_PENDING_PER_GROUP}): acknowledge entries first"
                )));
            }
            group.consumer(consumer, now);
            let start = group.last_delivered.next().expect("below the max live ID");
            let entries = stream.range(start, StreamId::MAX, false, parsed.count);
            for &(id, _) in &entries {
                group.advance(stream, id);
                if !parsed.noack {
                    group.deliver(id, consumer, now);
                }
            }
            Ok(Some(entry_frames(&entries)))
        }
    }
}

pub fn xack(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xack_inner(db, ctx, args))
}

fn xack_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let Some(group) = stream_ref(db, &args[1], ctx.now_ms)?.and_then(|s| s.groups.get(&args[2])) else {
        return Ok(Frame::Integer(0));
    };
    let ids = args[3..].iter().map(|a| StreamId::parse_exact(a, 0)).collect::<Result<Vec<_>, _>>()?;
    // Nothing pending among them: nothing is written (no change for WATCH).
    if !ids.iter().any(|id| group.pel.contains_key(id)) {
        return Ok(Frame::Integer(0));
    }
    let stream = stream_mut(db, &args[1], ctx.now_ms)?.expect("read above");
    let group = stream.groups.get_mut(&args[2]).expect("read above");
    Ok(Frame::Integer(ids.into_iter().filter(|id| group.ack(*id)).count() as i64))
}

pub fn xpending(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xpending_inner(db, ctx, args))
}

fn xpending_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(syntax());
    }
    let mut range = None;
    if argc >= 6 {
        let mut at = 3;
        let mut min_idle = 0;
        if is(&args[3], "idle") {
            min_idle = int_arg(&args[4])?;
            if argc < 8 {
                return Err(syntax());
            }
            at += 2;
        }
        let count = int_arg(&args[at + 2])?.max(0) as usize;
        let (mut start, start_ex) = StreamId::parse_bound(&args[at], 0)?;
        if start_ex {
            start = start.next().ok_or_else(|| Frame::error("ERR invalid start ID for the interval"))?;
        }
        let (mut end, end_ex) = StreamId::parse_bound(&args[at + 1], u64::MAX)?;
        if end_ex {
            end = end.prev().ok_or_else(|| Frame::error("ERR invalid end ID for the interval"))?;
        }
        range = Some((min_idle, start, end, count, args.get(at + 3).cloned()));
    }
    let now = ctx.now_ms;
    let group = stream_ref(db, &args[1], now)?.and_then(|s| s.groups.get(&args[2])).ok_or_else(|| {
        Frame::error(format!("NOGROUP No such key '{}' or consumer group '{}'", name(&args[1]), name(&args[2])))
    })?;
    let Some((min_idle, start, end, count, consumer)) = range else { return Ok(pending_summary(group)) };
    let ids: Box<dyn Iterator<Item = &StreamId>> = match &consumer {
        Some(consumer) => match group.consumers.get(consumer) {
            Some(c) => Box::new(c.pending.iter()),
            None => return Ok(Frame::Array(Vec::new())),
        },
        None => Box::new(group.pel.keys()),
    };
    let mut out = Vec::new();
    for id in ids.filter(|id| **id >= start && **id <= end) {
        if out.len() >= count {
            break;
        }
        let pending = &group.pel[id];
        let idle = now.saturating_sub(pending.delivered_ms);
        if min_idle != 0 && (idle as i64) < min_idle {
            continue;
        }
        out.push(Frame::Array(vec![
            Frame::Bulk(id.to_bytes()),
            Frame::Bulk(pending.consumer.clone()),
            Frame::Integer(idle as i64),
            Frame::Integer(pending.deliveries as i64),
        ]));
    }
    Ok(Frame::Array(out))
}

fn pending_summary(group: &Group) -> Frame {
    let (Some(first), Some(last)) = (group.pel.keys().next(), group.pel.keys().next_back()) else {
        return Frame::Array(vec![Frame::Integer(0), Frame::Null, Frame::Null, Frame::NullArray]);
    };
    let owners = group
        .consumers
        .iter()
        .filter(|(_, c)| !c.pending.is_empty())
        .map(|(name, c)| {
            Frame::Array(vec![Frame::Bulk(name.clone()), Frame::Bulk(Bytes::from(c.pending.len().to_string()))])
        })
        .collect();
    Frame::Array(vec![
        Frame::Integer(group.pel.len() as i64),
        Frame::Bulk(first.to_bytes()),
        Frame::Bulk(last.to_bytes()),
        Frame::Array(owners),
    ])
}

/// XREAD's arguments with each `$` replaced by its stream's last ID (0-0
/// for a missing key), for a blocked read that is run again later.
pub fn resolve_last_ids(db: &Db, now: u64, mut args: Vec<Bytes>) -> Result<Vec<Bytes>, Frame> {
    let keys = read_keys(&args);
    let n = keys.len();
    for i in keys {
        if args[i + n].as_ref() == b"$" {
            let last = stream_ref(db, &args[i], now)?.map_or(StreamId::MIN, |s| s.last_id);
            args[i + n] = last.to_bytes();
        }
    }
    Ok(args)
}
