//! The INFO report, in Redis's `# Section` / `field:value` format.

use crate::commands::connection::REDIS_COMPAT_VERSION;
use crate::node::Node;
use bytes::Bytes;
use std::fmt::Write;
use std::sync::atomic::Ordering::Relaxed;

/// In Redis's order.
const SECTIONS: [&str; 11] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "commandstats",
    "errorstats",
    "cluster",
    "keyspace",
];
/// Sections `INFO` (no argument) and `INFO default` show.
const DEFAULT_SECTIONS: [&str; 10] =
    ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "errorstats", "cluster", "keyspace"];

pub fn render(node: &Node, args: &[Bytes]) -> String {
    let wanted: Vec<String> = args.iter().map(|a| String::from_utf8_lossy(a).to_ascii_lowercase()).collect();
    let show = |section: &str| {
        if wanted.is_empty() || wanted.iter().any(|w| w == "default") {
            return DEFAULT_SECTIONS.contains(&section);
        }
        wanted.iter().any(|w| w == section || w == "all" || w == "everything")
    };
    let mut out = String::new();
    for section in SECTIONS.iter().filter(|s| show(s)) {
        if !out.is_empty() {
            out.push_str("\r\n");
        }
        let title = match *section {
            "cpu" => "CPU".to_string(),
            _ => format!("{}{}", section[..1].to_ascii_uppercase(), &section[1..]),
        };
        let _ = write!(out, "# {title}\r\n");
        match *section {
            "server" => server(node, &mut out),
            "clients" => clients(node, &mut out),
            "memory" => memory(node, &mut out),
            "persistence" => persistence(node, &mut out),
            "stats" => stats(node, &mut out),
            "replication" => replication(node, &mut out),
            "cpu" => cpu(&mut out),
            "keyspace" => keyspace(node, &mut out),
            "errorstats" => errorstats(node, &mut out),
            // A cluster of one (`crate::commands::cluster`).
            "cluster" => line(&mut out, "cluster_enabled", 1),
            _ => crate::commands::introspection::commandstats(node, &mut out),
        }
    }
    out
}

fn line(out: &mut String, key: &str, value: impl std::fmt::Display) {
    let _ = write!(out, "{key}:{value}\r\n");
}

fn server(node: &Node, out: &mut String) {
    let uptime = node.stats.started.elapsed().as_secs();
    line(out, "redis_version", REDIS_COMPAT_VERSION);
    line(out, "weir_version", env!("CARGO_PKG_VERSION"));
    line(out, "redis_mode", "cluster");
    line(out, "os", std::env::consts::OS);
    line(out, "arch_bits", usize::BITS);
    line(out, "process_id", std::process::id());
    line(out, "run_id", &node.run_id);
    line(out, "tcp_port", node.resp_addr.port());
    line(out, "uptime_in_seconds", uptime);
    line(out, "uptime_in_days", uptime / 86_400);
    line(out, "partitions", node.partitions.len());
    line(out, "node_id", node.config.node_id);
}

fn clients(node: &Node, out: &mut String) {
    line(out, "connected_clients", node.stats.connected.load(Relaxed));
    line(out, "maxclients", node.config.max_clients);
    line(out, "blocked_clients", node.stats.blocked_clients.load(Relaxed));
    line(out, "blocked_clients_max", crate::blocking::MAX_BLOCKED * node.partitions.len());
    line(out, "stream_pending_entries", node.partitions.iter().map(|p| p.stream_pending_entries()).sum::<u64>());
    line(out, "stream_pending_max_per_group", weir_state::stream::group::MAX_PENDING_PER_GROUP);
}

fn memory(node: &Node, out: &mut String) {
    use crate::memory::human;
    let memory = &node.memory;
    let (used, resident, peak) = (memory.used(), memory.resident(), memory.peak());
    let limit = memory.limit().unwrap_or(0);
    line(out, "used_memory", used);
    line(out, "used_memory_human", human(used));
    line(out, "used_memory_rss", resident);
    line(out, "used_memory_rss_human", human(resident));
    line(out, "used_memory_peak", peak);
    line(out, "used_memory_peak_human", human(peak));
    line(out, "maxmemory", limit);
    line(out, "maxmemory_human", human(limit));
    line(out, "maxmemory_policy", "noeviction");
    let ratio = if used == 0 { 0.0 } else { resident as f64 / used as f64 };
    line(out, "mem_fragmentation_ratio", format!("{ratio:.2}"));
    line(out, "mem_allocator", memory.allocator);
}

fn persistence(node: &Node, out: &mut String) {
    let log = node.log.stats();
    let fsync = match node.config.fsync {
        crate::config::FsyncPolicy::Always => "always".to_string(),
        crate::config::FsyncPolicy::Interval => format!("interval({}ms)", node.config.fsync_interval.as_millis()),
    };
    line(out, "loading", u8::from(!node.is_ready()));
    line(out, "aof_enabled", 1);
    line(out, "rdb_last_save_time", crate::commands::persistence::last_save(node));
    line(out, "weir_fsync", fsync);
    line(out, "weir_log_batches", log.batches);
    line(out, "weir_log_records", log.records);
    line(out, "weir_log_bytes", log.bytes);
    line(out, "weir_log_fsyncs", log.fsyncs);
    line(out, "weir_log_direct_io", u8::from(log.direct_io));
    line(out, "weir_log_poisoned", node.log.poisoned().unwrap_or_else(|| "no".into()));
    let snapshots: u64 = node.groups_snapshots();
    line(out, "weir_snapshots_built", snapshots);
}

fn stats(node: &Node, out: &mut String) {
    let c = node.stats.info_counters();
    let batches = c.batches;
    let items = c.batch_items as f64;
    line(out, "total_connections_received", c.connections_total);
    line(out, "total_commands_processed", c.commands.iter().map(|s| s.calls).sum::<u64>());
    line(out, "rejected_connections", c.connections_rejected);
    line(out, "expired_keys", c.expired_keys);
    use crate::pubsub::Kind;
    line(out, "pubsub_channels", node.pubsub.count(Kind::Channel));
    line(out, "pubsub_patterns", node.pubsub.count(Kind::Pattern));
    line(out, "pubsubshard_channels", node.pubsub.count(Kind::Shard));
    line(out, "weir_scripts_read", c.scripts_read);
    // Error replies to a primary or from the log: weir has neither.
    line(out, "unexpected_error_replies", 0);
    line(out, "total_error_replies", c.error_replies);
    line(out, "weir_protocol_errors", c.protocol_errors);
    line(out, "weir_output_overflows", c.output_overflows);
    line(out, "weir_batches", batches);
    line(out, "weir_batch_avg_items", format!("{:.2}", if batches == 0 { 0.0 } else { items / batches as f64 }));
}

/// `errorstat_<prefix>:count=<n>`, in byte order (since CONFIG RESETSTAT).
fn errorstats(node: &Node, out: &mut String) {
    for (code, count) in node.stats.info_counters().errors {
        let _ = write!(out, "errorstat_{code}:count={count}\r\n");
    }
}

fn replication(node: &Node, out: &mut String) {
    line(out, "role", "master");
    line(out, "connected_slaves", 0);
    for partition in &node.partitions {
        line(out, &format!("partition{}_applied_index", partition.id), partition.applied_index.load(Relaxed));
    }
}

/// CPU seconds of the process and of its children, as Redis reports them
/// (`getrusage`), e.g. `used_cpu_user:1.234567`.
fn cpu(out: &mut String) {
    for (who, suffix) in [(libc::RUSAGE_SELF, ""), (libc::RUSAGE_CHILDREN, "_children")] {
        // SAFETY: getrusage fills the struct it is given; zeroed is a valid start.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage.
        if unsafe { libc::getrusage(who, &mut usage) } != 0 {
            continue;
        }
        let seconds = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
        line(out, &format!("used_cpu_sys{suffix}"), seconds(usage.ru_stime));
        line(out, &format!("used_cpu_user{suffix}"), seconds(usage.ru_utime));
    }
}

fn keyspace(node: &Node, out: &mut String) {
    let (keys, expires) = node.key_counts();
    if keys > 0 {
        let _ = write!(out, "db0:keys={keys},expires={expires},avg_ttl=0\r\n");
    }
}
