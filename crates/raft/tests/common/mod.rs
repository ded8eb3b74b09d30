//! Shared by the group tests: a one-partition group of node 1 over a real
//! log in a temporary folder, and a batch holding one SET.

use weir_log::{FsyncMode, LogConfig};
use weir_raft::{GroupConfig, Request};

pub const NODE: u64 = 1;

pub fn log_config(dir: &std::path::Path) -> LogConfig {
    LogConfig {
        dir: dir.join("log"),
        fsync: FsyncMode::Always,
        segment_bytes: 4 << 20,
        max_batch_bytes: 1 << 20,
        queue_depth: 1024,
    }
}

pub fn group_config(dir: &std::path::Path) -> GroupConfig {
    GroupConfig {
        node_id: NODE,
        node_addr: "127.0.0.1:1".into(),
        snapshot_dir: dir.join("snapshots"),
        snapshot_every: Some(1_000_000),
        keep_behind_snapshot: 1000,
        script_limits: weir_script::Limits::default(),
    }
}

pub fn set(key: &str) -> Request {
    let mut batch = weir_state::BatchBuilder::new(1, 1);
    batch.push_command(&[bytes::Bytes::from_static(b"SET"), bytes::Bytes::from(key.to_string()), "v".into()]);
    Request(batch.finish())
}
