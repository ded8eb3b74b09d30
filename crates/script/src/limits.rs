//! Limits on a script run: the instruction budget, the busy-script
//! throttle, and the control the server reads without the partition's
//! lock (BUSY, SCRIPT KILL).

use crate::errors::ErrorTally;
use mlua::VmState;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};
use weir_state::spec::CommandSpec;

/// The hook runs every this many VM instructions.
pub(crate) const HOOK_EVERY: u32 = 1000;

/// Limits on one script run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// VM instructions before the script is stopped with an error (the
    /// default, 10^11, is minutes of work: a backstop, not the busy limit).
    pub max_instructions: u64,
    /// Bytes a script may allocate beyond what the interpreter held before.
    pub max_memory: usize,
    /// Run time after which a script is busy (the server's busy-script
    /// limit) and runs throttled, on `BUSY_RUN` of every
    /// `BUSY_RUN + BUSY_PAUSE`.
    pub throttle_after_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_instructions: 100_000_000_000, max_memory: 64 << 20, throttle_after_ms: 5000 }
    }
}

/// A busy script (one past `Limits::throttle_after_ms`) keeps running, so
/// that SCRIPT KILL or its own end can stop it, but pauses `BUSY_PAUSE`
/// after every `BUSY_RUN` of running: a twentieth of a core, in slices short
/// enough that what shares its core waits at most `BUSY_RUN`. Its
/// instruction budget is counted, not timed, so throttling changes when it
/// ends, never its result.
const BUSY_RUN: Duration = Duration::from_micros(100);
const BUSY_PAUSE: Duration = Duration::from_micros(1900);

/// VM instructions a run may take on the runtime thread it started on:
/// well under a millisecond, as long as a read of a large key. Past them a
/// run moves off that thread (`Control::set_offload`), and a try of a
/// writing script on the read path gives up (`Control::set_trying`).
pub const INLINE_INSTRUCTIONS: u64 = 100_000;

/// The limits of the current run, read by the instruction hook, which is
/// installed once with the interpreter and re-armed per run (setting and
/// removing a hook per EVAL cost ~3% of a flash sale's CPU).
pub(crate) struct RunLimits {
    /// Hook calls left before the instruction limit.
    budget: AtomicU64,
    /// Hook calls left before the run moves off its runtime thread, plus
    /// one; 0 once moved, or for a run that does not move.
    inline_left: AtomicU64,
    after_ms: u64,
    epoch: Instant,
    /// When the running script last resumed from a pause, in ns since
    /// `epoch` (see `BUSY_RUN`).
    resumed_ns: AtomicU64,
}

impl RunLimits {
    pub(crate) fn new(after_ms: u64) -> RunLimits {
        RunLimits {
            budget: AtomicU64::new(0),
            inline_left: AtomicU64::new(0),
            after_ms,
            epoch: Instant::now(),
            resumed_ns: AtomicU64::new(0),
        }
    }

    /// `inline`: the run moves off its thread past `INLINE_INSTRUCTIONS`.
    pub(crate) fn arm(&self, budget: u64, inline: bool) {
        self.budget.store(budget, Ordering::Relaxed);
        let inline_left = if inline { INLINE_INSTRUCTIONS / u64::from(HOOK_EVERY) + 1 } else { 0 };
        self.inline_left.store(inline_left, Ordering::Relaxed);
        self.resumed_ns.store(self.now_ns(), Ordering::Relaxed);
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The hook, every `HOOK_EVERY` instructions.
    pub(crate) fn check(&self, control: &Control) -> mlua::Result<VmState> {
        if control.kill.load(Ordering::Acquire) {
            return Err(mlua::Error::RuntimeError(KILLED.into()));
        }
        if self.budget.fetch_sub(1, Ordering::Relaxed) == 0 {
            if control.trying.load(Ordering::Acquire) {
                control.refused.store(true, Ordering::Release);
            }
            return Err(mlua::Error::RuntimeError("Script exceeded the instruction limit".into()));
        }
        self.move_off_if_long(control);
        self.pace(control);
        Ok(VmState::Continue)
    }

    fn move_off_if_long(&self, control: &Control) {
        match self.inline_left.load(Ordering::Relaxed) {
            0 => {}
            1 => {
                if control.offload.get().is_none_or(|offload| offload()) {
                    self.inline_left.store(0, Ordering::Relaxed);
                }
            }
            left => self.inline_left.store(left - 1, Ordering::Relaxed),
        }
    }

    /// Pauses a busy script that has run its slice.
    fn pace(&self, control: &Control) {
        if control.running_for_ms(wall_ms()).is_none_or(|ran| ran < self.after_ms) {
            return;
        }
        if self.now_ns().saturating_sub(self.resumed_ns.load(Ordering::Relaxed)) >= BUSY_RUN.as_nanos() as u64 {
            control.pauses.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(BUSY_PAUSE);
            self.resumed_ns.store(self.now_ns(), Ordering::Relaxed);
        }
    }
}

/// What the server sees of a partition's running script: for `BUSY`
/// replies and `SCRIPT KILL`, without taking the partition's lock.
#[derive(Debug, Default)]
pub struct Control {
    /// Wall-clock ms when the running script started; 0 when idle.
    pub(crate) running_since: AtomicU64,
    pub(crate) kill: AtomicBool,
    pub(crate) wrote: AtomicBool,
    /// The run is read-only and refused a write command (a writing script
    /// tried on the read path, `Control::refused_write`).
    pub(crate) refused: AtomicBool,
    /// The run is a try of a writing script on the read path: it gets
    /// `INLINE_INSTRUCTIONS`, and running out of them counts as a refusal.
    pub(crate) trying: AtomicBool,
    /// Moves a run off the runtime thread it started on (see `set_offload`).
    offload: OnceLock<fn() -> bool>,
    /// Set by the applier before it locks the partition for a batch that
    /// holds a script, so readers wait without blocking a thread.
    pending: AtomicBool,
    /// Pauses busy scripts have taken (see `BUSY_RUN`), ever.
    pauses: AtomicU64,
    /// Told of every data command a script runs (see `set_call_counter`).
    calls: OnceLock<CallCounter>,
    /// A try's calls, (command, calls, failed), told only if the try is not
    /// refused (else the run through the log counts them). One slot per
    /// command: bounded by the command table.
    tried_calls: Mutex<Vec<(&'static CommandSpec, u64, u64)>>,
    /// The error replies of the running script's commands (see `errors`).
    run_errors: Mutex<ErrorTally>,
    /// A try's error replies, counted as `tried_calls` are.
    tried_errors: Mutex<ErrorTally>,
}

/// Counts what the commands scripts run did (INFO commandstats and
/// errorstats, as Redis counts them).
pub struct CallCounter {
    /// A command, and whether it failed.
    pub command: Box<dyn Fn(&'static CommandSpec, bool) + Send + Sync>,
    pub errors: CountErrors,
}

/// Counts error replies: a prefix, and how many had it.
pub type CountErrors = Box<dyn Fn(&[u8], u64) + Send + Sync>;

impl std::fmt::Debug for CallCounter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallCounter")
    }
}

/// The answer to `SCRIPT KILL` for one partition.
#[derive(Debug, PartialEq, Eq)]
pub enum Kill {
    NotRunning,
    /// The script has written: killing it would leave half its effects.
    Unkillable,
    Requested,
}

impl Control {
    /// How long the current script has run, if one is running.
    pub fn running_for_ms(&self, now_ms: u64) -> Option<u64> {
        match self.running_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(now_ms.saturating_sub(since)),
        }
    }

    /// A script is about to run or running: the partition's lock may be
    /// held for long.
    pub fn active(&self) -> bool {
        self.pending.load(Ordering::Acquire) || self.running_since.load(Ordering::Acquire) != 0
    }

    /// Pauses busy scripts on this partition have taken so far.
    pub fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Relaxed)
    }

    /// Whether the last read-only run tried a write command (and was
    /// refused it). Read under the partition's lock, after the run.
    pub fn refused_write(&self) -> bool {
        self.refused.load(Ordering::Acquire)
    }

    /// Runs start on the caller's thread (a runtime worker: no hand-off of
    /// its other tasks per run, which cost up to a third of a flash sale's
    /// throughput); one still running past `INLINE_INSTRUCTIONS` calls
    /// `offload`, from its instruction hook, to move off it. `offload`
    /// answers whether the run may stay where it is now (moved, or nothing
    /// to free), else it is called again at the next hook call.
    pub fn set_offload(&self, offload: fn() -> bool) {
        let _ = self.offload.set(offload);
    }

    /// Where the commands a script runs are counted (INFO commandstats, as
    /// Redis counts them). Set once the partition's recovered log is
    /// applied, so replayed scripts are not counted again.
    pub fn set_call_counter(&self, counter: CallCounter) {
        let _ = self.calls.set(counter);
    }

    pub(crate) fn count_call(&self, spec: &'static CommandSpec, failed: bool) {
        let Some(counter) = self.calls.get() else { return };
        if !self.trying.load(Ordering::Acquire) {
            return (counter.command)(spec, failed);
        }
        let mut tried = lock(&self.tried_calls);
        let slot = match tried.iter().position(|(s, _, _)| std::ptr::eq(*s, spec)) {
            Some(i) => i,
            None => {
                tried.push((spec, 0, 0));
                tried.len() - 1
            }
        };
        tried[slot].1 += 1;
        tried[slot].2 += u64::from(failed);
    }

    /// Ends the tries `set_trying(true)` began: whether the last was
    /// refused a write. The calls of one that was not are counted now.
    pub fn finish_try(&self) -> bool {
        self.trying.store(false, Ordering::Release);
        let refused = self.refused_write();
        let tried = std::mem::take(&mut *lock(&self.tried_calls));
        let mut errors = std::mem::take(&mut *lock(&self.tried_errors));
        if let (false, Some(counter)) = (refused, self.calls.get()) {
            for (spec, calls, failed) in tried {
                (0..calls).for_each(|i| (counter.command)(spec, i < failed));
            }
            errors.drain(|code, n| (counter.errors)(code, n));
        }
        refused
    }

    /// A command the running script called answered this error.
    pub(crate) fn note_error(&self, text: &[u8]) {
        let Some(counter) = self.calls.get() else { return };
        lock(&self.run_errors).add(text, |code, n| (counter.errors)(code, n));
    }

    /// The script replies with this error, counted where the reply is
    /// sent: its command's count is taken back.
    pub(crate) fn take_back_error(&self, text: &[u8]) {
        lock(&self.run_errors).take_back(text);
    }

    /// The run ended: its commands' errors are counted now, or with its
    /// try's calls (`finish_try`).
    pub(crate) fn end_run_errors(&self) {
        let Some(counter) = self.calls.get() else { return };
        let mut run = std::mem::take(&mut *lock(&self.run_errors));
        match self.trying.load(Ordering::Acquire) {
            true => lock(&self.tried_errors).merge(run, |code, n| (counter.errors)(code, n)),
            false => run.drain(|code, n| (counter.errors)(code, n)),
        }
    }

    pub(crate) fn offloads(&self) -> bool {
        self.offload.get().is_some()
    }

    /// Marks the next runs as tries on the read path (see `trying`).
    pub fn set_trying(&self, trying: bool) {
        self.trying.store(trying, Ordering::Release);
    }

    pub fn set_pending(&self, pending: bool) {
        self.pending.store(pending, Ordering::Release);
    }

    pub fn request_kill(&self) -> Kill {
        if self.running_since.load(Ordering::Acquire) == 0 {
            return Kill::NotRunning;
        }
        if self.wrote.load(Ordering::Acquire) {
            return Kill::Unkillable;
        }
        self.kill.store(true, Ordering::Release);
        Kill::Requested
    }
}

/// The error a killed script's caller gets.
pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";

pub(crate) fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// A mutex's value, even if a panic poisoned it (the counts stay usable).
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::{CallCounter, Control};
    use std::sync::atomic::Ordering;
    use std::sync::{Arc, Mutex};

    #[test]
    fn a_tries_calls_and_errors_count_only_if_it_is_not_refused() {
        let control = Control::default();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let errors = Arc::new(Mutex::new(Vec::new()));
        let (sink, error_sink) = (seen.clone(), errors.clone());
        control.set_call_counter(CallCounter {
            command: Box::new(move |spec, failed| sink.lock().expect("lock").push((spec.name, failed))),
            errors: Box::new(move |code, n| error_sink.lock().expect("lock").push((code.to_vec(), n))),
        });
        let get = weir_state::spec::lookup(b"get").expect("GET");
        let set = weir_state::spec::lookup(b"set").expect("SET");
        control.count_call(set, false);
        assert_eq!(seen.lock().expect("lock").len(), 1, "outside a try: at once");
        control.note_error(b"WRONGTYPE Operation");
        control.end_run_errors();
        assert_eq!(*errors.lock().expect("lock"), [(b"WRONGTYPE".to_vec(), 1)], "outside a try: at the run's end");
        control.set_trying(true);
        control.count_call(get, false);
        control.count_call(get, true);
        control.note_error(b"ERR value is not an integer");
        control.note_error(b"ERR returned by the script");
        control.take_back_error(b"ERR returned by the script");
        control.end_run_errors();
        assert_eq!(seen.lock().expect("lock").len(), 1, "a try's calls wait for its outcome");
        assert_eq!(errors.lock().expect("lock").len(), 1, "and so do its errors");
        assert!(!control.finish_try());
        assert_eq!(*seen.lock().expect("lock"), [("set", false), ("get", true), ("get", false)]);
        assert_eq!(errors.lock().expect("lock")[1..], [(b"ERR".to_vec(), 1)], "one taken back");
        control.set_trying(true);
        control.count_call(get, false);
        control.note_error(b"ERR value is not an integer");
        control.end_run_errors();
        control.refused.store(true, Ordering::Release);
        assert!(control.finish_try(), "refused");
        assert_eq!(seen.lock().expect("lock").len(), 3, "a refused try's calls are counted by the run in the log");
        assert_eq!(errors.lock().expect("lock").len(), 2, "and its errors too");
        assert!(control.tried_calls.lock().expect("lock").is_empty());
    }
}
