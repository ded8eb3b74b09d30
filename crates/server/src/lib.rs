//! The weir node: RESP and HTTP front ends over partitioned, Raft-logged
//! state.
//!
//! - [`node`]: startup (data folder, log, groups, listeners) and shutdown.
//! - [`listener`] and [`connection`]: accepting clients and serving one
//!   client's pipeline in order.
//! - [`dispatch`]: auth, arity, CROSSSLOT, and routing to a partition.
//! - [`partition`]: a handle to a partition: writes queued, reads gated on
//!   durability, BUSY, the active expirer.
//! - [`pipeline`]: a connection's consecutive writes to one partition,
//!   proposed together.
//! - [`writer`]: a partition's single writer and its group commit.
//! - [`blocking`]: clients blocked in BLPOP and friends, per partition.
//! - [`commands`]: commands the node answers itself.
//! - [`http`], [`metrics`], [`info`], [`stats`]: observability.
//! - [`config`], [`data_dir`], [`session`]: settings, on-disk layout, clients.
//! - [`memory`]: memory use, `maxmemory`, and OOM refusals.

pub mod blocking;
pub mod commands;
pub mod config;
pub mod connection;
pub mod data_dir;
pub mod dispatch;
pub mod errorstats;
pub mod gather;
pub mod http;
pub mod info;
pub mod listener;
pub mod memory;
pub mod metrics;
pub mod node;
pub mod partition;
pub mod pipeline;
pub mod pubsub;
pub mod session;
pub mod slowlog;
pub mod stats;
pub mod writer;

pub use config::{FsyncPolicy, NodeConfig};
pub use node::{start, Node, NodeError, Started};
