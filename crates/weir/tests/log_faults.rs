//! Log faults: a flipped byte in the middle of the log stops startup with a
//! message naming the file and offset; a torn final record is truncated and
//! startup succeeds.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

const KEYS: usize = 3000;

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir.join("log"))
        .expect("log folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no log segments in {}", dir.display());
    files
}

/// A data folder whose log holds many small batches.
fn populated_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut node = common::start_weir(dir.path(), &["--snapshot-every", "1000000"]);
    let mut conn = node.client();
    for i in 0..KEYS {
        let _: () = redis::cmd("SET").arg(format!("key:{i}")).arg(i).query(&mut conn).expect("set");
    }
    node.kill9();
    dir
}

/// Where a segment's records end: a segment the node was writing when it
/// was killed runs on with the zeros filled ahead of the writer.
fn records_end(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|b| *b != 0).map_or(0, |last| last + 1)
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else if entry.file_name() != "LOCK" {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_flipped_byte_mid_log_refuses_to_start_and_names_file_and_offset() {
    let dir = populated_dir();
    let segment = segments(dir.path()).remove(0);
    let mut bytes = fs::read(&segment).expect("read segment");
    let middle = records_end(&bytes) / 2;
    bytes[middle] ^= 0x5a;
    fs::write(&segment, &bytes).expect("write segment");

    let output = match common::try_start_weir(dir.path(), &[]) {
        Ok(node) => panic!("started on a corrupt log; output:\n{}", node.output()),
        Err(output) => output,
    };
    let name = segment.file_name().and_then(|n| n.to_str()).expect("name");
    assert!(output.contains(name), "the error must name the file {name}:\n{output}");
    assert!(output.to_lowercase().contains("offset"), "the error must name the offset:\n{output}");
}

#[test]
fn a_torn_final_record_is_truncated_and_startup_succeeds() {
    let dir = populated_dir();
    let copy = tempfile::tempdir().expect("tempdir");
    copy_dir(dir.path(), copy.path());
    let last = segments(copy.path()).pop().expect("segment");
    let end = records_end(&fs::read(&last).expect("read segment")) as u64;
    let file = fs::OpenOptions::new().write(true).open(&last).expect("open");
    file.set_len(end - 5).expect("truncate");
    drop(file);

    let node = common::start_weir(copy.path(), &[]);
    let output = node.output();
    assert!(output.contains("trunc"), "recovery must log the truncation:\n{output}");
    let mut conn = node.client();
    let size: usize = redis::cmd("DBSIZE").query(&mut conn).expect("dbsize");
    // Only the torn record's writes may be missing.
    assert!((KEYS - 1..=KEYS).contains(&size), "dbsize {size} after truncating one record");
    let first: String = redis::cmd("GET").arg("key:0").query(&mut conn).expect("get");
    assert_eq!(first, "0");
}
