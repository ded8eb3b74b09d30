//! A partition's single writer: it gathers the commands that reach it
//! concurrently into one Raft entry (group commit) and hands each caller its
//! reply once the entry is durable and applied.
//!
//! No timer decides a batch: the writer cuts whatever is queued the moment
//! its previous entry is durable, so a lone client pays for one entry and a
//! crowd shares them, and the previous entry's apply overlaps the next
//! one's fsync. At most two entries per partition are in Raft: openraft
//! 0.9's core flushes one append at a time, so a third would only wait
//! there, and would hold back the commands that could have joined it.
//! Across partitions, the node log's writer merges the entries of every
//! partition into one fsync.
//!
//! The writer also owns the partition's blocked clients ([`crate::blocking`]):
//! it parks them, wakes them when a batch pushes to their keys, and times
//! them out.

use crate::blocking::{self, Blocked, Registry};
use crate::stats::Stats;
use bytes::Bytes;
use rand::{Rng, SeedableRng};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use weir_protocol::Frame;
use weir_raft::machine::{lock, KeyCounts, Machine, SharedMachine};
use weir_raft::{Raft, Request, Response};
use weir_state::{BatchBuilder, ExecCtx, Mode, ScriptCall, ScriptHost};

/// How long the writer waits for the snapshot that follows a killed script.
const KILL_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a command waiting on a running script looks again.
const SCRIPT_POLL: Duration = Duration::from_millis(1);
/// How often an idle writer forgets blocked clients that disconnected.
const BLOCKED_SWEEP: Duration = Duration::from_secs(1);
/// Items in one entry (bounds an entry's apply time and size).
pub const MAX_BATCH_ITEMS: usize = 4096;
/// Encoded bytes in one entry.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// Proposals queued per partition before callers wait (back-pressure).
pub const QUEUE_DEPTH: usize = 16 * 1024;
/// Log bytes a partition may accumulate in memory before it snapshots (and
/// the log behind the snapshot is purged), whatever the entry count; or the
/// size of the last snapshot if larger, so a large state is not rewritten
/// after every few MiB of writes (the in-memory log stays within the
/// state's own size).
pub const SNAPSHOT_AFTER_LOG_BYTES: usize = 4 << 20;
/// Keys the active expirer removes per entry.
const EXPIRE_BATCH: u32 = 500;
/// How often the active expirer looks for expired keys.
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);

/// What a partition can be asked to log.
pub enum Proposal {
    Command(Vec<Bytes>),
    /// A blocking command (BLPOP...): parked if it finds nothing, until
    /// `deadline` (`None`: forever).
    Block {
        args: Vec<Bytes>,
        keys: Vec<Bytes>,
        deadline: Option<Instant>,
    },
    Transaction {
        watches: Vec<(Bytes, u64)>,
        commands: Vec<Vec<Bytes>>,
    },
    ActiveExpire(u32),
    Flush,
    /// EVAL: the script runs while its entry is applied.
    Script(ScriptCall),
}

type Waiter = oneshot::Sender<Frame>;
type Queue = mpsc::Receiver<(Proposal, Waiter)>;

/// A handle to one partition: cheap to clone.
#[derive(Clone)]
pub struct Partition {
    pub id: u32,
    pub raft: Raft,
    pub machine: SharedMachine,
    pub applied_index: Arc<AtomicU64>,
    pub key_counts: Arc<KeyCounts>,
    /// Stream entries pending in consumer groups, as last counted.
    stream_pending: Arc<AtomicU64>,
    queue: mpsc::Sender<(Proposal, Waiter)>,
    read_seed: Arc<AtomicU64>,
    stats: Arc<Stats>,
    /// The partition's running script (BUSY, SCRIPT KILL).
    pub scripts: Arc<weir_script::Control>,
}

impl Partition {
    /// Starts the partition's writer and expirer tasks.
    pub fn start(
        group: weir_raft::Group,
        stats: Arc<Stats>,
        poison: Arc<dyn Fn() -> Option<String> + Send + Sync>,
        busy_limit: Duration,
    ) -> Partition {
        let (queue, rx) = mpsc::channel(QUEUE_DEPTH);
        let partition = Partition {
            id: group.partition,
            raft: group.raft,
            machine: group.machine,
            applied_index: group.applied_index,
            key_counts: group.key_counts,
            stream_pending: Arc::new(AtomicU64::new(0)),
            queue,
            read_seed: Arc::new(AtomicU64::new(u64::from(group.partition) << 32)),
            stats: stats.clone(),
            scripts: group.script_control,
        };
        let writer = Writer {
            snapshot_bytes: group.snapshot_bytes,
            raft: partition.raft.clone(),
            machine: partition.machine.clone(),
            stats,
            poison,
            log_bytes: 0,
            blocked: Registry::default(),
            blocked_published: 0,
            scripts: partition.scripts.clone(),
            busy_limit,
            flushes: group.flushes,
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
    pub async fn read(&self, args: &[Bytes], busy_limit: Duration) -> Frame {
        let seed = self.read_seed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = ExecCtx { now_ms: now_ms(), mode: Mode::Read, rng: rand::rngs::SmallRng::seed_from_u64(seed) };
        self.with_state(Some(busy_limit), |machine| machine.db.execute(&mut ctx, args))
            .await
            .unwrap_or_else(|busy| busy)
    }

    /// Runs `f` on the applied state without ever blocking a runtime
    /// thread on the partition's lock: while a script holds it, waits
    /// asynchronously, answering BUSY once the script has run past `busy`
    /// (`None`: wait it out). A worker blocked on the lock would strand the
    /// tasks queued on it, other partitions' clients among them.
    pub async fn with_state<R>(&self, busy: Option<Duration>, f: impl FnOnce(&mut Machine) -> R) -> Result<R, Frame> {
        loop {
            if self.scripts.active() {
                self.wait_for_script(busy).await?;
                tokio::task::yield_now().await;
                continue;
            }
            match self.machine.try_lock() {
                Ok(mut machine) => return Ok(f(&mut machine)),
                Err(std::sync::TryLockError::Poisoned(_)) => panic!("partition state lock poisoned"),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
            // Held by a short apply: look again on the next turn.
            tokio::task::yield_now().await;
        }
    }

    /// Runs a read-only script on the applied state (under
    /// `block_in_place`: it may run long, and holds the partition's lock).
    pub async fn read_script(&self, call: &ScriptCall, busy_limit: Duration) -> Frame {
        let seed = self.read_seed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = ExecCtx { now_ms: now_ms(), mode: Mode::Read, rng: rand::rngs::SmallRng::seed_from_u64(seed) };
        let run = |machine: &mut Machine| {
            let Machine { db, scripts, .. } = machine;
            tokio::task::block_in_place(|| scripts.eval(db, &mut ctx, call))
        };
        self.with_state(Some(busy_limit), run).await.unwrap_or_else(|busy| busy)
    }

    /// Stream entries pending in consumer groups: counted now if the state
    /// is free, else the last count (a running script or apply holds the
    /// lock, and INFO or /metrics must not wait for it).
    pub fn stream_pending_entries(&self) -> u64 {
        if let Ok(machine) = self.machine.try_lock() {
            self.stream_pending.store(machine.db.stream_pending_entries(), Ordering::Relaxed);
        }
        self.stream_pending.load(Ordering::Relaxed)
    }

    /// BUSY if a script has held this partition past `limit`; it never
    /// waits. A write queued behind a shorter script simply joins the next
    /// batch (waiting here would serialize a stream of scripts).
    pub fn check_busy(&self, limit: Duration) -> Result<(), Frame> {
        match busy_past(&self.scripts, limit) {
            true => Err(Frame::error(crate::commands::scripting::BUSY)),
            false => Ok(()),
        }
    }

    /// Waits while a script runs on this partition (its lock is held), and
    /// answers BUSY once the script has run past `limit` (`None`: never).
    pub async fn wait_for_script(&self, limit: Option<Duration>) -> Result<(), Frame> {
        while self.scripts.active() {
            if limit.is_some_and(|limit| busy_past(&self.scripts, limit)) {
                return Err(Frame::error(crate::commands::scripting::BUSY));
            }
            tokio::time::sleep(SCRIPT_POLL).await;
        }
        Ok(())
    }

    async fn expire_loop(self) {
        let mut tick = tokio::time::interval(EXPIRE_PERIOD);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            while self.with_state(None, |m| m.db.expired_keys_pending(now_ms())).await.unwrap_or(false) {
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

/// Whether the partition's running script has run for `limit` or more
/// (the clock is read only while a script runs: this is on every write's
/// path).
fn busy_past(scripts: &weir_script::Control, limit: Duration) -> bool {
    scripts.active() && scripts.running_for_ms(now_ms()).is_some_and(|ran| u128::from(ran) >= limit.as_millis())
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

struct Writer {
    raft: Raft,
    machine: SharedMachine,
    stats: Arc<Stats>,
    poison: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// Bytes proposed since the last snapshot this writer asked for.
    log_bytes: usize,
    snapshot_bytes: Arc<AtomicU64>,
    blocked: Registry,
    /// `blocked.len()` as last added to the node's `blocked_clients`.
    blocked_published: usize,
    /// The running script: past `busy_limit`, queued proposals get BUSY.
    scripts: Arc<weir_script::Control>,
    busy_limit: Duration,
    flushes: Arc<weir_raft::log_store::Flushes>,
}

/// Batches a partition keeps in Raft at once: one being applied and
/// answered while the next, cut the moment the first was durable, is made
/// durable. openraft 0.9's core flushes one append at a time, so a third
/// would only wait there.
const MAX_IN_FLIGHT: usize = 2;

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Response, Frame>> + Send>>;

/// A batch handed to Raft, awaiting its apply.
struct InFlight {
    pending: Vec<Pending>,
    /// `Flushes::appended` before submission: the batch is durable once
    /// `Flushes::flushed` exceeds it.
    appended_before: u64,
    scripted: bool,
    response: ResponseFuture,
}

/// A caller waiting on a batch item.
enum Pending {
    Reply(Waiter),
    /// A blocking command: parked if it found nothing.
    Block(Blocked),
}

/// Why the writer woke up.
enum Wake {
    Proposal((Proposal, Waiter)),
    /// The oldest in-flight batch was applied (or failed).
    Answered(Result<Response, Frame>),
    /// An append of this partition became durable.
    Flushed,
    /// A script batch is in flight: time to check the busy limit.
    ScriptPoll,
    /// A blocked client's deadline, or the periodic sweep of departed ones.
    Tick,
    Closed,
}

impl Writer {
    async fn run(mut self, mut rx: Queue) {
        let mut rng = rand::rngs::SmallRng::from_entropy();
        let mut last_now = 0u64;
        let mut retries: Vec<Blocked> = Vec::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        loop {
            let can_cut = self.can_cut(&in_flight);
            let first = match can_cut && !retries.is_empty() {
                true => None,
                false => match self.next_wake(&mut rx, &mut in_flight, can_cut).await {
                    Wake::Proposal(p) => Some(p),
                    Wake::Answered(result) => {
                        let done = in_flight.pop_front().expect("an answer comes from an in-flight batch");
                        retries.extend(self.answered(done, result).await);
                        self.publish_blocked();
                        continue;
                    }
                    Wake::Tick => {
                        self.blocked.expire(Instant::now());
                        self.blocked.prune_abandoned_if_idle(in_flight.is_empty() && retries.is_empty());
                        self.publish_blocked();
                        continue;
                    }
                    Wake::Flushed => continue,
                    Wake::ScriptPoll => {
                        self.refuse_while_busy(&mut rx);
                        continue;
                    }
                    Wake::Closed => {
                        // Shutting down: answer what Raft already holds.
                        while let Some(mut done) = in_flight.pop_front() {
                            let result = done.response.as_mut().await;
                            self.answered(done, result).await;
                        }
                        return;
                    }
                },
            };
            self.blocked.expire(Instant::now());
            // The batch's clock never goes backwards, so replayed expiry
            // decisions are monotonic too.
            last_now = last_now.max(now_ms());
            let mut builder = BatchBuilder::new(last_now, rng.gen());
            let mut pending = Vec::new();
            // Woken clients go first: they were waiting before anyone queued.
            for blocked in retries.drain(..).filter(|b| !b.abandoned()) {
                builder.push_command(&blocked.args);
                pending.push(Pending::Block(blocked));
            }
            if let Some(first) = first {
                add(&mut builder, &mut pending, first);
            }
            while pending.len() < MAX_BATCH_ITEMS && builder.encoded_len() < MAX_BATCH_BYTES {
                match rx.try_recv() {
                    Ok(next) => add(&mut builder, &mut pending, next),
                    Err(_) => break,
                }
            }
            if !pending.is_empty() {
                in_flight.push_back(self.submit(builder.finish(), pending).await);
            }
            self.publish_blocked();
        }
    }

    /// Whether the next batch may be cut now: fewer than `MAX_IN_FLIGHT`
    /// in Raft, the last one already durable (cut any earlier and it would
    /// only wait in openraft's core, holding back commands that could have
    /// joined it), and no script applying (what queues behind a script must
    /// stay here, where it can be answered BUSY).
    fn can_cut(&self, in_flight: &VecDeque<InFlight>) -> bool {
        let Some(last) = in_flight.back() else { return true };
        in_flight.len() < MAX_IN_FLIGHT
            && self.flushes.flushed() > last.appended_before
            && !(self.scripts.active() && in_flight.iter().any(|f| f.scripted))
    }

    async fn next_wake(&self, rx: &mut Queue, in_flight: &mut VecDeque<InFlight>, take: bool) -> Wake {
        let sweep = (!self.blocked.is_empty()).then(|| Instant::now() + BLOCKED_SWEEP);
        let wake_at = match (self.blocked.next_deadline(), sweep) {
            (Some(deadline), Some(sweep)) => Some(deadline.min(sweep)),
            (deadline, sweep) => deadline.or(sweep),
        };
        let scripted = in_flight.iter().any(|f| f.scripted);
        let flushing = !take && in_flight.len() < MAX_IN_FLIGHT;
        let oldest = in_flight.front_mut();
        let answered = oldest.is_some();
        tokio::select! {
            biased;
            result = async { oldest.expect("guarded").response.as_mut().await }, if answered => Wake::Answered(result),
            _ = self.flushes.changed(), if flushing => Wake::Flushed,
            next = rx.recv(), if take => next.map_or(Wake::Closed, Wake::Proposal),
            _ = tokio::time::sleep_until(wake_at.unwrap_or_else(Instant::now)), if wake_at.is_some() => Wake::Tick,
            _ = tokio::time::sleep(SCRIPT_POLL), if scripted => Wake::ScriptPoll,
        }
    }

    /// Answers a batch's callers and returns the blocked clients to run
    /// again because it pushed to a key they wait on.
    async fn answered(&mut self, done: InFlight, result: Result<Response, Frame>) -> Vec<Blocked> {
        let woken = match result {
            Ok(response) => {
                if response.replies.iter().any(killed_script) {
                    self.snapshot_past_kill().await;
                }
                self.deliver(done.pending, response.replies);
                self.wake(response.ready)
            }
            Err(reply) => {
                fail_all(done.pending, &reply);
                Vec::new()
            }
        };
        let last_snapshot = self.snapshot_bytes.load(Ordering::Relaxed) as usize;
        if self.log_bytes >= SNAPSHOT_AFTER_LOG_BYTES.max(last_snapshot) {
            // Bounds the in-memory log by bytes; openraft's own policy
            // counts entries, which may be large.
            self.log_bytes = 0;
            let _ = self.raft.trigger().snapshot().await;
        }
        woken
    }

    /// While a script runs past the busy limit, what queues up behind it is
    /// answered BUSY, as Redis answers commands that arrive during a long
    /// script.
    fn refuse_while_busy(&self, rx: &mut Queue) {
        if !busy_past(&self.scripts, self.busy_limit) {
            return;
        }
        while let Ok((_, waiter)) = rx.try_recv() {
            let _ = waiter.send(Frame::error(crate::commands::scripting::BUSY));
        }
    }

    /// Hands a batch to Raft; its reply arrives through the returned entry.
    async fn submit(&mut self, batch: Bytes, pending: Vec<Pending>) -> InFlight {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.batch_items.observe(pending.len() as f64);
        self.log_bytes += batch.len();
        let scripted = weir_state::batch::has_scripts(&batch);
        let appended_before = self.flushes.appended();
        let response: ResponseFuture = match (self.poison)() {
            Some(reason) => Box::pin(std::future::ready(Err(misconf(&reason)))),
            None => match self.raft.client_write_ff(Request(batch)).await {
                Err(e) => Box::pin(std::future::ready(Err(self.fatal_reply(&e.to_string())))),
                Ok(receiver) => {
                    let poison = self.poison.clone();
                    Box::pin(async move {
                        match receiver.await {
                            Ok(Ok(response)) => Ok(response.data),
                            Ok(Err(e)) => Err(Frame::error(format!("TRYAGAIN {e}"))),
                            Err(_) => {
                                Err(misconf(&poison().unwrap_or_else(|| "the partition's raft group stopped".into())))
                            }
                        }
                    })
                }
            },
        };
        InFlight { pending, appended_before, scripted, response }
    }

    /// A killed script left no effects, but its entry is in the log: were it
    /// replayed it would run again, perhaps to completion. So the entry goes
    /// behind a snapshot before anyone hears that the script was killed.
    async fn snapshot_past_kill(&mut self) {
        let applied = lock(&self.machine).applied.map(|id| id.index);
        self.log_bytes = 0;
        let _ = self.raft.trigger().snapshot().await;
        let covered = |m: &openraft::RaftMetrics<u64, openraft::BasicNode>| m.snapshot.map(|s| s.index) >= applied;
        if let Err(e) =
            self.raft.wait(Some(KILL_SNAPSHOT_TIMEOUT)).metrics(covered, "snapshot past a killed script").await
        {
            tracing::warn!(error = %e, "no snapshot after a killed script: a restart would run it again");
        }
    }

    fn deliver(&mut self, pending: Vec<Pending>, replies: Vec<Frame>) {
        if pending.len() != replies.len() {
            let error = Frame::error(format!("ERR internal: {} replies for {} commands", replies.len(), pending.len()));
            return fail_all(pending, &error);
        }
        for (waiter, reply) in pending.into_iter().zip(replies) {
            match waiter {
                Pending::Block(blocked) if blocking::found_nothing(&reply) && !blocked.expired(Instant::now()) => {
                    self.blocked.park(blocked)
                }
                // The client may have gone; its write still happened.
                Pending::Block(blocked) => {
                    let _ = blocked.reply.send(reply);
                }
                Pending::Reply(waiter) => {
                    let _ = waiter.send(reply);
                }
            }
        }
    }

    /// Takes the waiters on keys the last batch pushed to: per key, as many
    /// as it now holds elements, in arrival order.
    fn wake(&mut self, ready: Vec<Bytes>) -> Vec<Blocked> {
        let mut woken = Vec::new();
        if self.blocked.is_empty() {
            return woken;
        }
        let now = now_ms();
        for key in &ready {
            if !self.blocked.waits_on(key) {
                continue;
            }
            let available = lock(&self.machine).db.collection_len(key, now);
            self.blocked.take(key, available, &mut woken);
        }
        woken
    }

    fn publish_blocked(&mut self) {
        let now = self.blocked.len();
        if now != self.blocked_published {
            self.stats.blocked_clients.fetch_add(now as u64, Ordering::Relaxed);
            self.stats.blocked_clients.fetch_sub(self.blocked_published as u64, Ordering::Relaxed);
            self.blocked_published = now;
        }
    }

    fn fatal_reply(&self, error: &str) -> Frame {
        misconf(&(self.poison)().unwrap_or_else(|| error.to_string()))
    }
}

/// Whether a reply (or, for a transaction, one of its replies) is a
/// killed script's.
fn killed_script(reply: &Frame) -> bool {
    match reply {
        Frame::Error(text) => text.windows(weir_script::KILLED.len()).any(|w| w == weir_script::KILLED.as_bytes()),
        Frame::Array(replies) => replies.iter().any(killed_script),
        _ => false,
    }
}

/// Redis's word for "persistence failed, writes refused".
fn misconf(reason: &str) -> Frame {
    Frame::error(format!("MISCONF Errors writing to the log, writes are refused: {reason}"))
}

fn add(builder: &mut BatchBuilder, pending: &mut Vec<Pending>, (proposal, waiter): (Proposal, Waiter)) {
    match proposal {
        Proposal::Command(args) => builder.push_command(&args),
        Proposal::Block { args, keys, deadline } => {
            builder.push_command(&args);
            return pending.push(Pending::Block(Blocked::new(args, keys, deadline, waiter)));
        }
        Proposal::Transaction { watches, commands } => builder.push_transaction(&watches, &commands),
        Proposal::ActiveExpire(max) => builder.push_active_expire(max),
        Proposal::Flush => builder.push_flush(),
        Proposal::Script(call) => builder.push_script(&call),
    }
    pending.push(Pending::Reply(waiter));
}

fn fail_all(pending: Vec<Pending>, reply: &Frame) {
    for waiter in pending {
        let _ = match waiter {
            Pending::Reply(waiter) => waiter.send(reply.clone()),
            Pending::Block(blocked) => blocked.reply.send(reply.clone()),
        };
    }
}
