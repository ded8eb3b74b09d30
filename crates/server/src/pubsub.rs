//! Pub/Sub: who listens to which channel, pattern or shard channel, and
//! each subscriber's mailbox.
//!
//! Messages are not state: as in Redis, they are delivered to whoever is
//! subscribed when PUBLISH runs, never logged, and lost with a crash (the
//! durable path is streams). A subscribed connection owns a mailbox that
//! PUBLISH fills and the connection drains into its socket between
//! commands (`crate::connection`). A mailbox is bounded in bytes, as Redis
//! bounds a subscriber's output buffer (`client-output-buffer-limit pubsub
//! 32mb`): a subscriber that falls that far behind loses what does not fit
//! and is disconnected, so a slow reader cannot grow the node's memory.
//!
//! The registry takes a node-wide read lock per PUBLISH and a write lock
//! per (un)subscribe; writes never touch it.

use bytes::Bytes;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use tokio::sync::mpsc;
use weir_protocol::Frame;

/// Bytes of messages a subscriber may have waiting (Redis's pubsub hard
/// output-buffer limit).
pub const MAILBOX_LIMIT_BYTES: usize = 32 << 20;
/// Channels, patterns and shard channels one connection may hold: each is
/// an entry in the registry, so they are bounded like everything else.
pub const MAX_SUBSCRIPTIONS: usize = 100_000;
/// What a message costs in a mailbox besides its channel and payload.
const MESSAGE_OVERHEAD: usize = 64;

/// The three namespaces Redis keeps apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

impl Kind {
    /// The reply words for subscribing and unsubscribing.
    pub fn words(self) -> (&'static str, &'static str) {
        match self {
            Kind::Channel => ("subscribe", "unsubscribe"),
            Kind::Pattern => ("psubscribe", "punsubscribe"),
            Kind::Shard => ("ssubscribe", "sunsubscribe"),
        }
    }
}

/// Where messages for one connection wait.
#[derive(Debug)]
pub struct Mailbox {
    client: u64,
    tx: mpsc::UnboundedSender<Frame>,
    queued_bytes: AtomicUsize,
    overflowed: AtomicBool,
}

impl Mailbox {
    /// Queues a message unless the mailbox is full, in which case it is
    /// marked overflowed and its connection closes at its next look.
    fn deliver(&self, frame: Frame) {
        let bytes = message_bytes(&frame);
        let queued = self.queued_bytes.fetch_add(bytes, Ordering::AcqRel) + bytes;
        if queued > MAILBOX_LIMIT_BYTES {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.overflowed.store(true, Ordering::Release);
            return;
        }
        if self.tx.send(frame).is_err() {
            self.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        }
    }
}

/// One connection's subscriptions and its mailbox's receiving end.
#[derive(Debug, Default)]
pub struct Subscriptions {
    channels: HashSet<Bytes>,
    patterns: HashSet<Bytes>,
    shard: HashSet<Bytes>,
    mailbox: Option<Arc<Mailbox>>,
    inbox: Option<mpsc::UnboundedReceiver<Frame>>,
}

impl Subscriptions {
    fn set(&self, kind: Kind) -> &HashSet<Bytes> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    fn set_mut(&mut self, kind: Kind) -> &mut HashSet<Bytes> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard,
        }
    }

    /// Whether the connection is in Redis's subscribed state.
    pub fn active(&self) -> bool {
        self.total() > 0
    }

    fn total(&self) -> usize {
        self.channels.len() + self.patterns.len() + self.shard.len()
    }

    /// The count a (un)subscribe reply carries: channels and patterns
    /// together, shard channels on their own (as Redis 7).
    pub fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Shard => self.shard.len(),
            _ => self.channels.len() + self.patterns.len(),
        }
    }

    /// How many names of `kind` are held.
    pub fn held(&self, kind: Kind) -> usize {
        self.set(kind).len()
    }

    /// The names held of `kind`, for an unsubscribe from all.
    pub fn names(&self, kind: Kind) -> Vec<Bytes> {
        self.set(kind).iter().cloned().collect()
    }

    /// The next message, once one is waiting; `None` when the connection
    /// must close (its mailbox overflowed). Pending forever without a
    /// mailbox, so it can sit in a `select!` beside the socket.
    pub async fn next_message(&mut self) -> Option<Frame> {
        let (Some(mailbox), Some(inbox)) = (self.mailbox.as_ref(), self.inbox.as_mut()) else {
            return std::future::pending().await;
        };
        if mailbox.overflowed.load(Ordering::Acquire) {
            return None;
        }
        let frame = inbox.recv().await?;
        mailbox.queued_bytes.fetch_sub(message_bytes(&frame), Ordering::AcqRel);
        Some(frame)
    }

    /// A message already waiting, without waiting for one.
    pub fn try_message(&mut self) -> Option<Frame> {
        let mailbox = self.mailbox.as_ref()?;
        let frame = self.inbox.as_mut()?.try_recv().ok()?;
        mailbox.queued_bytes.fetch_sub(message_bytes(&frame), Ordering::AcqRel);
        Some(frame)
    }

    /// Whether messages were dropped for want of room (the connection
    /// closes).
    pub fn overflowed(&self) -> bool {
        self.mailbox.as_ref().is_some_and(|m| m.overflowed.load(Ordering::Acquire))
    }

    fn mailbox(&mut self, client: u64) -> Arc<Mailbox> {
        if let Some(mailbox) = &self.mailbox {
            return mailbox.clone();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let mailbox =
            Arc::new(Mailbox { client, tx, queued_bytes: AtomicUsize::new(0), overflowed: AtomicBool::new(false) });
        self.mailbox = Some(mailbox.clone());
        self.inbox = Some(rx);
        mailbox
    }
}

/// The bytes a queued message is charged: its words (kind, pattern,
/// channel, payload) and a fixed overhead.
fn message_bytes(frame: &Frame) -> usize {
    let Frame::Push(items) = frame else { return MESSAGE_OVERHEAD };
    MESSAGE_OVERHEAD + items.iter().map(|f| if let Frame::Bulk(b) = f { b.len() } else { 0 }).sum::<usize>()
}

/// The node's subscribers, by name, per namespace.
#[derive(Debug, Default)]
pub struct PubSub {
    channels: RwLock<HashMap<Bytes, Vec<Arc<Mailbox>>>>,
    patterns: RwLock<HashMap<Bytes, Vec<Arc<Mailbox>>>>,
    shard: RwLock<HashMap<Bytes, Vec<Arc<Mailbox>>>>,
}

/// Why a subscription was refused.
#[derive(Debug, PartialEq, Eq)]
pub struct TooMany;

impl PubSub {
    fn registry(&self, kind: Kind) -> &RwLock<HashMap<Bytes, Vec<Arc<Mailbox>>>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard,
        }
    }

    /// Subscribes the connection to `name`; its count afterwards.
    pub fn subscribe(&self, subs: &mut Subscriptions, client: u64, kind: Kind, name: &Bytes) -> Result<usize, TooMany> {
        if !subs.set(kind).contains(name) {
            if subs.total() >= MAX_SUBSCRIPTIONS {
                return Err(TooMany);
            }
            let mailbox = subs.mailbox(client);
            write(self.registry(kind)).entry(name.clone()).or_default().push(mailbox);
            subs.set_mut(kind).insert(name.clone());
        }
        Ok(subs.count(kind))
    }

    /// Unsubscribes the connection from `name` (if it was); its count
    /// afterwards.
    pub fn unsubscribe(&self, subs: &mut Subscriptions, client: u64, kind: Kind, name: &Bytes) -> usize {
        if subs.set_mut(kind).remove(name) {
            let mut registry = write(self.registry(kind));
            if let Some(listeners) = registry.get_mut(name) {
                listeners.retain(|m| m.client != client);
                if listeners.is_empty() {
                    registry.remove(name);
                }
            }
        }
        if !subs.active() {
            subs.mailbox = None;
            subs.inbox = None;
        }
        subs.count(kind)
    }

    /// Drops every subscription of a connection (it closed, or RESET).
    pub fn unsubscribe_all(&self, subs: &mut Subscriptions, client: u64) {
        for kind in [Kind::Channel, Kind::Pattern, Kind::Shard] {
            for name in subs.names(kind) {
                self.unsubscribe(subs, client, kind, &name);
            }
        }
    }

    /// Delivers a message on `channel` (a shard channel if `shard`) to its
    /// subscribers and, for plain channels, to every matching pattern's:
    /// how many received it.
    pub fn publish(&self, channel: &Bytes, message: &Bytes, shard: bool) -> usize {
        let word = if shard { "smessage" } else { "message" };
        let mut receivers = 0;
        let direct = if shard { &self.shard } else { &self.channels };
        if let Some(listeners) = read(direct).get(channel) {
            for mailbox in listeners {
                let frame =
                    Frame::Push(vec![Frame::bulk(word), Frame::Bulk(channel.clone()), Frame::Bulk(message.clone())]);
                mailbox.deliver(frame);
                receivers += 1;
            }
        }
        if shard {
            return receivers;
        }
        for (pattern, listeners) in read(&self.patterns).iter() {
            if !weir_state::glob_match(pattern, channel) {
                continue;
            }
            for mailbox in listeners {
                let frame = Frame::Push(vec![
                    Frame::bulk("pmessage"),
                    Frame::Bulk(pattern.clone()),
                    Frame::Bulk(channel.clone()),
                    Frame::Bulk(message.clone()),
                ]);
                mailbox.deliver(frame);
                receivers += 1;
            }
        }
        receivers
    }

    /// Names with at least one subscriber, matching `pattern` if given
    /// (PUBSUB CHANNELS and SHARDCHANNELS).
    pub fn active(&self, kind: Kind, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let registry = read(self.registry(kind));
        let matches = |name: &&Bytes| pattern.is_none_or(|p| weir_state::glob_match(p, name));
        registry.keys().filter(matches).cloned().collect()
    }

    /// Subscribers of `name` (PUBSUB NUMSUB and SHARDNUMSUB).
    pub fn subscribers(&self, kind: Kind, name: &[u8]) -> usize {
        read(self.registry(kind)).get(name).map_or(0, Vec::len)
    }

    /// Names subscribed in `kind` (INFO, PUBSUB NUMPAT).
    pub fn count(&self, kind: Kind) -> usize {
        read(self.registry(kind)).len()
    }
}

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|e| e.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[tokio::test]
    async fn messages_reach_channels_and_matching_patterns_in_order() {
        let hub = PubSub::default();
        let (mut a, mut b) = (Subscriptions::default(), Subscriptions::default());
        assert_eq!(hub.subscribe(&mut a, 1, Kind::Channel, &name("news")), Ok(1));
        assert_eq!(hub.subscribe(&mut a, 1, Kind::Channel, &name("news")), Ok(1), "once per name");
        assert_eq!(hub.subscribe(&mut a, 1, Kind::Pattern, &name("n*")), Ok(2));
        assert_eq!(hub.subscribe(&mut a, 1, Kind::Shard, &name("news")), Ok(1), "shard names count apart");
        assert_eq!(hub.subscribe(&mut b, 2, Kind::Channel, &name("news")), Ok(1));
        assert_eq!(hub.publish(&name("news"), &name("hi"), false), 3);
        assert_eq!(hub.publish(&name("news"), &name("shard"), true), 1);
        assert_eq!(hub.publish(&name("other"), &name("x"), false), 0);
        let words = |frame: Frame| match frame {
            Frame::Push(items) => items
                .into_iter()
                .map(|f| match f {
                    Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            other => format!("{other:?}"),
        };
        assert_eq!(words(a.next_message().await.expect("one")), "message news hi");
        assert_eq!(words(a.next_message().await.expect("two")), "pmessage n* news hi");
        assert_eq!(words(a.try_message().expect("three")), "smessage news shard");
        assert!(a.try_message().is_none());
        assert_eq!(words(b.try_message().expect("b's")), "message news hi");
        assert_eq!(
            (hub.count(Kind::Channel), hub.count(Kind::Pattern), hub.subscribers(Kind::Channel, b"news")),
            (1, 1, 2)
        );
        hub.unsubscribe_all(&mut a, 1);
        assert!(!a.active());
        assert_eq!(hub.subscribers(Kind::Channel, b"news"), 1);
        assert_eq!(hub.unsubscribe(&mut b, 2, Kind::Channel, &name("news")), 0);
        assert_eq!(
            (hub.count(Kind::Channel), hub.count(Kind::Pattern), hub.count(Kind::Shard)),
            (0, 0, 0),
            "no empty entries left"
        );
    }

    #[tokio::test]
    async fn a_full_mailbox_drops_messages_and_closes_its_connection() {
        let hub = PubSub::default();
        let mut slow = Subscriptions::default();
        hub.subscribe(&mut slow, 9, Kind::Channel, &name("feed")).expect("subscribed");
        let payload = Bytes::from(vec![b'x'; 1 << 20]);
        for _ in 0..(MAILBOX_LIMIT_BYTES >> 20) + 4 {
            assert_eq!(hub.publish(&name("feed"), &payload, false), 1, "still counted as a receiver");
        }
        assert!(slow.overflowed());
        let mailbox = slow.mailbox.as_ref().expect("a mailbox");
        assert!(mailbox.queued_bytes.load(Ordering::Acquire) <= MAILBOX_LIMIT_BYTES);
        assert!(slow.next_message().await.is_none(), "the connection closes");
    }

    #[test]
    fn subscriptions_per_connection_are_bounded() {
        let hub = PubSub::default();
        let mut greedy = Subscriptions::default();
        for i in 0..MAX_SUBSCRIPTIONS {
            hub.subscribe(&mut greedy, 3, Kind::Pattern, &name(&format!("p{i}*"))).expect("within the bound");
        }
        assert_eq!(hub.subscribe(&mut greedy, 3, Kind::Channel, &name("one-more")), Err(TooMany));
        assert_eq!(hub.subscribe(&mut greedy, 3, Kind::Pattern, &name("p0*")), Ok(MAX_SUBSCRIPTIONS), "held already");
    }
}
