//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS, as Redis
//! 7.0 answers them. `radix-tree-keys` and `radix-tree-nodes` describe
//! Redis's internal layout; weir reports its node count for both.

use super::stream::{entry_frame, entry_frames, read as stream_ref};
use super::stream_admin::{check_subcommand, help, subcommand_error};
use super::stream_group::name;
use super::{int_arg, is, reply};
use crate::db::{Db, ExecCtx};
use crate::stream::{Group, Stream, StreamId, NODE_ENTRIES};
use bytes::Bytes;
use weir_protocol::Frame;

const SUBCOMMANDS: &[(&str, i32)] = &[("consumers", 4), ("groups", 3), ("stream", -3), ("help", 2)];
const HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Shows the group's consumers.",
    "GROUPS <key>",
    "    Shows the stream's consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Shows the stream.",
    "HELP",
    "    Prints this help.",
];
/// Entries and pending entries XINFO STREAM FULL shows without COUNT.
const FULL_DEFAULT_COUNT: usize = 10;

fn field(name: &'static str, value: Frame) -> (Frame, Frame) {
    (Frame::Bulk(Bytes::from_static(name.as_bytes())), value)
}

fn id(id: StreamId) -> Frame {
    Frame::Bulk(id.to_bytes())
}

fn int(n: impl TryInto<i64>) -> Frame {
    Frame::Integer(n.try_into().unwrap_or(i64::MAX))
}

pub fn xinfo(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xinfo_inner(db, ctx, args))
}

fn xinfo_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let sub = check_subcommand("XINFO", SUBCOMMANDS, args)?;
    if sub == "help" {
        return Ok(help(HELP));
    }
    let now = ctx.now_ms;
    let stream = stream_ref(db, &args[2], now)?.ok_or_else(|| Frame::error("ERR no such key"))?;
    match sub.as_str() {
        "consumers" => {
            let group = stream.groups.get(&args[3]).ok_or_else(|| {
                Frame::error(format!(
                    "NOGROUP No such consumer group '{}' for key name '{}'",
                    name(&args[3]),
                    name(&args[2])
                ))
            })?;
            let consumers = group.consumers.iter().map(|(name, c)| {
                Frame::Map(vec![
                    field("name", Frame::Bulk(name.clone())),
                    field("pending", int(c.pending.len())),
                    field("idle", int(now.saturating_sub(c.seen_ms))),
                ])
            });
            Ok(Frame::Array(consumers.collect()))
        }
        "groups" => Ok(Frame::Array(stream.groups.iter().map(|(name, g)| group_summary(stream, name, g)).collect())),
        _ => stream_info(stream, args),
    }
}

fn group_summary(stream: &Stream, name: &Bytes, group: &Group) -> Frame {
    Frame::Map(vec![
        field("name", Frame::Bulk(name.clone())),
        field("consumers", int(group.consumers.len())),
        field("pending", int(group.pel.len())),
        field("last-delivered-id", id(group.last_delivered)),
        field("entries-read", group.entries_read.map_or(Frame::Null, int)),
        field("lag", lag(stream, group)),
    ])
}

fn lag(stream: &Stream, group: &Group) -> Frame {
    group.lag(stream).map_or(Frame::Null, Frame::Integer)
}

/// Nodes holding live entries (100 insertion ordinals each).
fn nodes(stream: &Stream) -> usize {
    let mut nodes: Vec<u64> = stream.entries.values().map(|e| e.ordinal / NODE_ENTRIES).collect();
    nodes.dedup();
    nodes.len()
}

fn stream_info(stream: &Stream, args: &[Bytes]) -> Result<Frame, Frame> {
    let options = &args[3..];
    let full = match options.len() {
        0 => None,
        1 if is(&options[0], "full") => Some(FULL_DEFAULT_COUNT),
        3 if is(&options[0], "full") && is(&options[1], "count") => {
            let n = int_arg(&options[2])?;
            Some(if n < 0 { FULL_DEFAULT_COUNT } else { n as usize })
        }
        _ => return Err(subcommand_error("XINFO", args)),
    };
    let mut out = vec![
        field("length", int(stream.len())),
        field("radix-tree-keys", int(nodes(stream))),
        field("radix-tree-nodes", int(nodes(stream))),
        field("last-generated-id", id(stream.last_id)),
        field("max-deleted-entry-id", id(stream.max_deleted_id)),
        field("entries-added", int(stream.entries_added)),
        field("recorded-first-entry-id", id(stream.first_id().unwrap_or_default())),
    ];
    let Some(count) = full else {
        let edge = |rev| {
            let first = stream.range(StreamId::MIN, StreamId::MAX, rev, 1);
            first.first().map_or(Frame::Null, |(i, e)| entry_frame(*i, e))
        };
        out.push(field("groups", int(stream.groups.len())));
        out.push(field("first-entry", edge(false)));
        out.push(field("last-entry", edge(true)));
        return Ok(Frame::Map(out));
    };
    let entries = stream.range(StreamId::MIN, StreamId::MAX, false, count);
    out.push(field("entries", Frame::Array(entry_frames(&entries))));
    let limit = if count == 0 { usize::MAX } else { count };
    let groups = stream.groups.iter().map(|(name, g)| {
        let pending = g.pel.iter().take(limit).map(|(i, p)| {
            Frame::Array(vec![id(*i), Frame::Bulk(p.consumer.clone()), int(p.delivered_ms), int(p.deliveries)])
        });
        let consumers = g.consumers.iter().map(|(cname, c)| {
            let mine = c.pending.iter().take(limit).map(|i| {
                let p = &g.pel[i];
                Frame::Array(vec![id(*i), int(p.delivered_ms), int(p.deliveries)])
            });
            Frame::Map(vec![
                field("name", Frame::Bulk(cname.clone())),
                field("seen-time", int(c.seen_ms)),
                field("pel-count", int(c.pending.len())),
                field("pending", Frame::Array(mine.collect())),
            ])
        });
        Frame::Map(vec![
            field("name", Frame::Bulk(name.clone())),
            field("last-delivered-id", id(g.last_delivered)),
            field("entries-read", g.entries_read.map_or(Frame::Null, int)),
            field("lag", lag(stream, g)),
            field("pel-count", int(g.pel.len())),
            field("pending", Frame::Array(pending.collect())),
            field("consumers", Frame::Array(consumers.collect())),
        ])
    });
    out.push(field("groups", Frame::Array(groups.collect())));
    Ok(Frame::Map(out))
}
