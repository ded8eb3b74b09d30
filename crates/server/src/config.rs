//! The node's settings, with their defaults in one place. The binary fills
//! this from flags, `WEIR_*` variables and an optional TOML file.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_DIR: &str = "./weir-data";
pub const DEFAULT_BIND: &str = "127.0.0.1";
pub const DEFAULT_PORT: u16 = 6379;
pub const DEFAULT_HTTP: &str = "127.0.0.1:7379";
pub const DEFAULT_PARTITIONS: u32 = 8;
/// Redis's `proto-max-bulk-len`.
pub const DEFAULT_MAX_BULK_LEN: usize = 512 << 20;
/// Redis caps a multibulk at 1024*1024 arguments.
pub const DEFAULT_MAX_ARGS: usize = 1024 * 1024;
/// Bytes a client may have buffered but not yet parsed into a command.
/// Redis allows 1 GiB; weir holds 64 MiB (and the bulk limit still applies to
/// arguments) so that many clients cannot pin the node's memory.
pub const DEFAULT_MAX_QUERY_BUFFER: usize = 64 << 20;
/// Redis's default `maxclients`.
pub const DEFAULT_MAX_CLIENTS: usize = 10_000;
/// Encoded replies held for a client that is not reading them.
pub const DEFAULT_MAX_OUTPUT_BUFFER: usize = 64 << 20;
/// How long a reply write may stall before the client is disconnected.
pub const DEFAULT_OUTPUT_STALL_SECS: u64 = 30;
pub const DEFAULT_FSYNC_INTERVAL_MS: u64 = 10;
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Redis's `busy-reply-threshold` (`lua-time-limit`): after this long a
/// script's partition answers BUSY and SCRIPT KILL may stop it.
pub const DEFAULT_BUSY_SCRIPT_MS: u64 = 5_000;
/// Redis's `slowlog-log-slower-than` (µs; negative disables, 0 logs all).
pub const DEFAULT_SLOWLOG_SLOWER_THAN_US: i64 = 10_000;
/// Redis's `slowlog-max-len`.
pub const DEFAULT_SLOWLOG_MAX_LEN: usize = 128;

/// When an acknowledged write is on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FsyncPolicy {
    /// Every reply to a write leaves after its batch is fdatasync'ed.
    #[default]
    Always,
    /// Replies leave after the batch is written to the kernel; fdatasync runs
    /// every interval. A process crash loses nothing; power loss or a kernel
    /// crash can lose the writes of the last interval.
    Interval,
}

#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub dir: PathBuf,
    pub bind: String,
    pub port: u16,
    pub http: String,
    /// Fixed when the data folder is created; later values must match.
    pub partitions: u32,
    pub node_id: u64,
    pub fsync: FsyncPolicy,
    pub fsync_interval: Duration,
    pub requirepass: Option<String>,
    pub protected_mode: bool,
    pub max_clients: usize,
    pub max_bulk_len: usize,
    pub max_args: usize,
    pub max_query_buffer: usize,
    pub max_output_buffer: usize,
    pub output_stall: Duration,
    /// Also snapshot a partition every this many log entries. By default
    /// only the log's bytes decide (`writer::SNAPSHOT_AFTER_LOG_BYTES`).
    pub snapshot_every: Option<u64>,
    pub segment_bytes: u64,
    pub busy_script: Duration,
    pub script_limits: weir_script::Limits,
    /// SLOWLOG's threshold in microseconds (`crate::slowlog`).
    pub slowlog_slower_than_us: i64,
    pub slowlog_max_len: usize,
    /// Runtime worker threads (connections, partition writers, Raft).
    pub threads: usize,
    /// Memory past which commands that may grow it are refused
    /// (`crate::memory`); `None`: no limit.
    pub maxmemory: Option<u64>,
    /// How the node reads its memory use, and the allocator's name.
    pub memory_probe: crate::memory::MemoryProbe,
    pub allocator: &'static str,
}

/// Runtime workers by default: one per core but one, which is left to the
/// log's fsync thread and the kernel's network work. Measured on 2 cores
/// (50 clients, one hot list): 1 worker served LPUSH -P 16 at ~620k req/s
/// where 2 served ~450k; the log thread woke 3x faster and the partition's
/// chain of tasks never waited for a core held by a connection.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().saturating_sub(1)).max(1)
}

impl Default for NodeConfig {
    fn default() -> NodeConfig {
        NodeConfig {
            dir: PathBuf::from(DEFAULT_DIR),
            bind: DEFAULT_BIND.to_string(),
            port: DEFAULT_PORT,
            http: DEFAULT_HTTP.to_string(),
            partitions: DEFAULT_PARTITIONS,
            node_id: 1,
            fsync: FsyncPolicy::Always,
            fsync_interval: Duration::from_millis(DEFAULT_FSYNC_INTERVAL_MS),
            requirepass: None,
            protected_mode: true,
            max_clients: DEFAULT_MAX_CLIENTS,
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_args: DEFAULT_MAX_ARGS,
            max_query_buffer: DEFAULT_MAX_QUERY_BUFFER,
            max_output_buffer: DEFAULT_MAX_OUTPUT_BUFFER,
            output_stall: Duration::from_secs(DEFAULT_OUTPUT_STALL_SECS),
            snapshot_every: None,
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            busy_script: Duration::from_millis(DEFAULT_BUSY_SCRIPT_MS),
            script_limits: weir_script::Limits::default(),
            slowlog_slower_than_us: DEFAULT_SLOWLOG_SLOWER_THAN_US,
            slowlog_max_len: DEFAULT_SLOWLOG_MAX_LEN,
            threads: default_threads(),
            maxmemory: crate::memory::default_limit(),
            memory_probe: crate::memory::proc_probe,
            allocator: "libc",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "refusing to listen on non-loopback address {0} without --requirepass (set --protected-mode no to override)"
    )]
    Unprotected(String),
    #[error("invalid address {0}: {1}")]
    Address(String, String),
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

impl NodeConfig {
    /// Checks the settings that would make the node unsafe or unusable.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let snapshot_every = self.snapshot_every.map_or(1, |n| n as usize);
        for (name, value) in [
            ("partitions", self.partitions as usize),
            ("max-clients", self.max_clients),
            ("snapshot-every", snapshot_every),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero(name));
            }
        }
        if self.protected_mode && self.requirepass.is_none() {
            for addr in [self.resp_addr()?, self.http_addr()?] {
                if !addr.ip().is_loopback() {
                    return Err(ConfigError::Unprotected(addr.to_string()));
                }
            }
        }
        Ok(())
    }

    pub fn resp_addr(&self) -> Result<SocketAddr, ConfigError> {
        let text = if self.bind.contains(':') && !self.bind.starts_with('[') {
            format!("[{}]:{}", self.bind, self.port)
        } else {
            format!("{}:{}", self.bind, self.port)
        };
        text.parse().map_err(|e: std::net::AddrParseError| ConfigError::Address(text.clone(), e.to_string()))
    }

    pub fn http_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.http.parse().map_err(|e: std::net::AddrParseError| ConfigError::Address(self.http.clone(), e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_without_password_is_fine() {
        NodeConfig::default().validate().expect("default is safe");
    }

    #[test]
    fn public_bind_needs_a_password_or_protected_mode_off() {
        let mut config = NodeConfig { bind: "0.0.0.0".into(), ..NodeConfig::default() };
        assert!(matches!(config.validate(), Err(ConfigError::Unprotected(_))));
        config.requirepass = Some("secret".into());
        config.validate().expect("password given");
        config.requirepass = None;
        config.protected_mode = false;
        config.validate().expect("protection off");
    }

    #[test]
    fn counts_that_would_stall_or_spin_are_refused() {
        let zero_partitions = NodeConfig { partitions: 0, ..NodeConfig::default() };
        assert!(matches!(zero_partitions.validate(), Err(ConfigError::Zero("partitions"))));
        let snapshot_always = NodeConfig { snapshot_every: Some(0), ..NodeConfig::default() };
        assert!(matches!(snapshot_always.validate(), Err(ConfigError::Zero("snapshot-every"))));
        NodeConfig { snapshot_every: Some(1), ..NodeConfig::default() }.validate().expect("one entry is a count");
    }
}
