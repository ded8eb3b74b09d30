//! Taking over pending entries: XCLAIM and XAUTOCLAIM (how a crashed
//! worker's entries reach a live one). Replies follow Redis 7.0.

use super::stream::{entry_frame, read as stream_ref, write_existing as stream_mut};
use super::stream_group::name;
use super::{is, reply, syntax};
use crate::db::{Db, ExecCtx};
use crate::stream::{Group, Pending, Stream, StreamId};
use bytes::Bytes;
use std::ops::Bound;
use weir_protocol::Frame;

/// XAUTOCLAIM examines at most COUNT × this many PEL entries per call.
const ATTEMPTS_FACTOR: usize = 10;
/// XAUTOCLAIM's default COUNT.
const DEFAULT_AUTOCLAIM_COUNT: usize = 100;
/// XAUTOCLAIM's largest COUNT (bounds one call's work and reply).
const MAX_AUTOCLAIM_COUNT: i64 = 1 << 20;

fn nogroup(args: &[Bytes]) -> Frame {
    Frame::error(format!("NOGROUP No such key '{}' or consumer group '{}'", name(&args[1]), name(&args[2])))
}

/// A number, or the command's own error text for it.
fn number(arg: &[u8], error: &str) -> Result<i64, Frame> {
    crate::num::parse_i64(arg).ok_or_else(|| Frame::error(format!("ERR {error}")))
}

/// The group, taken out of its stream for the length of a claim (so the
/// stream's entries stay readable beside it).
fn with_group<R>(db: &mut Db, args: &[Bytes], now: u64, f: impl FnOnce(&Stream, &mut Group) -> R) -> Result<R, Frame> {
    let stream = stream_mut(db, &args[1], now)?.ok_or_else(|| nogroup(args))?;
    let (name, mut group) = stream.groups.remove_entry(&args[2][..]).ok_or_else(|| nogroup(args))?;
    let out = f(stream, &mut group);
    stream.groups.insert(name, group);
    Ok(out)
}

/// Gives `id` to `consumer` (created on first use), as both commands do.
fn take_over(group: &mut Group, id: StreamId, consumer: &Bytes, delivered_ms: u64, now: u64) {
    group.consumer(consumer, now);
    let consumer = &group.consumer_name(consumer);
    let previous = group.pel.get(&id).map(|p| p.consumer.clone());
    if let Some(previous) = previous.filter(|p| p != consumer) {
        if let Some(old) = group.consumers.get_mut(&previous) {
            old.pending.remove(&id);
        }
    }
    let pending = group.pel.entry(id).or_insert(Pending { consumer: consumer.clone(), delivered_ms, deliveries: 0 });
    pending.consumer = consumer.clone();
    pending.delivered_ms = delivered_ms;
    group.consumers.get_mut(consumer).expect("created above").pending.insert(id);
}

/// Drops a pending entry whose stream entry is gone.
fn forget(group: &mut Group, id: StreamId) {
    group.ack(id);
}

pub fn xclaim(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xclaim_inner(db, ctx, args))
}

struct ClaimOptions {
    delivered_ms: u64,
    retry_count: Option<u64>,
    force: bool,
    just_id: bool,
    last_id: StreamId,
}

fn claim_options(args: &[Bytes], now: u64) -> Result<ClaimOptions, Frame> {
    let mut o =
        ClaimOptions { delivered_ms: now, retry_count: None, force: false, just_id: false, last_id: StreamId::MIN };
    let mut delivery: Option<i64> = None;
    let mut j = 0;
    while j < args.len() {
        let more = j + 1 < args.len();
        let opt = &args[j];
        if is(opt, "force") {
            o.force = true;
        } else if is(opt, "justid") {
            o.just_id = true;
        } else if is(opt, "idle") && more {
            j += 1;
            delivery = Some(now as i64 - number(&args[j], "Invalid IDLE option argument for XCLAIM")?);
        } else if is(opt, "time") && more {
            j += 1;
            delivery = Some(number(&args[j], "Invalid TIME option argument for XCLAIM")?);
        } else if is(opt, "retrycount") && more {
            j += 1;
            o.retry_count = u64::try_from(number(&args[j], "Invalid RETRYCOUNT option argument for XCLAIM")?).ok();
        } else if is(opt, "lastid") && more {
            j += 1;
            o.last_id = StreamId::parse_exact(&args[j], 0)?;
        } else {
            return Err(Frame::error(format!("ERR Unrecognized XCLAIM option '{}'", name(opt))));
        }
        j += 1;
    }
    // A bogus time (negative, or in the future) means now, as in Redis.
    o.delivered_ms = delivery.filter(|t| *t >= 0 && *t as u64 <= now).map_or(now, |t| t as u64);
    Ok(o)
}

fn xclaim_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let now = ctx.now_ms;
    if stream_ref(db, &args[1], now)?.is_none_or(|s| !s.groups.contains_key(&args[2])) {
        return Err(nogroup(args));
    }
    let min_idle = number(&args[4], "Invalid min-idle-time argument for XCLAIM")?.max(0) as u64;
    // IDs run until the first argument that is not one; options follow.
    let ids: Vec<StreamId> = args[5..].iter().map_while(|a| StreamId::parse_exact(a, 0).ok()).collect();
    let options = claim_options(&args[5 + ids.len()..], now)?;
    let consumer = args[3].clone();
    with_group(db, args, now, |stream, group| {
        if options.last_id > group.last_delivered {
            group.last_delivered = options.last_id;
        }
        let mut out = Vec::new();
        for id in ids {
            let Some(entry) = stream.entries.get(&id) else {
                forget(group, id);
                continue;
            };
            let existing = group.pel.get(&id);
            if existing.is_none() && !options.force {
                continue;
            }
            if existing.is_some_and(|p| min_idle > 0 && now.saturating_sub(p.delivered_ms) < min_idle) {
                continue;
            }
            take_over(group, id, &consumer, options.delivered_ms, now);
            let pending = group.pel.get_mut(&id).expect("taken over");
            match options.retry_count {
                Some(n) => pending.deliveries = n,
                None if !options.just_id => pending.deliveries += 1,
                None => {}
            }
            out.push(if options.just_id { Frame::Bulk(id.to_bytes()) } else { entry_frame(id, entry) });
        }
        Frame::Array(out)
    })
}

pub fn xautoclaim(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xautoclaim_inner(db, ctx, args))
}

fn xautoclaim_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let now = ctx.now_ms;
    let min_idle = number(&args[4], "Invalid min-idle-time argument for XAUTOCLAIM")?.max(0) as u64;
    let (mut start, exclusive) = StreamId::parse_bound(&args[5], 0)?;
    if exclusive {
        start = start.next().ok_or_else(|| Frame::error("ERR invalid start ID for the interval"))?;
    }
    let (mut count, mut just_id) = (DEFAULT_AUTOCLAIM_COUNT, false);
    let mut j = 6;
    while j < args.len() {
        if is(&args[j], "count") && j + 1 < args.len() {
            let n = crate::num::parse_i64(&args[j + 1]).filter(|n| (1..=MAX_AUTOCLAIM_COUNT).contains(n));
            count = n.ok_or_else(|| Frame::error("ERR COUNT must be > 0"))? as usize;
            j += 1;
        } else if is(&args[j], "justid") {
            just_id = true;
        } else {
            return Err(syntax());
        }
        j += 1;
    }
    if stream_ref(db, &args[1], now)?.is_none_or(|s| !s.groups.contains_key(&args[2])) {
        return Err(nogroup(args));
    }
    let consumer = args[3].clone();
    with_group(db, args, now, |stream, group| {
        let (mut claimed, mut deleted, mut last_seen) = (Vec::new(), Vec::new(), None);
        let candidates: Vec<StreamId> =
            group.pel.range(start..).take(count * ATTEMPTS_FACTOR).map(|(id, _)| *id).collect();
        for id in candidates {
            if count == 0 {
                break;
            }
            last_seen = Some(id);
            let Some(entry) = stream.entries.get(&id) else {
                forget(group, id);
                deleted.push(Frame::Bulk(id.to_bytes()));
                count -= 1;
                continue;
            };
            if min_idle > 0 && now.saturating_sub(group.pel[&id].delivered_ms) < min_idle {
                continue;
            }
            take_over(group, id, &consumer, now, now);
            if !just_id {
                group.pel.get_mut(&id).expect("taken over").deliveries += 1;
            }
            claimed.push(if just_id { Frame::Bulk(id.to_bytes()) } else { entry_frame(id, entry) });
            count -= 1;
        }
        // The cursor: the first pending ID after the last one examined.
        let next = match last_seen {
            Some(last) => group.pel.range((Bound::Excluded(last), Bound::Unbounded)).next().map(|(id, _)| *id),
            None => None,
        };
        Frame::Array(vec![
            Frame::Bulk(next.unwrap_or(StreamId::MIN).to_bytes()),
            Frame::Array(claimed),
            Frame::Array(deleted),
        ])
    })
}
