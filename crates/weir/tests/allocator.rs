//! The binary's allocator: jemalloc, with the options `main.rs` compiles in
//! (one background thread returning freed pages after 1 s). jemalloc prints
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
    let options = ["opt.background_thread: true", "opt.dirty_decay_ms: 1000", "opt.muzzy_decay_ms: 0"];
    for option in options {
        assert!(stats.contains(option), "jemalloc's statistics lack {option:?}:\n{stats}");
    }
}

#[test]
fn a_node_runs_one_jemalloc_background_thread() {
    let dir = tempfile::tempdir().expect("temp dir");
    let node = common::start_weir(dir.path(), &[]);
    let tasks = std::fs::read_dir(format!("/proc/{}/task", node.child.id())).expect("the node's threads");
    let names: Vec<String> = tasks
        .map(|task| std::fs::read_to_string(task.expect("a thread").path().join("comm")).unwrap_or_default())
        .collect();
    let background = names.iter().filter(|name| name.starts_with("jemalloc_bg")).count();
    assert_eq!(background, 1, "threads: {names:?}");
}
