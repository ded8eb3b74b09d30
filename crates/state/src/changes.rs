//! The changed-keys feeds: what write-behind sinks must push, without
//! scanning the keyspace.
//!
//! A partition keeps one feed per pattern set by `WEIR.TRACK` (a logged
//! command, so every replica and every replay track the same keys). A
//! write to a key records it in every feed whose pattern matches (many
//! writes to one key between two sink passes are one entry, which counts
//! them). A sink fetches its pattern's changed keys with their current
//! value, version and write count, upserts them, then acknowledges each
//! with the version it pushed: a key written again since stays in the
//! feed, its count still growing. Each feed is acknowledged on its own, so
//! two sinks whose patterns overlap both get a key. Feeds are partition
//! state: logged, snapshotted, replayed.

use crate::cmd::{int_arg, reply};
use crate::db::{Db, ExecCtx};
use crate::value::Value;
use bytes::Bytes;
use std::collections::BTreeMap;
use weir_protocol::Frame;

/// Patterns a partition tracks at most.
pub const MAX_TRACKED_PATTERNS: usize = 64;
/// Changed keys one fetch returns at most.
pub const MAX_FETCH: usize = 100_000;

pub const NOT_TRACKED: &str = "ERR no such tracked pattern (CHANGES TRACK it first)";

/// The keys matching one tracked pattern that were written since the sink
/// last acknowledged them, each with the writes merged into it (the sink's
/// "client writes per statement").
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    pub(crate) pattern: Bytes,
    pub(crate) changed: BTreeMap<Box<[u8]>, u64>,
}

impl Feed {
    pub(crate) fn new(pattern: Bytes) -> Feed {
        Feed { pattern, changed: BTreeMap::new() }
    }

    fn note(&mut self, key: &[u8]) {
        match self.changed.get_mut(key) {
            Some(writes) => *writes += 1,
            None => {
                self.changed.insert(Box::from(key), 1);
            }
        }
    }
}

impl Db {
    /// Records a write to `key` in every feed whose pattern matches it.
    pub(crate) fn note_change(&mut self, key: &[u8]) {
        for feed in self.feeds.iter_mut().filter(|f| crate::glob_match(&f.pattern, key)) {
            feed.note(key);
        }
    }

    fn feed(&self, pattern: &[u8]) -> Option<&Feed> {
        self.feeds.iter().find(|f| f.pattern.as_ref() == pattern)
    }

    /// Up to `count` of `pattern`'s changed keys: key, version, the value
    /// as the sink stores it (a string, a hash as a flat array, or null
    /// once deleted), and the writes merged into it since its last
    /// acknowledgement.
    pub fn fetch_changes(&self, pattern: &[u8], now: u64, count: usize) -> Frame {
        let Some(feed) = self.feed(pattern) else { return Frame::error(NOT_TRACKED) };
        let rows = feed.changed.iter().take(count.min(MAX_FETCH)).map(|(key, writes)| {
            let entry = self.get(key, now);
            let value = match entry.map(|e| &e.value) {
                None => Frame::Null,
                Some(Value::Hash(h)) => {
                    Frame::Array(h.iter().flat_map(|(f, v)| [Frame::Bulk(f.clone()), Frame::Bulk(v.clone())]).collect())
                }
                Some(v) => v.string_bytes().map_or(Frame::Null, Frame::Bulk),
            };
            let version = entry.map_or(0, |e| e.version);
            let writes = Frame::Integer(i64::try_from(*writes).unwrap_or(i64::MAX));
            Frame::Array(vec![Frame::Bulk(Bytes::copy_from_slice(key)), Frame::Integer(version as i64), value, writes])
        });
        Frame::Array(rows.collect())
    }

    /// Changed keys waiting in `pattern`'s feed, or in every feed.
    pub fn changes_pending(&self, pattern: Option<&[u8]>) -> usize {
        match pattern {
            Some(pattern) => self.feed(pattern).map_or(0, |f| f.changed.len()),
            None => self.feeds.iter().map(|f| f.changed.len()).sum(),
        }
    }
}

/// WEIR.TRACK pattern: track keys matching it (idempotent).
pub fn track(db: &mut Db, _: &mut ExecCtx, args: &[Bytes]) -> Frame {
    if db.feed(&args[1]).is_some() {
        return Frame::Integer(0);
    }
    if db.feeds.len() >= MAX_TRACKED_PATTERNS {
        return Frame::error(format!("ERR at most {MAX_TRACKED_PATTERNS} tracked patterns"));
    }
    // Copied: the argument is a slice of its whole Raft batch.
    db.feeds.push(Feed::new(Bytes::copy_from_slice(&args[1])));
    Frame::Integer(1)
}

/// WEIR.CHANGES.ACK key version pattern: forgets the key's change in that
/// pattern's feed if the key is still at that version (the value the sink
/// pushed is the current one).
pub fn ack(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(int_arg(&args[2]).map(|version| {
        let current = db.get(&args[1], ctx.now_ms).map_or(0, |e| e.version as i64);
        let Some(feed) = db.feeds.iter_mut().find(|f| f.pattern == args[3]) else {
            return Frame::error(NOT_TRACKED);
        };
        let done = current == version && feed.changed.remove(args[1].as_ref()).is_some();
        Frame::Integer(i64::from(done))
    }))
}

#[cfg(test)]
mod tests {
    use crate::{BatchBuilder, Db};
    use bytes::Bytes;
    use weir_protocol::Frame;

    fn apply(db: &mut Db, commands: &[&[&str]]) -> Vec<Frame> {
        let mut b = BatchBuilder::new(1, 1);
        for c in commands {
            b.push_command(&c.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect::<Vec<_>>());
        }
        db.apply_batch(&b.finish()).expect("applies")
    }

    /// An integer column of `key`'s row in a fetch (1: version, 3: writes).
    fn column_of(fetched: &Frame, key: &str, column: usize) -> Option<i64> {
        let Frame::Array(rows) = fetched else { return None };
        rows.iter().find_map(|row| match row {
            Frame::Array(p) if p[0] == Frame::bulk(key.to_string()) => match p[column] {
                Frame::Integer(n) => Some(n),
                _ => None,
            },
            _ => None,
        })
    }

    fn version_of(fetched: &Frame, key: &str) -> Option<i64> {
        column_of(fetched, key, 1)
    }

    fn writes_of(fetched: &Frame, key: &str) -> Option<i64> {
        column_of(fetched, key, 3)
    }

    const LIKES: &[u8] = b"likes:*";

    #[test]
    fn tracked_writes_feed_once_and_acks_keep_newer_writes() {
        let mut db = Db::new();
        apply(&mut db, &[&["INCR", "likes:1"], &["weir.track", "likes:*"], &["INCR", "likes:1"], &["INCR", "likes:1"]]);
        apply(&mut db, &[&["INCR", "views:1"], &["HSET", "likes:2", "a", "1"]]);
        assert_eq!(db.changes_pending(Some(LIKES)), 2, "two tracked keys, however many writes");
        assert_eq!(writes_of(&db.fetch_changes(LIKES, 1, 10), "likes:1"), Some(2), "two writes after tracking began");
        let fetched = db.fetch_changes(LIKES, 1, 10);
        let v1 = version_of(&fetched, "likes:1").expect("likes:1 changed");
        // Written again after the fetch: its ack at the old version keeps it.
        apply(&mut db, &[&["INCR", "likes:1"]]);
        let acks = apply(&mut db, &[&["weir.changes.ack", "likes:1", &v1.to_string(), "likes:*"]]);
        assert_eq!(acks, vec![Frame::Integer(0)]);
        let fetched = db.fetch_changes(LIKES, 1, 10);
        assert_eq!(writes_of(&fetched, "likes:1"), Some(3), "a failed ack keeps the count growing");
        let v2 = version_of(&fetched, "likes:2").expect("likes:2 changed");
        assert_eq!(
            apply(&mut db, &[&["weir.changes.ack", "likes:2", &v2.to_string(), "likes:*"]]),
            vec![Frame::Integer(1)]
        );
        assert_eq!(db.changes_pending(Some(LIKES)), 1);
        // The feed survives a snapshot.
        let mut snapshot = Vec::new();
        db.write_snapshot(&mut snapshot);
        assert!(Db::read_snapshot(&snapshot).expect("loads") == db);
    }

    #[test]
    fn a_flush_feeds_a_deletion_for_every_tracked_key() {
        let mut db = Db::new();
        apply(&mut db, &[&["weir.track", "s:*"], &["SET", "s:1", "a"], &["SET", "s:2", "b"], &["SET", "other", "c"]]);
        for key in ["s:1", "s:2"] {
            let version = version_of(&db.fetch_changes(b"s:*", 1, 10), key).expect("changed");
            apply(&mut db, &[&["weir.changes.ack", key, &version.to_string(), "s:*"]]);
        }
        assert_eq!(db.changes_pending(None), 0);
        db.flush();
        let fetched = db.fetch_changes(b"s:*", 1, 10);
        let deleted =
            |key: &'static str| Frame::Array(vec![Frame::bulk(key), Frame::Integer(0), Frame::Null, Frame::Integer(1)]);
        assert_eq!(fetched, Frame::Array(vec![deleted("s:1"), deleted("s:2")]));
    }

    #[test]
    fn keys_removed_by_active_expiry_feed_a_deletion() {
        let mut db = Db::new();
        apply(&mut db, &[&["weir.track", "s:*"], &["SET", "s:1", "a", "PX", "10"], &["SET", "other", "b", "PX", "10"]]);
        let version = version_of(&db.fetch_changes(b"s:*", 1, 10), "s:1").expect("s:1 changed");
        apply(&mut db, &[&["weir.changes.ack", "s:1", &version.to_string(), "s:*"]]);
        assert_eq!(db.changes_pending(None), 0);
        assert_eq!(db.active_expire(1_000, 10), 2);
        let fetched = db.fetch_changes(b"s:*", 1_000, 10);
        assert_eq!(
            fetched,
            Frame::Array(vec![Frame::Array(vec![
                Frame::bulk("s:1"),
                Frame::Integer(0),
                Frame::Null,
                Frame::Integer(1)
            ])])
        );
    }

    #[test]
    fn overlapping_patterns_have_feeds_of_their_own() {
        let mut db = Db::new();
        apply(&mut db, &[&["weir.track", "a:*"], &["weir.track", "*:x"], &["weir.track", "a:*"]]);
        apply(&mut db, &[&["SET", "a:x", "1"], &["SET", "a:y", "2"], &["SET", "b:x", "3"], &["SET", "c", "4"]]);
        assert_eq!(db.changes_pending(Some(b"a:*")), 2);
        assert_eq!(db.changes_pending(Some(b"*:x")), 2);
        assert_eq!(db.changes_pending(None), 4, "a:x waits in both feeds");
        let version = version_of(&db.fetch_changes(b"a:*", 1, 10), "a:x").expect("a:x changed");
        apply(&mut db, &[&["weir.changes.ack", "a:x", &version.to_string(), "a:*"]]);
        assert_eq!(version_of(&db.fetch_changes(b"*:x", 1, 10), "a:x"), Some(version), "still in the other feed");
        assert_eq!(db.changes_pending(Some(b"a:*")), 1);
        assert!(db.fetch_changes(b"nope:*", 1, 10).is_error());
        let unknown = apply(&mut db, &[&["weir.changes.ack", "a:y", "1", "nope:*"]]);
        assert!(unknown[0].is_error(), "{unknown:?}");
    }
}
