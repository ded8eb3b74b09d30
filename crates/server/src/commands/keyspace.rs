//! Commands over the whole keyspace, which spans every partition: DBSIZE,
//! FLUSHDB/FLUSHALL, SCAN, KEYS, RANDOMKEY, and WAIT.
//!
//! A SCAN cursor carries the partition in its top 16 bits and the
//! partition's own cursor in the low 48, so a scan walks the partitions in
//! order without any state on the node.

use super::{is, not_an_integer, parse_i64, syntax_error, ServerCommand};
use crate::node::Node;
use crate::partition::{now_ms, Proposal};
use bytes::Bytes;
use rand::Rng;
use std::sync::atomic::Ordering;
use weir_protocol::Frame;

const PARTITION_SHIFT: u32 = 48;
const LOCAL_MASK: u64 = (1 << PARTITION_SHIFT) - 1;
/// Redis's default SCAN COUNT.
const DEFAULT_SCAN_COUNT: usize = 10;

pub async fn run(node: &Node, command: ServerCommand, args: &[Bytes]) -> Frame {
    match command {
        ServerCommand::Dbsize => dbsize(node).await,
        ServerCommand::Flushdb | ServerCommand::Flushall => flush(node, &args[1..]).await,
        ServerCommand::Scan => scan(node, &args[1..]).await,
        ServerCommand::Keys => keys(node, &args[1]).await,
        ServerCommand::Randomkey => random_key(node).await,
        _ => wait(&args[1..]),
    }
}

/// Keys over all partitions, once what was applied is durable.
async fn dbsize(node: &Node) -> Frame {
    for partition in &node.partitions {
        if let Err(reply) = partition.settled().await {
            return reply;
        }
    }
    Frame::Integer(node.key_counts().0 as i64)
}

async fn flush(node: &Node, args: &[Bytes]) -> Frame {
    match args {
        [] => {}
        [mode] if is(mode, "async") || is(mode, "sync") => {}
        _ => return syntax_error(),
    }
    let writes = node.partitions.iter().map(|p| p.write(Proposal::Flush));
    for reply in futures::future::join_all(writes).await {
        if reply.is_error() {
            return reply;
        }
    }
    Frame::ok()
}

struct ScanOptions {
    pattern: Option<Bytes>,
    count: usize,
    type_name: Option<Bytes>,
}

fn scan_options(args: &[Bytes]) -> Result<ScanOptions, Frame> {
    let mut options = ScanOptions { pattern: None, count: DEFAULT_SCAN_COUNT, type_name: None };
    let mut rest = args;
    while let [option, value, tail @ ..] = rest {
        if is(option, "match") {
            options.pattern = Some(value.clone());
        } else if is(option, "count") {
            options.count = match parse_i64(value) {
                None => return Err(not_an_integer()),
                Some(n) if n < 1 => return Err(syntax_error()),
                Some(n) => n as usize,
            };
        } else if is(option, "type") {
            options.type_name = Some(value.clone());
        } else {
            return Err(syntax_error());
        }
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(syntax_error());
    }
    Ok(options)
}

async fn scan(node: &Node, args: &[Bytes]) -> Frame {
    let Some(cursor) = std::str::from_utf8(&args[0]).ok().and_then(|s| s.parse::<u64>().ok()) else {
        return Frame::error("ERR invalid cursor");
    };
    let options = match scan_options(&args[1..]) {
        Ok(options) => options,
        Err(reply) => return reply,
    };
    let mut partition = (cursor >> PARTITION_SHIFT) as usize;
    let mut local = cursor & LOCAL_MASK;
    let mut keys = Vec::new();
    let now = now_ms();
    let busy = Some(node.config.busy_script);
    while partition < node.partitions.len() && keys.len() < options.count {
        let want = options.count - keys.len();
        let (pattern, type_name) = (options.pattern.as_deref(), options.type_name.as_deref());
        let scanned = node.partitions[partition].with_state(busy, |m| m.db.scan(now, local, pattern, want, type_name));
        let (next, found) = match scanned.await {
            Ok(scanned) => scanned,
            Err(busy) => return busy,
        };
        keys.extend(found);
        if next == 0 {
            partition += 1;
            local = 0;
        } else {
            local = next;
            break;
        }
    }
    let next = if partition >= node.partitions.len() { 0 } else { ((partition as u64) << PARTITION_SHIFT) | local };
    Frame::Array(vec![Frame::bulk(next.to_string()), Frame::Array(keys.into_iter().map(Frame::Bulk).collect())])
}

async fn keys(node: &Node, pattern: &[u8]) -> Frame {
    let now = now_ms();
    let busy = Some(node.config.busy_script);
    let mut out = Vec::new();
    for partition in &node.partitions {
        match partition.with_state(busy, |m| m.db.keys(now, pattern)).await {
            Ok(keys) => out.extend(keys.into_iter().map(Frame::Bulk)),
            Err(busy) => return busy,
        }
    }
    Frame::Array(out)
}

/// A random key: a partition picked in proportion to its keys, then a key
/// at a random place in its hash order; the next partitions if every key
/// there has expired. Nil when there is none.
async fn random_key(node: &Node) -> Frame {
    let counts: Vec<u64> = node.partitions.iter().map(|p| p.key_counts.keys.load(Ordering::Acquire)).collect();
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return Frame::Null;
    }
    let mut pick = rand::thread_rng().gen_range(0..total);
    let mut first = 0;
    for (i, n) in counts.iter().enumerate() {
        if pick < *n {
            first = i;
            break;
        }
        pick -= n;
    }
    let now = now_ms();
    let busy = Some(node.config.busy_script);
    for i in 0..node.partitions.len() {
        let partition = &node.partitions[(first + i) % node.partitions.len()];
        let position = rand::thread_rng().gen::<u64>();
        match partition.with_state(busy, |m| m.db.random_key(now, position)).await {
            Ok(Some(key)) => return Frame::Bulk(key),
            Ok(None) => {}
            Err(busy) => return busy,
        }
    }
    Frame::Null
}

/// WAIT answers how many replicas hold this connection's writes. A cluster
/// of one has none, and says so at once rather than sleeping out the timeout.
fn wait(args: &[Bytes]) -> Frame {
    let (Some(_replicas), Some(timeout)) = (parse_i64(&args[0]), parse_i64(&args[1])) else {
        return not_an_integer();
    };
    if timeout < 0 {
        return Frame::error("ERR timeout is negative");
    }
    Frame::Integer(0)
}
