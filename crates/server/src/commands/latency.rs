//! LATENCY: Redis's latency monitor and per-command histograms.
//!
//! weir has no latency monitor (Redis's is off unless
//! `latency-monitor-threshold` is set, and weir's configuration is fixed):
//! LATEST and HISTORY are empty, RESET resets nothing, GRAPH has no
//! samples, as a Redis with the monitor off answers; DOCTOR says so and
//! where to look instead. HISTOGRAM reports each command's latency
//! histogram (`crate::stats`, from arrival to reply), in Redis's shape:
//! `calls`, then `histogram_usec` mapping a bucket's upper bound in µs to
//! the calls at or below it, for the buckets that hold any. weir's buckets
//! are its own (100 µs, 250 µs, ... 5 s; beyond, `i64::MAX`), not powers of
//! two.

use crate::node::Node;
use crate::stats::CommandStats;
use bytes::Bytes;
use std::sync::atomic::Ordering::Relaxed;
use weir_protocol::Frame;
use weir_state::cmd::{check_subcommand, help};

const SUBCOMMANDS: &[(&str, i32)] =
    &[("doctor", 2), ("graph", 3), ("help", 2), ("histogram", -2), ("history", 3), ("latest", 2), ("reset", -2)];

const HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class (weir: no events).",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class (weir: none).",
    "LATEST",
    "    Return the latest latency samples for all events (weir: none).",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes (weir: none kept).",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Print this help.",
];

const DOCTOR: &str = "weir keeps no latency monitor (Redis's latency-monitor-threshold): \
no latency events are recorded. Per-command latency, from arrival to reply, is in \
LATENCY HISTOGRAM, INFO commandstats and /metrics (weir_command_duration_seconds); \
single slow commands are in SLOWLOG.\n";

pub fn run(node: &Node, args: &[Bytes]) -> Frame {
    let sub = match check_subcommand("LATENCY", SUBCOMMANDS, args) {
        Ok(sub) => sub,
        Err(error) => return error,
    };
    match sub.as_str() {
        "help" => help(HELP),
        "doctor" => Frame::Verbatim(Bytes::from_static(DOCTOR.as_bytes())),
        "graph" => Frame::error(format!("ERR No samples available for event '{}'", String::from_utf8_lossy(&args[2]))),
        "reset" => Frame::Integer(0),
        "histogram" => histogram(node, &args[2..]),
        _ => Frame::Array(Vec::new()),
    }
}

/// The histograms of `names` (all commands called so far when empty).
fn histogram(node: &Node, names: &[Bytes]) -> Frame {
    let called = |stats: &&CommandStats| stats.calls.load(Relaxed) > 0;
    let wanted =
        |stats: &&CommandStats| names.is_empty() || names.iter().any(|n| n.eq_ignore_ascii_case(stats.name.as_bytes()));
    let entries = node.stats.commands.iter().filter(called).filter(wanted).map(|stats| {
        (
            Frame::bulk(stats.name),
            Frame::Map(vec![
                (Frame::bulk("calls"), Frame::Integer(stats.calls.load(Relaxed) as i64)),
                (Frame::bulk("histogram_usec"), Frame::Map(cumulative(stats))),
            ]),
        )
    });
    Frame::Map(entries.collect())
}

/// (upper bound in µs, calls at or below it) for each bucket holding any.
fn cumulative(stats: &CommandStats) -> Vec<(Frame, Frame)> {
    let mut total = 0u64;
    let mut out = Vec::new();
    for (bound, count) in stats.latency.buckets() {
        if count == 0 {
            continue;
        }
        total += count;
        let micros = if bound.is_finite() { (bound * 1e6).round() as i64 } else { i64::MAX };
        out.push((Frame::Integer(micros), Frame::Integer(total as i64)));
    }
    out
}
