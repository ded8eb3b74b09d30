//! A partition's state as bytes, for snapshots. The format lists every
//! entry with its deadline and version, then the write sequence; it is
//! in the keyspace's (hash, key) order, so equal states give equal bytes
//! within one process; the hash is keyed per process, so another process
//! (a replica, a restart) lists the same entries in another order, and
//! loading re-hashes every key.

use crate::db::{stored_key, user_key, Db, Entry};
use crate::stream::{Consumer, Group, Pending, Stream, StreamId};
use crate::value::{Elem, Value};
use crate::zset::ZSet;
use bytes::{BufMut, Bytes};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// 3: one changed-keys feed per tracked pattern, counting writes per key.
const VERSION: u8 = 3;
const T_STR: u8 = 1;
const T_INT: u8 = 2;
const T_HASH: u8 = 3;
const T_SET: u8 = 4;
const T_LIST: u8 = 5;
const T_ZSET: u8 = 6;
const T_STREAM: u8 = 7;

#[derive(Debug, thiserror::Error)]
#[error("malformed snapshot: {0}")]
pub struct SnapshotError(&'static str);

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.put_u32_le(b.len() as u32);
    out.put_slice(b);
}

impl Db {
    /// The whole state as bytes, at once (a capture writes the same bytes
    /// in steps: [`crate::capture`]).
    pub fn write_snapshot(&self, out: &mut Vec<u8>) {
        write_header(out, self.write_seq, self.map.len() as u64);
        for (stored, entry) in self.map.iter() {
            write_entry(out, stored, entry);
        }
        write_feeds(out, &self.feeds);
    }

    pub fn read_snapshot(data: &[u8]) -> Result<Db, SnapshotError> {
        let mut r = Reader { data, pos: 0 };
        if r.u8()? != VERSION {
            return Err(SnapshotError("unknown version"));
        }
        let mut db = Db { write_seq: r.u64()?, ..Db::default() };
        let count = r.count(21)?;
        for _ in 0..count {
            let key = r.bytes()?;
            let expire_at = r.u64()?;
            let version = r.u64()?;
            let value = r.value()?;
            let stored = stored_key(&key);
            if expire_at != 0 {
                db.expiring.insert((expire_at, Box::from(&key[..])));
            }
            if db.map.insert(stored, Entry { value, expire_at, version }).is_some() {
                return Err(SnapshotError("a key listed twice"));
            }
        }
        // The changed-keys feeds (absent when nothing is tracked).
        if r.pos != data.len() {
            let feeds = r.count(12)?;
            for _ in 0..feeds {
                let mut feed = crate::changes::Feed::new(r.bytes()?);
                let changed = r.count(12)?;
                for _ in 0..changed {
                    let key = Box::from(r.slice()?);
                    feed.changed.insert(key, r.u64()?);
                }
                db.feeds.push(feed);
            }
        }
        if r.pos != data.len() {
            return Err(SnapshotError("trailing bytes"));
        }
        Ok(db)
    }
}

/// The version, the write sequence and the number of entries that follow.
pub(crate) fn write_header(out: &mut Vec<u8>, write_seq: u64, entries: u64) {
    out.put_u8(VERSION);
    out.put_u64_le(write_seq);
    out.put_u64_le(entries);
}

/// One keyspace entry: the user key, deadline, version, then the value.
pub(crate) fn write_entry(out: &mut Vec<u8>, stored: &[u8], entry: &Entry) {
    put_bytes(out, user_key(stored));
    out.put_u64_le(entry.expire_at);
    out.put_u64_le(entry.version);
    match &entry.value {
        Value::Inline(s) => {
            out.put_u8(T_STR);
            put_bytes(out, s.as_bytes());
        }
        Value::Str(s) => {
            out.put_u8(T_STR);
            put_bytes(out, s);
        }
        Value::Int(n) => {
            out.put_u8(T_INT);
            out.put_i64_le(*n);
        }
        Value::Hash(h) => {
            out.put_u8(T_HASH);
            out.put_u64_le(h.len() as u64);
            for (k, v) in h {
                put_bytes(out, k);
                put_bytes(out, v);
            }
        }
        Value::Set(s) => {
            out.put_u8(T_SET);
            out.put_u64_le(s.len() as u64);
            for m in s {
                put_bytes(out, m);
            }
        }
        Value::List(l) => {
            out.put_u8(T_LIST);
            out.put_u64_le(l.len() as u64);
            for e in l {
                put_bytes(out, e.as_bytes());
            }
        }
        Value::Stream(s) => write_stream(out, s),
        Value::ZSet(z) => {
            out.put_u8(T_ZSET);
            out.put_u64_le(z.len() as u64);
            for (m, score) in z.iter() {
                put_bytes(out, m);
                out.put_f64_le(score);
            }
        }
    }
}

/// The changed-keys feeds (nothing when none is tracked).
pub(crate) fn write_feeds(out: &mut Vec<u8>, feeds: &[crate::changes::Feed]) {
    if feeds.is_empty() {
        return;
    }
    out.put_u64_le(feeds.len() as u64);
    for feed in feeds {
        put_bytes(out, &feed.pattern);
        out.put_u64_le(feed.changed.len() as u64);
        for (key, writes) in &feed.changed {
            put_bytes(out, key);
            out.put_u64_le(*writes);
        }
    }
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.put_u64_le(id.ms);
    out.put_u64_le(id.seq);
}

/// last id, max deleted id, entries added, count, entries (id, ordinal,
/// fields), then groups (name, last delivered, entries read or MAX,
/// pending entries (id, consumer, delivered ms, deliveries), consumers
/// (name, seen ms)). Consumers' own pending sets are rebuilt from the PEL.
fn write_stream(out: &mut Vec<u8>, s: &Stream) {
    out.put_u8(T_STREAM);
    put_id(out, s.last_id);
    put_id(out, s.max_deleted_id);
    out.put_u64_le(s.entries_added);
    out.put_u64_le(s.entries.len() as u64);
    for (id, entry) in &s.entries {
        put_id(out, *id);
        out.put_u64_le(entry.ordinal);
        out.put_u64_le(entry.fields.len() as u64);
        for field in entry.fields.iter() {
            put_bytes(out, field);
        }
    }
    out.put_u64_le(s.groups.len() as u64);
    for (name, group) in &s.groups {
        put_bytes(out, name);
        put_id(out, group.last_delivered);
        out.put_u64_le(group.entries_read.unwrap_or(u64::MAX));
        out.put_u64_le(group.pel.len() as u64);
        for (id, pending) in &group.pel {
            put_id(out, *id);
            put_bytes(out, &pending.consumer);
            out.put_u64_le(pending.delivered_ms);
            out.put_u64_le(pending.deliveries);
        }
        out.put_u64_le(group.consumers.len() as u64);
        for (name, consumer) in &group.consumers {
            put_bytes(out, name);
            out.put_u64_le(consumer.seen_ms);
        }
    }
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], SnapshotError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or(SnapshotError("truncated"))?;
        let out = &self.data[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, SnapshotError> {
        Ok(self.take(1)?[0])
    }

    fn u64(&mut self) -> Result<u64, SnapshotError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(u64::from_le_bytes(a))
    }

    fn count(&mut self, min_size: usize) -> Result<usize, SnapshotError> {
        let n = self.u64()?;
        if n.saturating_mul(min_size as u64) > (self.data.len() - self.pos) as u64 {
            return Err(SnapshotError("count exceeds the data"));
        }
        Ok(n as usize)
    }

    fn slice(&mut self) -> Result<&'a [u8], SnapshotError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        let len = u32::from_le_bytes(a) as usize;
        self.take(len)
    }

    fn bytes(&mut self) -> Result<Bytes, SnapshotError> {
        Ok(Bytes::copy_from_slice(self.slice()?))
    }

    fn id(&mut self) -> Result<StreamId, SnapshotError> {
        Ok(StreamId::new(self.u64()?, self.u64()?))
    }

    fn stream(&mut self) -> Result<Stream, SnapshotError> {
        let mut s =
            Stream { last_id: self.id()?, max_deleted_id: self.id()?, entries_added: self.u64()?, ..Stream::default() };
        let n = self.count(32)?;
        for _ in 0..n {
            let id = self.id()?;
            let ordinal = self.u64()?;
            let fields = self.count(4)?;
            let fields = (0..fields).map(|_| self.slice()).collect::<Result<Vec<_>, _>>()?;
            let fields = crate::stream::Fields::pack(fields.into_iter());
            if id > s.last_id {
                return Err(SnapshotError("stream entry beyond the last ID"));
            }
            s.entries.insert(id, crate::stream::Entry { ordinal, fields });
        }
        let groups = self.count(40)?;
        for _ in 0..groups {
            let name = self.bytes()?;
            let group = self.group()?;
            s.groups.insert(name, group);
        }
        Ok(s)
    }

    fn group(&mut self) -> Result<Group, SnapshotError> {
        let last_delivered = self.id()?;
        let entries_read = Some(self.u64()?).filter(|n| *n != u64::MAX);
        let mut group = Group::new(last_delivered, entries_read);
        let pending = self.count(36)?;
        for _ in 0..pending {
            let id = self.id()?;
            let consumer = self.bytes()?;
            let (delivered_ms, deliveries) = (self.u64()?, self.u64()?);
            group.pel.insert(id, Pending { consumer, delivered_ms, deliveries });
        }
        let consumers = self.count(12)?;
        for _ in 0..consumers {
            let name = self.bytes()?;
            group.consumers.insert(name, Consumer { seen_ms: self.u64()?, ..Consumer::default() });
        }
        for (id, pending) in &group.pel {
            let owner = group
                .consumers
                .get_mut(&pending.consumer)
                .ok_or(SnapshotError("pending entry without its consumer"))?;
            owner.pending.insert(*id);
        }
        Ok(group)
    }

    fn value(&mut self) -> Result<Value, SnapshotError> {
        Ok(match self.u8()? {
            T_STR => Value::string_from(self.bytes()?),
            T_INT => Value::Int(self.u64()? as i64),
            T_HASH => {
                let n = self.count(8)?;
                let mut h = BTreeMap::new();
                for _ in 0..n {
                    let k = self.bytes()?;
                    h.insert(k, self.bytes()?);
                }
                Value::Hash(h)
            }
            T_SET => {
                let n = self.count(4)?;
                let mut s = BTreeSet::new();
                for _ in 0..n {
                    s.insert(self.bytes()?);
                }
                Value::Set(s)
            }
            T_LIST => {
                let n = self.count(4)?;
                let mut l = VecDeque::with_capacity(n);
                for _ in 0..n {
                    l.push_back(Elem::new(self.slice()?));
                }
                Value::List(l)
            }
            T_ZSET => {
                let n = self.count(12)?;
                let mut z = ZSet::new();
                for _ in 0..n {
                    let member = self.slice()?;
                    let score = f64::from_bits(self.u64()?);
                    if score.is_nan() {
                        return Err(SnapshotError("NaN score"));
                    }
                    z.insert(member, score);
                }
                Value::ZSet(Box::new(z))
            }
            T_STREAM => Value::Stream(Box::new(self.stream()?)),
            _ => return Err(SnapshotError("unknown value type")),
        })
    }
}
