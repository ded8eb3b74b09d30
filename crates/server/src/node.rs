//! Starting and stopping a node: data folder, node log, one Raft group and
//! one writer per partition, then the RESP and HTTP listeners.

use crate::config::{FsyncPolicy, NodeConfig};
use crate::data_dir::{DataDir, Meta};
use crate::partition::Partition;
use crate::session::Clients;
use crate::stats::Stats;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use weir_log::{FsyncMode, Log, LogConfig};
use weir_raft::GroupConfig;
use weir_state::SLOT_COUNT;

/// How long recovery may take before startup gives up.
const RECOVERY_TIMEOUT: Duration = Duration::from_secs(600);
/// Entries kept in the log behind a snapshot. A cluster of one has no member
/// to catch up; members that lag get the snapshot itself.
const KEEP_BEHIND_SNAPSHOT: u64 = 0;
/// The node log's bounded queue (records waiting for the writer thread).
const LOG_QUEUE_DEPTH: usize = 64 * 1024;
const LOG_MAX_BATCH_BYTES: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    DataDir(#[from] crate::data_dir::DataDirError),
    #[error("cannot open the log: {0}")]
    Log(String),
    #[error(transparent)]
    Group(#[from] weir_raft::group::GroupError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: std::io::Error },
}

/// The node's shared state: what every connection and handler sees.
pub struct Node {
    pub config: NodeConfig,
    pub partitions: Vec<Partition>,
    pub stats: Arc<Stats>,
    pub clients: Clients,
    pub log: Arc<Log>,
    pub run_id: String,
    pub resp_addr: SocketAddr,
    pub http_addr: SocketAddr,
    /// EVALSHA's SHA1 → script text.
    pub scripts: crate::commands::scripting::ScriptCache,
    pub slowlog: crate::slowlog::SlowLog,
    /// Memory use and `maxmemory` (`crate::memory`).
    pub memory: Arc<crate::memory::Memory>,
    /// Who listens to which channel (`crate::pubsub`).
    pub pubsub: crate::pubsub::PubSub,
    ready: AtomicBool,
    /// Told by SHUTDOWN; `Started::serve` stops on it.
    shutdown: tokio::sync::Notify,
    snapshots: Vec<Arc<AtomicU64>>,
    _data_dir: DataDir,
}

impl Node {
    /// The partition that owns `slot`: slots are split into contiguous,
    /// equal ranges, as Redis Cluster assigns them to masters.
    pub fn partition_for_slot(&self, slot: u16) -> &Partition {
        debug_assert!(slot < SLOT_COUNT);
        let index = usize::from(slot) * self.partitions.len() / usize::from(SLOT_COUNT);
        &self.partitions[index]
    }

    /// Stops the node as a signal would (SHUTDOWN).
    pub fn request_shutdown(&self) {
        // A permit is kept if `serve` is not waiting yet.
        self.shutdown.notify_one();
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// (keys, keys with a TTL) over all partitions.
    pub fn key_counts(&self) -> (usize, usize) {
        self.partitions.iter().fold((0, 0), |(keys, expires), p| {
            let counts = &p.key_counts;
            (
                keys + counts.keys.load(Ordering::Acquire) as usize,
                expires + counts.expires.load(Ordering::Acquire) as usize,
            )
        })
    }

    pub fn groups_snapshots(&self) -> u64 {
        self.snapshots.iter().map(|s| s.load(Ordering::Relaxed)).sum()
    }
}

/// A started node and its listeners.
pub struct Started {
    pub node: Arc<Node>,
    resp: TcpListener,
    http: tokio::task::JoinHandle<()>,
    memory_sampler: tokio::task::JoinHandle<()>,
}

impl Started {
    /// Serves until `shutdown` resolves or a client sends SHUTDOWN, then
    /// stops the groups and the log.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()>) {
        let node = self.node.clone();
        let resp = tokio::spawn(crate::listener::accept_loop(node.clone(), self.resp));
        tokio::select! {
            _ = shutdown => {}
            _ = node.shutdown.notified() => {}
        }
        tracing::info!("shutting down");
        resp.abort();
        self.http.abort();
        self.memory_sampler.abort();
        for partition in &node.partitions {
            if let Err(e) = partition.raft.shutdown().await {
                tracing::warn!(partition = partition.id, error = %e, "raft shutdown");
            }
        }
    }
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, NodeError> {
    TcpListener::bind(addr).await.map_err(|source| NodeError::Listen { addr, source })
}

/// Opens the data folder, recovers every partition and binds the listeners.
/// Returns once every partition has replayed its log and leads its group.
pub async fn start(config: NodeConfig) -> Result<Started, NodeError> {
    config.validate()?;
    let resp = bind(config.resp_addr()?).await?;
    let http = bind(config.http_addr()?).await?;
    let resp_addr = resp
        .local_addr()
        .map_err(|source| NodeError::Listen { addr: config.resp_addr().unwrap_or(([0, 0, 0, 0], 0).into()), source })?;
    let http_addr = http.local_addr().map_err(|source| NodeError::Listen { addr: resp_addr, source })?;
    tracing::info!(%resp_addr, %http_addr, "listening (RESP, HTTP); recovering");
    // HTTP answers /health at once and /ready once recovery is done.
    let http_state = crate::http::HttpState::new(config.requirepass.clone(), config.max_query_buffer);
    let http = tokio::spawn(crate::http::serve(http_state.clone(), http));

    let data_dir = DataDir::open(&config.dir, Meta { partitions: config.partitions, node_id: config.node_id })?;
    if data_dir.meta.partitions != config.partitions {
        tracing::info!(stored = data_dir.meta.partitions, "partition count is fixed by the data folder");
    }
    let partitions = data_dir.meta.partitions;
    let (log, recovered) =
        weir_raft::wal::open(log_config(&config, &data_dir), partitions).map_err(|e| NodeError::Log(e.to_string()))?;
    let stats = Arc::new(Stats::new(crate::commands::all_specs().map(|s| s.name)));
    let group_config = GroupConfig {
        node_id: data_dir.meta.node_id,
        node_addr: resp_addr.to_string(),
        snapshot_dir: data_dir.snapshot_dir(),
        snapshot_every: config.snapshot_every,
        keep_behind_snapshot: KEEP_BEHIND_SNAPSHOT,
        // Past the busy limit a script is throttled (weir_script::Limits).
        script_limits: weir_script::Limits {
            throttle_after_ms: config.busy_script.as_millis() as u64,
            ..config.script_limits
        },
    };
    let poison_log = log.clone();
    let poison: Arc<dyn Fn() -> Option<String> + Send + Sync> = Arc::new(move || poison_log.poisoned());
    let mut handles = Vec::new();
    let mut snapshots = Vec::new();
    for (index, recovered) in recovered.into_iter().enumerate() {
        let group = weir_raft::start_group(index as u32, &group_config, log.clone(), recovered).await?;
        group.wait_ready(group_config.node_id, RECOVERY_TIMEOUT).await?;
        snapshots.push(group.snapshots_built.clone());
        handles.push(Partition::start(group, stats.clone(), poison.clone(), config.busy_script));
    }
    let slowlog = crate::slowlog::SlowLog::new(config.slowlog_slower_than_us, config.slowlog_max_len);
    let memory = Arc::new(crate::memory::Memory::new(config.maxmemory, config.memory_probe, config.allocator));
    let memory_sampler = tokio::spawn(crate::memory::Memory::sample_forever(memory.clone()));
    let node = Node {
        slowlog,
        memory,
        config,
        partitions: handles,
        stats,
        clients: Clients::default(),
        log,
        run_id: run_id(),
        resp_addr,
        http_addr,
        scripts: Default::default(),
        ready: AtomicBool::new(true),
        shutdown: tokio::sync::Notify::new(),
        pubsub: Default::default(),
        snapshots,
        _data_dir: data_dir,
    };
    tracing::info!(partitions, keys = node.key_counts().0, "recovered; ready");
    let node = Arc::new(node);
    http_state.set_ready(node.clone());
    Ok(Started { node, resp, http, memory_sampler })
}

fn log_config(config: &NodeConfig, data_dir: &DataDir) -> LogConfig {
    LogConfig {
        dir: data_dir.log_dir(),
        fsync: match config.fsync {
            FsyncPolicy::Always => FsyncMode::Always,
            FsyncPolicy::Interval => FsyncMode::Interval(config.fsync_interval),
        },
        segment_bytes: config.segment_bytes,
        max_batch_bytes: LOG_MAX_BATCH_BYTES,
        queue_depth: LOG_QUEUE_DEPTH,
    }
}

/// A 40-hex-digit id for this run (INFO's `run_id`).
fn run_id() -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    (0..40).map(|_| char::from_digit(rng.gen_range(0..16), 16).unwrap_or('0')).collect()
}
