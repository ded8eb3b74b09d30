//! The data folder: its layout, its metadata, and the lock that keeps two
//! nodes from sharing it.
//!
//! ```text
//! DIR/weir.meta                    format version, partition count, node id
//! DIR/LOCK                         flock'ed while a node runs
//! DIR/log/*.wal                    the node log (all partitions)
//! DIR/snapshots/partition-N.snap   each partition's latest snapshot
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

const META_FILE: &str = "weir.meta";
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("data folder {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("data folder {0} is in use by another weir process")]
    Locked(PathBuf),
    #[error("{path} is malformed: {reason}")]
    Meta { path: PathBuf, reason: String },
}

/// What the folder was created with; fixed for its lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub partitions: u32,
    pub node_id: u64,
}

/// An open, locked data folder. The lock is released on drop.
pub struct DataDir {
    pub root: PathBuf,
    pub meta: Meta,
    _lock: File,
}

impl DataDir {
    /// Opens `root`, creating it with `fresh` settings if it is new.
    pub fn open(root: &Path, fresh: Meta) -> Result<DataDir, DataDirError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| DataDirError::Io { path, source }
        };
        for dir in [root.to_path_buf(), root.join("log"), root.join("snapshots")] {
            fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        }
        let lock_path = root.join("LOCK");
        let lock =
            OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).map_err(io_err(&lock_path))?;
        // SAFETY: flock on a file descriptor we own; no memory is involved.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(DataDirError::Locked(root.to_path_buf()));
        }
        let meta_path = root.join(META_FILE);
        let meta = match fs::read_to_string(&meta_path) {
            Ok(text) => parse_meta(&text).map_err(|reason| DataDirError::Meta { path: meta_path.clone(), reason })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_meta(&meta_path, fresh).map_err(io_err(&meta_path))?;
                fresh
            }
            Err(e) => return Err(io_err(&meta_path)(e)),
        };
        Ok(DataDir { root: root.to_path_buf(), meta, _lock: lock })
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.join("log")
    }

    pub fn snapshot_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
}

fn write_meta(path: &Path, meta: Meta) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut file = File::create(&tmp)?;
    write!(file, "format={FORMAT_VERSION}\npartitions={}\nnode_id={}\n", meta.partitions, meta.node_id)?;
    file.sync_all()?;
    fs::rename(&tmp, path)?;
    File::open(path.parent().unwrap_or(Path::new(".")))?.sync_all()
}

fn parse_meta(text: &str) -> Result<Meta, String> {
    let mut format = None;
    let mut partitions = None;
    let mut node_id = None;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (key, value) = line.split_once('=').ok_or_else(|| format!("bad line {line:?}"))?;
        let number: u64 = value.trim().parse().map_err(|_| format!("bad number in {line:?}"))?;
        match key.trim() {
            "format" => format = Some(number),
            "partitions" => partitions = Some(number),
            "node_id" => node_id = Some(number),
            other => return Err(format!("unknown key {other:?}")),
        }
    }
    if format != Some(u64::from(FORMAT_VERSION)) {
        return Err(format!("unsupported format {format:?}"));
    }
    let partitions = partitions.filter(|p| (1..=u64::from(u16::MAX)).contains(p)).ok_or("missing or bad partitions")?;
    Ok(Meta { partitions: partitions as u32, node_id: node_id.ok_or("missing node_id")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_fixed() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let first = DataDir::open(tmp.path(), Meta { partitions: 4, node_id: 1 }).expect("opens");
        assert_eq!(first.meta.partitions, 4);
        assert!(matches!(DataDir::open(tmp.path(), Meta { partitions: 8, node_id: 1 }), Err(DataDirError::Locked(_))));
        drop(first);
        let again = DataDir::open(tmp.path(), Meta { partitions: 8, node_id: 1 }).expect("reopens");
        assert_eq!(again.meta.partitions, 4, "the partition count is fixed at creation");
    }
}
