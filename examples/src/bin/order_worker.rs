//! A worker process of the "queue + worker processes" pattern: N of these
//! share the consumer group `--group` on the stream `--stream`. Each order
//! is processed at least once: a worker XACKs only after processing, and
//! entries a crashed worker left pending are claimed by the others once
//! idle for `--claim-idle-ms`. An entry delivered `--max-deliveries` times
//! goes to the dead-letter stream `<stream>:dead` instead (then acked).
//!
//! Processing here records the order in the hash `<stream>:processed`
//! (order → times processed), which the workers test reads.
//!
//! ```text
//! cargo run --release -p weir-examples --bin order-worker -- --name w1
//! ```

use clap::Parser;
use redis::streams::{StreamId, StreamPendingCountReply, StreamReadOptions, StreamReadReply};
use redis::Commands;

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    url: String,
    #[arg(long, default_value = "orders")]
    stream: String,
    #[arg(long, default_value = "workers")]
    group: String,
    /// This worker's consumer name.
    #[arg(long)]
    name: String,
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, default_value_t = 2000)]
    claim_idle_ms: usize,
    #[arg(long, default_value_t = 5)]
    max_deliveries: usize,
    /// Exit after this long without new or stale entries (0: never).
    #[arg(long, default_value_t = 0)]
    idle_exit_ms: u64,
}

fn main() -> redis::RedisResult<()> {
    let args = Args::parse();
    let mut conn = redis::Client::open(args.url.as_str())?.get_connection()?;
    // MKSTREAM: the group may be created before any order exists.
    let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(&args.stream, &args.group, "0");
    if let Err(e) = created {
        if e.code() != Some("BUSYGROUP") {
            return Err(e);
        }
    }
    let mut idle_since = std::time::Instant::now();
    loop {
        let mut worked = reclaim(&mut conn, &args)?;
        let options = StreamReadOptions::default().group(&args.group, &args.name).count(args.batch).block(1000);
        let reply: StreamReadReply = conn.xread_options(&[&args.stream], &[">"], &options)?;
        for key in reply.keys {
            worked |= !key.ids.is_empty();
            process_and_ack(&mut conn, &args, &key.ids)?;
        }
        if worked {
            idle_since = std::time::Instant::now();
        } else if args.idle_exit_ms > 0 && idle_since.elapsed().as_millis() as u64 >= args.idle_exit_ms {
            return Ok(());
        }
    }
}

/// Takes over entries other workers left pending past the idle time:
/// dead-letters those delivered too often, processes the rest.
fn reclaim(conn: &mut redis::Connection, args: &Args) -> redis::RedisResult<bool> {
    let stale: StreamPendingCountReply = redis::cmd("XPENDING")
        .arg(&args.stream)
        .arg(&args.group)
        .arg("IDLE")
        .arg(args.claim_idle_ms)
        .arg("-")
        .arg("+")
        .arg(args.batch)
        .query(conn)?;
    if stale.ids.is_empty() {
        return Ok(false);
    }
    for pending in stale.ids {
        if pending.times_delivered >= args.max_deliveries {
            dead_letter(conn, args, &pending.id)?;
            continue;
        }
        // Claimed only if still idle: two workers never both take it.
        let claimed: redis::streams::StreamClaimReply =
            conn.xclaim(&args.stream, &args.group, &args.name, args.claim_idle_ms, &[&pending.id])?;
        process_and_ack(conn, args, &claimed.ids)?;
    }
    Ok(true)
}

/// Processes a batch, then acknowledges it, in one pipeline: a crash
/// before the XACK leaves the entries pending, to be processed again by
/// whoever claims them (at least once).
fn process_and_ack(conn: &mut redis::Connection, args: &Args, entries: &[StreamId]) -> redis::RedisResult<()> {
    if entries.is_empty() {
        return Ok(());
    }
    let mut pipe = redis::pipe();
    for entry in entries {
        let order = entry.get::<String>("order").unwrap_or_else(|| entry.id.clone());
        pipe.hincr(format!("{}:processed", args.stream), order, 1).ignore();
    }
    let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
    pipe.xack(&args.stream, &args.group, &ids).ignore();
    pipe.exec(conn)
}

fn dead_letter(conn: &mut redis::Connection, args: &Args, id: &str) -> redis::RedisResult<()> {
    let _: String = conn.xadd(format!("{}:dead", args.stream), "*", &[("id", id), ("by", args.name.as_str())])?;
    let _: usize = conn.xack(&args.stream, &args.group, &[id])?;
    Ok(())
}
