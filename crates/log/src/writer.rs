//! The group-commit writer: one OS thread per node. It blocks for the first
//! request, drains whatever else is queued, and makes the whole batch
//! durable with one direct synchronous write ([`crate::direct`]; or one
//! write and one fdatasync where the file system takes no direct I/O, and
//! in interval mode), then runs every callback. No timer is involved: a
//! lone request is written at once, and batches grow by themselves while
//! the disk is busy.

use crate::direct::Direct;
use crate::prealloc::Filler;
use crate::record::Record;
use crate::segment::{self, Pins};
use crate::{Done, FsyncMode, LogError, Shared};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::mpsc;

pub enum Request {
    Append {
        records: Vec<Record>,
        done: Done,
    },
    /// Interval mode: fsync now if anything is unsynced.
    Sync,
}

pub struct Writer {
    pub dir: PathBuf,
    pub fsync: FsyncMode,
    pub segment_bytes: u64,
    pub max_batch_bytes: usize,
    pub shared: Arc<Shared>,
    pub file: File,
    /// `file` opened for direct synchronous appends (`fsync = always`,
    /// where the file system takes them).
    pub direct: Option<Direct>,
    /// Zero-fills `file` ahead of `written` (none while rolling).
    pub fill: Option<Filler>,
    pub seq: u64,
    pub written: u64,
    pub pins: Pins,
    pub closed: BTreeMap<u64, Pins>,
    pub sticky: BTreeMap<(u32, u8), Vec<u8>>,
    pub buf: Vec<u8>,
    pub unsynced: bool,
    pub last_sync: Instant,
}

impl Writer {
    pub fn run(mut self, mut rx: mpsc::Receiver<Request>) {
        let mut dones: Vec<Done> = Vec::new();
        while let Some(first) = rx.blocking_recv() {
            self.buf.clear();
            self.take(first, &mut dones);
            self.drain(&mut rx, &mut dones);
            let result = self.commit();
            for done in dones.drain(..) {
                done(result.clone());
            }
            if result.is_ok() {
                self.maintain();
            }
        }
        // A clean close leaves the segment ending at its last record.
        self.fill = None;
        let _ = self.file.set_len(self.written);
        let _ = self.file.sync_all();
    }

    fn drain(&mut self, rx: &mut mpsc::Receiver<Request>, dones: &mut Vec<Done>) {
        while self.buf.len() < self.max_batch_bytes {
            match rx.try_recv() {
                Ok(next) => self.take(next, dones),
                Err(_) => break,
            }
        }
    }

    fn take(&mut self, request: Request, dones: &mut Vec<Done>) {
        let Request::Append { records, done } = request else { return };
        for record in &records {
            record.encode_into(&mut self.buf);
            if record.sticky {
                let start = self.buf.len() - record.encoded_len();
                self.sticky.insert((record.partition, record.kind), self.buf[start..].to_vec());
            } else {
                self.pins.note(record.partition, record.index);
            }
        }
        self.shared.stats.records.fetch_add(records.len() as u64, Relaxed);
        dones.push(done);
    }

    /// Writes the batch and makes it durable per the fsync mode.
    fn commit(&mut self) -> Result<(), LogError> {
        if let Some(reason) = self.shared.poisoned() {
            return Err(LogError::Poisoned(reason));
        }
        if !self.buf.is_empty() {
            if let Err(e) = self.write_batch() {
                return Err(self.shared.poison(format!("log write failed: {e}")));
            }
        }
        let due = match self.fsync {
            FsyncMode::Always => self.unsynced,
            FsyncMode::Interval(every) => self.unsynced && self.last_sync.elapsed() >= every,
        };
        if due {
            if let Err(e) = self.sync() {
                return Err(self.shared.poison(format!("fdatasync failed: {e}")));
            }
        }
        Ok(())
    }

    fn write_batch(&mut self) -> std::io::Result<()> {
        let len = self.buf.len();
        match &mut self.direct {
            Some(direct) => {
                if let Some(fill) = &self.fill {
                    fill.claim(Direct::written_end(self.written, len));
                }
                injected_failure(&self.shared)?;
                direct.append(&self.buf, self.written)?;
                self.shared.stats.fsyncs.fetch_add(1, Relaxed);
            }
            None => {
                if let Some(fill) = &self.fill {
                    fill.claim(self.written + len as u64);
                }
                self.file.write_all_at(&self.buf, self.written)?;
                self.unsynced = true;
            }
        }
        self.written += len as u64;
        self.shared.stats.batches.fetch_add(1, Relaxed);
        self.shared.stats.bytes.fetch_add(self.buf.len() as u64, Relaxed);
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        injected_failure(&self.shared)?;
        fdatasync(&self.file)?;
        self.unsynced = false;
        self.last_sync = Instant::now();
        self.shared.stats.fsyncs.fetch_add(1, Relaxed);
        Ok(())
    }

    /// Rolls to a new segment when this one is full, and deletes closed
    /// segments whose records are all released.
    fn maintain(&mut self) {
        if self.written >= self.segment_bytes && !self.unsynced {
            if let Err(e) = self.roll() {
                self.shared.poison(format!("cannot start a new log segment: {e}"));
                return;
            }
        }
        // Most batches close no segment: skip the release bookkeeping (a
        // lock and a map copy) and the directory fsync unless there is a
        // closed segment that might go.
        if self.closed.is_empty() {
            return self.shared.stats.segments.store(1, Relaxed);
        }
        let released: HashMap<u32, u64> = self.shared.released.lock().map(|r| r.clone()).unwrap_or_default();
        let deletable: Vec<u64> =
            self.closed.iter().filter(|(_, pins)| pins.released_by(&released)).map(|(seq, _)| *seq).collect();
        let mut deleted = false;
        for seq in deletable {
            let path = segment::path_of(&self.dir, seq);
            match std::fs::remove_file(&path) {
                Ok(()) => {
                    self.closed.remove(&seq);
                    deleted = true;
                    tracing::debug!(path = %path.display(), "deleted released log segment");
                }
                Err(e) => tracing::warn!(path = %path.display(), error = %e, "cannot delete log segment"),
            }
        }
        if deleted {
            let _ = segment::sync_dir(&self.dir);
        }
        self.shared.stats.segments.store(self.closed.len() as u64 + 1, Relaxed);
    }

    /// Closes the segment at its last record (cutting the zeros filled
    /// ahead: a closed segment ends where its records do, so recovery can
    /// tell a zeroed tail there from the open segment's) and opens the next.
    fn roll(&mut self) -> std::io::Result<()> {
        let initial: Vec<u8> = self.sticky.values().flatten().copied().collect();
        let seq = self.seq + 1;
        let start = (segment::SEGMENT_HEADER_LEN + initial.len()) as u64;
        // Stop the old filler before cutting what it filled.
        self.fill = None;
        self.file.set_len(self.written)?;
        self.file.sync_all()?;
        let file = segment::create(&self.dir, seq, &initial)?;
        // Direct before the filler: its first block write must not race
        // the filler's zeros into the same page.
        self.direct = match self.direct.take() {
            Some(_) => Direct::open(&segment::path_of(&self.dir, seq), &file, start)?,
            None => None,
        };
        self.shared.stats.direct.store(u64::from(self.direct.is_some()), Relaxed);
        self.fill = Some(Filler::start(&file, start, self.segment_bytes)?);
        let old = std::mem::take(&mut self.pins);
        self.closed.insert(self.seq, old);
        self.file = file;
        self.seq = seq;
        self.written = start;
        Ok(())
    }
}

/// The test hook (`Log::inject_fsync_failure`): the step that makes the
/// next batch durable fails as the disk would.
fn injected_failure(shared: &Shared) -> std::io::Result<()> {
    match shared.inject_fsync_failure.swap(false, Relaxed) {
        true => Err(std::io::Error::other("injected fsync failure")),
        false => Ok(()),
    }
}

fn fdatasync(file: &File) -> std::io::Result<()> {
    // SAFETY: fdatasync on a file descriptor this File owns.
    if unsafe { libc::fdatasync(file.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
