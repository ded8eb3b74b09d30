//! Segment files: `DIR/<20-digit sequence>.wal`, each starting with a
//! 16-byte header (magic, sequence).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const MAGIC: &[u8; 8] = b"WEIRLOG1";
pub const SEGMENT_HEADER_LEN: usize = 16;

pub fn path_of(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.wal"))
}

/// Segment sequence numbers present in `dir`, ascending.
pub fn list(dir: &Path) -> io::Result<Vec<u64>> {
    let mut seqs = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(seq) = name.strip_suffix(".wal").and_then(|s| s.parse().ok()) {
            seqs.push(seq);
        }
    }
    seqs.sort_unstable();
    Ok(seqs)
}

pub fn header(seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[..8].copy_from_slice(MAGIC);
    h[8..].copy_from_slice(&seq.to_le_bytes());
    h
}

/// Creates a segment holding its header and `initial` bytes, durably
/// (file and directory fsynced) before any append is acknowledged in it.
/// Not in append mode: the writer writes at its offset, into blocks the
/// [`crate::prealloc`] filler may have zeroed ahead of it.
pub fn create(dir: &Path, seq: u64, initial: &[u8]) -> io::Result<File> {
    let path = path_of(dir, seq);
    let mut file = OpenOptions::new().create_new(true).read(true).write(true).open(&path)?;
    file.write_all(&header(seq))?;
    file.write_all(initial)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// What pins a closed segment: the highest non-sticky index per partition.
#[derive(Debug, Default, Clone)]
pub struct Pins {
    pub max_index: HashMap<u32, u64>,
}

impl Pins {
    pub fn note(&mut self, partition: u32, index: u64) {
        let max = self.max_index.entry(partition).or_insert(index);
        *max = (*max).max(index);
    }

    /// True when every partition released everything this segment holds.
    pub fn released_by(&self, released: &HashMap<u32, u64>) -> bool {
        self.max_index.iter().all(|(p, max)| released.get(p).is_some_and(|r| r >= max))
    }
}
