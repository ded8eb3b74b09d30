//! What each sink task did, for its progress log and for `/metrics`:
//! batches, rows, statements, client writes (and so client writes per
//! statement), and lag. Counters are atomics bumped by the task; the log
//! line turns two readings into per-second rates, and Prometheus computes
//! its own from the counters.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// One sink task's counters.
#[derive(Debug)]
pub struct Stats {
    /// `stream <name>` or `counters <pattern>`: the task's label.
    pub name: String,
    /// Batches written to PostgreSQL (a read from weir that held work).
    pub batches: AtomicU64,
    /// Client writes the batches carried: stream entries, or writes merged
    /// into the counters pushed (the feed counts them per key).
    pub client_writes: AtomicU64,
    /// Rows inserted, upserted or deleted (a re-delivered stream entry
    /// inserts nothing).
    pub rows: AtomicU64,
    /// Statements sent to PostgreSQL.
    pub statements: AtomicU64,
    /// Work waiting in weir as last measured: stream entries not yet
    /// acknowledged by the sink's group (undelivered plus pending), or
    /// changed keys not yet written.
    pub lag: AtomicU64,
}

impl Stats {
    pub fn new(name: String) -> Stats {
        Stats {
            name,
            batches: AtomicU64::new(0),
            client_writes: AtomicU64::new(0),
            rows: AtomicU64::new(0),
            statements: AtomicU64::new(0),
            lag: AtomicU64::new(0),
        }
    }

    /// Client writes per database statement, so far.
    pub fn merge_ratio(&self) -> f64 {
        self.client_writes.load(Relaxed) as f64 / self.statements.load(Relaxed).max(1) as f64
    }

    pub fn reading(&self) -> Reading {
        Reading {
            at: Instant::now(),
            batches: self.batches.load(Relaxed),
            client_writes: self.client_writes.load(Relaxed),
            rows: self.rows.load(Relaxed),
            statements: self.statements.load(Relaxed),
        }
    }

    /// Logs the totals, and the rates since `since` if given.
    pub fn log(&self, since: Option<&Reading>) -> Reading {
        let now = self.reading();
        let rate = |pick: fn(&Reading) -> u64| match since {
            Some(then) => per_second(pick(&now).saturating_sub(pick(then)), now.at - then.at),
            None => 0.0,
        };
        tracing::info!(
            sink = %self.name,
            batches = now.batches,
            client_writes = now.client_writes,
            rows = now.rows,
            statements = now.statements,
            writes_per_statement = format!("{:.1}", self.merge_ratio()),
            lag = self.lag.load(Relaxed),
            batches_per_s = format!("{:.1}", rate(|r| r.batches)),
            rows_per_s = format!("{:.1}", rate(|r| r.rows)),
            statements_per_s = format!("{:.1}", rate(|r| r.statements)),
            writes_per_s = format!("{:.1}", rate(|r| r.client_writes)),
            "sink progress"
        );
        now
    }
}

/// The counters at one moment (for rates between two log lines).
#[derive(Clone, Copy, Debug)]
pub struct Reading {
    at: Instant,
    batches: u64,
    client_writes: u64,
    rows: u64,
    statements: u64,
}

fn per_second(delta: u64, over: Duration) -> f64 {
    match over.as_secs_f64() {
        secs if secs > 0.0 => delta as f64 / secs,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_ratio_and_rates() {
        let stats = Stats::new("stream orders".into());
        assert_eq!(stats.merge_ratio(), 0.0, "no statement yet: no division by zero");
        stats.client_writes.fetch_add(1000, Relaxed);
        stats.statements.fetch_add(4, Relaxed);
        assert_eq!(stats.merge_ratio(), 250.0);
        assert_eq!(per_second(500, Duration::from_millis(250)), 2000.0);
        assert_eq!(per_second(5, Duration::ZERO), 0.0);
    }
}
