//! The binary's allocator: jemalloc, with the options `main.rs` compiles in
//! (a background thread returning freed pages after 1 s). jemalloc prints
//! the options it runs with when asked to through its environment.

mod common;

use std::process::Command;

#[test]
fn jemalloc_runs_with_the_compiled_in_options() {
    let output = Command::new(common::weir_bin())
        .arg("--version")
        .env("_RJEM_MALLOC_CONF", "stats_print:true")
        .output()
        .expect("weir runs");
    assert!(output.status.success(), "weir --version failed: {output:?}");
    let stats = String::from_utf8_lossy(&output.stderr);
    for option in ["opt.background_thread: true", "opt.dirty_decay_ms: 1000", "opt.muzzy_decay_ms: 0"] {
        assert!(stats.contains(option), "jemalloc's statistics lack {option:?}:\n{stats}");
    }
}
