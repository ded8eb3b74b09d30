//! The changed-keys feed: what a write-behind sink must push, without
//! scanning the keyspace.
//!
//! A partition tracks keys that match the patterns set by `WEIR.TRACK`
//! (a logged command, so every replica and every replay track the same
//! keys). A write to a tracked key records it in `changed` (many writes to
//! one key between two sink passes are one entry, which counts them). The
//! sink fetches changed keys with their current value, version and write
//! count, upserts them, then acknowledges each with the version it pushed:
//! a key written again since stays in the feed, its count still growing. Feed and patterns are partition state:
//! logged, snapshotted, replayed.

use crate::cmd::{int_arg, reply};
use crate::db::{Db, ExecCtx};
use crate::value::Value;
use bytes::Bytes;
use weir_protocol::Frame;

/// Patterns a partition tracks at most.
pub const MAX_TRACKED_PATTERNS: usize = 64;
/// Changed keys one fetch returns at most.
pub const MAX_FETCH: usize = 100_000;

impl Db {
    /// Records a write to `key` if a tracked pattern matches it.
    pub(crate) fn note_change(&mut self, key: &[u8]) {
        if self.tracked.iter().any(|p| crate::glob_match(p, key)) {
            match self.changed.get_mut(key) {
                Some(writes) => *writes += 1,
                None => {
                    self.changed.insert(Box::from(key), 1);
                }
            }
        }
    }

    /// Up to `count` changed keys: key, version, the value as the sink
    /// stores it (a string, a hash as a flat array, or null once deleted),
    /// and the writes merged into it since its last acknowledgement.
    pub fn fetch_changes(&self, now: u64, count: usize) -> Frame {
        let rows = self.changed.iter().take(count.min(MAX_FETCH)).map(|(key, writes)| {
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

    pub fn changes_pending(&self) -> usize {
        self.changed.len()
    }
}

/// WEIR.TRACK pattern: track keys matching it (idempotent).
pub fn track(db: &mut Db, _: &mut ExecCtx, args: &[Bytes]) -> Frame {
    if db.tracked.contains(&args[1]) {
        return Frame::Integer(0);
    }
    if db.tracked.len() >= MAX_TRACKED_PATTERNS {
        return Frame::error(format!("ERR at most {MAX_TRACKED_PATTERNS} tracked patterns"));
    }
    db.tracked.push(args[1].clone());
    Frame::Integer(1)
}

/// WEIR.CHANGES.ACK key version: forgets the key's change if it is still
/// at that version (the value the sink pushed is the current one).
pub fn ack(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(int_arg(&args[2]).map(|version| {
        let current = db.get(&args[1], ctx.now_ms).map_or(0, |e| e.version as i64);
        let done = current == version && db.changed.remove(args[1].as_ref()).is_some();
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

    fn version_of(fetched: &Frame, key: &str) -> Option<i64> {
        let Frame::Array(rows) = fetched else { return None };
        rows.iter().find_map(|row| match row {
            Frame::Array(p) if p[0] == Frame::bulk(key.to_string()) => match p[1] {
                Frame::Integer(v) => Some(v),
                _ => None,
            },
            _ => None,
        })
    }

    fn writes_of(fetched: &Frame, key: &str) -> Option<i64> {
        let Frame::Array(rows) = fetched else { return None };
        rows.iter().find_map(|row| match row {
            Frame::Array(p) if p[0] == Frame::bulk(key.to_string()) => match p[3] {
                Frame::Integer(n) => Some(n),
                _ => None,
            },
            _ => None,
        })
    }

    #[test]
    fn tracked_writes_feed_once_and_acks_keep_newer_writes() {
        let mut db = Db::new();
        apply(&mut db, &[&["INCR", "likes:1"], &["weir.track", "likes:*"], &["INCR", "likes:1"], &["INCR", "likes:1"]]);
        apply(&mut db, &[&["INCR", "views:1"], &["HSET", "likes:2", "a", "1"]]);
        assert_eq!(db.changes_pending(), 2, "two tracked keys, however many writes");
        assert_eq!(writes_of(&db.fetch_changes(1, 10), "likes:1"), Some(2), "two writes after tracking began");
        let fetched = db.fetch_changes(1, 10);
        let v1 = version_of(&fetched, "likes:1").expect("likes:1 changed");
        // Written again after the fetch: its ack at the old version keeps it.
        apply(&mut db, &[&["INCR", "likes:1"]]);
        let acks = apply(&mut db, &[&["weir.changes.ack", "likes:1", &v1.to_string()]]);
        assert_eq!(acks, vec![Frame::Integer(0)]);
        assert_eq!(writes_of(&db.fetch_changes(1, 10), "likes:1"), Some(3), "a failed ack keeps the count growing");
        let v2 = version_of(&db.fetch_changes(1, 10), "likes:2").expect("likes:2 changed");
        assert_eq!(apply(&mut db, &[&["weir.changes.ack", "likes:2", &v2.to_string()]]), vec![Frame::Integer(1)]);
        assert_eq!(db.changes_pending(), 1);
        // The feed survives a snapshot.
        let mut snapshot = Vec::new();
        db.write_snapshot(&mut snapshot);
        assert!(Db::read_snapshot(&snapshot).expect("loads") == db);
    }
}
