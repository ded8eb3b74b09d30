//! Replaying the log at startup, failing closed.
//!
//! A bad record with no valid record anywhere after it, in the last
//! segment, is a torn write: it is cut off with a warning. Zeros to the end
//! of the last segment are the room filled ahead of the writer: cut off
//! quietly (closed segments end at their last record, so zeros there are
//! corruption). Any other bad record is corruption: startup fails naming
//! the file and the offset.

use crate::record::{self, RecordRef};
use crate::segment::{self, Pins, MAGIC, SEGMENT_HEADER_LEN};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum OpenError<E: std::error::Error> {
    #[error("log {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("log corrupt: {path} at offset {offset}: {reason}; refusing to start on a partial state")]
    Corrupt { path: PathBuf, offset: u64, reason: String },
    #[error("replaying {path} at offset {offset}: {source}")]
    Replay { path: PathBuf, offset: u64, source: E },
}

/// What replay learned, for the writer to carry on from.
pub struct Recovered {
    pub next_seq: u64,
    /// Closed segments and what pins them.
    pub segments: BTreeMap<u64, Pins>,
    /// Latest sticky record per (partition, kind), already encoded.
    pub sticky: BTreeMap<(u32, u8), Vec<u8>>,
}

pub fn replay<E: std::error::Error>(
    dir: &Path,
    mut visit: impl FnMut(RecordRef<'_>) -> Result<(), E>,
) -> Result<Recovered, OpenError<E>> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| OpenError::Io { path, source }
    };
    let seqs = segment::list(dir).map_err(io(dir))?;
    let mut recovered = Recovered { next_seq: 1, segments: BTreeMap::new(), sticky: BTreeMap::new() };
    for (i, &seq) in seqs.iter().enumerate() {
        let path = segment::path_of(dir, seq);
        let last = i + 1 == seqs.len();
        let data = fs::read(&path).map_err(io(&path))?;
        let pins = replay_segment(&path, &data, last, &mut recovered, &mut visit)?;
        recovered.segments.insert(seq, pins);
        recovered.next_seq = seq + 1;
    }
    Ok(recovered)
}

fn corrupt<E: std::error::Error>(path: &Path, offset: usize, reason: impl Into<String>) -> OpenError<E> {
    OpenError::Corrupt { path: path.to_path_buf(), offset: offset as u64, reason: reason.into() }
}

fn replay_segment<E: std::error::Error>(
    path: &Path,
    data: &[u8],
    last: bool,
    recovered: &mut Recovered,
    visit: &mut impl FnMut(RecordRef<'_>) -> Result<(), E>,
) -> Result<Pins, OpenError<E>> {
    if data.len() < SEGMENT_HEADER_LEN || &data[..8] != MAGIC {
        if last && data.len() < SEGMENT_HEADER_LEN {
            // Crashed while creating the segment: nothing in it was acknowledged.
            tracing::warn!(path = %path.display(), "truncating a segment torn at creation");
            truncate(path, 0)?;
            return Ok(Pins::default());
        }
        return Err(corrupt(path, 0, "bad segment header"));
    }
    let mut pins = Pins::default();
    let mut at = SEGMENT_HEADER_LEN;
    while at < data.len() {
        match record::parse(&data[at..]) {
            Ok((rec, len)) => {
                visit(rec).map_err(|source| OpenError::Replay {
                    path: path.to_path_buf(),
                    offset: at as u64,
                    source,
                })?;
                if rec.sticky {
                    recovered.sticky.insert((rec.partition, rec.kind), data[at..at + len].to_vec());
                } else {
                    pins.note(rec.partition, rec.index);
                }
                at += len;
            }
            Err(_) if last && data[at..].iter().all(|b| *b == 0) => {
                // The open segment's preallocated rest: cut, so that once
                // a newer segment exists this one ends at its last record.
                truncate(path, at as u64)?;
                break;
            }
            Err(why) => {
                if !last || valid_record_after(data, at) {
                    return Err(corrupt(path, at, format!("{why:?}")));
                }
                tracing::warn!(path = %path.display(), offset = at, reason = ?why, "truncating a torn final record");
                truncate(path, at as u64)?;
                break;
            }
        }
    }
    Ok(pins)
}

/// Whether any valid record starts after `at` (only on the error path).
fn valid_record_after(data: &[u8], at: usize) -> bool {
    (at + 1..data.len()).any(|i| record::parse(&data[i..]).is_ok())
}

fn truncate<E: std::error::Error>(path: &Path, len: u64) -> Result<(), OpenError<E>> {
    let io = |source| OpenError::Io { path: path.to_path_buf(), source };
    let file = fs::OpenOptions::new().write(true).open(path).map_err(io)?;
    file.set_len(len).map_err(io)?;
    file.sync_all().map_err(io)
}
