//! A partition's single writer: it gathers the commands that reach it
//! concurrently into one Raft entry (group commit) and hands each caller its
//! reply once the entry is durable and applied.
//!
//! No timer decides a batch: the writer cuts whatever is queued the moment
//! its previous entry is durable, so a lone client pays for one entry and a
//! crowd shares them, and the previous entry's apply overlaps the next
//! one's fsync. At most two entries per partition are in Raft: a third
//! would only wait behind the fsync in progress, and would hold back the
//! commands that could have joined it. An entry may be applied before it is
//! durable (early acknowledgement, `weir_raft::durability`): its replies
//! wait for both, and so does every read of the applied state.
//! Across partitions, the node log's writer merges the entries of every
//! partition into one fsync.
//!
//! The writer also owns the partition's blocked clients ([`crate::blocking`]):
//! it parks them, wakes them when a batch pushes to their keys, and times
//! them out.

use crate::blocking::{self, Blocked, Registry};
use crate::gather::Gather;
use crate::partition::{busy_past, now_ms, Proposal, Queue, Queued, Waiter, SCRIPT_POLL};
use crate::stats::Stats;
use bytes::Bytes;
use rand::Rng;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use weir_protocol::Frame;
use weir_raft::durability::Durability;
use weir_raft::machine::{lock_async, SharedMachine};
use weir_raft::{Raft, Request, Response};
use weir_state::BatchBuilder;

/// How long the writer waits for the snapshot that follows a killed script.
const KILL_SNAPSHOT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often an idle writer forgets blocked clients that disconnected.
const BLOCKED_SWEEP: Duration = Duration::from_secs(1);
/// Items in one entry (bounds an entry's apply time and size).
pub const MAX_BATCH_ITEMS: usize = 4096;
/// Encoded bytes in one entry.
pub const MAX_BATCH_BYTES: usize = 4 << 20;
/// Log bytes a partition may accumulate in memory before it snapshots (and
/// the log behind the snapshot is purged), whatever the entry count; or the
/// size of the last snapshot if larger, so a large state is not rewritten
/// after every few MiB of writes (the in-memory log stays within the
/// state's own size).
pub const SNAPSHOT_AFTER_LOG_BYTES: usize = 4 << 20;
/// What one entry costs the in-memory log beyond its batch (its id, its
/// payload's handle, its place in the store's map), counted with the batch
/// so that many tiny entries also lead to a snapshot.
const ENTRY_OVERHEAD_BYTES: usize = 128;

pub(crate) struct Writer {
    pub(crate) raft: Raft,
    pub(crate) machine: SharedMachine,
    pub(crate) stats: Arc<Stats>,
    pub(crate) poison: Arc<dyn Fn() -> Option<String> + Send + Sync>,
    /// Bytes proposed since the last snapshot this writer asked for.
    pub(crate) log_bytes: usize,
    pub(crate) snapshot_bytes: Arc<AtomicU64>,
    pub(crate) blocked: Registry,
    /// `blocked.len()` as last added to the node's `blocked_clients`.
    pub(crate) blocked_published: usize,
    /// The running script: past `busy_limit`, queued proposals get BUSY.
    pub(crate) scripts: Arc<weir_script::Control>,
    pub(crate) busy_limit: Duration,
    pub(crate) durability: Arc<Durability>,
    /// Seeds each batch's random stream.
    pub(crate) rng: rand::rngs::SmallRng,
    /// The last batch's clock: a batch's clock never goes backwards, so
    /// replayed expiry decisions are monotonic too.
    pub(crate) last_now: u64,
    /// Returning callers answered since the last cut (`crate::gather`).
    pub(crate) gather: Gather,
}

/// Batches a partition keeps in Raft at once: one being applied and
/// answered while the next, cut the moment the first was durable, is made
/// durable. The log writes one partition's appends one fsync after
/// another, so a third would only wait.
const MAX_IN_FLIGHT: usize = 2;

/// A batch's replies, and the log index they depend on.
struct Applied {
    response: Response,
    index: u64,
}

type ResponseFuture = Pin<Box<dyn Future<Output = Result<Applied, Frame>> + Send>>;

/// A batch handed to Raft, awaiting its apply and its durability.
struct InFlight {
    pending: Vec<Pending>,
    /// `Durability::appended` before submission: the batch is durable once
    /// `Durability::flushed` exceeds it (the cue to cut the next batch).
    appended_before: u64,
    scripted: bool,
    response: ResponseFuture,
    /// Set once applied; answered once durable through its index too.
    applied: Option<Result<Applied, Frame>>,
}

/// A caller waiting on a batch item.
enum Pending {
    /// The flag: the caller is returning (`Session::returning`).
    Reply(Waiter, bool),
    /// A connection's group of writes (`Proposal::Commands`): their replies,
    /// in order, as one array.
    Group(Waiter, usize, bool),
    /// A blocking command: parked if it found nothing.
    Block(Blocked),
}

impl Pending {
    fn returning(&self) -> bool {
        matches!(self, Pending::Reply(_, true) | Pending::Group(_, _, true))
    }
}

/// Why the writer woke up.
enum Wake {
    Proposal(Queued),
    /// The oldest in-flight batch not yet applied was applied (or failed).
    Applied(Result<Applied, Frame>),
    /// An append of this partition became durable.
    Flushed,
    /// A script batch is in flight: time to check the busy limit.
    ScriptPoll,
    /// A blocked client's deadline, or the periodic sweep of departed ones.
    Tick,
    /// Waiting for returning callers: time to look at the queue again.
    Gathering,
    Closed,
}

impl Writer {
    pub(crate) async fn run(mut self, mut rx: Queue) {
        let mut retries: Vec<Blocked> = Vec::new();
        let mut in_flight: VecDeque<InFlight> = VecDeque::new();
        loop {
            let can_cut = self.can_cut(&in_flight);
            let mut gathering = false;
            if self.gather.expecting() && (can_cut || self.has_room(&in_flight)) {
                if self.gather.done(rx.len(), can_cut, !retries.is_empty()) {
                    if !(rx.is_empty() && retries.is_empty()) {
                        self.cut(&mut rx, &mut retries, &mut in_flight, None).await;
                    }
                    continue;
                }
                gathering = true;
            }
            let first = match can_cut && !gathering && !retries.is_empty() {
                true => None,
                false => match self.next_wake(&mut rx, &mut in_flight, can_cut && !gathering, gathering).await {
                    Wake::Gathering => continue,
                    Wake::Proposal(p) => Some(p),
                    Wake::Applied(result) => {
                        let flight = in_flight.iter_mut().find(|f| f.applied.is_none());
                        flight.expect("an apply comes from an in-flight batch").applied = Some(result);
                        self.answer_durable(&mut in_flight, &mut retries).await;
                        continue;
                    }
                    Wake::Tick => {
                        self.blocked.expire(Instant::now());
                        self.blocked.prune_abandoned_if_idle(in_flight.is_empty() && retries.is_empty());
                        self.publish_blocked();
                        continue;
                    }
                    Wake::Flushed => {
                        // Cut the next batch before answering: the replies
                        // wake their connections, which the runtime would
                        // run before openraft's core, keeping the log idle.
                        // Unless returning callers are answered: then the
                        // next cut waits for them (gathering).
                        let returning = in_flight.front().is_some_and(|f| f.pending.iter().any(Pending::returning));
                        if !returning && self.can_cut(&in_flight) && !(rx.is_empty() && retries.is_empty()) {
                            self.cut(&mut rx, &mut retries, &mut in_flight, None).await;
                        }
                        self.answer_durable(&mut in_flight, &mut retries).await;
                        continue;
                    }
                    Wake::ScriptPoll => {
                        self.refuse_while_busy(&mut rx);
                        continue;
                    }
                    Wake::Closed => return self.close(in_flight).await,
                },
            };
            self.cut(&mut rx, &mut retries, &mut in_flight, first).await;
        }
    }

    /// Cuts a batch from the woken clients, `first` and whatever else is
    /// queued, and hands it to Raft.
    async fn cut(
        &mut self,
        rx: &mut Queue,
        retries: &mut Vec<Blocked>,
        in_flight: &mut VecDeque<InFlight>,
        first: Option<Queued>,
    ) {
        self.gather.reset();
        self.blocked.expire(Instant::now());
        self.last_now = self.last_now.max(now_ms());
        let mut builder = BatchBuilder::new(self.last_now, self.rng.gen());
        let mut pending = Vec::new();
        // Woken clients go first: they were waiting before anyone queued.
        for blocked in retries.drain(..).filter(|b| !b.abandoned()) {
            builder.push_command(&blocked.args);
            pending.push(Pending::Block(blocked));
        }
        if let Some(first) = first {
            add(&mut builder, &mut pending, first);
        }
        while builder.items() < MAX_BATCH_ITEMS && builder.encoded_len() < MAX_BATCH_BYTES {
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

    /// Shutting down: answers what Raft already holds, once durable.
    async fn close(&mut self, mut in_flight: VecDeque<InFlight>) {
        while let Some(mut done) = in_flight.pop_front() {
            let result = match done.applied.take() {
                Some(result) => result,
                None => done.response.as_mut().await,
            };
            let result = match result {
                Ok(applied) => match self.durability.wait_for(applied.index).await {
                    Ok(()) => Ok(applied),
                    Err(e) => Err(misconf(&e.to_string())),
                },
                Err(reply) => Err(reply),
            };
            self.answered(done.pending, done.scripted, result).await;
        }
    }

    /// Whether another batch may enter Raft while the last one is still
    /// being made durable (only a gathered batch does: nothing else is
    /// expected to join it).
    fn has_room(&self, in_flight: &VecDeque<InFlight>) -> bool {
        in_flight.len() < MAX_IN_FLIGHT && !(self.scripts.active() && in_flight.iter().any(|f| f.scripted))
    }

    /// Whether the next batch may be cut now: fewer than `MAX_IN_FLIGHT`
    /// in Raft, the last one already durable (cut any earlier and it would
    /// only wait behind the fsync in progress, holding back commands that
    /// could have joined it: measured slower with early acknowledgement
    /// too), and no script applying (what queues behind a script must
    /// stay here, where it can be answered BUSY).
    fn can_cut(&self, in_flight: &VecDeque<InFlight>) -> bool {
        let Some(last) = in_flight.back() else { return true };
        in_flight.len() < MAX_IN_FLIGHT
            && self.durability.flushed() > last.appended_before
            && !(self.scripts.active() && in_flight.iter().any(|f| f.scripted))
    }

    async fn next_wake(&self, rx: &mut Queue, in_flight: &mut VecDeque<InFlight>, take: bool, gathering: bool) -> Wake {
        let sweep = (!self.blocked.is_empty()).then(|| Instant::now() + BLOCKED_SWEEP);
        let wake_at = match (self.blocked.next_deadline(), sweep) {
            (Some(deadline), Some(sweep)) => Some(deadline.min(sweep)),
            (deadline, sweep) => deadline.or(sweep),
        };
        let scripted = in_flight.iter().any(|f| f.scripted);
        // Durability cues both the next cut and replies held for it.
        let flushing = !in_flight.is_empty();
        let unapplied = in_flight.iter_mut().find(|f| f.applied.is_none());
        let applying = unapplied.is_some();
        tokio::select! {
            biased;
            result = async { unapplied.expect("guarded").response.as_mut().await }, if applying => Wake::Applied(result),
            _ = self.durability.changed(), if flushing => Wake::Flushed,
            next = rx.recv(), if take => next.map_or(Wake::Closed, Wake::Proposal),
            // select! builds every branch's future, enabled or not: the
            // timers are made inside async blocks so that a wake without
            // them reads no clock (two reads per wake, ~2% of the runtime
            // thread without a pipeline).
            _ = async { tokio::time::sleep_until(wake_at.expect("guarded")).await }, if wake_at.is_some() => Wake::Tick,
            _ = async { tokio::time::sleep(SCRIPT_POLL).await }, if scripted => Wake::ScriptPoll,
            // The runtime's timers tick in milliseconds: a gathering
            // writer yields instead, so connections run meanwhile.
            _ = tokio::task::yield_now(), if gathering => Wake::Gathering,
        }
    }

    /// Answers the oldest batches that are both applied and durable, in
    /// order (a failed fsync answers them MISCONF).
    async fn answer_durable(&mut self, in_flight: &mut VecDeque<InFlight>, retries: &mut Vec<Blocked>) {
        while let Some(oldest) = in_flight.front_mut() {
            let result = match oldest.applied.take() {
                None => return,
                Some(Ok(applied)) => match self.durability.covers(applied.index) {
                    Ok(true) => Ok(applied),
                    Ok(false) => {
                        oldest.applied = Some(Ok(applied));
                        return;
                    }
                    Err(e) => Err(misconf(&e.to_string())),
                },
                Some(Err(reply)) => Err(reply),
            };
            let done = in_flight.pop_front().expect("the oldest batch is there");
            retries.extend(self.answered(done.pending, done.scripted, result).await);
            self.publish_blocked();
        }
    }

    /// Answers a batch's callers and returns the blocked clients to run
    /// again because it pushed to a key they wait on.
    async fn answered(
        &mut self,
        pending: Vec<Pending>,
        scripted: bool,
        result: Result<Applied, Frame>,
    ) -> Vec<Blocked> {
        let woken = match result {
            Ok(Applied { response, .. }) => {
                if response.replies.iter().any(killed_script) {
                    self.snapshot_past_kill().await;
                }
                self.gather.answered(pending.iter().filter(|p| p.returning()).count(), scripted);
                self.deliver(pending, response.replies);
                self.wake(response.ready).await
            }
            Err(reply) => {
                fail_all(pending, &reply);
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
        while let Ok((_, waiter, _)) = rx.try_recv() {
            let _ = waiter.send(Frame::error(crate::commands::scripting::BUSY));
        }
    }

    /// Hands a batch to Raft; its reply arrives through the returned entry.
    async fn submit(&mut self, batch: Bytes, pending: Vec<Pending>) -> InFlight {
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        self.stats.batch_items.observe(pending.len() as f64);
        self.log_bytes += batch.len() + ENTRY_OVERHEAD_BYTES;
        let scripted = weir_state::batch::has_scripts(&batch);
        let appended_before = self.durability.appended();
        let response: ResponseFuture = match (self.poison)() {
            Some(reason) => Box::pin(std::future::ready(Err(misconf(&reason)))),
            None => match self.raft.client_write_ff(Request(batch)).await {
                Err(e) => Box::pin(std::future::ready(Err(self.fatal_reply(&e.to_string())))),
                Ok(receiver) => {
                    let poison = self.poison.clone();
                    Box::pin(async move {
                        match receiver.await {
                            Ok(Ok(response)) => Ok(Applied { index: response.log_id.index, response: response.data }),
                            Ok(Err(e)) => Err(Frame::error(format!("TRYAGAIN {e}"))),
                            Err(_) => {
                                Err(misconf(&poison().unwrap_or_else(|| "the partition's raft group stopped".into())))
                            }
                        }
                    })
                }
            },
        };
        InFlight { pending, appended_before, scripted, response, applied: None }
    }

    /// A killed script left no effects, but its entry is in the log: were it
    /// replayed it would run again, perhaps to completion. So the entry goes
    /// behind a snapshot before anyone hears that the script was killed.
    async fn snapshot_past_kill(&mut self) {
        let applied = lock_async(&self.machine).await.applied.map(|id| id.index);
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
        let items: usize = pending.iter().map(|p| if let Pending::Group(_, n, _) = p { *n } else { 1 }).sum();
        if items != replies.len() {
            let error = Frame::error(format!("ERR internal: {} replies for {items} commands", replies.len()));
            return fail_all(pending, &error);
        }
        let mut replies = replies.into_iter();
        for waiter in pending {
            let reply = match &waiter {
                Pending::Group(_, n, _) => Frame::Array(replies.by_ref().take(*n).collect()),
                _ => replies.next().expect("counted above"),
            };
            match waiter {
                Pending::Block(blocked) if blocking::found_nothing(&reply) && !blocked.expired(Instant::now()) => {
                    self.blocked.park(blocked)
                }
                // The client may have gone; its write still happened.
                Pending::Block(blocked) => {
                    let _ = blocked.reply.send(reply);
                }
                Pending::Reply(waiter, _) | Pending::Group(waiter, _, _) => {
                    let _ = waiter.send(reply);
                }
            }
        }
    }

    /// Takes the waiters on keys the last batch pushed to: per key, as many
    /// as it now holds elements, in arrival order.
    async fn wake(&mut self, ready: Vec<Bytes>) -> Vec<Blocked> {
        let mut woken = Vec::new();
        if self.blocked.is_empty() {
            return woken;
        }
        let now = now_ms();
        for key in &ready {
            if !self.blocked.waits_on(key) {
                continue;
            }
            let available = lock_async(&self.machine).await.db.collection_len(key, now);
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
pub(crate) fn misconf(reason: &str) -> Frame {
    Frame::error(format!("MISCONF Errors writing to the log, writes are refused: {reason}"))
}

fn add(builder: &mut BatchBuilder, pending: &mut Vec<Pending>, (proposal, waiter, returning): Queued) {
    match proposal {
        Proposal::Command(args) => builder.push_command(&args),
        Proposal::Commands(commands) => {
            commands.iter().for_each(|args| builder.push_command(args));
            return pending.push(Pending::Group(waiter, commands.len(), returning));
        }
        Proposal::Block { args, keys, deadline } => {
            builder.push_command(&args);
            return pending.push(Pending::Block(Blocked::new(args, keys, deadline, waiter)));
        }
        Proposal::Transaction { watches, commands } => builder.push_transaction(&watches, &commands),
        Proposal::ActiveExpire(max) => builder.push_active_expire(max),
        Proposal::Flush => builder.push_flush(),
        Proposal::Script(call) => builder.push_script(&call),
    }
    pending.push(Pending::Reply(waiter, returning));
}

fn fail_all(pending: Vec<Pending>, reply: &Frame) {
    for waiter in pending {
        let _ = match waiter {
            Pending::Reply(waiter, _) | Pending::Group(waiter, _, _) => waiter.send(reply.clone()),
            Pending::Block(blocked) => blocked.reply.send(reply.clone()),
        };
    }
}
