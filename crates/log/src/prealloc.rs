//! Zero-filling the open segment ahead of the writer, on a thread of its
//! own.
//!
//! Appending to a file makes every fdatasync flush metadata too (the new
//! size, the new blocks) besides the data. Writing into blocks that were
//! already written and synced, within the file's size, leaves only the data
//! to flush: measured here, the group commit's write + fdatasync went from
//! ~270 to ~210 µs, and LPUSH from 50 clients gained ~20%. (`fallocate`
//! alone is not enough: its unwritten extents still change on first write.)
//!
//! Invariant: the filler never writes zeros where the writer has written.
//! The writer claims `[.., end)` under the lock before it writes, and the
//! filler picks and writes its next range under the same lock, always at
//! or beyond every claim. If the filler falls behind, the writer simply
//! extends the file, as without preallocation: slower, never wrong.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// Zeros written per step (bounds how long the writer may wait for the
/// lock while the filler copies them into the page cache).
const CHUNK: u64 = 256 << 10;
/// How far ahead of the writer the filler keeps the segment prepared.
const AHEAD: u64 = 4 << 20;

#[derive(Debug, Default)]
struct State {
    /// Zeros written up to here (synced or about to be).
    filled: u64,
    /// The writer has written, or is writing, up to here.
    claimed: u64,
    stop: bool,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The filler of one segment; stopped (and joined) on drop.
pub struct Filler {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Filler {
    /// Starts filling `file` with zeros from `from` up to at most `limit`
    /// bytes, staying `AHEAD` of the writer's claims. A failure to fill
    /// only ends the filling: the writer's own writes are unaffected.
    pub fn start(file: &File, from: u64, limit: u64) -> std::io::Result<Filler> {
        let file = file.try_clone()?;
        let shared = Arc::new(Shared::default());
        {
            let mut state = shared.lock();
            state.filled = from;
            state.claimed = from;
        }
        let worker = shared.clone();
        let thread =
            std::thread::Builder::new().name("weir-log-fill".into()).spawn(move || fill(&worker, &file, limit))?;
        Ok(Filler { shared, thread: Some(thread) })
    }

    /// The writer is about to write up to `end`: the filler keeps out.
    ///
    /// The filler is notified at every claim, though it has work only once
    /// per chunk. Waking it only when a chunk behind was measured here
    /// (kernel 6.18, 2 vCPUs) at 0.89-0.91x for LPUSH from 50 clients
    /// without pipeline, with -P 16 unchanged: without these wake-ups the
    /// log thread reached its next append later (submit to log p90 ~500 µs
    /// against 35-120 µs), waiting for a core. Measure before changing it.
    pub fn claim(&self, end: u64) {
        let mut state = self.shared.lock();
        state.claimed = state.claimed.max(end);
        drop(state);
        self.shared.wake.notify_one();
    }
}

impl Drop for Filler {
    fn drop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fill(shared: &Shared, file: &File, limit: u64) {
    let zeros = vec![0u8; CHUNK as usize];
    loop {
        let mut state = shared.lock();
        while !state.stop && (state.filled >= limit || state.filled >= state.claimed + AHEAD) {
            state = shared.wake.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        if state.stop {
            return;
        }
        // At or beyond every claim, under the lock: the writer cannot
        // claim this range until these zeros are in.
        let start = state.filled.max(state.claimed);
        let len = CHUNK.min(limit.saturating_sub(start));
        if len == 0 {
            state.filled = limit;
            continue;
        }
        if let Err(e) = file.write_all_at(&zeros[..len as usize], start) {
            tracing::debug!(error = %e, "log preallocation stopped");
            return;
        }
        state.filled = start + len;
        drop(state);
        if let Err(e) = file.sync_data() {
            tracing::debug!(error = %e, "log preallocation stopped");
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_ahead_and_never_over_claimed_bytes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(dir.path().join("seg"))
            .expect("open");
        let limit = 3 * AHEAD;
        let filler = Filler::start(&file, 0, limit).expect("start");
        // The writer races the filler, writing 0xAB records as it goes.
        let record = vec![0xABu8; 1000];
        let mut at = 0;
        while at + record.len() as u64 <= 2 * AHEAD {
            filler.claim(at + record.len() as u64);
            file.write_all_at(&record, at).expect("write");
            at += record.len() as u64;
        }
        drop(filler);
        let data = std::fs::read(dir.path().join("seg")).expect("read");
        assert!(data[..at as usize].iter().all(|b| *b == 0xAB), "a claimed byte was zeroed");
        assert!(data[at as usize..].iter().all(|b| *b == 0), "only zeros past the writer");
        assert!(data.len() as u64 <= limit);
    }
}
