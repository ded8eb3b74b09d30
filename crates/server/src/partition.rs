//! A partition's single writer: it gathers the commands that reach it
//! concurrently into one Raft entry (group commit) and hands each caller its
//! reply once the entry is durable and applied.
//!
//! No timer decides a batch: the writer takes whatever is queued the moment
//! the previous entry is answered, so a lone client pays for one entry and a
//! crowd shares them. One entry per partition is in Raft at a time: openraft
//! 0.9's core waits for each append to be flushed before it takes the next
//! one, so a second entry would only wait there, and would hold back the
//! commands that could have joined it. Across partitions, the node log's
//! writer merges the entries of every partition into one fsync.

use crate::stats::Stats;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use weir_protocol::Frame;
use weir_raft::machine::{lock, SharedMachine};
use weir_raft::{Raft, Request};
use weir_state::{BatchBuilder, ExecCtx, Mode};

/// Entries of one partition in Raft at once (see the module comment).
pub const MAX_INFLIGHT: usize = 1;
/// Items in one entry (bounds an entry's apply time and size).
pub const MAX_BATCH_ITEMS: usize = 4096;
/// Encoded bytes in one entry.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// Proposals queued per partition before callers wait (back-pressure).
pub const QUEUE_DEPTH: usize = 16 * 1024;
/// Log bytes a partition may accumulate in memory before it snapshots (and
/// the log behind the snapshot is purged), whatever the entry count.
pub const SNAPSHOT_AFTER_LOG_BYTES: usize = 4 << 20;
/// Keys the active expirer removes per entry.
const EXPIRE_BATCH: u32 = 500;
/// How often the active expirer looks for expired keys.
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);

/// What a partition can be asked to log.
pub enum Proposal {
    Command(Vec<Bytes>),
    Transaction { watches: Vec<(Bytes, u64)>, commands: Vec<Vec<Bytes>> },
    ActiveExpire(u32),
    Flush,
}

type Waiter = oneshot::Sender<Frame>;

/// A handle to one partition: cheap to clone.
#[derive(Clone)]
pub struct Partition {
    pub id: u32,
    pub raft: Raft,
    pub machine: SharedMachine,
    pub applied_index: Arc<AtomicU64>,
    queue: mpsc::Sender<(Proposal, Waiter)>,
    read_seed: Arc<AtomicU64>,
    stats: Arc<Stats>,
}

impl Partition {
    /// Starts the partition's writer and expirer tasks.
    pub fn start(
        group: weir_raft::Group,
        stats: Arc<Stats>,
        poison: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    ) -> Partition {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let partition = Partition {
            id: group.partition,
            raft: group.raft,
            machine: group.machine,
            applied_index: group.applied_index,
            queue,
            read_seed: Arc::new(AtomicU64::new(u64::from(group.partition) << 32)),
            stats: stats.clone(),
        };
        let writer = Writer {
            raft: partition.raft.clone(),
            stats,
            poison,
            inflight: Arc::new(Semaphore::new(MAX_INFLIGHT)),
            log_bytes: 0,
        };
        tokio::spawn(writer.run(rx));
        tokio::spawn(partition.clone().expire_loop());
        partition
    }

    /// Queues a write; the receiver yields its reply once applied.
    pub async fn propose(&self, proposal: Proposal) -> oneshot::Receiver<Frame> {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((_, tx))) = self.queue.send((proposal, tx)).await {
            let _ = tx.send(Frame::error("ERR the partition is shutting down"));
        }
        rx
    }

    /// Proposes and waits for the reply.
    pub async fn write(&self, proposal: Proposal) -> Frame {
        self.propose(proposal).await.await.unwrap_or_else(|_| Frame::error("ERR the partition is shutting down"))
    }

    /// Runs a read-only command on the applied state (linearizable on a
    /// cluster of one: only committed, durable writes are ever applied).
    pub fn read(&self, args: &[Bytes]) -> Frame {
        let seed = self.read_seed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = ExecCtx { now_ms: now_ms(), mode: Mode::Read, rng: rand::rngs::SmallRng::seed_from_u64(seed) };
        lock(&self.machine).db.execute(&mut ctx, args)
    }

    async fn expire_loop(self) {
        let mut tick = tokio::time::interval(EXPIRE_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            while lock(&self.machine).db.expired_keys_pending(now_ms()) {
                let Frame::Integer(removed) = self.write(Proposal::ActiveExpire(EXPIRE_BATCH)).await else { break };
                self.stats.expired_keys.fetch_add(removed.max(0) as u64, Ordering::Relaxed);
                // Fewer than a full batch removed: caught up until next tick.
                if removed < i64::from(EXPIRE_BATCH) {
                    break;
                }
            }
            if self.queue.is_closed() {
                return;
            }
        }
    }
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

struct Writer {
    raft: Raft,
    stats: Arc<Stats>,
    poison: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    inflight: Arc<Semaphore>,
    /// Bytes proposed since the last snapshot this writer asked for.
    log_bytes: usize,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<(Proposal, Waiter)>) {
        let mut rng = rand::rngs::SmallRng::from_entropy();
        let mut last_now = 0u64;
        loop {
            // Take a pipeline slot first, so that while all slots are busy
            // new proposals accumulate into the next, larger batch.
            let Ok(permit) = self.inflight.clone().acquire_owned().await else { return };
            let Some(first) = rx.recv().await else { return };
            // The batch's clock never goes backwards, so replayed expiry
            // decisions are monotonic too.
            last_now = last_now.max(now_ms());
            let mut builder = BatchBuilder::new(last_now, rng.gen());
            let mut waiters = Vec::new();
            add(&mut builder, &mut waiters, first);
            while waiters.len() < MAX_BATCH_ITEMS && builder.encoded_len() < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(next) => add(&mut builder, &mut waiters, next),
                    Err(_) => break,
                }
            }
            self.stats.batches.fetch_add(1, Ordering::Relaxed);
            self.stats.batch_items.observe(waiters.len() as f64);
            let batch = builder.finish();
            self.log_bytes += batch.len();
            self.submit(batch, waiters, permit).await;
            if self.log_bytes >= SNAPSHOT_AFTER_LOG_BYTES {
                // Bounds the in-memory log by bytes; openraft's own policy
                // counts entries, which may be large.
                self.log_bytes = 0;
                let _ = self.raft.trigger().snapshot().await;
            }
        }
    }

    async fn submit(&self, batch: Bytes, waiters: Vec<Waiter>, permit: tokio::sync::OwnedSemaphorePermit) {
        if let Some(reason) = (self.poison)() {
            return fail_all(waiters, &misconf(&reason));
        }
        match self.raft.client_write_ff(Request(batch)).await {
            Err(fatal) => fail_all(waiters, &self.fatal_reply(&fatal.to_string())),
            Ok(receiver) => {
                let poison = self.poison.clone();
                tokio::spawn(async move {
                    let reply = receiver.await;
                    drop(permit);
                    match reply {
                        Ok(Ok(response)) => deliver(waiters, response.data.0),
                        Ok(Err(e)) => fail_all(waiters, &Frame::error(format!("TRYAGAIN {e}"))),
                        Err(_) => {
                            let reason = poison().unwrap_or_else(|| "the partition's raft group stopped".into());
                            fail_all(waiters, &misconf(&reason))
                        }
                    }
                });
            }
        }
    }

    fn fatal_reply(&self, error: &str) -> Frame {
        misconf(&(self.poison)().unwrap_or_else(|| error.to_string()))
    }
}

/// Redis's word for "persistence failed, writes refused".
fn misconf(reason: &str) -> Frame {
    Frame::error(format!("MISCONF Errors writing to the log, writes are refused: {reason}"))
}

fn add(builder: &mut BatchBuilder, waiters: &mut Vec<Waiter>, (proposal, waiter): (Proposal, Waiter)) {
    match proposal {
        Proposal::Command(args) => builder.push_command(&args),
        Proposal::Transaction { watches, commands } => builder.push_transaction(&watches, &commands),
        Proposal::ActiveExpire(max) => builder.push_active_expire(max),
        Proposal::Flush => builder.push_flush(),
    }
    waiters.push(waiter);
}

fn deliver(waiters: Vec<Waiter>, replies: Vec<Frame>) {
    if waiters.len() != replies.len() {
        let error = Frame::error(format!("ERR internal: {} replies for {} commands", replies.len(), waiters.len()));
        return fail_all(waiters, &error);
    }
    for (waiter, reply) in waiters.into_iter().zip(replies) {
        // The client may have gone; its write still happened.
        let _ = waiter.send(reply);
    }
}

fn fail_all(waiters: Vec<Waiter>, reply: &Frame) {
    for waiter in waiters {
        let _ = waiter.send(reply.clone());
    }
}
