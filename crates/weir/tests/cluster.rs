//! The node as Redis Cluster clients see it: a cluster of one that serves
//! every slot. Replies are compared with a live redis-server 7 running as a
//! one-node cluster that holds all 16,384 slots, then a cluster-aware
//! client (the `redis` crate's `ClusterClient`) works against the node.

mod common;

use redis::Value;

/// Where a server names itself: its id, ip and port, replaced by markers
/// so that two servers' slot maps compare.
struct Identity {
    id: Vec<u8>,
    ip: Vec<u8>,
    port: i64,
}

impl Identity {
    fn of(conn: &mut redis::Connection, port: u16) -> Identity {
        let id: String = redis::cmd("CLUSTER").arg("MYID").query(conn).expect("myid");
        let slots: Value = redis::cmd("CLUSTER").arg("SLOTS").query(conn).expect("slots");
        let ip = match slots {
            Value::Array(ranges) => match &ranges[0] {
                Value::Array(range) => match &range[2] {
                    Value::Array(master) => match &master[0] {
                        Value::BulkString(ip) => ip.clone(),
                        other => panic!("an ip: {other:?}"),
                    },
                    other => panic!("a master: {other:?}"),
                },
                other => panic!("a range: {other:?}"),
            },
            other => panic!("ranges: {other:?}"),
        };
        Identity { id: id.into_bytes(), ip, port: i64::from(port) }
    }

    fn normalize(&self, value: Value) -> Value {
        match value {
            Value::BulkString(b) if b == self.id => Value::SimpleString("ID".into()),
            Value::BulkString(b) if b == self.ip => Value::SimpleString("IP".into()),
            Value::Int(port) if port == self.port => Value::SimpleString("PORT".into()),
            Value::Array(items) => Value::Array(items.into_iter().map(|v| self.normalize(v)).collect()),
            Value::Map(pairs) => {
                Value::Map(pairs.into_iter().map(|(k, v)| (self.normalize(k), self.normalize(v))).collect())
            }
            Value::VerbatimString { format, text } => Value::VerbatimString { format, text: self.node_lines(&text) },
            Value::BulkString(b) => match String::from_utf8(b) {
                Ok(text) => Value::BulkString(self.node_lines(&text).into_bytes()),
                Err(e) => Value::BulkString(e.into_bytes()),
            },
            other => other,
        }
    }

    /// CLUSTER NODES lines with the id and the address fields marked.
    fn node_lines(&self, text: &str) -> String {
        let id = String::from_utf8_lossy(&self.id);
        if !text.starts_with(id.as_ref()) {
            return text.to_string();
        }
        let mut fields: Vec<&str> = text.split(' ').collect();
        fields[0] = "ID";
        fields[1] = "ADDR";
        fields.join(" ")
    }
}

#[test]
fn cluster_replies_match_a_redis_cluster_of_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--partitions", "4"]);
    let redis = common::redis_cluster_of_one();
    let mut lines: Vec<String> = [
        "CLUSTER INFO",
        "CLUSTER SLOTS",
        "CLUSTER SHARDS",
        "CLUSTER NODES",
        "CLUSTER LINKS",
        "CLUSTER MYID",
        "CLUSTER",
        "CLUSTER NOPE",
        "CLUSTER INFO extra",
        "CLUSTER KEYSLOT",
        "CLUSTER KEYSLOT a b",
        "READONLY",
        "READWRITE",
        "ASKING",
        "SELECT 0",
        "SELECT 1",
        "SELECT x",
        "CONFIG GET cluster-enabled",
        "INFO cluster",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Slots of keys with and without hash tags.
    for i in 0..200 {
        lines.push(format!("CLUSTER KEYSLOT user:{i}"));
        lines.push(format!("CLUSTER KEYSLOT {{order:{}}}:{i}", i % 7));
    }
    lines.extend(["CLUSTER KEYSLOT {}x", "CLUSTER KEYSLOT x{}y{z}", "CLUSTER KEYSLOT {{a}}"].map(String::from));
    // Transactions across slots: each command is queued, EXEC refuses the
    // whole (before EXECABORT) and ends the transaction; a command crossing
    // slots by itself is refused as it is queued.
    lines.extend(
        [
            "MULTI",
            "SET x 1",
            "SET s1 2",
            "INCR",
            "EXEC",
            "EXEC",
            "WATCH {x}a",
            "MULTI",
            "SET x 1",
            "PUBLISH c m",
            "SPUBLISH {x}c m",
            "EXEC",
            "MULTI",
            "SET x 2",
            "MSET a 1 b 2",
            "EXEC",
            "MULTI",
            "SET {s1}a 1",
            "SET s1 3",
            "SPUBLISH x m",
            "EXEC",
            "GET x",
            "GET s1",
            "EXEC",
        ]
        .map(String::from),
    );
    for protocol in ["resp2", "resp3"] {
        let url = |base: String| format!("{base}?protocol={protocol}");
        let mut ours = redis::Client::open(url(node.url())).expect("client").get_connection().expect("connect");
        let mut theirs = redis::Client::open(url(redis.url())).expect("client").get_connection().expect("connect");
        let (me, them) = (Identity::of(&mut ours, node.addr.port()), Identity::of(&mut theirs, redis.addr.port()));
        let expected = common::replies(&mut theirs, &lines, |v| them.normalize(v));
        let got = common::replies(&mut ours, &lines, |v| me.normalize(v));
        assert_eq!(expected.len(), got.len());
        for (want, have) in expected.iter().zip(&got) {
            assert_eq!(have, want, "{protocol}");
        }
        // weir names the address clients reach it at; Redis, never met by
        // a peer, leaves its ip empty.
        assert_eq!(me.ip, b"127.0.0.1", "{protocol}");
        assert_eq!(me.id.len(), 40);
    }
    let mut c = node.client();
    let hello: Value = redis::cmd("HELLO").arg(3).query(&mut c).expect("hello");
    assert!(format!("{hello:?}").contains("cluster"), "HELLO's mode: {hello:?}");
}

#[test]
fn a_cluster_client_routes_everything_to_the_cluster_of_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let node = common::start_weir(dir.path(), &["--partitions", "8"]);
    let client = redis::cluster::ClusterClient::new(vec![node.url()]).expect("cluster client");
    let mut c = client.get_connection().expect("cluster connection");
    for i in 0..500 {
        let _: () = redis::cmd("SET").arg(format!("user:{i}")).arg(i).query(&mut c).expect("set");
    }
    let mut pipe = redis::cluster::cluster_pipe();
    for i in 0..500 {
        pipe.cmd("INCRBY").arg(format!("user:{i}")).arg(1000);
    }
    let bumped: Vec<i64> = pipe.query(&mut c).expect("a pipeline across slots");
    assert_eq!(bumped, (0..500).map(|i| i + 1000).collect::<Vec<i64>>());
    let values: Vec<i64> = redis::cmd("MGET")
        .arg("{t}:a")
        .arg("{t}:b")
        .query(&mut c)
        .map(|v: Vec<Option<i64>>| v.into_iter().map(|x| x.unwrap_or(-1)).collect())
        .expect("mget in one slot");
    assert_eq!(values, vec![-1, -1]);
    let mut plain = node.client();
    let size: i64 = redis::cmd("DBSIZE").query(&mut plain).expect("dbsize");
    assert_eq!(size, 500, "every key landed on the one node");
}
