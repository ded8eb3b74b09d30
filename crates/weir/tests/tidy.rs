//! House rules, checked on every `cargo test` (in the spirit of
//! rust-analyzer's tidy): no stubs or debug leftovers, files stay short,
//! every crate and module says what it is, and ARCHITECTURE.md names every
//! crate.

use std::fs;
use std::path::{Path, PathBuf};

/// A file longer than this should be split by concept.
const MAX_LINES: usize = 600;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("workspace root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every workspace crate: the layers under `crates/`, and `examples`.
fn crates() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> =
        fs::read_dir(workspace().join("crates")).expect("crates").map(|e| e.expect("entry").path()).collect();
    dirs.sort();
    dirs.push(workspace().join("examples"));
    dirs
}

fn all_sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for krate in crates() {
        rust_files(&krate, &mut files);
    }
    files
}

#[test]
fn no_stubs_or_debug_leftovers() {
    let banned = [concat!("todo", "!("), concat!("unimplemented", "!("), concat!("dbg", "!(")];
    for file in all_sources() {
        let text = fs::read_to_string(&file).expect("read");
        for word in banned {
            assert!(!text.contains(word), "{} contains {word}", file.display());
        }
    }
}

#[test]
fn files_stay_short() {
    for file in all_sources() {
        let lines = fs::read_to_string(&file).expect("read").lines().count();
        assert!(lines <= MAX_LINES, "{} has {lines} lines (max {MAX_LINES}): split it by concept", file.display());
    }
}

#[test]
fn every_crate_and_module_is_documented() {
    for krate in crates() {
        let manifest = fs::read_to_string(krate.join("Cargo.toml")).expect("manifest");
        assert!(manifest.contains("description = "), "{} has no description", krate.display());
        let mut sources = Vec::new();
        rust_files(&krate.join("src"), &mut sources);
        for file in sources {
            let text = fs::read_to_string(&file).expect("read");
            assert!(text.starts_with("//!"), "{} must start with a //! comment saying what it holds", file.display());
        }
    }
}

#[test]
fn architecture_names_every_crate() {
    let map = fs::read_to_string(workspace().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    for krate in crates() {
        let path = krate.strip_prefix(workspace()).expect("in the workspace").display().to_string();
        assert!(map.contains(&format!("`{path}`")), "ARCHITECTURE.md does not map {path}");
    }
}

/// `scripts/bench-floor.sh` builds weir with this patch: it must keep
/// applying as the code it touches changes.
#[test]
fn the_floor_patch_still_applies() {
    let patch = workspace().join("scripts/floor/answer-writes-at-once.patch");
    let out = std::process::Command::new("git")
        .args(["apply", "--check"])
        .arg(&patch)
        .current_dir(workspace())
        .output()
        .expect("git runs (the tests run in a checkout)");
    assert!(out.status.success(), "{} no longer applies: {}", patch.display(), String::from_utf8_lossy(&out.stderr));
}
