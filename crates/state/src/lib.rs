//! Partition state: the keyspace, the data types, command semantics, and the
//! batch format that carries commands through the log.
//!
//! - [`slot`]: keys to slots (CRC16, hash tags).
//! - [`spec`]: the data-command table (arity, keys, handlers); [`names`]: its index.
//! - [`db`]: a partition's keyspace, expiry, SCAN.
//! - [`keyspace`]: the ordered hash table holding the keys; [`keyspace_key`]: its key.
//! - [`value`], [`num`], [`glob`]: values, number rules, patterns.
//! - [`cmd`]: handlers per type.
//! - [`zset`], [`stream`], [`hll`]: the sorted-set, stream and HyperLogLog structures.
//! - [`batch`]: the log entry payload and its application.
//! - [`snapshot`]: the state as bytes; [`capture`]: taken in steps while writes go on.
//! - [`changes`]: the changed-keys feed for write-behind sinks.
//! - [`memory_usage`]: MEMORY USAGE's estimate of a key's bytes.
//!
//! Invariant: a `Db` changes only through `apply_batch`, deterministically
//! from the batch's bytes (clock and seed included), so replaying a log or
//! loading a snapshot and replaying gives the same state on every node.

pub mod batch;
pub mod capture;
pub mod changes;
pub mod cmd;
pub mod db;
pub mod glob;
pub mod hll;
pub mod keyspace;
pub mod keyspace_key;
pub mod memory_usage;
pub mod names;
pub mod num;
pub mod slot;
pub mod snapshot;
pub mod spec;
pub mod stream;
pub mod value;
pub mod zset;

pub use batch::{BatchBuilder, BatchError, ScriptCall, ScriptHost};
pub use db::{Db, ExecCtx, Mode};
pub use glob::glob_match;
pub use slot::{hash_part, key_slot, slot_of_part, SLOT_COUNT};
pub use snapshot::SnapshotError;
pub use spec::{all_commands, lookup, Access, CommandSpec};

/// Wall-clock milliseconds (read paths only; writes use the batch clock).
pub fn clock_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
