//! weir beside redis-server, and one command sent to either as the
//! differential tests compare them.

use redis::Value;

/// weir and redis-server side by side.
pub struct Pair {
    pub weir: super::WeirNode,
    pub redis: super::RedisServer,
    /// weir's data (dropped after weir stops).
    _dir: tempfile::TempDir,
}

/// One database on redis-server, as weir has (COPY ... DB 1 is then out of
/// range on both).
pub fn start_pair() -> Pair {
    let redis = super::start_redis(&["--databases", "1"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let weir = super::start_weir(dir.path(), &[]);
    Pair { weir, redis, _dir: dir }
}

/// Replies that list hash fields or set members are compared as multisets.
pub fn normalize(args: &[String], value: Value) -> Value {
    let unordered = [
        "HGETALL",
        "SMEMBERS",
        "HKEYS",
        "HVALS",
        "ZRANDMEMBER",
        "HRANDFIELD",
        "SRANDMEMBER",
        "SINTER",
        "SUNION",
        "SDIFF",
    ];
    let paired = args[0] == "HGETALL" || (["ZRANDMEMBER", "HRANDFIELD"].contains(&args[0].as_str()) && args.len() == 4);
    match value {
        Value::Array(items) if unordered.contains(&args[0].as_str()) => {
            let nested = matches!(items.first(), Some(Value::Array(_)));
            let mut chunks: Vec<Vec<Value>> = if paired && !nested {
                items.chunks(2).map(|c| c.to_vec()).collect()
            } else {
                items.into_iter().map(|v| vec![v]).collect()
            };
            chunks.sort_by_key(|c| format!("{c:?}"));
            Value::Array(chunks.into_iter().flatten().collect())
        }
        other => other,
    }
}

pub fn run(conn: &mut redis::Connection, args: &[String]) -> String {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a);
    }
    match cmd.query::<Value>(conn) {
        Ok(v) => format!("{:?}", normalize(args, v)),
        Err(e) => format!("error: {}", e.to_string().to_lowercase()),
    }
}
