//! `weir serve`: options from flags, `WEIR_*` variables, or a TOML file,
//! in that order of precedence, over the defaults in `weir_server::config`.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;
use weir_server::config::{self as defaults, FsyncPolicy, NodeConfig};

#[derive(Clone, Copy, Debug, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FsyncArg {
    /// Every acknowledged write is fdatasync'ed first (the default).
    Always,
    /// Acknowledge after the write reaches the kernel; fdatasync every
    /// --fsync-interval-ms. A process crash loses nothing; power loss can
    /// lose the last interval of acknowledged writes.
    Interval,
}

#[derive(Clone, Copy, Debug, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YesNo {
    Yes,
    No,
}

/// Every option is optional here so that a value can come from the TOML file
/// when neither a flag nor a variable gives it.
#[derive(Args, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServeArgs {
    /// TOML file with any of these options (kebab-case keys).
    #[arg(long, env = "WEIR_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Data folder [default: ./weir-data]
    #[arg(long, env = "WEIR_DIR")]
    pub dir: Option<PathBuf>,
    /// Address for RESP clients [default: 127.0.0.1]
    #[arg(long, env = "WEIR_BIND")]
    pub bind: Option<String>,
    /// RESP port; 0 picks a free port [default: 6379]
    #[arg(long, env = "WEIR_PORT")]
    pub port: Option<u16>,
    /// HTTP address (health, readiness, metrics, JSON commands); port 0 picks a free port [default: 127.0.0.1:7379]
    #[arg(long, env = "WEIR_HTTP")]
    pub http: Option<String>,
    /// Partitions, fixed when the data folder is created [default: 8]
    #[arg(long, env = "WEIR_PARTITIONS")]
    pub partitions: Option<u32>,
    /// This node's id in its Raft groups [default: 1]
    #[arg(long, env = "WEIR_NODE_ID")]
    pub node_id: Option<u64>,
    /// When a write is acknowledged [default: always]
    #[arg(long, env = "WEIR_FSYNC", value_enum)]
    pub fsync: Option<FsyncArg>,
    /// fdatasync period with --fsync interval [default: 10]
    #[arg(long, env = "WEIR_FSYNC_INTERVAL_MS")]
    pub fsync_interval_ms: Option<u64>,
    /// Password for AUTH, HELLO AUTH and HTTP Bearer tokens [default: none]
    #[arg(long, env = "WEIR_REQUIREPASS")]
    pub requirepass: Option<String>,
    /// Refuse non-loopback addresses without a password [default: yes]
    #[arg(long, env = "WEIR_PROTECTED_MODE", value_enum)]
    pub protected_mode: Option<YesNo>,
    /// Maximum connected RESP clients [default: 10000]
    #[arg(long, env = "WEIR_MAX_CLIENTS")]
    pub max_clients: Option<usize>,
    /// Largest bulk string a client may send, bytes [default: 536870912]
    #[arg(long, env = "WEIR_MAX_BULK_LEN")]
    pub max_bulk_len: Option<usize>,
    /// Most arguments in one command [default: 1048576]
    #[arg(long, env = "WEIR_MAX_ARGS")]
    pub max_args: Option<usize>,
    /// Unparsed input a client may buffer, bytes [default: 67108864]
    #[arg(long, env = "WEIR_MAX_QUERY_BUFFER")]
    pub max_query_buffer: Option<usize>,
    /// Encoded replies held for one client before it is disconnected, bytes [default: 67108864]
    #[arg(long, env = "WEIR_MAX_OUTPUT_BUFFER")]
    pub max_output_buffer: Option<usize>,
    /// Seconds a client may leave its replies unread before it is disconnected [default: 30]
    #[arg(long, env = "WEIR_OUTPUT_STALL_SECS")]
    pub output_stall_secs: Option<u64>,
    /// Also snapshot a partition after this many log entries [default: by log bytes only]
    #[arg(long, env = "WEIR_SNAPSHOT_EVERY")]
    pub snapshot_every: Option<u64>,
    /// Roll the log to a new segment file after this many bytes [default: 67108864]
    #[arg(long, env = "WEIR_SEGMENT_BYTES")]
    pub segment_bytes: Option<u64>,
    /// Milliseconds a script may run before its partition answers BUSY and SCRIPT KILL may stop it [default: 5000]
    #[arg(long, env = "WEIR_BUSY_SCRIPT_MS")]
    pub busy_script_ms: Option<u64>,
    /// Lua VM instructions one script may run before it fails [default: 100000000000]
    #[arg(long, env = "WEIR_SCRIPT_MAX_INSTRUCTIONS")]
    pub script_max_instructions: Option<u64>,
    /// Bytes one script may allocate [default: 67108864]
    #[arg(long, env = "WEIR_SCRIPT_MAX_MEMORY")]
    pub script_max_memory: Option<usize>,
    /// SLOWLOG logs commands slower than this many microseconds, from arrival to reply; negative disables, 0 logs all [default: 10000]
    #[arg(long, env = "WEIR_SLOWLOG_LOG_SLOWER_THAN", allow_negative_numbers = true)]
    pub slowlog_log_slower_than: Option<i64>,
    /// Entries SLOWLOG keeps [default: 128]
    #[arg(long, env = "WEIR_SLOWLOG_MAX_LEN")]
    pub slowlog_max_len: Option<usize>,
    /// Runtime worker threads [default: the number of cores minus one, at least 1]
    #[arg(long, env = "WEIR_THREADS")]
    pub threads: Option<usize>,
    /// Memory past which writes that may grow it are refused with OOM (bytes, or 100mb, 4gb...; 0: no limit) [default: half the machine's memory]
    #[arg(long, env = "WEIR_MAXMEMORY")]
    pub maxmemory: Option<String>,
}

impl ServeArgs {
    /// Flags and variables win; the TOML file fills what they leave unset.
    pub fn into_config(self) -> Result<NodeConfig> {
        let file = match &self.config {
            None => ServeArgs::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
            }
        };
        let maxmemory = match self.maxmemory.as_ref().or(file.maxmemory.as_ref()) {
            None => defaults::NodeConfig::default().maxmemory,
            Some(text) => Some(weir_server::memory::parse_size(text).map_err(anyhow::Error::msg)?).filter(|&n| n > 0),
        };
        Ok(NodeConfig {
            maxmemory,
            memory_probe: || crate::jemalloc_reading().or_else(weir_server::memory::proc_probe),
            allocator: "jemalloc-5.3.0",
            ..merge(self, file)
        })
    }
}

fn merge(cli: ServeArgs, file: ServeArgs) -> NodeConfig {
    let d = NodeConfig::default();
    let fsync = match cli.fsync.or(file.fsync) {
        Some(FsyncArg::Interval) => FsyncPolicy::Interval,
        _ => FsyncPolicy::Always,
    };
    let interval = cli.fsync_interval_ms.or(file.fsync_interval_ms).unwrap_or(defaults::DEFAULT_FSYNC_INTERVAL_MS);
    let stall = cli.output_stall_secs.or(file.output_stall_secs).unwrap_or(defaults::DEFAULT_OUTPUT_STALL_SECS);
    NodeConfig {
        dir: cli.dir.or(file.dir).unwrap_or(d.dir),
        bind: cli.bind.or(file.bind).unwrap_or(d.bind),
        port: cli.port.or(file.port).unwrap_or(d.port),
        http: cli.http.or(file.http).unwrap_or(d.http),
        partitions: cli.partitions.or(file.partitions).unwrap_or(d.partitions),
        node_id: cli.node_id.or(file.node_id).unwrap_or(d.node_id),
        fsync,
        fsync_interval: Duration::from_millis(interval.max(1)),
        requirepass: cli.requirepass.or(file.requirepass).filter(|p| !p.is_empty()),
        protected_mode: !matches!(cli.protected_mode.or(file.protected_mode), Some(YesNo::No)),
        max_clients: cli.max_clients.or(file.max_clients).unwrap_or(d.max_clients),
        max_bulk_len: cli.max_bulk_len.or(file.max_bulk_len).unwrap_or(d.max_bulk_len),
        max_args: cli.max_args.or(file.max_args).unwrap_or(d.max_args),
        max_query_buffer: cli.max_query_buffer.or(file.max_query_buffer).unwrap_or(d.max_query_buffer),
        max_output_buffer: cli.max_output_buffer.or(file.max_output_buffer).unwrap_or(d.max_output_buffer),
        output_stall: Duration::from_secs(stall.max(1)),
        snapshot_every: cli.snapshot_every.or(file.snapshot_every).or(d.snapshot_every),
        segment_bytes: cli.segment_bytes.or(file.segment_bytes).unwrap_or(d.segment_bytes),
        busy_script: cli.busy_script_ms.or(file.busy_script_ms).map(Duration::from_millis).unwrap_or(d.busy_script),
        script_limits: weir_script::Limits {
            max_instructions: cli
                .script_max_instructions
                .or(file.script_max_instructions)
                .unwrap_or(d.script_limits.max_instructions),
            max_memory: cli.script_max_memory.or(file.script_max_memory).unwrap_or(d.script_limits.max_memory),
            ..d.script_limits
        },
        slowlog_slower_than_us: cli
            .slowlog_log_slower_than
            .or(file.slowlog_log_slower_than)
            .unwrap_or(d.slowlog_slower_than_us),
        slowlog_max_len: cli.slowlog_max_len.or(file.slowlog_max_len).unwrap_or(d.slowlog_max_len),
        threads: cli.threads.or(file.threads).unwrap_or(d.threads).max(1),
        ..d
    }
}

/// Runs a node until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    let config = args.into_config()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads)
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(async move {
        let started = weir_server::start(config).await?;
        started.serve(shutdown_signal()).await;
        Ok(())
    })
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(term) => term,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_win_over_the_file_and_the_file_over_defaults() {
        let cli = ServeArgs { port: Some(7000), ..ServeArgs::default() };
        let file: ServeArgs = toml::from_str("port = 1\npartitions = 4\nfsync = \"interval\"").expect("parses");
        let config = merge(cli, file);
        assert_eq!(config.port, 7000);
        assert_eq!(config.partitions, 4);
        assert_eq!(config.fsync, FsyncPolicy::Interval);
        assert_eq!(config.http, defaults::DEFAULT_HTTP);
    }

    #[test]
    fn unknown_file_keys_are_rejected() {
        assert!(toml::from_str::<ServeArgs>("prot = 1").is_err());
    }
}
