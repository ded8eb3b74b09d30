//! The node's write-ahead log: checksummed segment files, one group-commit
//! writer thread for every partition, and fail-closed recovery.
//!
//! - [`record`]: the checksummed record format.
//! - [`segment`]: segment files and what pins them.
//! - [`recovery`]: replay at startup; torn tails are cut, corruption stops.
//! - [`writer`]: the group-commit thread (one durable write per batch).
//! - `direct`: that write, with `O_DIRECT | O_DSYNC` (no page cache).
//! - `prealloc`: zero-fills the open segment ahead of the writer, so its
//!   fdatasync flushes data, not metadata.
//!
//! Invariants: a callback reports success only after its records are
//! durable per the [`FsyncMode`]; after any failed write or fsync the log is
//! poisoned and reports that to every later append, because the kernel may
//! have dropped the dirty pages.

mod direct;
mod prealloc;
pub mod record;
pub mod recovery;
pub mod segment;
mod writer;

pub use record::{Record, RecordRef};
pub use recovery::OpenError;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};
use writer::{Request, Writer};

/// Default segment size before the log rolls to a new file.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;
/// Default cap on one group-commit write.
pub const DEFAULT_MAX_BATCH_BYTES: usize = 8 << 20;
/// Default number of queued append requests before appenders wait.
pub const DEFAULT_QUEUE_DEPTH: usize = 64 * 1024;

/// When an appended record counts as durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncMode {
    /// After fdatasync: survives power loss.
    Always,
    /// After write(2); fdatasync at most every interval. Survives a process
    /// crash; power loss can lose the last interval.
    Interval(Duration),
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub dir: PathBuf,
    pub fsync: FsyncMode,
    pub segment_bytes: u64,
    pub max_batch_bytes: usize,
    pub queue_depth: usize,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    #[error("log poisoned: {0}")]
    Poisoned(String),
    #[error("log writer stopped")]
    Stopped,
}

/// Called once per append with the outcome.
pub type Done = Box<dyn FnOnce(Result<(), LogError>) + Send>;

/// Counters, readable at any time.
#[derive(Debug, Default)]
pub struct Counters {
    pub batches: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub fsyncs: AtomicU64,
    pub segments: AtomicU64,
    /// 1 while the open segment takes direct synchronous appends.
    pub direct: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    pub batches: u64,
    pub records: u64,
    pub bytes: u64,
    pub fsyncs: u64,
    pub segments: u64,
    /// Whether appends are direct synchronous writes (`crate::direct`)
    /// rather than write + fdatasync.
    pub direct_io: bool,
}

/// State shared by the handle and the writer thread.
pub struct Shared {
    poison: Mutex<Option<String>>,
    is_poisoned: AtomicBool,
    pub(crate) released: Mutex<HashMap<u32, u64>>,
    pub(crate) stats: Counters,
    pub(crate) inject_fsync_failure: AtomicBool,
}

impl Shared {
    pub(crate) fn poisoned(&self) -> Option<String> {
        if !self.is_poisoned.load(Relaxed) {
            return None;
        }
        self.poison.lock().ok().and_then(|p| p.clone())
    }

    pub(crate) fn poison(&self, reason: String) -> LogError {
        tracing::error!(%reason, "log poisoned: refusing further writes");
        if let Ok(mut p) = self.poison.lock() {
            p.get_or_insert(reason.clone());
        }
        self.is_poisoned.store(true, Relaxed);
        LogError::Poisoned(reason)
    }
}

/// A handle to the node log.
pub struct Log {
    tx: mpsc::Sender<Request>,
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Log {
    /// Replays every record in write order through `replay`, then starts a
    /// fresh segment and the writer thread.
    pub fn open<E: std::error::Error>(
        config: LogConfig,
        replay: impl FnMut(RecordRef<'_>) -> Result<(), E>,
    ) -> Result<Log, OpenError<E>> {
        let io = |source| OpenError::Io { path: config.dir.clone(), source };
        std::fs::create_dir_all(&config.dir).map_err(io)?;
        let recovered = recovery::replay(&config.dir, replay)?;
        let initial: Vec<u8> = recovered.sticky.values().flatten().copied().collect();
        let seq = recovered.next_seq;
        let file = segment::create(&config.dir, seq, &initial).map_err(io)?;
        let written = (segment::SEGMENT_HEADER_LEN + initial.len()) as u64;
        let direct = match config.fsync {
            FsyncMode::Always => {
                direct::Direct::open(&segment::path_of(&config.dir, seq), &file, written).map_err(io)?
            }
            FsyncMode::Interval(_) => None,
        };
        if config.fsync == FsyncMode::Always && direct.is_none() {
            tracing::info!(dir = %config.dir.display(), "no direct I/O here: the log writes, then fdatasyncs");
        }
        let fill = prealloc::Filler::start(&file, written, config.segment_bytes).map_err(io)?;
        let shared = Arc::new(Shared {
            poison: Mutex::new(None),
            is_poisoned: AtomicBool::new(false),
            released: Mutex::new(HashMap::new()),
            stats: Counters::default(),
            inject_fsync_failure: AtomicBool::new(false),
        });
        shared.stats.segments.store(recovered.segments.len() as u64 + 1, Relaxed);
        shared.stats.direct.store(u64::from(direct.is_some()), Relaxed);
        let writer = Writer {
            dir: config.dir.clone(),
            fsync: config.fsync,
            segment_bytes: config.segment_bytes,
            max_batch_bytes: config.max_batch_bytes,
            shared: shared.clone(),
            file,
            direct,
            fill: Some(fill),
            seq,
            written,
            pins: Default::default(),
            closed: recovered.segments,
            sticky: recovered.sticky,
            buf: Vec::with_capacity(config.max_batch_bytes.min(1 << 20)),
            unsynced: false,
            last_sync: Instant::now(),
        };
        let (tx, rx) = mpsc::channel(config.queue_depth.max(1));
        let thread = std::thread::Builder::new().name("weir-log".into()).spawn(move || writer.run(rx)).map_err(io)?;
        if let FsyncMode::Interval(every) = config.fsync {
            spawn_ticker(tx.clone(), every);
        }
        Ok(Log { tx, shared, thread: Some(thread) })
    }

    /// Queues `records` for the next group commit. `done` runs on the
    /// writer thread once they are durable, or with the error that poisoned
    /// the log. Waits while the queue is full (back-pressure).
    pub async fn append(&self, records: Vec<Record>, done: Done) -> Result<(), LogError> {
        if let Some(reason) = self.shared.poisoned() {
            return Err(LogError::Poisoned(reason));
        }
        self.tx.send(Request::Append { records, done }).await.map_err(|_| LogError::Stopped)
    }

    /// Appends and waits until durable.
    pub async fn append_durable(&self, records: Vec<Record>) -> Result<(), LogError> {
        let (tx, rx) = oneshot::channel();
        self.append(records, Box::new(move |r| drop(tx.send(r)))).await?;
        rx.await.map_err(|_| LogError::Stopped)?
    }

    /// Records of `partition` with index <= `upto` are no longer needed;
    /// closed segments holding nothing else are deleted by the writer.
    pub fn release(&self, partition: u32, upto: u64) {
        if let Ok(mut released) = self.shared.released.lock() {
            let r = released.entry(partition).or_insert(upto);
            *r = (*r).max(upto);
        }
    }

    pub fn poisoned(&self) -> Option<String> {
        self.shared.poisoned()
    }

    pub fn stats(&self) -> LogStats {
        let s = &self.shared.stats;
        LogStats {
            batches: s.batches.load(Relaxed),
            records: s.records.load(Relaxed),
            bytes: s.bytes.load(Relaxed),
            fsyncs: s.fsyncs.load(Relaxed),
            segments: s.segments.load(Relaxed),
            direct_io: s.direct.load(Relaxed) == 1,
        }
    }

    /// Test hook: the next fsync fails as if the disk had reported EIO.
    #[doc(hidden)]
    pub fn inject_fsync_failure(&self) {
        self.shared.inject_fsync_failure.store(true, Relaxed);
    }
}

/// Interval mode: nudges the writer so an idle log still gets its fsync.
/// It holds only a weak sender, so it never keeps the writer alive.
fn spawn_ticker(tx: mpsc::Sender<Request>, every: Duration) {
    let weak = tx.downgrade();
    drop(tx);
    std::thread::spawn(move || loop {
        std::thread::sleep(every);
        let Some(tx) = weak.upgrade() else { return };
        if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(Request::Sync) {
            return;
        }
    });
}

impl Drop for Log {
    fn drop(&mut self) {
        // Closing the channel lets the writer finish queued work and exit.
        let (closed_tx, _) = mpsc::channel(1);
        drop(std::mem::replace(&mut self.tx, closed_tx));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
