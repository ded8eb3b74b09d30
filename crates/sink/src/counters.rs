//! Counters and hashes → one table (write-behind): every interval, the
//! keys written since the last pass come from weir's changed-keys feed
//! (`CHANGES FETCH`, per partition; no keyspace scan), their latest values
//! go out as one upsert statement per batch, and each key is then
//! acknowledged at the version pushed (`WEIR.CHANGES.ACK`), so a key
//! written again meanwhile stays in the feed for the next pass. A crash of
//! either side loses nothing: the feed is durable partition state, and
//! upserting a value twice is harmless.

use crate::config::Counters;
use crate::stats::Stats;
use crate::SinkError;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use weir_client::{Client, Reply, Target};

/// One changed key: name, version, value (`None`: deleted), and the
/// client writes merged into it since its last acknowledgement.
type Change = (String, i64, Option<String>, u64);

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn changes(reply: Reply) -> Result<Vec<Change>, SinkError> {
    let rows = match reply {
        Reply::Array(Some(rows)) => rows,
        Reply::Error(e) => return Err(SinkError::Reply(e)),
        other => return Err(SinkError::Reply(format!("{other:?}"))),
    };
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let Reply::Array(Some(parts)) = row else { continue };
        let [key, version, value, writes] = &parts[..] else { continue };
        let (Some(key), Some(version)) = (key.as_text(), version.as_int()) else { continue };
        let value = match value {
            // A hash: its fields as a JSON object.
            Reply::Array(Some(flat)) => {
                let object: serde_json::Map<String, serde_json::Value> = flat
                    .chunks(2)
                    .filter_map(|c| Some((c.first()?.as_text()?, serde_json::Value::String(c.get(1)?.as_text()?))))
                    .collect();
                Some(serde_json::Value::Object(object).to_string())
            }
            other => other.as_text(),
        };
        out.push((key, version, value, writes.as_int().unwrap_or(0).max(0) as u64));
    }
    Ok(out)
}

async fn ensure_table(pg: &tokio_postgres::Client, cfg: &Counters) -> Result<(), SinkError> {
    let sql = format!(
        "CREATE TABLE IF NOT EXISTS \"{}\" (\"{}\" text PRIMARY KEY, \"{}\" text)",
        cfg.table, cfg.key_column, cfg.value_column
    );
    pg.batch_execute(&sql).await?;
    Ok(())
}

/// Pushes one batch: an upsert for live keys, a delete for gone ones.
async fn push(pg: &tokio_postgres::Client, cfg: &Counters, batch: &[Change], stats: &Stats) -> Result<(), SinkError> {
    let (live, gone): (Vec<&Change>, Vec<&Change>) = batch.iter().partition(|c| c.2.is_some());
    if !live.is_empty() {
        let keys: Vec<&str> = live.iter().map(|c| c.0.as_str()).collect();
        let values: Vec<&str> = live.iter().map(|c| c.2.as_deref().unwrap_or_default()).collect();
        let sql = format!(
            "INSERT INTO \"{t}\" (\"{k}\", \"{v}\") SELECT * FROM unnest($1::text[], $2::text[]) \
             ON CONFLICT (\"{k}\") DO UPDATE SET \"{v}\" = EXCLUDED.\"{v}\"",
            t = cfg.table,
            k = cfg.key_column,
            v = cfg.value_column
        );
        pg.execute(&sql, &[&keys, &values]).await?;
        stats.statements.fetch_add(1, Relaxed);
    }
    if !gone.is_empty() {
        let keys: Vec<&str> = gone.iter().map(|c| c.0.as_str()).collect();
        let sql = format!("DELETE FROM \"{}\" WHERE \"{}\" = ANY($1)", cfg.table, cfg.key_column);
        pg.execute(&sql, &[&keys]).await?;
        stats.statements.fetch_add(1, Relaxed);
    }
    stats.rows.fetch_add(batch.len() as u64, Relaxed);
    Ok(())
}

/// Acknowledges a pushed batch, pipelined; returns the client writes of
/// the keys acknowledged (a key written again since its fetch stays in the
/// feed, its writes counted when it next goes out).
async fn ack(weir: &mut Client, cfg: &Counters, batch: &[Change]) -> Result<u64, SinkError> {
    let mut out = Vec::new();
    for (key, version, _, _) in batch {
        let ack = [b("WEIR.CHANGES.ACK"), b(key), version.to_string().into_bytes(), b(&cfg.pattern)];
        weir_client::encode(&mut out, &ack);
    }
    weir.send(&out).await?;
    let mut writes = 0;
    for (_, _, _, merged) in batch {
        match weir.read_reply().await? {
            Reply::Error(e) => return Err(SinkError::Reply(e)),
            Reply::Int(1) => writes += merged,
            _ => {}
        }
    }
    Ok(writes)
}

/// One pass over every partition's feed; returns the keys pushed.
async fn pass(
    weir: &mut Client,
    pg: &tokio_postgres::Client,
    cfg: &Counters,
    partitions: usize,
    stats: &Stats,
) -> Result<usize, SinkError> {
    let mut pushed = 0;
    for p in 0..partitions {
        loop {
            let fetch = [
                b("CHANGES"),
                b("FETCH"),
                b(&cfg.pattern),
                p.to_string().into_bytes(),
                b("COUNT"),
                cfg.batch.to_string().into_bytes(),
            ];
            let batch = changes(weir.call(&fetch).await?)?;
            if batch.is_empty() {
                break;
            }
            push(pg, cfg, &batch, stats).await?;
            let writes = ack(weir, cfg, &batch).await?;
            pushed += batch.len();
            stats.client_writes.fetch_add(writes, Relaxed);
            stats.batches.fetch_add(1, Relaxed);
            if batch.len() < cfg.batch {
                break;
            }
        }
    }
    Ok(pushed)
}

/// Pushes changed keys every `cfg.interval_ms` until an error, or (with
/// `idle_exit`) until nothing changed for that long.
pub async fn run(
    target: &Target,
    pg: &tokio_postgres::Client,
    cfg: &Counters,
    idle_exit: Option<Duration>,
    stats: &Stats,
) -> Result<(), SinkError> {
    let mut weir = Client::connect(target).await?;
    if let Reply::Error(e) = weir.call(&[b("CHANGES"), b("TRACK"), b(&cfg.pattern)]).await? {
        return Err(SinkError::Reply(e));
    }
    let partitions = weir.call(&[b("CHANGES"), b("PARTITIONS")]).await?.as_int().unwrap_or(0).max(0) as usize;
    ensure_table(pg, cfg).await?;
    let mut tick = tokio::time::interval(Duration::from_millis(cfg.interval_ms.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut idle_since = Instant::now();
    loop {
        tick.tick().await;
        let pushed = pass(&mut weir, pg, cfg, partitions, stats).await?;
        let pending = weir.call(&[b("CHANGES"), b("PENDING"), b(&cfg.pattern)]).await?;
        stats.lag.store(pending.as_int().unwrap_or(0).max(0) as u64, Relaxed);
        if pushed > 0 {
            idle_since = Instant::now();
        } else if idle_exit.is_some_and(|limit| idle_since.elapsed() >= limit) {
            return Ok(());
        }
    }
}
