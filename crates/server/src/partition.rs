//! A handle to one partition: it queues writes for the partition's single
//! writer ([`crate::writer`]), runs reads on the applied state once what
//! they see is durable, answers BUSY while a script runs too long, and
//! runs the active expirer.

use crate::blocking::Registry;
use crate::stats::Stats;
use crate::writer::{misconf, Writer};
use bytes::Bytes;
use rand::SeedableRng;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use weir_protocol::Frame;
use weir_raft::durability::Durability;
use weir_raft::machine::{lock_backoff, try_lock, KeyCounts, Machine, SharedMachine};
use weir_raft::Raft;
use weir_state::{ExecCtx, Mode, ScriptCall, ScriptHost};

/// How often a command waiting on a running script looks again.
pub(crate) const SCRIPT_POLL: Duration = Duration::from_millis(1);
/// Proposals queued per partition before callers wait (back-pressure).
pub const QUEUE_DEPTH: usize = 16 * 1024;
/// Keys the active expirer removes per entry.
const EXPIRE_BATCH: u32 = 500;
/// How often the active expirer looks for expired keys.
const EXPIRE_PERIOD: Duration = Duration::from_millis(100);

/// What a partition can be asked to log.
pub enum Proposal {
    Command(Vec<Bytes>),
    /// A connection's consecutive writes to this partition, in order
    /// (`crate::pipeline`): answered with one array of their replies, or
    /// one error for all.
    Commands(Vec<Vec<Bytes>>),
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

pub(crate) type Waiter = oneshot::Sender<Frame>;
/// A queued proposal, its reply channel, and whether its connection came
/// straight back after its previous reply (`Session::returning`): the writer
/// expects such callers to propose again as soon as they are answered.
pub(crate) type Queued = (Proposal, Waiter, bool);
pub(crate) type Queue = mpsc::Receiver<Queued>;

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
    queue: mpsc::Sender<Queued>,
    read_seed: Arc<AtomicU64>,
    stats: Arc<Stats>,
    /// The partition's running script (BUSY, SCRIPT KILL).
    pub scripts: Arc<weir_script::Control>,
    durability: Arc<Durability>,
    /// The snapshots the partition has written since start (SAVE, LASTSAVE).
    pub saves: Arc<weir_raft::machine::Saves>,
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
        let counted = stats.clone();
        let errors = stats.clone();
        group.script_control.set_call_counter(weir_script::CallCounter {
            command: Box::new(move |spec, failed| {
                // A data command by its place in the table, a node command
                // (TIME, PING) by name.
                let index = weir_state::spec::table_index(spec)
                    .or_else(|| crate::commands::resolve(spec.name.as_bytes()).map(|r| r.index()));
                if let Some(command) = index.and_then(|i| counted.commands.get(i)) {
                    command.record(Duration::ZERO, failed);
                }
            }),
            errors: Box::new(move |code, n| errors.errors.count_code(code, n)),
        });
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
            durability: group.durability,
            saves: group.saves,
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
            durability: partition.durability.clone(),
            rng: rand::rngs::SmallRng::from_entropy(),
            last_now: 0,
            gather: Default::default(),
        };
        tokio::spawn(writer.run(rx));
        tokio::spawn(partition.clone().expire_loop());
        partition
    }

    /// Queues a write; the receiver yields its reply once applied.
    pub async fn propose(&self, proposal: Proposal) -> oneshot::Receiver<Frame> {
        self.propose_from(proposal, false).await
    }

    /// Queues a write from a connection that came straight back after its
    /// previous reply (`returning`), or not.
    pub async fn propose_from(&self, proposal: Proposal, returning: bool) -> oneshot::Receiver<Frame> {
        let (tx, rx) = oneshot::channel();
        if let Err(mpsc::error::SendError((_, tx, _))) = self.queue.send((proposal, tx, returning)).await {
            let _ = tx.send(Frame::error("ERR the partition is shutting down"));
        }
        rx
    }

    /// Proposes and waits for the reply.
    pub async fn write(&self, proposal: Proposal) -> Frame {
        self.propose(proposal).await.await.unwrap_or_else(|_| Frame::error("ERR the partition is shutting down"))
    }

    /// Runs a read-only command on the applied state (linearizable on a
    /// cluster of one: only committed writes are applied, and the reply
    /// waits until they are durable).
    pub async fn read(&self, args: &[Bytes], busy_limit: Duration) -> Frame {
        let seed = self.read_seed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = ExecCtx::new(now_ms(), Mode::Read, seed);
        self.with_state(Some(busy_limit), |machine| machine.db.execute(&mut ctx, args))
            .await
            .unwrap_or_else(|busy| busy)
    }

    /// Runs `f` on the applied state without ever blocking a runtime
    /// thread on the partition's lock: while a script holds it, waits
    /// asynchronously, answering BUSY once the script has run past `busy`
    /// (`None`: wait it out). A worker blocked on the lock would strand the
    /// tasks queued on it, other partitions' clients among them. The result
    /// is handed back only once the state `f` saw is durable.
    pub async fn with_state<R>(&self, busy: Option<Duration>, f: impl FnOnce(&mut Machine) -> R) -> Result<R, Frame> {
        let mut tries = 0;
        let (applied, out) = loop {
            if self.scripts.active() {
                self.wait_for_script(busy).await?;
                tokio::task::yield_now().await;
                continue;
            }
            if let Some(mut machine) = try_lock(&self.machine) {
                break (machine.applied.map_or(0, |id| id.index), f(&mut machine));
            }
            // Held by an apply on another thread, or a snapshot being
            // serialized: look again soon.
            lock_backoff(&mut tries).await;
        };
        self.settle(applied).await?;
        Ok(out)
    }

    /// Waits until the applied state as of `applied` is durable: what it
    /// shows may leave the node only then.
    async fn settle(&self, applied: u64) -> Result<(), Frame> {
        if matches!(self.durability.covers(applied), Ok(true)) {
            return Ok(());
        }
        self.durability.wait_for(applied).await.map_err(|e| misconf(&e.to_string()))
    }

    /// Waits until everything applied so far is durable (before counts of
    /// the applied state, such as DBSIZE, are shown).
    pub async fn settled(&self) -> Result<(), Frame> {
        self.settle(self.applied_index.load(Ordering::Acquire)).await
    }

    /// Runs a read-only script on the applied state, on this thread (one
    /// that runs long moves off it, `weir_raft::machine::offload_script`).
    pub async fn read_script(&self, call: &ScriptCall, busy_limit: Duration) -> Frame {
        self.script_on_state(call, busy_limit, false).await.map_or_else(|busy| busy, |(reply, _)| reply)
    }

    /// Tries a writing script on the read path: `None` if it reached a
    /// write command (refused there, so nothing changed) or ran past
    /// `weir_script::INLINE_INSTRUCTIONS`, else its reply. Short by that
    /// bound, a try never moves off the runtime thread.
    pub async fn try_script_as_read(&self, call: &mut ScriptCall, busy_limit: Duration) -> Option<Frame> {
        debug_assert!(!call.read_only, "a writing script");
        call.read_only = true;
        let tried = self.script_on_state(call, busy_limit, true).await;
        call.read_only = false;
        match tried {
            Err(busy) => Some(busy),
            Ok((reply, refused)) => (!refused).then_some(reply),
        }
    }

    /// Runs a read-only script on the applied state: its reply, and whether
    /// it was refused a write command (or, `trying`, its instructions).
    async fn script_on_state(
        &self,
        call: &ScriptCall,
        busy_limit: Duration,
        trying: bool,
    ) -> Result<(Frame, bool), Frame> {
        debug_assert!(call.read_only, "only a read-only run may touch the applied state");
        let seed = self.read_seed.fetch_add(1, Ordering::Relaxed);
        let mut ctx = ExecCtx::new(now_ms(), Mode::Read, seed);
        let control = self.scripts.clone();
        let run = |machine: &mut Machine| {
            let Machine { db, scripts, .. } = machine;
            if !trying {
                return (scripts.eval(db, &mut ctx, call), false);
            }
            control.set_trying(true);
            let reply = scripts.eval(db, &mut ctx, call);
            (reply, control.finish_try())
        };
        self.with_state(Some(busy_limit), run).await
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
pub(crate) fn busy_past(scripts: &weir_script::Control, limit: Duration) -> bool {
    scripts.active() && scripts.running_for_ms(now_ms()).is_some_and(|ran| u128::from(ran) >= limit.as_millis())
}

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}
