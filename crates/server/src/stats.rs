//! Node-wide counters, recorded with relaxed atomics only.
//!
//! The hot path never takes a lock to count: every command has a fixed slot
//! in a table sized at startup, and `/metrics` and `INFO` read the table.

use crate::errorstats::ErrorStats;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds (seconds) of the command latency histogram buckets; the last
/// bucket is +Inf.
pub const LATENCY_BOUNDS: [f64; 14] =
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// Upper bounds of the batch-size histogram (items per Raft entry).
pub const BATCH_BOUNDS: [f64; 12] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0];

/// A fixed-bucket histogram of atomics.
#[derive(Debug)]
pub struct AtomicHistogram {
    bounds: &'static [f64],
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in micro-units (microseconds, or items) to stay integral.
    sum_micros: AtomicU64,
}

impl AtomicHistogram {
    pub fn new(bounds: &'static [f64]) -> AtomicHistogram {
        let buckets = (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect();
        AtomicHistogram { bounds, buckets, count: AtomicU64::new(0), sum_micros: AtomicU64::new(0) }
    }

    pub fn observe(&self, value: f64) {
        let at = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        self.buckets[at].fetch_add(1, Relaxed);
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    pub fn sum(&self) -> f64 {
        self.sum_micros.load(Relaxed) as f64 / 1e6
    }

    /// (upper bound, count in this bucket) pairs, +Inf last.
    pub fn buckets(&self) -> Vec<(f64, u64)> {
        let bounds = self.bounds.iter().copied().chain(std::iter::once(f64::INFINITY));
        bounds.zip(self.buckets.iter().map(|b| b.load(Relaxed))).collect()
    }
}

/// One command's counters (INFO commandstats and `/metrics`).
#[derive(Debug)]
pub struct CommandStats {
    pub name: &'static str,
    pub calls: AtomicU64,
    pub failed: AtomicU64,
    pub rejected: AtomicU64,
    pub latency: AtomicHistogram,
}

impl CommandStats {
    fn new(name: &'static str) -> CommandStats {
        CommandStats {
            name,
            calls: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
            latency: AtomicHistogram::new(&LATENCY_BOUNDS),
        }
    }

    pub fn record(&self, elapsed: Duration, failed: bool) {
        self.calls.fetch_add(1, Relaxed);
        if failed {
            self.failed.fetch_add(1, Relaxed);
        }
        self.latency.observe(elapsed.as_secs_f64());
    }
}

/// Everything the node counts.
#[derive(Debug)]
pub struct Stats {
    pub commands: Vec<CommandStats>,
    pub connections_total: AtomicU64,
    pub connections_rejected: AtomicU64,
    pub connected: AtomicU64,
    pub protocol_errors: AtomicU64,
    pub output_overflows: AtomicU64,
    pub batch_items: AtomicHistogram,
    pub batches: AtomicU64,
    pub expired_keys: AtomicU64,
    /// Writing scripts answered on the read path, with no log entry.
    pub scripts_read: AtomicU64,
    /// Clients waiting in BLPOP and friends, across partitions.
    pub blocked_clients: AtomicU64,
    pub started: std::time::Instant,
    /// Error replies by prefix (INFO errorstats).
    pub errors: ErrorStats,
    /// EXEC's slot in `commands`: its errors are its commands'.
    exec: Option<usize>,
    /// The counters as of the last CONFIG RESETSTAT: INFO shows what
    /// came since, while `/metrics` keeps the raw, monotonic counters (a
    /// scrape must not see a reset because some client asked for one).
    pub info_baseline: Mutex<Counters>,
}

/// The counters INFO shows, read at one moment.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counters {
    pub connections_total: u64,
    pub connections_rejected: u64,
    pub expired_keys: u64,
    pub scripts_read: u64,
    pub protocol_errors: u64,
    pub output_overflows: u64,
    pub batches: u64,
    pub batch_items: u64,
    /// Per command, in the table's order.
    pub commands: Vec<CommandCounters>,
    pub error_replies: u64,
    /// Error replies by prefix.
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CommandCounters {
    pub calls: u64,
    pub failed: u64,
    pub rejected: u64,
    pub usec: u64,
}

impl Counters {
    /// `self - base`, counter by counter (a counter never goes backwards,
    /// so this only saturates for a baseline from a racing read).
    fn since(&self, base: &Counters) -> Counters {
        let zero = CommandCounters::default();
        let commands = self.commands.iter().enumerate();
        Counters {
            connections_total: self.connections_total.saturating_sub(base.connections_total),
            connections_rejected: self.connections_rejected.saturating_sub(base.connections_rejected),
            expired_keys: self.expired_keys.saturating_sub(base.expired_keys),
            scripts_read: self.scripts_read.saturating_sub(base.scripts_read),
            protocol_errors: self.protocol_errors.saturating_sub(base.protocol_errors),
            output_overflows: self.output_overflows.saturating_sub(base.output_overflows),
            batches: self.batches.saturating_sub(base.batches),
            batch_items: self.batch_items.saturating_sub(base.batch_items),
            commands: commands.map(|(i, now)| now.since(base.commands.get(i).unwrap_or(&zero))).collect(),
            error_replies: self.error_replies.saturating_sub(base.error_replies),
            errors: self
                .errors
                .iter()
                .map(|(code, n)| (code.clone(), n.saturating_sub(base.errors.get(code).copied().unwrap_or(0))))
                .filter(|(_, n)| *n > 0)
                .collect(),
        }
    }
}

impl CommandCounters {
    fn since(&self, base: &CommandCounters) -> CommandCounters {
        CommandCounters {
            calls: self.calls.saturating_sub(base.calls),
            failed: self.failed.saturating_sub(base.failed),
            rejected: self.rejected.saturating_sub(base.rejected),
            usec: self.usec.saturating_sub(base.usec),
        }
    }
}

impl Stats {
    pub fn new(command_names: impl Iterator<Item = &'static str>) -> Stats {
        let commands: Vec<CommandStats> = command_names.map(CommandStats::new).collect();
        Stats {
            exec: commands.iter().position(|c| c.name == "exec"),
            commands,
            errors: ErrorStats::default(),
            connections_total: AtomicU64::new(0),
            connections_rejected: AtomicU64::new(0),
            connected: AtomicU64::new(0),
            protocol_errors: AtomicU64::new(0),
            output_overflows: AtomicU64::new(0),
            batch_items: AtomicHistogram::new(&BATCH_BOUNDS),
            batches: AtomicU64::new(0),
            expired_keys: AtomicU64::new(0),
            scripts_read: AtomicU64::new(0),
            blocked_clients: AtomicU64::new(0),
            started: std::time::Instant::now(),
            info_baseline: Mutex::new(Counters::default()),
        }
    }

    /// The raw counters now.
    pub fn counters(&self) -> Counters {
        let command = |c: &CommandStats| CommandCounters {
            calls: c.calls.load(Relaxed),
            failed: c.failed.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            usec: (c.latency.sum() * 1e6) as u64,
        };
        Counters {
            connections_total: self.connections_total.load(Relaxed),
            connections_rejected: self.connections_rejected.load(Relaxed),
            expired_keys: self.expired_keys.load(Relaxed),
            scripts_read: self.scripts_read.load(Relaxed),
            protocol_errors: self.protocol_errors.load(Relaxed),
            output_overflows: self.output_overflows.load(Relaxed),
            batches: self.batches.load(Relaxed),
            batch_items: self.batch_items.sum() as u64,
            commands: self.commands.iter().map(command).collect(),
            error_replies: self.errors.total(),
            errors: self.errors.codes(),
        }
    }

    /// What INFO shows: the counters since the last CONFIG RESETSTAT.
    pub fn info_counters(&self) -> Counters {
        let base = self.info_baseline.lock().unwrap_or_else(|e| e.into_inner()).clone();
        self.counters().since(&base)
    }

    /// CONFIG RESETSTAT: INFO counts from zero again.
    pub fn reset_info(&self) {
        let now = self.counters();
        *self.info_baseline.lock().unwrap_or_else(|e| e.into_inner()) = now;
    }

    /// Counts one command's reply (`command` is its slot in the table,
    /// none for an unknown command: its error still counts).
    pub fn record(&self, command: Option<usize>, took: Duration, reply: &weir_protocol::Frame) {
        if let Some(stats) = command.and_then(|i| self.commands.get(i)) {
            stats.record(took, reply.is_error());
        }
        self.errors.count_reply(reply, command.is_some() && command == self.exec);
    }

    pub fn total_commands(&self) -> u64 {
        self.commands.iter().map(|c| c.calls.load(Relaxed)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_count_each_value_once() {
        let h = AtomicHistogram::new(&BATCH_BOUNDS);
        for v in [1.0, 3.0, 3.0, 10_000.0] {
            h.observe(v);
        }
        let buckets = h.buckets();
        assert_eq!(buckets.iter().map(|b| b.1).sum::<u64>(), 4);
        assert_eq!(buckets[0], (1.0, 1));
        assert_eq!(buckets[2], (4.0, 2));
        assert_eq!(buckets.last().map(|b| b.1), Some(1));
        assert_eq!(h.count(), 4);
        assert!((h.sum() - 10_007.0).abs() < 1e-6);
    }

    #[test]
    fn info_counts_from_the_last_reset_while_the_raw_counters_keep_going() {
        let stats = Stats::new(["get", "set"].into_iter());
        let ok = weir_protocol::Frame::ok();
        stats.record(Some(1), Duration::from_micros(30), &ok);
        stats.connections_total.fetch_add(2, Relaxed);
        assert_eq!(stats.info_counters(), stats.counters(), "no reset yet");
        stats.reset_info();
        assert_eq!(stats.info_counters().commands[1], CommandCounters::default());
        assert_eq!(stats.info_counters().connections_total, 0);
        stats.record(Some(1), Duration::from_micros(20), &weir_protocol::Frame::error("ERR x"));
        stats.record(None, Duration::ZERO, &weir_protocol::Frame::error("ERR unknown command"));
        let info = stats.info_counters();
        assert_eq!(info.commands[1], CommandCounters { calls: 1, failed: 1, rejected: 0, usec: 20 });
        assert_eq!(info.error_replies, 2, "an unknown command's error counts too");
        assert_eq!(info.errors.get("ERR"), Some(&2));
        stats.reset_info();
        assert!(stats.info_counters().errors.is_empty(), "a reset leaves no prefix at zero");
        assert_eq!(stats.counters().error_replies, 2, "the raw counter (/metrics) is monotonic");
        assert_eq!(stats.counters().commands[1].calls, 2, "the raw counter (/metrics) is monotonic");
    }
}
