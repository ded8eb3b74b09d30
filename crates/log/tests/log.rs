//! The node log against its contract: order, group commit, torn tails,
//! corruption, poisoning, and segment deletion.

use bytes::Bytes;
use std::convert::Infallible;
use std::path::Path;
use weir_log::{FsyncMode, Log, LogConfig, LogError, OpenError, Record};

fn config(dir: &Path) -> LogConfig {
    LogConfig {
        dir: dir.to_path_buf(),
        fsync: FsyncMode::Always,
        segment_bytes: 1 << 20,
        max_batch_bytes: 1 << 20,
        queue_depth: 1024,
    }
}

fn rec(partition: u32, index: u64, body: &str) -> Record {
    Record { partition, kind: 1, index, sticky: false, body: Bytes::from(body.to_string()) }
}

type Seen = Vec<(u32, u64, Vec<u8>)>;

fn open(cfg: LogConfig) -> Result<(Log, Seen), OpenError<Infallible>> {
    let mut seen = Vec::new();
    let log = Log::open(cfg, |r| {
        seen.push((r.partition, r.index, r.body.to_vec()));
        Ok::<_, Infallible>(())
    })?;
    Ok((log, seen))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn write_records(dir: &Path, n: u64) {
    let (log, _) = open(config(dir)).expect("open");
    runtime().block_on(async {
        for i in 1..=n {
            log.append_durable(vec![rec((i % 3) as u32, i, &format!("body-{i}"))]).await.expect("append");
        }
    });
}

#[test]
fn records_survive_reopen_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(dir.path(), 100);
    let (_, seen) = open(config(dir.path())).expect("reopen");
    let indexes: Vec<u64> = seen.iter().map(|s| s.1).collect();
    assert_eq!(indexes, (1..=100).collect::<Vec<_>>());
    assert_eq!(seen[41].2, b"body-42");
}

#[test]
fn concurrent_appends_share_fsyncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(config(dir.path())).expect("open");
    let log = std::sync::Arc::new(log);
    runtime().block_on(async {
        let tasks: Vec<_> = (0..200u64)
            .map(|i| {
                let log = log.clone();
                tokio::spawn(async move { log.append_durable(vec![rec(0, i, "x")]).await })
            })
            .collect();
        for task in tasks {
            task.await.expect("join").expect("durable");
        }
    });
    let stats = log.stats();
    assert_eq!(stats.records, 200);
    assert!(stats.fsyncs < 200, "group commit: {} fsyncs for 200 appends", stats.fsyncs);
}

fn only_segment(dir: &Path) -> std::path::PathBuf {
    let mut files: Vec<_> = std::fs::read_dir(dir).expect("dir").map(|e| e.expect("e").path()).collect();
    files.sort();
    files.remove(0)
}

#[test]
fn torn_tail_is_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(dir.path(), 10);
    let path = only_segment(dir.path());
    let len = std::fs::metadata(&path).expect("meta").len();
    std::fs::OpenOptions::new().write(true).open(&path).expect("open").set_len(len - 3).expect("cut");
    let (_, seen) = open(config(dir.path())).expect("torn tail is not fatal");
    assert_eq!(seen.len(), 9);
    // Zero-filled tails too (reopening started a new, last, segment).
    let mut files: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("e").path()).collect();
    files.sort();
    let path = files.pop().expect("last segment");
    let mut bytes = std::fs::read(&path).expect("read");
    bytes.extend(vec![0u8; 100]);
    std::fs::write(&path, bytes).expect("write");
    let (_, seen) = open(config(dir.path())).expect("zeros are a torn tail");
    assert_eq!(seen.len(), 9);
}

/// A crash leaves the open segment with the zeros filled ahead of the
/// writer: a clean end. A closed segment ends at its last record, so zeros
/// after its records mean lost records: refused.
#[test]
fn preallocated_zeros_end_the_open_segment_but_not_a_closed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_records(dir.path(), 10);
    let first = only_segment(dir.path());
    let mut bytes = std::fs::read(&first).expect("read");
    bytes.extend(vec![0u8; 64 << 10]);
    std::fs::write(&first, &bytes).expect("write");
    let (log, seen) = open(config(dir.path())).expect("the open segment's zeros are its end");
    assert_eq!(seen.len(), 10);
    drop(log);
    assert_eq!(
        std::fs::metadata(&first).expect("meta").len() as usize,
        bytes.len() - (64 << 10),
        "cut at the last record"
    );
    std::fs::write(&first, &bytes).expect("zeros after a closed segment's records");
    let err = open(config(dir.path())).err().expect("must refuse");
    assert!(err.to_string().contains("corrupt"), "{err}");
}

#[test]
fn corruption_in_the_middle_fails_with_file_and_offset() {
    for flip in [30usize, 45] {
        let dir = tempfile::tempdir().expect("tempdir");
        write_records(dir.path(), 10);
        let path = only_segment(dir.path());
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[flip] ^= 0x01;
        std::fs::write(&path, bytes).expect("write");
        let err = open(config(dir.path())).err().expect("must refuse");
        let text = err.to_string();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name");
        assert!(text.contains(name) && text.contains("offset 16"), "{text}");
    }
}

#[test]
fn a_failed_fsync_poisons_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(config(dir.path())).expect("open");
    runtime().block_on(async {
        log.append_durable(vec![rec(0, 1, "ok")]).await.expect("first");
        log.inject_fsync_failure();
        let failed = log.append_durable(vec![rec(0, 2, "lost")]).await;
        assert!(matches!(failed, Err(LogError::Poisoned(_))), "{failed:?}");
        let later = log.append_durable(vec![rec(0, 3, "refused")]).await;
        assert!(matches!(later, Err(LogError::Poisoned(_))));
    });
    assert!(log.poisoned().expect("poisoned").contains("injected fsync failure"));
}

#[test]
fn released_segments_are_deleted_and_sticky_records_survive() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = LogConfig { segment_bytes: 4096, ..config(dir.path()) };
    let (log, _) = open(cfg.clone()).expect("open");
    runtime().block_on(async {
        let vote = Record { partition: 0, kind: 2, index: 0, sticky: true, body: Bytes::from_static(b"vote") };
        log.append_durable(vec![vote]).await.expect("vote");
        for i in 1..=200 {
            log.append_durable(vec![rec(0, i, &"y".repeat(100))]).await.expect("append");
        }
        log.release(0, 150);
        log.append_durable(vec![rec(0, 201, "tail")]).await.expect("append");
    });
    drop(log);
    let (_, seen) = open(cfg).expect("reopen");
    assert!(seen.iter().any(|s| s.2 == b"vote"), "the sticky vote survived segment deletion");
    let first_entry = seen.iter().filter(|s| s.1 > 0).map(|s| s.1).min().expect("entries");
    assert!(first_entry > 1, "released segments were deleted (first index {first_entry})");
    assert!(seen.iter().any(|s| s.1 == 201));
}

/// A temp dir on a file system that takes direct I/O: the system's, or if
/// that is tmpfs one in the package's directory (cargo runs tests there).
fn direct_capable_dir() -> tempfile::TempDir {
    let temp = tempfile::tempdir().expect("tempdir");
    let (log, _) = open(config(temp.path())).expect("open");
    if log.stats().direct_io {
        return temp;
    }
    tempfile::tempdir_in(".").expect("tempdir here")
}

#[test]
fn always_appends_directly_across_segments_and_interval_does_not() {
    let dir = direct_capable_dir();
    let cfg = LogConfig { segment_bytes: 16 << 10, ..config(dir.path()) };
    let (log, _) = open(cfg.clone()).expect("open");
    assert!(log.stats().direct_io, "no direct I/O in {}", dir.path().display());
    runtime().block_on(async {
        // Records of odd sizes, several per block and some across blocks,
        // over a few segment rolls.
        for i in 1..=300u64 {
            let body = "z".repeat((i as usize * 37) % 700);
            log.append_durable(vec![rec(0, i, &body)]).await.expect("append");
        }
    });
    let stats = log.stats();
    assert!(stats.direct_io && stats.segments > 1 && stats.fsyncs >= stats.batches, "{stats:?}");
    drop(log);
    let (log, seen) = open(cfg.clone()).expect("reopen");
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), (1..=300).collect::<Vec<_>>());
    assert!(seen.iter().all(|s| s.2.len() == (s.1 as usize * 37) % 700), "every body intact");
    drop(log);
    let relaxed = LogConfig { fsync: FsyncMode::Interval(std::time::Duration::from_millis(5)), ..cfg };
    let (log, _) = open(relaxed).expect("open relaxed");
    assert!(!log.stats().direct_io, "interval mode acknowledges before the disk: buffered writes");
}
