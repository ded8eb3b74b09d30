//! `weir sink postgres`: drains weir streams into PostgreSQL tables, as the
//! TOML file maps them (see `weir_sink::config`). Logs, every interval,
//! entries, rows, statements and client writes per statement.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct SinkArgs {
    #[command(subcommand)]
    pub target: SinkTarget,
}

#[derive(Subcommand, Debug)]
pub enum SinkTarget {
    /// Drain streams into PostgreSQL tables.
    Postgres(PostgresArgs),
}

#[derive(Args, Debug)]
pub struct PostgresArgs {
    /// The weir node: redis://[:password@]host:port.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub url: String,
    /// PostgreSQL connection string, e.g. "host=127.0.0.1 port=5432 user=postgres dbname=app".
    #[arg(long)]
    pub postgres: String,
    /// The TOML file mapping streams to tables.
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// Exit once no new entry came for this long (0: run forever).
    #[arg(long, default_value_t = 0)]
    pub idle_exit_ms: u64,
    /// How often the progress line is logged.
    #[arg(long, default_value_t = 5000)]
    pub report_ms: u64,
}

pub fn run(args: SinkArgs) -> anyhow::Result<()> {
    let SinkTarget::Postgres(args) = args.target;
    let text = std::fs::read_to_string(&args.config).with_context(|| format!("reading {}", args.config.display()))?;
    let config = weir_sink::SinkConfig::parse(&text)?;
    let target = weir_sink::client_target(&args.url)?;
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let (pg, connection) =
            tokio_postgres::connect(&args.postgres, tokio_postgres::NoTls).await.context("connecting to PostgreSQL")?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(%e, "PostgreSQL connection lost");
            }
        });
        let pg = Arc::new(pg);
        let idle_exit = (args.idle_exit_ms > 0).then(|| Duration::from_millis(args.idle_exit_ms));
        let mut tasks = Vec::new();
        for stream in config.streams {
            let (pg, target, stats) = (pg.clone(), target.clone(), Arc::new(weir_sink::stream_table::Stats::default()));
            let reporter = report(stream.stream.clone(), stats.clone(), Duration::from_millis(args.report_ms.max(100)));
            tasks.push(tokio::spawn(async move {
                let result = weir_sink::stream_table::run(&target, &pg, &stream, idle_exit, &stats).await;
                reporter.abort();
                log_stats(&stream.stream, &stats);
                result
            }));
        }
        for counters in config.counters {
            let (pg, target, stats) = (pg.clone(), target.clone(), Arc::new(weir_sink::stream_table::Stats::default()));
            let name = format!("counters {}", counters.pattern);
            let reporter = report(name.clone(), stats.clone(), Duration::from_millis(args.report_ms.max(100)));
            tasks.push(tokio::spawn(async move {
                let result = weir_sink::counters::run(&target, &pg, &counters, idle_exit, &stats).await;
                reporter.abort();
                log_stats(&name, &stats);
                result
            }));
        }
        for task in tasks {
            task.await.context("sink task")??;
        }
        anyhow::Ok(())
    })
}

fn log_stats(stream: &str, stats: &weir_sink::stream_table::Stats) {
    tracing::info!(
        stream,
        entries = stats.entries.load(Relaxed),
        rows = stats.rows.load(Relaxed),
        statements = stats.statements.load(Relaxed),
        writes_per_statement = format!("{:.1}", stats.merge_ratio()),
        "sink progress"
    );
}

fn report(stream: String, stats: Arc<weir_sink::stream_table::Stats>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            log_stats(&stream, &stats);
        }
    })
}
