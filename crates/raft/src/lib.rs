//! Redundancy: every partition is an openraft group.
//!
//! - [`types`]: the openraft type configuration (a log entry carries one
//!   encoded batch of commands; its response is one reply per item).
//! - [`codec`]: how Raft entries, votes and markers become node-log records.
//! - [`wal`]: opens the node's single write-ahead log and splits what it
//!   replays into per-partition state.
//! - [`log_store`]: openraft's `RaftLogStorage` over the shared log.
//! - [`durability`]: what of a partition's log is on disk, and early
//!   acknowledgement while a group is this node alone.
//! - [`machine`]: openraft's `RaftStateMachine` over a partition's `Db`.
//! - [`snapshot_file`]: checksummed snapshot files.
//! - [`network`]: the transport between members.
//! - [`group`]: starting a partition's group.
//!
//! A single node is a cluster of one: each group has one voter, and the same
//! code path adds members later.

// openraft's storage traits return its `StorageError` by value; the lint
// would ask us to change signatures we do not own.
#![allow(clippy::result_large_err)]

pub mod codec;
pub mod durability;
pub mod group;
pub mod log_store;
pub mod machine;
pub mod network;
pub mod snapshot_file;
pub mod types;
pub mod wal;

pub use group::{start_group, Group, GroupConfig};
pub use machine::Machine;
pub use types::{NodeId, Raft, Request, Response, TypeConfig};
