//! Checksummed snapshot files, one per partition.
//!
//! Layout: magic, format version, crc32c of the payload, payload length, then
//! the payload: snapshot metadata followed by the partition's encoded `Db`.
//! A file is written to a temporary name, fsynced, renamed into place, and
//! the directory fsynced, so a crash leaves either the old or the new file.
//! A file that fails its checksum stops startup (fail closed).

use crate::codec::{self, Reader};
use crate::types::{LogId, StoredMembership};
use bytes::{BufMut, BytesMut};
use openraft::SnapshotMeta;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"WEIRSNAP";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 4 + 8;
/// Snapshot ids are short strings we generate; a longer one is corruption.
const MAX_ID_LEN: u64 = 256;

pub type Meta = SnapshotMeta<u64, openraft::BasicNode>;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("snapshot {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("snapshot {path} is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
}

/// Where one partition keeps its latest snapshot.
#[derive(Clone)]
pub struct SnapshotFile {
    path: PathBuf,
}

impl SnapshotFile {
    pub fn new(dir: &Path, partition: u32) -> SnapshotFile {
        SnapshotFile { path: dir.join(format!("partition-{partition:04}.snap")) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `meta` and `db` atomically, `db` from where it lies, never
    /// copied: a snapshot is as large as the partition's state.
    pub fn save(&self, meta: &Meta, db: &[u8]) -> Result<(), SnapshotFileError> {
        let meta_bytes = encode_meta(meta);
        let payload_len = meta_bytes.len() + db.len();
        let crc = crc32c::crc32c_append(crc32c::crc32c(&meta_bytes), db);
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&crc.to_le_bytes());
        header.extend_from_slice(&(payload_len as u64).to_le_bytes());
        debug_assert_eq!(header.len(), HEADER_LEN);
        self.write_atomically(&[&header, &meta_bytes, db])
            .map_err(|source| SnapshotFileError::Io { path: self.path.clone(), source })
    }

    fn write_atomically(&self, parts: &[&[u8]]) -> io::Result<()> {
        let tmp = self.path.with_extension("snap.tmp");
        let mut file = File::create(&tmp)?;
        for part in parts {
            file.write_all(part)?;
        }
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, &self.path)?;
        let dir = self.path.parent().unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }

    /// Loads the snapshot: `None` if there is none yet.
    pub fn load(&self) -> Result<Option<(Meta, Vec<u8>)>, SnapshotFileError> {
        let mut bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SnapshotFileError::Io { path: self.path.clone(), source }),
        };
        let corrupt = |reason: String| SnapshotFileError::Corrupt { path: self.path.clone(), reason };
        let payload = check_header(&bytes).map_err(corrupt)?;
        let (meta, db_start) = decode_meta(payload).map_err(|e| corrupt(e.to_string()))?;
        // The state stays where it was read: only the header moves out.
        bytes.drain(..HEADER_LEN + db_start);
        Ok(Some((meta, bytes)))
    }
}

fn check_header(bytes: &[u8]) -> Result<&[u8], String> {
    if bytes.len() < HEADER_LEN || &bytes[..8] != MAGIC {
        return Err("bad header".into());
    }
    let word = |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    if word(8) != VERSION {
        return Err(format!("unknown format version {}", word(8)));
    }
    let mut len = [0u8; 8];
    len.copy_from_slice(&bytes[16..24]);
    let payload = &bytes[HEADER_LEN..];
    if u64::from_le_bytes(len) != payload.len() as u64 {
        return Err("length does not match the file size".into());
    }
    if crc32c::crc32c(payload) != word(12) {
        return Err("checksum mismatch".into());
    }
    Ok(payload)
}

/// The payload's first part; the encoded `Db` follows it.
fn encode_meta(meta: &Meta) -> BytesMut {
    let mut out = BytesMut::with_capacity(256);
    out.put_slice(&codec::encode_log_id(meta.last_log_id.as_ref()));
    out.put_slice(&codec::encode_log_id(meta.last_membership.log_id().as_ref()));
    codec::put_membership(&mut out, meta.last_membership.membership());
    out.put_u64_le(meta.snapshot_id.len() as u64);
    out.put_slice(meta.snapshot_id.as_bytes());
    out
}

fn decode_meta(payload: &[u8]) -> Result<(Meta, usize), codec::DecodeError> {
    let mut r = Reader::new(payload, "snapshot meta");
    let last_log_id = optional_log_id(&mut r)?;
    let membership_log_id = optional_log_id(&mut r)?;
    let membership = r.membership()?;
    let id_len = r.count(MAX_ID_LEN)?;
    let snapshot_id = String::from_utf8(r.take(id_len)?.to_vec()).map_err(|_| r.fail("snapshot id is not UTF-8"))?;
    let meta = Meta { last_log_id, last_membership: StoredMembership::new(membership_log_id, membership), snapshot_id };
    Ok((meta, r.pos))
}

fn optional_log_id(r: &mut Reader<'_>) -> Result<Option<LogId>, codec::DecodeError> {
    match r.u8()? {
        0 => Ok(None),
        1 => Ok(Some(r.log_id()?)),
        _ => Err(r.fail("bad option tag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Membership;
    use openraft::{BasicNode, CommittedLeaderId};
    use std::collections::{BTreeMap, BTreeSet};

    fn meta() -> Meta {
        let id = LogId::new(CommittedLeaderId::new(2, 1), 40);
        let membership = Membership::new(
            vec![BTreeSet::from([1])],
            BTreeMap::from([(1, BasicNode { addr: "127.0.0.1:6379".into() })]),
        );
        Meta {
            last_log_id: Some(id),
            last_membership: StoredMembership::new(Some(id), membership),
            snapshot_id: "2-40-1".into(),
        }
    }

    #[test]
    fn save_then_load() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = SnapshotFile::new(dir.path(), 3);
        assert!(file.load().expect("no snapshot yet").is_none());
        file.save(&meta(), b"database bytes").expect("saves");
        let (loaded, db) = file.load().expect("loads").expect("present");
        assert_eq!(loaded, meta());
        assert_eq!(db, b"database bytes");
    }

    #[test]
    fn a_flipped_byte_fails_closed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = SnapshotFile::new(dir.path(), 0);
        file.save(&meta(), b"database bytes").expect("saves");
        let mut bytes = fs::read(file.path()).expect("read");
        let last = bytes.len() - 3;
        bytes[last] ^= 0x40;
        fs::write(file.path(), &bytes).expect("write");
        let err = file.load().expect_err("corrupt");
        assert!(err.to_string().contains("checksum"), "{err}");
    }
}
