//! CHANGES: the changed-keys feed across partitions, for write-behind sinks
//! (see `weir_state::changes`).
//!
//! - `CHANGES TRACK <pattern>`: every partition starts tracking writes to
//!   matching keys (logged on each partition).
//! - `CHANGES PARTITIONS`: how many partitions to fetch from.
//! - `CHANGES FETCH <pattern> <partition> [COUNT <n>]`: the pattern's
//!   changed keys with their version, current value, and the writes merged
//!   into them since their last acknowledgement.
//! - `CHANGES PENDING [<pattern>]`: changed keys not yet acknowledged, all
//!   partitions (one pattern's feed, or all).
//!
//! A sink acknowledges with `WEIR.CHANGES.ACK <key> <version> <pattern>`,
//! routed by key like any write.

use crate::node::Node;
use crate::partition::{now_ms, Proposal};
use bytes::Bytes;
use weir_protocol::Frame;

/// FETCH's default COUNT.
const DEFAULT_FETCH: usize = 1000;

fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

fn syntax() -> Frame {
    Frame::error("ERR syntax error")
}

pub async fn run(node: &Node, args: &[Bytes]) -> Frame {
    let sub = &args[1];
    match args.len() {
        3 if is(sub, "track") => track(node, &args[2]).await,
        2 if is(sub, "partitions") => Frame::Integer(node.partitions.len() as i64),
        2 | 3 if is(sub, "pending") => pending(node, args.get(2)).await,
        4 | 6 if is(sub, "fetch") => fetch(node, &args[2], &args[3..]).await,
        _ => Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CHANGES TRACK, PARTITIONS, FETCH or PENDING.",
            String::from_utf8_lossy(sub)
        )),
    }
}

async fn track(node: &Node, pattern: &Bytes) -> Frame {
    let command = || vec![Bytes::from_static(b"weir.track"), pattern.clone()];
    let writes = node.partitions.iter().map(|p| p.write(Proposal::Command(command())));
    let mut added = 0;
    for reply in futures::future::join_all(writes).await {
        match reply {
            Frame::Integer(n) => added += n,
            error => return error,
        }
    }
    Frame::Integer(i64::from(added > 0))
}

async fn fetch(node: &Node, pattern: &Bytes, args: &[Bytes]) -> Frame {
    let parse = |a: &Bytes| std::str::from_utf8(a).ok().and_then(|s| s.parse::<usize>().ok());
    let Some(index) = parse(&args[0]).filter(|i| *i < node.partitions.len()) else {
        return Frame::error("ERR no such partition");
    };
    let count = match &args[1..] {
        [] => DEFAULT_FETCH,
        [word, n] if is(word, "count") => match parse(n) {
            Some(n) if n > 0 => n,
            _ => return Frame::error("ERR COUNT must be a positive integer"),
        },
        _ => return syntax(),
    };
    let now = now_ms();
    let partition = &node.partitions[index];
    let fetch = |m: &mut weir_raft::machine::Machine| m.db.fetch_changes(pattern, now, count);
    partition.with_state(Some(node.config.busy_script), fetch).await.unwrap_or_else(|b| b)
}

async fn pending(node: &Node, pattern: Option<&Bytes>) -> Frame {
    let mut total = 0;
    for partition in &node.partitions {
        let count = |m: &mut weir_raft::machine::Machine| m.db.changes_pending(pattern.map(|p| p.as_ref()));
        match partition.with_state(Some(node.config.busy_script), count).await {
            Ok(n) => total += n,
            Err(busy) => return busy,
        }
    }
    Frame::Integer(total as i64)
}
