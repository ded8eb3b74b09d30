//! Snapshots taken while writes go on (a *capture*): the state as of one
//! moment, serialized in bounded steps between batches instead of all at
//! once under the partition's lock (which stalled every write to the
//! partition: 34-201 ms at 10-32 MB).
//!
//! A capture notes `write_seq` when it begins (`start_seq`) and walks the
//! keyspace in its stored-key order, a step at a time, writing each entry
//! whose version is at most `start_seq`, i.e. unchanged since the start.
//! Between steps the partition applies batches as usual, and every change
//! to an entry the walk has not reached yet first writes that entry as it
//! was ([`Db::preserve`]); the change then gives the entry a newer version
//! (or removes it), so the walk skips it. An entry created after the start
//! has a newer version too. So every entry of the starting state is written
//! exactly once, as it was then, and nothing written since (the technique
//! of Dragonfly's snapshots; Redis forks a child instead).
//!
//! Invariants: the keyspace changes only through the `Db` functions that
//! call `preserve` first and then set a version above `start_seq` or
//! remove the entry (`db.rs`); the changed-keys feeds and `write_seq` are
//! copied when the capture begins. A step writes whole entries, so the
//! longest pause is one step's budget or one entry, whichever is larger.

use crate::db::{Db, Entry};
use crate::keyspace_key::StoredKey;

/// Output bytes after which a step stops.
pub const CAPTURE_STEP_BYTES: usize = 64 << 10;

/// Entries a step looks at at most, written or skipped (skipping is cheap
/// but not free: a keyspace mostly rewritten since the start is mostly
/// skipped).
const CAPTURE_STEP_ENTRIES: usize = 2048;

/// Where the entry count sits in the header (after the version and
/// `write_seq`): known only at the end, so patched in.
const COUNT_AT: usize = 1 + 8;

/// The output grows in chunks of about this size, so no step copies what
/// earlier steps wrote (a growing vector would, under the lock); they are
/// joined once, after the last step.
const CHUNK_BYTES: usize = 1 << 20;

/// A snapshot in progress, kept in the `Db` it captures.
#[derive(Clone, Debug)]
pub(crate) struct Capture {
    /// `write_seq` when the capture began: entries with a version at most
    /// this are unchanged since then.
    start_seq: u64,
    /// The walk's position: entries up to this stored key were walked.
    walked: Option<StoredKey>,
    /// The walk reached the end: no more pre-images are needed.
    done: bool,
    /// The header, then the entries written so far: full chunks, then the
    /// one being filled.
    chunks: Vec<Vec<u8>>,
    out: Vec<u8>,
    /// Bytes in `chunks`.
    chunked: usize,
    entries: u64,
    /// The changed-keys feeds as they were at the start, serialized.
    feeds: Vec<u8>,
}

impl Capture {
    /// Whether a change to `stored` needs its pre-image first: the walk has
    /// not passed it yet.
    fn ahead_of_walk(&self, stored: &[u8]) -> bool {
        !self.done && self.walked.as_deref().is_none_or(|walked| stored > walked)
    }

    fn keep(&mut self, stored: &[u8], entry: &Entry) {
        if entry.version > self.start_seq {
            return;
        }
        if self.out.len() >= CHUNK_BYTES {
            let full = std::mem::replace(&mut self.out, Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 8));
            self.chunked += full.len();
            self.chunks.push(full);
        }
        crate::snapshot::write_entry(&mut self.out, stored, entry);
        self.entries += 1;
    }

    /// Bytes written so far.
    fn len(&self) -> usize {
        self.chunked + self.out.len()
    }
}

/// A finished capture: the snapshot's bytes, in chunks.
#[derive(Debug)]
pub struct Captured {
    chunks: Vec<Vec<u8>>,
}

impl Captured {
    /// The snapshot's bytes in one piece (a copy: best made off the
    /// partition's lock and off the runtime's threads).
    pub fn into_bytes(self) -> Vec<u8> {
        match <[Vec<u8>; 1]>::try_from(self.chunks) {
            Ok([only]) => only,
            Err(chunks) => chunks.concat(),
        }
    }
}

/// The capture slot of a `Db`: not part of the state (two `Db`s compare
/// equal whatever their captures).
#[derive(Clone, Debug, Default)]
pub(crate) struct CaptureSlot(Option<Box<Capture>>);

impl PartialEq for CaptureSlot {
    fn eq(&self, _: &CaptureSlot) -> bool {
        true
    }
}

impl CaptureSlot {
    /// Whether writes must preserve pre-images (a capture is walking).
    pub(crate) fn walking(&self) -> bool {
        self.0.as_ref().is_some_and(|c| !c.done)
    }
}

impl Db {
    /// Begins a snapshot of the state as it is now.
    pub fn begin_capture(&mut self) {
        assert!(self.capture.0.is_none(), "one capture at a time");
        let mut out = Vec::with_capacity(CHUNK_BYTES + CHUNK_BYTES / 8);
        crate::snapshot::write_header(&mut out, self.write_seq, 0);
        let mut feeds = Vec::new();
        crate::snapshot::write_feeds(&mut feeds, &self.feeds);
        let start_seq = self.write_seq;
        let capture =
            Capture { start_seq, walked: None, done: false, chunks: Vec::new(), out, chunked: 0, entries: 0, feeds };
        self.capture.0 = Some(Box::new(capture));
    }

    /// Whether a capture is in progress (begun, not yet finished).
    pub fn capturing(&self) -> bool {
        self.capture.0.is_some()
    }

    /// Walks on for about `max_bytes` of output; true once the walk is done
    /// (then [`Db::finish_capture`]).
    pub fn capture_step(&mut self, max_bytes: usize) -> bool {
        let Db { map, capture, .. } = self;
        let capture = capture.0.as_deref_mut().expect("a capture in progress");
        if capture.done {
            return true;
        }
        let resume = capture.walked.take();
        let stop_at = capture.len().saturating_add(max_bytes);
        let mut looked = 0;
        let mut last: Option<&StoredKey> = None;
        for (stored, entry) in map.iter_from(resume.as_deref().unwrap_or(&[])) {
            if resume.as_deref() == Some(&stored[..]) {
                continue;
            }
            if looked == CAPTURE_STEP_ENTRIES || capture.len() >= stop_at {
                capture.walked = last.cloned().or_else(|| resume.clone());
                return false;
            }
            looked += 1;
            capture.keep(stored, entry);
            last = Some(stored);
        }
        capture.done = true;
        true
    }

    /// The finished snapshot (the bytes of [`Db::write_snapshot`]); the
    /// walk must be done.
    pub fn finish_capture(&mut self) -> Captured {
        let capture = self.capture.0.take().expect("a capture in progress");
        assert!(capture.done, "a capture finishes after its walk");
        let Capture { mut chunks, mut out, entries, feeds, .. } = *capture;
        out.extend_from_slice(&feeds);
        chunks.push(out);
        chunks[0][COUNT_AT..COUNT_AT + 8].copy_from_slice(&entries.to_le_bytes());
        Captured { chunks }
    }

    /// Drops a capture in progress, if any (its builder went away).
    pub fn abandon_capture(&mut self) {
        self.capture.0 = None;
    }

    /// This `Db` replaces `old` wholesale (a snapshot installed from the
    /// leader): `old`'s capture, if any, walks to its end (`old` no longer
    /// changes) and moves here, done, for its builder to finish.
    pub fn adopt_capture(&mut self, old: &mut Db) {
        if !old.capturing() {
            return;
        }
        while !old.capture_step(usize::MAX) {}
        assert!(self.capture.0.is_none(), "one capture at a time");
        self.capture = std::mem::take(&mut old.capture);
    }

    /// Called before `stored`'s entry changes or goes: writes it as it was
    /// at the capture's start if the walk has yet to reach it.
    pub(crate) fn preserve(&mut self, stored: &[u8]) {
        let Db { map, capture, .. } = self;
        let Some(capture) = capture.0.as_deref_mut() else { return };
        if !capture.ahead_of_walk(stored) {
            return;
        }
        if let Some(entry) = map.get(stored) {
            capture.keep(stored, entry);
        }
    }

    /// Before every entry changes at once (FLUSHALL): the walk finishes
    /// first.
    pub(crate) fn preserve_all(&mut self) {
        if self.capture.walking() {
            while !self.capture_step(usize::MAX) {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Ttl;
    use crate::value::Value;

    fn db_with(keys: usize, value_len: usize) -> Db {
        let mut db = Db::new();
        for i in 0..keys {
            db.put(format!("k{i}").as_bytes(), Value::string_from(bytes::Bytes::from(vec![b'v'; value_len])), 0);
        }
        db
    }

    #[test]
    fn a_capture_is_the_state_at_its_start_whatever_changes_between_steps() {
        // Over a chunk of output: the chunks are joined in order.
        let mut db = db_with(3000, 400);
        let expected = db.clone();
        db.begin_capture();
        let mut steps = 0;
        let mut i = 0;
        while !db.capture_step(4096) {
            steps += 1;
            // Overwrite, delete, expire and create keys, walked or not.
            for _ in 0..20 {
                let key = format!("k{}", (i * 7919) % 3000);
                match i % 4 {
                    0 => db.upsert(key.as_bytes(), 0, Value::Int(i as i64), Ttl::Clear),
                    1 => drop(db.remove(key.as_bytes())),
                    2 => db.set_expire(key.as_bytes(), 5),
                    _ => db.put(format!("new{i}").as_bytes(), Value::Int(1), 0),
                }
                i += 1;
            }
        }
        assert!(steps > 10, "the walk took several steps ({steps})");
        let captured = db.finish_capture();
        assert!(captured.chunks.len() > 1, "{} chunks", captured.chunks.len());
        let bytes = captured.into_bytes();
        assert!(!db.capturing());
        assert!(Db::read_snapshot(&bytes).expect("loads") == expected);
    }

    #[test]
    fn a_flush_mid_capture_finishes_the_walk_first() {
        let mut db = db_with(500, 40);
        let expected = db.clone();
        db.begin_capture();
        assert!(!db.capture_step(1024));
        db.flush();
        db.put(b"after", Value::Int(1), 0);
        assert!(db.capture_step(1024), "nothing left to walk");
        assert!(Db::read_snapshot(&db.finish_capture().into_bytes()).expect("loads") == expected);
    }

    #[test]
    fn an_installed_state_adopts_the_capture_of_the_one_it_replaces() {
        let mut old = db_with(500, 40);
        let expected = old.clone();
        old.begin_capture();
        assert!(!old.capture_step(1024));
        let mut new = db_with(10, 40);
        new.adopt_capture(&mut old);
        assert!(!old.capturing() && new.capturing());
        new.put(b"k1", Value::Int(1), 0);
        assert!(new.capture_step(1024));
        assert!(Db::read_snapshot(&new.finish_capture().into_bytes()).expect("loads") == expected);
    }

    #[test]
    fn an_empty_state_captures_in_one_step() {
        let mut db = Db::new();
        db.begin_capture();
        assert!(db.capture_step(CAPTURE_STEP_BYTES));
        let mut whole = Vec::new();
        db.write_snapshot(&mut whole);
        assert_eq!(db.finish_capture().into_bytes(), whole);
    }
}
