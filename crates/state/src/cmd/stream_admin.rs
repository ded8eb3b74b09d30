//! XGROUP: create, move, destroy consumer groups, create and delete
//! consumers. Replies and error texts follow Redis 7.0.

use super::stream::{read as stream_ref, write_existing as stream_mut};
use super::stream_group::{loose_id, name};
use super::{is, reply};
use crate::db::{Db, ExecCtx};
use crate::stream::{Group, StreamId};
use crate::value::Value;
use bytes::Bytes;
use weir_protocol::Frame;

/// Subcommands and their arities (Redis's: negative means at least).
const SUBCOMMANDS: &[(&str, i32)] =
    &[("create", -5), ("setid", -5), ("destroy", 4), ("createconsumer", 5), ("delconsumer", 5), ("help", 2)];

const HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [MKSTREAM] [ENTRIESREAD <n>]",
    "    Creates a consumer group at the ID ($: the stream's last ID).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Adds a consumer to the group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Removes a consumer and its pending entries.",
    "DESTROY <key> <groupname>",
    "    Removes the group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD <n>]",
    "    Moves the group's last delivered ID.",
    "HELP",
    "    Prints this help.",
];

/// Redis's reply when a container command's handler rejects its
/// arguments.
pub(super) fn subcommand_error(container: &str, args: &[Bytes]) -> Frame {
    Frame::error(format!(
        "ERR unknown subcommand or wrong number of arguments for '{}'. Try {container} HELP.",
        name(&args[1])
    ))
}

/// Redis's command-table checks for a container command's subcommand
/// (`table`: names and arities, negative meaning at least). Returns the
/// subcommand, lowercased.
pub fn check_subcommand(container: &str, table: &[(&str, i32)], args: &[Bytes]) -> Result<String, Frame> {
    let sub = String::from_utf8_lossy(&args[1]).to_lowercase();
    let Some((_, arity)) = table.iter().find(|(s, _)| *s == sub) else {
        return Err(Frame::error(format!("ERR unknown subcommand '{}'. Try {container} HELP.", name(&args[1]))));
    };
    let ok = if *arity < 0 { args.len() >= arity.unsigned_abs() as usize } else { args.len() == *arity as usize };
    match ok {
        true => Ok(sub),
        false => {
            Err(Frame::error(format!("ERR wrong number of arguments for '{}|{sub}' command", container.to_lowercase())))
        }
    }
}

/// A HELP reply: one status line per entry.
pub fn help(lines: &[&'static str]) -> Frame {
    Frame::Array(lines.iter().map(|l| Frame::Simple(Bytes::from_static(l.as_bytes()))).collect())
}

pub fn xgroup(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(xgroup_inner(db, ctx, args))
}

fn xgroup_inner(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    let sub = check_subcommand("XGROUP", SUBCOMMANDS, args)?;
    if sub == "help" {
        return Ok(help(HELP));
    }
    let (key, group_name, now) = (&args[2], &args[3], ctx.now_ms);
    let (mut mkstream, mut entries_read) = (false, None);
    let mut i = 5;
    while i < args.len() {
        if sub == "create" && is(&args[i], "mkstream") {
            mkstream = true;
            i += 1;
        } else if (sub == "create" || sub == "setid") && is(&args[i], "entriesread") && i + 1 < args.len() {
            let n = super::int_arg(&args[i + 1])?;
            if n < -1 {
                return Err(Frame::error("ERR value for ENTRIESREAD must be positive or -1"));
            }
            entries_read = u64::try_from(n).ok();
            i += 2;
        } else {
            return Err(subcommand_error("XGROUP", args));
        }
    }
    let exists = stream_ref(db, key, now)?.is_some();
    if !exists && !mkstream {
        return Err(Frame::error(
            "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the \
             MKSTREAM option to create an empty stream automatically.",
        ));
    }
    let has_group = exists && stream_ref(db, key, now)?.is_some_and(|s| s.groups.contains_key(group_name));
    if exists && !has_group && matches!(sub.as_str(), "setid" | "createconsumer" | "delconsumer") {
        return Err(Frame::error(format!(
            "NOGROUP No such consumer group '{}' for key name '{}'",
            name(group_name),
            name(key)
        )));
    }
    match sub.as_str() {
        "create" if args.len() <= 8 => create(db, key, group_name, &args[4], entries_read, now),
        "setid" if args.len() == 5 || args.len() == 7 => {
            let stream = stream_mut(db, key, now)?.expect("checked above");
            let id = match args[4].as_ref() {
                b"$" => stream.last_id,
                arg => loose_id(arg)?,
            };
            let group = stream.groups.get_mut(group_name).expect("checked above");
            group.last_delivered = id;
            group.entries_read = entries_read;
            Ok(Frame::ok())
        }
        "destroy" => {
            let stream = stream_mut(db, key, now)?.expect("checked above");
            let destroyed = stream.groups.remove(group_name).is_some();
            if destroyed {
                // Blocked XREADGROUP clients learn the group is gone.
                db.signal_ready(key);
            }
            Ok(Frame::Integer(i64::from(destroyed)))
        }
        "createconsumer" => {
            let group = stream_mut(db, key, now)?.and_then(|s| s.groups.get_mut(group_name)).expect("checked above");
            let created = !group.consumers.contains_key(&args[4]);
            group.consumer(&args[4], now);
            Ok(Frame::Integer(i64::from(created)))
        }
        "delconsumer" => {
            let group = stream_mut(db, key, now)?.and_then(|s| s.groups.get_mut(group_name)).expect("checked above");
            Ok(Frame::Integer(group.delete_consumer(&args[4]) as i64))
        }
        _ => Err(subcommand_error("XGROUP", args)),
    }
}

fn create(
    db: &mut Db,
    key: &Bytes,
    group: &Bytes,
    id_arg: &[u8],
    entries_read: Option<u64>,
    now: u64,
) -> Result<Frame, Frame> {
    let last = stream_ref(db, key, now)?.map(|s| s.last_id);
    let id = match id_arg {
        b"$" => last.unwrap_or(StreamId::MIN),
        _ => StreamId::parse_exact(id_arg, 0)?,
    };
    if last.is_none() {
        db.put(key, Value::Stream(Box::default()), 0);
    }
    let stream = stream_mut(db, key, now)?.expect("exists or created");
    if stream.groups.contains_key(group) {
        return Err(Frame::error("BUSYGROUP Consumer Group name already exists"));
    }
    // Copied: the argument is a slice of its whole Raft batch.
    stream.groups.insert(Bytes::copy_from_slice(group), Group::new(id, entries_read));
    Ok(Frame::ok())
}
