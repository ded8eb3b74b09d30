//! Key introspection: OBJECT (ENCODING, REFCOUNT, IDLETIME, FREQ, HELP)
//! and MEMORY (USAGE, HELP).
//!
//! ENCODING names weir's own representations, where Redis's names would
//! describe structures weir does not have: `int`, `embstr` (inline) and
//! `raw` strings as in Redis; `deque` lists; `btree` hashes and sets;
//! `countedbtree` sorted sets (`crate::zset`); `stream`. Values are not
//! shared, so REFCOUNT is 1. Access times are not tracked (reads do not
//! write), so IDLETIME and FREQ answer errors, as Redis does for the
//! policy that does not track them.

use super::stream_admin::{check_subcommand, help};
use crate::db::{Db, ExecCtx};
use crate::memory_usage::DEFAULT_SAMPLES;
use crate::num::parse_i64;
use crate::value::Value;
use bytes::Bytes;
use weir_protocol::Frame;

const OBJECT_SUBCOMMANDS: &[(&str, i32)] =
    &[("encoding", 3), ("freq", 3), ("help", 2), ("idletime", 3), ("refcount", 3)];

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Not tracked by weir (no eviction policy): an error.",
    "IDLETIME <key>",
    "    Not tracked by weir (reads do not write): an error.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key> (always 1: weir shares no values).",
    "HELP",
    "    Print this help.",
];

const MEMORY_SUBCOMMANDS: &[(&str, i32)] = &[("help", 2), ("usage", -3)];

const MEMORY_HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Print this help.",
];

const IDLETIME_NOT_TRACKED: &str =
    "ERR weir does not track key access times: reads leave the state untouched, so OBJECT IDLETIME has no answer.";
const FREQ_NOT_TRACKED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// The name OBJECT ENCODING gives a value's representation.
pub fn encoding(value: &Value) -> &'static str {
    match value {
        Value::Int(_) => "int",
        Value::Inline(_) => "embstr",
        Value::Str(_) => "raw",
        Value::List(_) => "deque",
        Value::Hash(_) | Value::Set(_) => "btree",
        Value::ZSet(_) => "countedbtree",
        Value::Stream(_) => "stream",
    }
}

pub fn object(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    super::reply(object_inner(db, ctx, args))
}

fn object_inner(db: &Db, ctx: &ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    if check_subcommand("OBJECT", OBJECT_SUBCOMMANDS, args)? == "help" {
        return Ok(help(OBJECT_HELP));
    }
    let Some(entry) = db.get(&args[2], ctx.now_ms) else { return Ok(Frame::Null) };
    Ok(match args[1].to_ascii_lowercase().as_slice() {
        b"encoding" => Frame::bulk(encoding(&entry.value)),
        b"refcount" => Frame::Integer(1),
        b"idletime" => Frame::error(IDLETIME_NOT_TRACKED),
        _ => Frame::error(FREQ_NOT_TRACKED),
    })
}

pub fn memory(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    super::reply(memory_inner(db, ctx, args))
}

fn memory_inner(db: &Db, ctx: &ExecCtx, args: &[Bytes]) -> Result<Frame, Frame> {
    if check_subcommand("MEMORY", MEMORY_SUBCOMMANDS, args)? == "help" {
        return Ok(help(MEMORY_HELP));
    }
    let samples = usage_samples(&args[3..])?;
    Ok(match db.memory_usage(&args[2], ctx.now_ms, samples) {
        Some(bytes) => Frame::Integer(i64::try_from(bytes).unwrap_or(i64::MAX)),
        None => Frame::Null,
    })
}

/// `[SAMPLES count]`, as Redis reads it: 0 samples everything, a negative
/// count or anything else is a syntax error.
fn usage_samples(options: &[Bytes]) -> Result<usize, Frame> {
    let mut samples = DEFAULT_SAMPLES;
    let mut i = 0;
    while i < options.len() {
        if !options[i].eq_ignore_ascii_case(b"SAMPLES") || i + 1 == options.len() {
            return Err(super::syntax());
        }
        let n = parse_i64(&options[i + 1]).ok_or_else(super::not_integer)?;
        samples = usize::try_from(n).map_err(|_| super::syntax())?;
        i += 2;
    }
    Ok(samples)
}
