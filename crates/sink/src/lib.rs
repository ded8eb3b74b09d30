//! `weir sink postgres`: a long-running process that drains weir into
//! PostgreSQL in merged batches, so many client writes become few
//! statements.
//!
//! - [`config`]: the TOML mapping (stream → table, field → column).
//! - [`stream_table`]: one stream drained into one table through a
//!   consumer group.
//! - [`counters`]: counters and hashes written behind to one table from
//!   weir's changed-keys feed.
//! - [`stats`]: what each task did (batches, rows, statements, client
//!   writes, lag), logged with per-second rates; [`metrics`] serves it.
//!
//! Invariant (exactly one row per entry): a batch is inserted with
//! `ON CONFLICT (<id column>) DO NOTHING` keyed by the stream ID and
//! committed *before* its entries are acknowledged; after a crash the
//! unacknowledged entries come back (the consumer's pending history is read
//! first) and their rows are not inserted twice.

pub mod config;
pub mod counters;
pub mod metrics;
pub mod stats;
pub mod stream_table;

pub use config::{Counters, SinkConfig, StreamTable};

/// Parses `redis://[:password@]host:port`.
pub fn client_target(url: &str) -> Result<weir_client::Target, SinkError> {
    Ok(weir_client::Target::parse(url)?)
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("config: {0}")]
    Config(String),
    #[error("weir: {0}")]
    Weir(#[from] weir_client::ClientError),
    #[error("weir answered {0}")]
    Reply(String),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}
