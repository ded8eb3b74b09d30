//! COMMAND, CONFIG GET, INFO and TIME: what the node says about itself.

use super::{all_specs, is, unknown_subcommand, ServerCommand};
use crate::node::Node;
use bytes::Bytes;
use std::fmt::Write;
use weir_protocol::Frame;
use weir_state::{Access, CommandSpec};

pub fn run(node: &Node, command: ServerCommand, args: &[Bytes]) -> Frame {
    match command {
        ServerCommand::Command => command_command(&args[1..]),
        ServerCommand::Config => config(node, &args[1..]),
        ServerCommand::Info => Frame::Verbatim(Bytes::from(crate::info::render(node, &args[1..]))),
        ServerCommand::Role => role(),
        _ => time(node),
    }
}

/// ROLE as a Redis master without replicas answers it: a node alone leads
/// every partition, and INFO replication says `role:master`,
/// `connected_slaves:0` (no replication offset: the log is per partition).
fn role() -> Frame {
    Frame::Array(vec![Frame::bulk("master"), Frame::Integer(0), Frame::Array(Vec::new())])
}

pub fn time(_node: &Node) -> Frame {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Frame::Array(vec![Frame::bulk(now.as_secs().to_string()), Frame::bulk(now.subsec_micros().to_string())])
}

fn command_command(args: &[Bytes]) -> Frame {
    let Some(sub) = args.first() else {
        return Frame::Array(all_specs().map(info_of).collect());
    };
    let find = |name: &[u8]| all_specs().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name));
    if is(sub, "count") && args.len() == 1 {
        Frame::Integer(all_specs().count() as i64)
    } else if is(sub, "list") {
        Frame::Array(all_specs().map(|s| Frame::bulk(s.name)).collect())
    } else if is(sub, "info") {
        if args.len() == 1 {
            return Frame::Array(all_specs().map(info_of).collect());
        }
        Frame::Array(args[1..].iter().map(|n| find(n).map(info_of).unwrap_or(Frame::NullArray)).collect())
    } else if is(sub, "getkeys") && args.len() >= 3 {
        getkeys(&args[1..])
    } else if is(sub, "getkeys") {
        Frame::error("ERR wrong number of arguments for 'command|getkeys' command")
    } else if is(sub, "docs") {
        let specs: Vec<&CommandSpec> =
            if args.len() == 1 { all_specs().collect() } else { args[1..].iter().filter_map(|n| find(n)).collect() };
        Frame::Map(specs.into_iter().map(|s| (Frame::bulk(s.name), docs_of(s))).collect())
    } else {
        unknown_subcommand(sub, "command")
    }
}

fn status_set(items: impl Iterator<Item = String>) -> Frame {
    Frame::Set(items.map(|s| Frame::Simple(Bytes::from(s))).collect())
}

/// COMMAND GETKEYS: the keys a command names, as routing finds them (what
/// cluster-aware tools ask before they pick a node). Checks in Redis's order.
fn getkeys(command: &[Bytes]) -> Frame {
    let Some(spec) = all_specs().find(|s| s.name.as_bytes().eq_ignore_ascii_case(&command[0])) else {
        return Frame::error("ERR Invalid command specified");
    };
    if spec.first_key == 0 && spec.movable.is_none() {
        return Frame::error("ERR The command has no key arguments");
    }
    if !spec.arity_ok(command.len()) {
        return Frame::error("ERR Invalid number of arguments specified for command");
    }
    let keys: Vec<Frame> = spec.key_indexes(command).map(|i| Frame::Bulk(command[i].clone())).collect();
    if keys.is_empty() && !spec.flags.contains(&"no-mandatory-keys") {
        return Frame::error("ERR Invalid arguments specified for command");
    }
    Frame::Array(keys)
}

/// Redis's ACL category of a command group.
fn acl_category(group: &str) -> &str {
    match group {
        "sorted_set" => "sortedset",
        "generic" => "keyspace",
        other => other,
    }
}

/// COMMAND INFO's ten-element description.
fn info_of(spec: &CommandSpec) -> Frame {
    let category = match spec.access {
        Access::Write => "@write",
        Access::Read => "@read",
    };
    Frame::Array(vec![
        Frame::bulk(spec.name),
        Frame::Integer(i64::from(spec.arity)),
        status_set(spec.flags.iter().map(|f| f.to_string())),
        Frame::Integer(i64::from(spec.first_key)),
        Frame::Integer(i64::from(spec.last_key)),
        Frame::Integer(i64::from(spec.step)),
        status_set([category.to_string(), format!("@{}", acl_category(spec.group))].into_iter()),
        Frame::Set(Vec::new()),
        Frame::Array(Vec::new()),
        Frame::Array(Vec::new()),
    ])
}

fn docs_of(spec: &CommandSpec) -> Frame {
    let pair = |k: &'static str, v: &'static str| (Frame::bulk(k), Frame::bulk(v));
    Frame::Map(vec![pair("summary", spec.summary), pair("since", spec.since), pair("group", spec.group)])
}

fn config(node: &Node, args: &[Bytes]) -> Frame {
    let sub = &args[0];
    if is(sub, "get") {
        if args.len() < 2 {
            return Frame::error("ERR wrong number of arguments for 'config|get' command");
        }
        let values = config_values(node);
        let mut out = Vec::new();
        for (name, value) in &values {
            if args[1..].iter().any(|pattern| weir_state::glob_match(&pattern.to_ascii_lowercase(), name.as_bytes())) {
                out.push((Frame::bulk(*name), Frame::bulk(value.clone())));
            }
        }
        Frame::Map(out)
    } else if is(sub, "set") {
        Frame::error("ERR CONFIG SET is not supported: weir's configuration is fixed at startup")
    } else if is(sub, "resetstat") {
        node.stats.reset_info();
        Frame::ok()
    } else {
        unknown_subcommand(sub, "config")
    }
}

/// The read-only configuration view (what redis-benchmark and clients ask).
fn config_values(node: &Node) -> Vec<(&'static str, String)> {
    let c = &node.config;
    let fsync = match c.fsync {
        crate::config::FsyncPolicy::Always => "always",
        crate::config::FsyncPolicy::Interval => "everysec",
    };
    vec![
        ("appendonly", "yes".into()),
        ("appendfsync", fsync.into()),
        ("save", String::new()),
        ("databases", "1".into()),
        ("maxclients", c.max_clients.to_string()),
        ("maxmemory", node.memory.limit().unwrap_or(0).to_string()),
        ("maxmemory-policy", "noeviction".into()),
        ("port", node.resp_addr.port().to_string()),
        ("bind", c.bind.clone()),
        ("protected-mode", if c.protected_mode { "yes" } else { "no" }.into()),
        ("proto-max-bulk-len", c.max_bulk_len.to_string()),
        ("client-query-buffer-limit", c.max_query_buffer.to_string()),
        ("timeout", "0".into()),
        ("cluster-enabled", "yes".into()),
        ("dir", c.dir.display().to_string()),
        ("slowlog-log-slower-than", c.slowlog_slower_than_us.to_string()),
        ("slowlog-max-len", c.slowlog_max_len.to_string()),
    ]
}

/// INFO commandstats lines (since the last CONFIG RESETSTAT).
pub fn commandstats(node: &Node, out: &mut String) {
    let counters = node.stats.info_counters();
    for (spec, c) in all_specs().zip(&counters.commands) {
        if c.calls == 0 && c.rejected == 0 {
            continue;
        }
        let _ = write!(
            out,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            spec.name,
            c.calls,
            c.usec,
            c.usec as f64 / c.calls.max(1) as f64,
            c.rejected,
            c.failed,
        );
    }
}
