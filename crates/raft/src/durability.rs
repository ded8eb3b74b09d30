//! What of a partition's log is on disk, and whether openraft hears of an
//! append before or after it is.
//!
//! openraft 0.9's core awaits each append's flush before it takes the next
//! message, so with honest acknowledgements every batch costs the core a
//! whole fsync plus two thread wake-ups, during which no other batch can
//! reach the log. While a partition's group is this node alone, nothing
//! depends on the core's notion of "flushed" but this node's own answers,
//! so the log store may acknowledge an append as soon as it is handed to
//! the log writer (*early*): the core commits and applies while the fsync
//! runs, and the next batch reaches the log without waiting.
//!
//! Invariant (ack = durable either way): nothing leaves the node that
//! depends on an entry before that entry is durable here. Write replies,
//! reads of the applied state and snapshots wait for [`Durability`] to
//! cover the index they depend on; a failed fsync fails them all.
//!
//! Early acknowledgement is off for good once a membership names another
//! node (a follower or learner could otherwise apply an entry the leader
//! then loses): the log store waits for every earlier append to be durable
//! before it appends that membership, and acknowledges honestly from then
//! on.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::sync::Notify;

/// Why a wait for durability failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("an fsync of the log failed: what it held is not durable")]
pub struct NotDurable;

/// One partition's durability progress, shared by its log store, state
/// machine and writer.
#[derive(Debug)]
pub struct Durability {
    /// Appends handed to the node log, and appends completed (in order:
    /// the node log completes appends in submission order).
    appended: AtomicU64,
    flushed: AtomicU64,
    /// The highest log index known to be on disk.
    durable: AtomicU64,
    /// An fsync failed: nothing appended since is or will be durable.
    failed: AtomicBool,
    /// Whether appends are acknowledged to openraft before their fsync.
    early: AtomicBool,
    /// Wakes the partition's writer (one waiter; a permit is never lost).
    writer: Notify,
    /// Wakes everyone waiting in [`Durability::wait_for`].
    waiters: Notify,
}

impl Durability {
    /// Progress after recovery: everything recovered is durable.
    pub fn new(recovered_through: u64, early: bool) -> Durability {
        Durability {
            appended: AtomicU64::new(0),
            flushed: AtomicU64::new(0),
            durable: AtomicU64::new(recovered_through),
            failed: AtomicBool::new(false),
            early: AtomicBool::new(early),
            writer: Notify::new(),
            waiters: Notify::new(),
        }
    }

    /// Appends started so far: an entry submitted now is durable once
    /// `flushed() > appended()` as read before submitting it.
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    pub fn flushed(&self) -> u64 {
        self.flushed.load(Ordering::Acquire)
    }

    pub fn durable_index(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    pub fn early(&self) -> bool {
        self.early.load(Ordering::Acquire)
    }

    /// Acknowledge appends only once durable, from now on.
    pub fn stop_early(&self) {
        self.early.store(false, Ordering::Release);
    }

    /// Whether everything through `index` is durable (`Err` if it never
    /// will be).
    pub fn covers(&self, index: u64) -> Result<bool, NotDurable> {
        if self.durable_index() >= index {
            return Ok(true);
        }
        match self.failed.load(Ordering::Acquire) {
            true => Err(NotDurable),
            false => Ok(false),
        }
    }

    /// Waits until everything through `index` is durable.
    pub async fn wait_for(&self, index: u64) -> Result<(), NotDurable> {
        loop {
            // Registered before the check, so a completion between the
            // check and the await still wakes this waiter.
            let notified = self.waiters.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.covers(index)? {
                return Ok(());
            }
            notified.await;
        }
    }

    /// Waits for the next completed append (or returns at once if one
    /// completed since the writer last waited).
    pub async fn changed(&self) {
        self.writer.notified().await
    }

    pub(crate) fn started(&self) {
        self.appended.fetch_add(1, Ordering::AcqRel);
    }

    /// An append through `last_index` completed: durable, or not ever.
    /// Recorded before openraft hears of it (honest mode), so whatever it
    /// then applies is already covered.
    pub(crate) fn completed(&self, last_index: u64, durable: bool) {
        if durable {
            self.durable.fetch_max(last_index, Ordering::AcqRel);
        } else {
            self.failed.store(true, Ordering::Release);
        }
        self.flushed.fetch_add(1, Ordering::AcqRel);
        self.writer.notify_one();
        self.waiters.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn waiters_wake_once_their_index_is_durable_and_fail_after_a_failed_fsync() {
        let d = Arc::new(Durability::new(5, true));
        assert!(d.covers(5).expect("no failure"));
        d.wait_for(3).await.expect("recovered entries are durable");
        let waiter = tokio::spawn({
            let d = d.clone();
            async move { d.wait_for(7).await }
        });
        d.started();
        d.completed(6, true);
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "index 7 is not durable yet");
        d.started();
        d.completed(7, true);
        waiter.await.expect("joins").expect("7 is durable");
        assert_eq!((d.appended(), d.flushed(), d.durable_index()), (2, 2, 7));
        d.started();
        d.completed(8, false);
        assert!(d.covers(7).expect("7 was durable before the failure"));
        assert!(d.covers(8).is_err(), "8 never will be");
        assert!(d.wait_for(9).await.is_err());
    }
}
