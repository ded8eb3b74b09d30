//! One stream drained into one table through a consumer group: read a
//! batch (this consumer's pending history first, then new entries), insert
//! it with one multi-row `INSERT ... ON CONFLICT DO NOTHING` keyed by the
//! stream ID, and only then XACK it. A crash between the insert and the
//! XACK re-delivers the batch, and the conflict clause keeps its rows
//! single.

use crate::config::StreamTable;
use crate::stats::Stats;
use crate::SinkError;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};
use weir_client::{Client, Reply, Target};

/// PostgreSQL's limit on parameters per statement.
const MAX_PARAMS: usize = 65_535;
/// How long one blocking read waits for new entries.
const BLOCK_MS: u64 = 1000;
/// How often the lag is measured (an XINFO GROUPS call).
const LAG_EVERY: Duration = Duration::from_secs(1);

/// One entry: its ID and its fields (`None`: deleted since delivery).
type Entry = (String, Option<Vec<(String, String)>>);

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn text(reply: &Reply) -> Option<String> {
    reply.as_text()
}

/// The entries of an XREADGROUP reply for one stream.
fn entries(reply: Reply) -> Result<Vec<Entry>, SinkError> {
    let streams = match reply {
        Reply::Array(None) => return Ok(Vec::new()),
        Reply::Array(Some(streams)) => streams,
        Reply::Error(e) => return Err(SinkError::Reply(e)),
        other => return Err(SinkError::Reply(format!("{other:?}"))),
    };
    let mut out = Vec::new();
    for stream in streams {
        let Reply::Array(Some(mut parts)) = stream else { continue };
        let Some(Reply::Array(Some(items))) = parts.pop() else { continue };
        for item in items {
            let Reply::Array(Some(mut pair)) = item else { continue };
            let fields = pair.pop();
            let Some(id) = pair.pop().as_ref().and_then(text) else { continue };
            let fields = match fields {
                Some(Reply::Array(Some(flat))) => {
                    let flat: Vec<String> = flat.iter().filter_map(text).collect();
                    Some(flat.chunks(2).filter(|c| c.len() == 2).map(|c| (c[0].clone(), c[1].clone())).collect())
                }
                _ => None,
            };
            out.push((id, fields));
        }
    }
    Ok(out)
}

/// The table, created if missing: the ID column is the primary key.
async fn ensure_table(pg: &tokio_postgres::Client, cfg: &StreamTable) -> Result<(), SinkError> {
    let mut columns = vec![format!("\"{}\" text PRIMARY KEY", cfg.id_column)];
    columns.extend(cfg.columns.values().map(|c| format!("\"{c}\" text")));
    pg.batch_execute(&format!("CREATE TABLE IF NOT EXISTS \"{}\" ({})", cfg.table, columns.join(", "))).await?;
    Ok(())
}

async fn ensure_group(weir: &mut Client, cfg: &StreamTable) -> Result<(), SinkError> {
    let create = [b("XGROUP"), b("CREATE"), b(&cfg.stream), b(&cfg.group), b("0"), b("MKSTREAM")];
    match weir.call(&create).await? {
        Reply::Error(e) if !e.starts_with("BUSYGROUP") => Err(SinkError::Reply(e)),
        _ => Ok(()),
    }
}

/// Inserts the live entries of a batch in statements of at most
/// `MAX_PARAMS` parameters; returns the rows inserted.
async fn insert(
    pg: &tokio_postgres::Client,
    cfg: &StreamTable,
    batch: &[Entry],
    stats: &Stats,
) -> Result<u64, SinkError> {
    let fields: Vec<&String> = cfg.columns.keys().collect();
    let width = 1 + fields.len();
    let live: Vec<(&String, &Vec<(String, String)>)> =
        batch.iter().filter_map(|(id, f)| f.as_ref().map(|f| (id, f))).collect();
    let mut inserted = 0;
    for chunk in live.chunks((MAX_PARAMS / width).max(1)) {
        let mut values: Vec<Option<String>> = Vec::with_capacity(chunk.len() * width);
        let mut rows = Vec::with_capacity(chunk.len());
        for (n, (id, entry)) in chunk.iter().enumerate() {
            let slots: Vec<String> = (1..=width).map(|i| format!("${}", n * width + i)).collect();
            rows.push(format!("({})", slots.join(", ")));
            values.push(Some((*id).clone()));
            for field in &fields {
                values.push(entry.iter().find(|(f, _)| f == *field).map(|(_, v)| v.clone()));
            }
        }
        let mut names = vec![format!("\"{}\"", cfg.id_column)];
        names.extend(cfg.columns.values().map(|c| format!("\"{c}\"")));
        let sql = format!(
            "INSERT INTO \"{}\" ({}) VALUES {} ON CONFLICT (\"{}\") DO NOTHING",
            cfg.table,
            names.join(", "),
            rows.join(", "),
            cfg.id_column
        );
        let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn tokio_postgres::types::ToSql + Sync)).collect();
        inserted += pg.execute(&sql, &params).await?;
        stats.statements.fetch_add(1, Relaxed);
    }
    Ok(inserted)
}

/// Drains `cfg.stream` into `cfg.table` until an error, or (with
/// `idle_exit`) until no new entry came for that long.
pub async fn run(
    target: &Target,
    pg: &tokio_postgres::Client,
    cfg: &StreamTable,
    idle_exit: Option<Duration>,
    stats: &Stats,
) -> Result<(), SinkError> {
    let mut weir = Client::connect(target).await?;
    ensure_group(&mut weir, cfg).await?;
    ensure_table(pg, cfg).await?;
    // This consumer's pending history first: what a crash left unacked.
    let mut history = true;
    let mut idle_since = Instant::now();
    let mut lag_at: Option<Instant> = None;
    loop {
        if lag_at.is_none_or(|at| at.elapsed() >= LAG_EVERY) {
            stats.lag.store(lag(&mut weir, cfg).await?, Relaxed);
            lag_at = Some(Instant::now());
        }
        let mut read = vec![
            b("XREADGROUP"),
            b("GROUP"),
            b(&cfg.group),
            b(&cfg.consumer),
            b("COUNT"),
            cfg.batch.to_string().into_bytes(),
        ];
        if !history {
            read.extend([b("BLOCK"), BLOCK_MS.to_string().into_bytes()]);
        }
        read.extend([b("STREAMS"), b(&cfg.stream), b(if history { "0" } else { ">" })]);
        let batch = entries(weir.call(&read).await?)?;
        if batch.is_empty() {
            if history {
                history = false;
            } else if idle_exit.is_some_and(|limit| idle_since.elapsed() >= limit) {
                return Ok(());
            }
            continue;
        }
        idle_since = Instant::now();
        let rows = insert(pg, cfg, &batch, stats).await?;
        // Committed (one statement is one transaction): now acknowledge.
        let mut ack = vec![b("XACK"), b(&cfg.stream), b(&cfg.group)];
        ack.extend(batch.iter().map(|(id, _)| b(id)));
        if let Reply::Error(e) = weir.call(&ack).await? {
            return Err(SinkError::Reply(e));
        }
        stats.rows.fetch_add(rows, Relaxed);
        stats.client_writes.fetch_add(batch.len() as u64, Relaxed);
        stats.batches.fetch_add(1, Relaxed);
    }
}

/// Entries of the stream the sink's group has not acknowledged: not yet
/// delivered (XINFO GROUPS `lag`, counted as 0 when Redis's rules leave it
/// unknown) plus delivered and pending.
async fn lag(weir: &mut Client, cfg: &StreamTable) -> Result<u64, SinkError> {
    let groups = match weir.call(&[b("XINFO"), b("GROUPS"), b(&cfg.stream)]).await? {
        Reply::Array(Some(groups)) => groups,
        Reply::Error(e) => return Err(SinkError::Reply(e)),
        other => return Err(SinkError::Reply(format!("{other:?}"))),
    };
    for group in groups {
        let Reply::Array(Some(fields)) = group else { continue };
        let field = |name: &str| fields.chunks(2).find(|kv| kv[0].as_text().as_deref() == Some(name)).map(|kv| &kv[1]);
        if field("name").and_then(text).as_deref() != Some(cfg.group.as_str()) {
            continue;
        }
        let count = |name: &str| field(name).and_then(Reply::as_int).unwrap_or(0).max(0) as u64;
        return Ok(count("lag") + count("pending"));
    }
    Ok(0)
}
