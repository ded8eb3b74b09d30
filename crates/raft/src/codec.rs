//! Raft entries, votes and markers as node-log records.
//!
//! The node log (`weir-log`) stores opaque bodies tagged with a partition, a
//! kind and an index. This module owns the body formats. Every decode is
//! bounded by the body it is given and fails with [`DecodeError`] rather than
//! trusting a length (the log's checksum already caught torn or flipped bytes,
//! so a failure here means a format bug, and recovery must stop).

use crate::types::{Entry, LogId, Membership, Vote};
use bytes::{BufMut, Bytes, BytesMut};
use openraft::{BasicNode, CommittedLeaderId, EntryPayload};
use std::collections::{BTreeMap, BTreeSet};

/// A Raft log entry. The record's `index` is the entry's log index.
pub const KIND_ENTRY: u8 = 1;
/// The latest vote (sticky: rewritten at the head of every log segment).
pub const KIND_VOTE: u8 = 2;
/// Entries from `index` on are gone (a follower's conflicting suffix).
pub const KIND_TRUNCATE: u8 = 4;
/// Entries up to `index` are covered by a snapshot (sticky).
pub const KIND_PURGE: u8 = 5;

const PAYLOAD_BLANK: u8 = 0;
const PAYLOAD_NORMAL: u8 = 1;
const PAYLOAD_MEMBERSHIP: u8 = 2;

/// Membership lists are tiny; a larger count means a corrupt body.
const MAX_MEMBERS: u64 = 1024;
const MAX_ADDR_LEN: u64 = 4096;

#[derive(Debug, thiserror::Error)]
#[error("malformed {what} record: {reason}")]
pub struct DecodeError {
    pub what: &'static str,
    pub reason: &'static str,
}

pub fn encode_entry(entry: &Entry) -> Bytes {
    let mut out = BytesMut::with_capacity(32 + payload_len_hint(entry));
    put_log_id(&mut out, &entry.log_id);
    match &entry.payload {
        EntryPayload::Blank => out.put_u8(PAYLOAD_BLANK),
        EntryPayload::Normal(request) => {
            out.put_u8(PAYLOAD_NORMAL);
            out.put_slice(&request.0);
        }
        EntryPayload::Membership(membership) => {
            out.put_u8(PAYLOAD_MEMBERSHIP);
            put_membership(&mut out, membership);
        }
    }
    out.freeze()
}

fn payload_len_hint(entry: &Entry) -> usize {
    match &entry.payload {
        EntryPayload::Normal(request) => request.0.len(),
        _ => 64,
    }
}

/// Decodes an entry. `body` is a `Bytes` so a normal payload is a zero-copy
/// slice of it.
pub fn decode_entry(body: &Bytes) -> Result<Entry, DecodeError> {
    let mut r = Reader::new(body, "entry");
    let log_id = r.log_id()?;
    let payload = match r.u8()? {
        PAYLOAD_BLANK => EntryPayload::Blank,
        PAYLOAD_NORMAL => EntryPayload::Normal(crate::types::Request(body.slice(r.pos..))),
        PAYLOAD_MEMBERSHIP => EntryPayload::Membership(r.membership()?),
        _ => return Err(r.fail("unknown payload tag")),
    };
    Ok(Entry { log_id, payload })
}

pub fn encode_vote(vote: &Vote) -> Bytes {
    let mut out = BytesMut::with_capacity(17);
    out.put_u64_le(vote.leader_id.term);
    out.put_u64_le(vote.leader_id.node_id);
    out.put_u8(u8::from(vote.committed));
    out.freeze()
}

pub fn decode_vote(body: &[u8]) -> Result<Vote, DecodeError> {
    let mut r = Reader::new(body, "vote");
    let term = r.u64()?;
    let node = r.u64()?;
    let committed = r.u8()? != 0;
    Ok(if committed { Vote::new_committed(term, node) } else { Vote::new(term, node) })
}

/// An optional log id (purge markers, snapshot metadata).
pub fn encode_log_id(log_id: Option<&LogId>) -> Bytes {
    let mut out = BytesMut::with_capacity(25);
    match log_id {
        None => out.put_u8(0),
        Some(id) => {
            out.put_u8(1);
            put_log_id(&mut out, id);
        }
    }
    out.freeze()
}

pub fn decode_log_id(body: &[u8]) -> Result<Option<LogId>, DecodeError> {
    let mut r = Reader::new(body, "log id");
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.log_id()?)),
        _ => Err(r.fail("bad option tag")),
    }
}

fn put_log_id(out: &mut BytesMut, id: &LogId) {
    out.put_u64_le(id.leader_id.term);
    out.put_u64_le(id.leader_id.node_id);
    out.put_u64_le(id.index);
}

pub fn put_membership(out: &mut BytesMut, membership: &Membership) {
    let configs = membership.get_joint_config();
    out.put_u64_le(configs.len() as u64);
    for config in configs {
        out.put_u64_le(config.len() as u64);
        for id in config {
            out.put_u64_le(*id);
        }
    }
    let nodes: Vec<_> = membership.nodes().collect();
    out.put_u64_le(nodes.len() as u64);
    for (id, node) in nodes {
        out.put_u64_le(*id);
        out.put_u64_le(node.addr.len() as u64);
        out.put_slice(node.addr.as_bytes());
    }
}

/// A bounds-checked little-endian reader.
pub struct Reader<'a> {
    data: &'a [u8],
    pub pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub fn new(data: &'a [u8], what: &'static str) -> Reader<'a> {
        Reader { data, pos: 0, what }
    }

    pub fn fail(&self, reason: &'static str) -> DecodeError {
        DecodeError { what: self.what, reason }
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(n).ok_or_else(|| self.fail("length overflow"))?;
        let bytes = self.data.get(self.pos..end).ok_or_else(|| self.fail("truncated"))?;
        self.pos = end;
        Ok(bytes)
    }

    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        let bytes = self.take(8)?;
        let mut buf = [0u8; 8];
        buf.copy_from_slice(bytes);
        Ok(u64::from_le_bytes(buf))
    }

    /// A count that must not exceed `max` (so it cannot drive an allocation).
    pub fn count(&mut self, max: u64) -> Result<usize, DecodeError> {
        let n = self.u64()?;
        if n > max {
            return Err(self.fail("count over limit"));
        }
        usize::try_from(n).map_err(|_| self.fail("count over limit"))
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.data[self.pos..]
    }

    pub fn log_id(&mut self) -> Result<LogId, DecodeError> {
        let term = self.u64()?;
        let node = self.u64()?;
        let index = self.u64()?;
        Ok(LogId::new(CommittedLeaderId::new(term, node), index))
    }

    pub fn membership(&mut self) -> Result<Membership, DecodeError> {
        let config_count = self.count(MAX_MEMBERS)?;
        let mut configs = Vec::with_capacity(config_count);
        for _ in 0..config_count {
            let n = self.count(MAX_MEMBERS)?;
            let mut ids = BTreeSet::new();
            for _ in 0..n {
                ids.insert(self.u64()?);
            }
            configs.push(ids);
        }
        let node_count = self.count(MAX_MEMBERS)?;
        let mut nodes = BTreeMap::new();
        for _ in 0..node_count {
            let id = self.u64()?;
            let len = self.count(MAX_ADDR_LEN)?;
            let addr = std::str::from_utf8(self.take(len)?).map_err(|_| self.fail("address is not UTF-8"))?;
            nodes.insert(id, BasicNode { addr: addr.to_string() });
        }
        Ok(Membership::new(configs, nodes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Request;

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 7), index)
    }

    #[test]
    fn entries_round_trip() {
        let members = Membership::new(
            vec![BTreeSet::from([1, 2])],
            BTreeMap::from([(1, BasicNode { addr: "a:1".into() }), (2, BasicNode { addr: "b:2".into() })]),
        );
        let entries = [
            Entry { log_id: log_id(1, 1), payload: EntryPayload::Blank },
            Entry { log_id: log_id(2, 9), payload: EntryPayload::Normal(Request(Bytes::from_static(b"xyz"))) },
            Entry { log_id: log_id(3, 10), payload: EntryPayload::Membership(members) },
        ];
        for entry in entries {
            let decoded = decode_entry(&encode_entry(&entry)).expect("decodes");
            assert_eq!(decoded.log_id, entry.log_id);
            assert_eq!(format!("{:?}", decoded.payload), format!("{:?}", entry.payload));
        }
    }

    #[test]
    fn votes_and_log_ids_round_trip() {
        for vote in [Vote::new(3, 1), Vote::new_committed(4, 2)] {
            assert_eq!(decode_vote(&encode_vote(&vote)).expect("decodes"), vote);
        }
        let id = log_id(5, 6);
        assert_eq!(decode_log_id(&encode_log_id(Some(&id))).expect("decodes"), Some(id));
        assert_eq!(decode_log_id(&encode_log_id(None)).expect("decodes"), None);
    }

    #[test]
    fn truncated_bodies_fail_without_panicking() {
        let entry = Entry { log_id: log_id(1, 1), payload: EntryPayload::Blank };
        let bytes = encode_entry(&entry);
        for cut in 0..bytes.len() {
            assert!(decode_entry(&bytes.slice(..cut)).is_err());
        }
        let mut huge = BytesMut::new();
        put_log_id(&mut huge, &log_id(1, 1));
        huge.put_u8(PAYLOAD_MEMBERSHIP);
        huge.put_u64_le(u64::MAX);
        assert!(decode_entry(&huge.freeze()).is_err());
    }
}
