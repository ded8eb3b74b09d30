//! Durable appends without the page cache: the open segment written with
//! `O_DIRECT | O_DSYNC`, one `pwrite` per group commit.
//!
//! With `fsync = always` every batch must reach the disk before its
//! callbacks run. A buffered write + fdatasync copies the batch into the
//! page cache, then has the kernel find, write back and wait for those
//! pages, and ask ext4 whether its journal must commit. A direct,
//! synchronous write sends the batch's blocks straight to the device and
//! returns once they (and, through `O_DSYNC`, a cache flush) are done.
//! Measured on this host's ext4 (`virtio` disk, 1,500-byte appends into a
//! zero-filled file): ~90 µs and ~50 µs of CPU per buffered write +
//! fdatasync, ~58 µs and ~25 µs per direct synchronous write.
//!
//! Direct I/O moves whole blocks: each append rewrites the partial block
//! it starts in (kept here, [`Direct::tail`]) and pads its last block with
//! zeros. Rewriting a block rewrites the bytes already acknowledged in it
//! with the same bytes, so a torn block write leaves them intact, and the
//! zeros past the end are what recovery expects after the open segment's
//! last record (the [`crate::prealloc`] filler writes the same).
//!
//! Invariant: `tail` holds the bytes of the file from the block boundary
//! at or below the written end up to that end, so the block written next
//! carries them unchanged.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

/// Alignment of direct I/O offsets, lengths and buffers: a page, which is
/// a multiple of every logical block size Linux supports.
pub const BLOCK: usize = 4096;

/// A segment opened for direct synchronous appends.
pub struct Direct {
    file: File,
    /// Backing store of the aligned window (`window_start..`).
    buf: Vec<u8>,
    window_start: usize,
    /// Bytes of the partial block at the written end (`< BLOCK`), at the
    /// window's start.
    tail: usize,
}

impl Direct {
    /// Opens `path` for direct appends at `written`, whose partial block is
    /// read through `buffered` (an open handle to the same file). Rewrites
    /// that block at once, which both checks that the file system takes
    /// direct I/O and leaves zeros up to the block's end. `None` when it
    /// does not (tmpfs, for one): the caller falls back to write +
    /// fdatasync, which is as durable.
    pub fn open(path: &Path, buffered: &File, written: u64) -> io::Result<Option<Direct>> {
        let opened = OpenOptions::new().write(true).custom_flags(libc::O_DIRECT | libc::O_DSYNC).open(path);
        let file = match opened {
            Ok(file) => file,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => return Ok(None),
            Err(e) => return Err(e),
        };
        let tail = (written % BLOCK as u64) as usize;
        let mut direct = Direct { file, buf: Vec::new(), window_start: 0, tail: 0 };
        direct.reserve(BLOCK);
        let window = &mut direct.buf[direct.window_start..];
        buffered.read_exact_at(&mut window[..tail], written - tail as u64)?;
        direct.tail = tail;
        match direct.write(&[], written, BLOCK) {
            Ok(()) => Ok(Some(direct)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The end of the blocks an append of `len` bytes at `written` writes:
    /// what the filler must keep clear of.
    pub fn written_end(written: u64, len: usize) -> u64 {
        (written + len as u64).next_multiple_of(BLOCK as u64)
    }

    /// Writes `data` at `written` (the end of what is in the file), with
    /// the partial block before it and zeros to the next block boundary,
    /// and returns once it is durable.
    pub fn append(&mut self, data: &[u8], written: u64) -> io::Result<()> {
        self.write(data, written, 0)
    }

    /// `append`, writing at least `min_len` bytes (whole blocks).
    fn write(&mut self, data: &[u8], written: u64, min_len: usize) -> io::Result<()> {
        assert_eq!((written % BLOCK as u64) as usize, self.tail, "the tail is the written end's partial block");
        let tail = self.tail;
        let end = tail + data.len();
        let padded = end.next_multiple_of(BLOCK).max(min_len);
        if padded == 0 {
            return Ok(());
        }
        self.reserve(padded);
        let window = &mut self.buf[self.window_start..];
        window[tail..end].copy_from_slice(data);
        window[end..padded].fill(0);
        self.file.write_all_at(&window[..padded], written - tail as u64)?;
        // The last partial block moves to the front for the next append.
        let last_block = end - end % BLOCK;
        window.copy_within(last_block..end, 0);
        self.tail = end % BLOCK;
        Ok(())
    }

    /// Makes the aligned window at least `len` bytes, keeping its first
    /// `tail` bytes.
    fn reserve(&mut self, len: usize) {
        if self.buf.len() < self.window_start + len {
            let mut grown = vec![0u8; len.next_multiple_of(BLOCK) + 2 * BLOCK];
            let start = grown.as_ptr().align_offset(BLOCK);
            grown[start..start + self.tail]
                .copy_from_slice(&self.buf[self.window_start..self.window_start + self.tail]);
            self.buf = grown;
            self.window_start = start;
        }
        debug_assert_eq!(self.buf[self.window_start..].as_ptr() as usize % BLOCK, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory on a file system that takes direct I/O: the temp dir,
    /// or if that is tmpfs the package's own (cargo runs unit tests there).
    fn direct_capable_dir() -> tempfile::TempDir {
        let takes_direct_io = |dir: &tempfile::TempDir| {
            let path = dir.path().join("probe");
            let file = OpenOptions::new().create(true).truncate(true).read(true).write(true).open(&path);
            Direct::open(&path, &file.expect("create"), 0).expect("open").is_some()
        };
        let temp = tempfile::tempdir().expect("tempdir");
        if takes_direct_io(&temp) {
            return temp;
        }
        let here = tempfile::tempdir_in(".").expect("tempdir here");
        assert!(takes_direct_io(&here), "no file system here takes O_DIRECT: the direct path is untested");
        here
    }

    #[test]
    fn appends_keep_every_byte_and_pad_with_zeros() {
        let dir = direct_capable_dir();
        let path = dir.path().join("seg");
        std::fs::write(&path, b"0123456789abcdef").expect("header");
        let buffered = OpenOptions::new().read(true).write(true).open(&path).expect("open");
        let mut written = 16u64;
        let Some(mut direct) = Direct::open(&path, &buffered, written).expect("open") else {
            panic!("no direct I/O in {}", dir.path().display());
        };
        let mut expected = b"0123456789abcdef".to_vec();
        // Sizes that stay within a block, end on a boundary, and span several.
        for (i, len) in [10usize, 4070, 1, 4096, 9000, 0, 3].into_iter().enumerate() {
            let data = vec![i as u8 + 1; len];
            direct.append(&data, written).expect("append");
            written += len as u64;
            expected.extend_from_slice(&data);
            let on_disk = std::fs::read(&path).expect("read");
            assert_eq!(&on_disk[..expected.len()], &expected[..], "after append {i}");
            assert_eq!(on_disk.len() as u64, Direct::written_end(written, 0).max(BLOCK as u64));
            assert!(on_disk[expected.len()..].iter().all(|b| *b == 0), "zeros past the end");
        }
    }

    #[test]
    fn the_written_end_is_the_next_block_boundary() {
        assert_eq!(Direct::written_end(0, 1), 4096);
        assert_eq!(Direct::written_end(4096, 0), 4096);
        assert_eq!(Direct::written_end(4000, 96), 4096);
        assert_eq!(Direct::written_end(4000, 97), 8192);
    }
}
