//! Gathering for returning callers: how long a partition's writer holds
//! its next cut open for the clients it just answered.
//!
//! A closed-loop client (one that waits for each reply and sends again at
//! once, `Session::returning`) answered when batch k is durable could only
//! join the batch cut when k+1 is: one request per two fsync cycles. So
//! after answering such callers the writer waits until they are queued
//! again, within a window, and with a rule for when most are back.

use std::time::Duration;
use tokio::time::Instant;

/// How long a cut may wait for returning callers. The wait grows with the
/// callers awaited, since the runtime writes each one's reply and reads its
/// next request before it can queue: `GATHER_PER_CALLER` each, within
/// `GATHER_MIN..=GATHER_MAX`.
const GATHER_PER_CALLER: Duration = Duration::from_micros(40);
const GATHER_MIN: Duration = Duration::from_micros(400);
const GATHER_MAX: Duration = Duration::from_millis(2);

/// Once the log is free, a cut of plain commands need not wait for the
/// last quarter of the expected callers (an *early* cut): their clients
/// read a batch's replies one by one and come back last, and waiting for
/// them left both the log and the runtime idle meanwhile. They join the
/// next batch instead, cut while this one is made durable. Measured,
/// interleaved, 50 clients, no pipeline, against waiting for all:
/// redis-benchmark LPUSH, XADD, ZINCRBY +3-8% (medians of 5 and 9),
/// `weir bench` LPUSH +13%; a half measured no better, a third and less
/// worse. Not after scripts: applying them keeps this runtime busy, the
/// client does not idle, and the extra batch cost the flash sale 13%.
const GATHER_ENOUGH_PERCENT: usize = 75;

/// The writer's gathering state between two cuts.
#[derive(Debug, Default)]
pub(crate) struct Gather {
    /// Returning callers answered since the last cut.
    expected: usize,
    /// Whether one of them ran a script (no early cut).
    scripts: bool,
    /// Until when the next cut may wait for them (set when the wait starts).
    until: Option<Instant>,
}

impl Gather {
    /// Whether the next cut waits for anyone.
    pub(crate) fn expecting(&self) -> bool {
        self.expected > 0
    }

    /// A batch was answered: `returning` of its callers will be back soon.
    pub(crate) fn answered(&mut self, returning: usize, scripted: bool) {
        self.expected += returning;
        self.scripts |= scripted && returning > 0;
    }

    /// A batch was cut: whoever was expected joined it, or comes too late.
    pub(crate) fn reset(&mut self) {
        *self = Gather::default();
    }

    /// Whether the cut may stop waiting: all are back, or the batch before
    /// is durable (`can_cut`) and either three quarters are back, the
    /// window has passed or woken blocked clients wait to run (`retries`).
    pub(crate) fn done(&mut self, queued: usize, can_cut: bool, retries: bool) -> bool {
        let expected = self.expected;
        let until = *self.until.get_or_insert_with(|| Instant::now() + window(expected));
        let done = rule(queued, expected, !self.scripts, can_cut, || retries || Instant::now() >= until);
        if done {
            self.reset();
        }
        done
    }
}

/// How long a cut may wait for `expected` returning callers.
fn window(expected: usize) -> Duration {
    let per_caller = GATHER_PER_CALLER.saturating_mul(u32::try_from(expected).unwrap_or(u32::MAX));
    per_caller.clamp(GATHER_MIN, GATHER_MAX)
}

/// The rule: cut once every expected caller is queued, or once the batch
/// before is durable and either (`early`) three quarters are queued or
/// waiting longer is not worth it (`stop`, called only when it decides, as
/// it reads the clock).
fn rule(queued: usize, expected: usize, early: bool, can_cut: bool, stop: impl FnOnce() -> bool) -> bool {
    let enough = early && queued.saturating_mul(100) >= expected.saturating_mul(GATHER_ENOUGH_PERCENT);
    queued >= expected || (can_cut && (enough || stop()))
}

#[cfg(test)]
mod tests {
    use super::{rule, window, Gather, GATHER_MAX, GATHER_MIN};
    use std::time::Duration;

    #[test]
    fn a_gathered_cut_waits_for_the_expected_callers_or_the_deadline() {
        assert!(rule(5, 5, true, false, || false), "all back: cut, even before the last batch is durable");
        assert!(!rule(2, 5, true, true, || false), "most missing, deadline not reached: wait");
        assert!(rule(2, 5, true, true, || true), "deadline reached and the log is free: cut");
        assert!(!rule(4, 5, true, false, || true), "the batch before is not durable: wait for it");
        assert!(rule(3, 4, true, true, || false), "three quarters back and the log is free: cut");
        assert!(!rule(3, 4, true, false, || false), "three quarters back, the log busy: wait");
        assert!(!rule(2, 4, true, true, || false), "half back: wait");
        assert!(rule(0, 0, true, false, || false), "nothing expected");
        assert!(!rule(1, usize::MAX, true, true, || false), "no overflow");
        let no_clock = || -> bool { unreachable!("the deadline is read only when it decides") };
        assert!(rule(5, 5, true, true, no_clock) && !rule(1, 5, true, false, no_clock));
        assert!(!rule(3, 4, false, true, || false), "after scripts, three quarters are not enough");
        assert!(rule(3, 4, false, true, || true), "but the deadline still is");
    }

    #[test]
    fn scripts_answered_since_the_last_cut_forbid_an_early_cut_until_it() {
        let mut gather = Gather::default();
        gather.answered(3, false);
        gather.answered(1, true);
        assert!(gather.expecting());
        assert!(!gather.done(3, true, false), "a script's caller is expected: wait for all four");
        assert!(gather.done(4, true, false), "all back");
        assert!(!gather.expecting(), "a finished gather starts afresh");
        gather.answered(4, true);
        gather.reset();
        gather.answered(4, false);
        assert!(gather.done(3, true, false), "scripts answered before the cut no longer count");
        gather.answered(0, true);
        assert!(!gather.expecting(), "a script batch with no returning caller expects no one");
    }

    #[test]
    fn the_gather_window_grows_with_the_callers_awaited_within_bounds() {
        assert_eq!(window(1), GATHER_MIN, "a few callers: the floor");
        assert_eq!(window(20), Duration::from_micros(800));
        assert_eq!(window(50), GATHER_MAX);
        assert_eq!(window(usize::MAX), GATHER_MAX, "no overflow");
        assert!((1..200).all(|n| window(n) <= window(n + 1)), "monotonic");
    }
}
