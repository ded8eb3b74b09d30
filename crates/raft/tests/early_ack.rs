//! Early acknowledgement (`weir_raft::durability`) on a real group over a
//! real log: while the group is this node alone, openraft hears of an
//! append before its fsync and the durability gate covers it afterwards;
//! the first membership naming another node waits for every earlier
//! append to be durable and turns early acknowledgement off.

mod common;

use common::{group_config, log_config, set, NODE};
use openraft::BasicNode;
use std::time::Duration;
use weir_raft::start_group;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_alone_acknowledges_early_until_another_node_joins() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("snapshots")).expect("snapshot dir");
    let (log, mut recovered) = weir_raft::wal::open(log_config(dir.path()), 1).expect("log opens");
    let group = start_group(0, &group_config(dir.path()), log, recovered.remove(0)).await.expect("group starts");
    group.wait_ready(NODE, Duration::from_secs(10)).await.expect("ready");
    assert!(group.durability.early(), "a node alone acknowledges appends early");

    let mut last = 0;
    for i in 0..50 {
        let written = group.raft.client_write(set(&format!("k{i}"))).await.expect("write");
        // Applied; whether durable yet or not, it becomes so.
        last = written.log_id.index;
        group.durability.wait_for(last).await.expect("durable");
    }
    assert!(group.durability.durable_index() >= last);

    let before = group.durability.durable_index();
    let joined = group.raft.add_learner(2, BasicNode { addr: "127.0.0.1:2".into() }, false).await.expect("learner");
    assert!(!group.durability.early(), "a membership naming another node ends early acknowledgement");
    assert!(before < joined.log_id.index);
    // Honest from here: what openraft reports written is durable.
    let written = group.raft.client_write(set("after")).await.expect("write");
    assert!(group.durability.covers(written.log_id.index).expect("no failure"));
    group.raft.shutdown().await.expect("shutdown");

    // After a restart the recovered membership names node 2: honest from the start.
    let (log, mut recovered) = weir_raft::wal::open(log_config(dir.path()), 1).expect("log reopens");
    let group = start_group(0, &group_config(dir.path()), log, recovered.remove(0)).await.expect("group restarts");
    assert!(!group.durability.early(), "recovered membership names another node");
    group.raft.shutdown().await.expect("shutdown");
}
