//! Clients blocked in BLPOP, BRPOP, BLMOVE, BLMPOP, BRPOPLPUSH, BZPOPMIN,
//! BZPOPMAX and BZMPOP: one registry per partition, owned by its writer.
//!
//! A blocking command first runs like any write. If it found nothing, its
//! client is parked here instead of answered; the partition goes on serving.
//! When an applied batch pushes to a key, the writer takes that key's
//! waiters in arrival order (as many as the key has elements) and runs
//! their commands again at the head of the next batch: the pop that serves
//! a blocked client is a logged write like any other, so a crash cannot
//! hand one element to two clients. A waiter that finds nothing again goes
//! back to its original place in line (FIFO per key, as in Redis).

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use tokio::sync::oneshot;
use tokio::time::Instant;
use weir_protocol::Frame;

/// Parked clients per partition. Each connection blocks at most once, so
/// `maxclients` bounds this too; the constant keeps the bound explicit.
pub const MAX_BLOCKED: usize = 1 << 16;

/// A client waiting for data.
pub struct Blocked {
    /// The command to run again when a key is pushed to.
    pub args: Vec<Bytes>,
    pub keys: Vec<Bytes>,
    /// `None` waits forever (timeout 0).
    pub deadline: Option<Instant>,
    pub reply: oneshot::Sender<Frame>,
    /// Arrival order: a waiter keeps its place in line across retries.
    seq: u64,
}

impl Blocked {
    pub fn new(args: Vec<Bytes>, keys: Vec<Bytes>, deadline: Option<Instant>, reply: oneshot::Sender<Frame>) -> Self {
        Blocked { args, keys, deadline, reply, seq: 0 }
    }

    /// Whether the client has gone (its pop would be lost: never run it).
    pub fn abandoned(&self) -> bool {
        self.reply.is_closed()
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.deadline.is_some_and(|d| d <= now)
    }

    /// Answers a wait that ran out: Redis's null reply for the command.
    pub fn time_out(self) {
        let _ = self.reply.send(timeout_reply(&self.args[0]));
    }
}

/// What a blocking command answers when its timeout passes.
pub fn timeout_reply(name: &[u8]) -> Frame {
    if name.eq_ignore_ascii_case(b"blmove") || name.eq_ignore_ascii_case(b"brpoplpush") {
        Frame::Null
    } else {
        Frame::NullArray
    }
}

/// Whether a blocking command's reply means "found nothing; wait".
pub fn found_nothing(reply: &Frame) -> bool {
    matches!(reply, Frame::Null | Frame::NullArray)
}

#[derive(Default)]
pub struct Registry {
    next_seq: u64,
    waiters: BTreeMap<u64, Blocked>,
    by_key: HashMap<Bytes, VecDeque<u64>>,
    deadlines: BTreeSet<(Instant, u64)>,
}

impl Registry {
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    /// Parks a client (again, keeping its place if it was parked before).
    /// Refuses with a reply when the registry is full.
    pub fn park(&mut self, mut blocked: Blocked) {
        if self.waiters.len() >= MAX_BLOCKED {
            let _ = blocked.reply.send(Frame::error("ERR too many blocked clients on this partition"));
            return;
        }
        if blocked.seq == 0 {
            self.next_seq += 1;
            blocked.seq = self.next_seq;
        }
        let seq = blocked.seq;
        for key in &blocked.keys {
            let line = self.by_key.entry(key.clone()).or_default();
            let at = line.partition_point(|&s| s < seq);
            if line.get(at) != Some(&seq) {
                line.insert(at, seq);
            }
        }
        if let Some(deadline) = blocked.deadline {
            self.deadlines.insert((deadline, seq));
        }
        let replaced = self.waiters.insert(seq, blocked);
        debug_assert!(replaced.is_none(), "a waiter is parked once");
    }

    fn unpark(&mut self, seq: u64) -> Option<Blocked> {
        let blocked = self.waiters.remove(&seq)?;
        for key in &blocked.keys {
            if let Some(line) = self.by_key.get_mut(key) {
                line.retain(|&s| s != seq);
                if line.is_empty() {
                    self.by_key.remove(key);
                }
            }
        }
        if let Some(deadline) = blocked.deadline {
            self.deadlines.remove(&(deadline, seq));
        }
        Some(blocked)
    }

    /// Whether anyone waits on `key`.
    pub fn waits_on(&self, key: &[u8]) -> bool {
        self.by_key.contains_key(key)
    }

    /// Takes up to `n` waiters on `key`, first come first served, skipping
    /// (and dropping) clients that have gone.
    pub fn take(&mut self, key: &[u8], n: usize, out: &mut Vec<Blocked>) {
        let mut taken = 0;
        while taken < n {
            let Some(&seq) = self.by_key.get(key).and_then(|line| line.front()) else { return };
            let Some(blocked) = self.unpark(seq) else { continue };
            if !blocked.abandoned() {
                out.push(blocked);
                taken += 1;
            }
        }
    }

    /// The earliest deadline of a parked client.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Answers every client whose timeout has passed at `now`.
    pub fn expire(&mut self, now: Instant) {
        while let Some(&(at, seq)) = self.deadlines.first() {
            if at > now {
                return;
            }
            if let Some(blocked) = self.unpark(seq) {
                blocked.time_out();
            }
        }
    }

    /// Forgets departed clients when the writer has nothing else to do.
    pub fn prune_abandoned_if_idle(&mut self, idle: bool) {
        if idle && !self.is_empty() {
            self.prune_abandoned();
        }
    }

    /// Forgets clients that have disconnected.
    pub fn prune_abandoned(&mut self) {
        let gone: Vec<u64> = self.waiters.iter().filter(|(_, b)| b.abandoned()).map(|(s, _)| *s).collect();
        for seq in gone {
            self.unpark(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waiter(keys: &[&'static str], deadline: Option<Instant>) -> (Blocked, oneshot::Receiver<Frame>) {
        let (tx, rx) = oneshot::channel();
        let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::from_static(k.as_bytes())).collect();
        (Blocked::new(vec![Bytes::from_static(b"BLPOP")], keys, deadline, tx), rx)
    }

    #[test]
    fn waiters_are_served_first_come_first_served_and_keep_their_place() {
        let mut registry = Registry::default();
        let (a, _ra) = waiter(&["k"], None);
        let (b, _rb) = waiter(&["k", "j"], None);
        let (c, _rc) = waiter(&["k"], None);
        registry.park(a);
        registry.park(b);
        registry.park(c);
        let mut out = Vec::new();
        registry.take(b"k", 2, &mut out);
        let seqs: Vec<u64> = out.iter().map(|b| b.seq).collect();
        assert_eq!(seqs, vec![1, 2]);
        assert!(!registry.waits_on(b"j"), "a taken waiter leaves every line");
        // Both found nothing: they go back ahead of the third.
        for blocked in out.drain(..).rev() {
            registry.park(blocked);
        }
        registry.take(b"k", 3, &mut out);
        assert_eq!(out.iter().map(|b| b.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert!(registry.is_empty());
    }

    #[test]
    fn timeouts_answer_null_and_gone_clients_are_skipped() {
        let mut registry = Registry::default();
        let now = Instant::now();
        let (a, mut ra) = waiter(&["k"], Some(now));
        let (b, rb) = waiter(&["k"], None);
        let (c, _rc) = waiter(&["k"], None);
        registry.park(a);
        registry.park(b);
        registry.park(c);
        registry.expire(now);
        assert_eq!(ra.try_recv().expect("timed out"), Frame::NullArray);
        drop(rb);
        let mut out = Vec::new();
        registry.take(b"k", 1, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].seq, 3, "the departed client is skipped");
        assert_eq!(timeout_reply(b"BLMOVE"), Frame::Null);
    }
}
