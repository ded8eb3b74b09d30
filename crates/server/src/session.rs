//! One client's connection state, and the node-wide registry of clients
//! (what CLIENT LIST shows).

use bytes::Bytes;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_protocol::Version;

/// A connection that sends its next write within this long of its last
/// reply is "returning": a client that waits for each reply and sends the
/// next request at once. Its partition's writer may hold the next batch
/// briefly for it (`crate::writer`, gathering).
const RETURN_WINDOW: Duration = Duration::from_millis(1);

/// What a client has queued between MULTI and EXEC.
#[derive(Default)]
pub struct Multi {
    pub commands: Vec<Vec<Bytes>>,
    /// The slot every queued key (and watched key) must share.
    pub slot: Option<u16>,
    /// A queuing error happened: EXEC answers EXECABORT.
    pub aborted: bool,
    /// A command was queued for another slot than those before it (or the
    /// watched keys'): EXEC answers CROSSSLOT, as a Redis cluster node does.
    pub crossslot: bool,
}

/// Per-connection state; owned by the connection's task.
pub struct Session {
    pub id: u64,
    pub version: Version,
    pub authenticated: bool,
    pub multi: Option<Multi>,
    pub watches: Vec<(Bytes, u64)>,
    pub watch_slot: Option<u16>,
    pub closing: bool,
    pub client: Arc<ClientEntry>,
    /// When the last reply was ready to send.
    pub answered_at: Option<Instant>,
    /// The commands being run arrived within `RETURN_WINDOW` of the reply
    /// before them (`arrived`): one clock read per read of the socket.
    returning: bool,
    /// No earlier command of this connection awaits its reply (its writes
    /// are applied): set by the connection before each command.
    pub settled: bool,
    /// Channels and patterns subscribed, and the mailbox (`crate::pubsub`).
    pub pubsub: crate::pubsub::Subscriptions,
}

impl Session {
    pub fn new(client: Arc<ClientEntry>, needs_auth: bool) -> Session {
        Session {
            id: client.id,
            version: Version::Resp2,
            authenticated: !needs_auth,
            multi: None,
            watches: Vec::new(),
            watch_slot: None,
            closing: false,
            client,
            answered_at: None,
            returning: false,
            settled: false,
            pubsub: Default::default(),
        }
    }

    /// Notes when the next commands arrived (a read of the socket), which
    /// tells whether this connection came straight back after its last
    /// reply.
    pub fn arrived(&mut self, at: Instant) {
        self.returning =
            self.answered_at.is_some_and(|answered| at.saturating_duration_since(answered) <= RETURN_WINDOW);
    }

    /// Whether the commands being run came straight after the last reply.
    pub fn returning(&self) -> bool {
        self.returning
    }

    /// Shows this connection's subscriptions in CLIENT LIST.
    pub fn subscriptions_changed(&self) {
        use crate::pubsub::Kind;
        for (slot, kind) in self.client.subscriptions.iter().zip([Kind::Channel, Kind::Pattern, Kind::Shard]) {
            slot.store(self.pubsub.held(kind), Relaxed);
        }
    }

    pub fn unwatch(&mut self) {
        self.watches.clear();
        self.watch_slot = None;
    }
}

/// Names and library details a client set about itself.
#[derive(Default, Clone)]
pub struct ClientMeta {
    pub name: Option<Bytes>,
    pub lib_name: Option<Bytes>,
    pub lib_ver: Option<Bytes>,
}

/// What the registry knows about one connected client.
pub struct ClientEntry {
    pub id: u64,
    pub addr: Option<SocketAddr>,
    pub local: Option<SocketAddr>,
    pub created: Instant,
    pub meta: Mutex<ClientMeta>,
    /// Milliseconds since `created` at the last command (idle time).
    pub last_active_ms: AtomicU64,
    /// Index of the last command in the node's command table.
    pub last_command: AtomicUsize,
    pub resp: AtomicU64,
    /// Channels, patterns and shard channels subscribed (CLIENT LIST's
    /// `sub`, `psub`, `ssub`), copied from the session after each change.
    pub subscriptions: [AtomicUsize; 3],
}

impl ClientEntry {
    /// Records the client's latest command (CLIENT LIST's `cmd`).
    pub fn touch(&self, command: usize) {
        self.last_command.store(command, Relaxed);
    }

    /// Records activity at `at` (CLIENT LIST's `idle`): once per read of
    /// the socket, not per command, since a pipeline arrives at once.
    pub fn active_at(&self, at: std::time::Instant) {
        let since_created = at.saturating_duration_since(self.created).as_millis() as u64;
        self.last_active_ms.store(since_created, Relaxed);
    }

    pub fn meta(&self) -> ClientMeta {
        self.meta.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn update_meta(&self, change: impl FnOnce(&mut ClientMeta)) {
        if let Ok(mut meta) = self.meta.lock() {
            change(&mut meta);
        }
    }
}

/// All connected clients. Touched on connect, disconnect and CLIENT LIST,
/// never per command.
#[derive(Default)]
pub struct Clients {
    next_id: AtomicU64,
    entries: Mutex<HashMap<u64, Arc<ClientEntry>>>,
}

impl Clients {
    pub fn register(&self, addr: Option<SocketAddr>, local: Option<SocketAddr>) -> Arc<ClientEntry> {
        let id = self.next_id.fetch_add(1, Relaxed) + 1;
        let entry = Arc::new(ClientEntry {
            id,
            addr,
            local,
            created: Instant::now(),
            meta: Mutex::new(ClientMeta::default()),
            last_active_ms: AtomicU64::new(0),
            last_command: AtomicUsize::new(usize::MAX),
            resp: AtomicU64::new(2),
            subscriptions: Default::default(),
        });
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(id, entry.clone());
        }
        entry
    }

    pub fn unregister(&self, id: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&id);
        }
    }

    /// A snapshot of the connected clients, ordered by id.
    pub fn list(&self) -> Vec<Arc<ClientEntry>> {
        let mut all: Vec<_> = self.entries.lock().map(|e| e.values().cloned().collect()).unwrap_or_default();
        all.sort_by_key(|c| c.id);
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_returning_only_soon_after_its_last_reply() {
        let mut session = Session::new(Clients::default().register(None, None), false);
        let start = Instant::now();
        session.arrived(start);
        assert!(!session.returning(), "a first write expects nothing");
        session.answered_at = Some(start);
        assert!(!session.returning(), "decided when the commands arrived");
        session.arrived(start + RETURN_WINDOW / 2);
        assert!(session.returning());
        session.arrived(start + RETURN_WINDOW * 2);
        assert!(!session.returning(), "a client that took its time is not waited for");
    }
}
