//! `weir sink postgres`: drains weir streams into PostgreSQL tables, as the
//! TOML file maps them (see `weir_sink::config`). Logs, every interval,
//! batches, rows, statements, client writes per statement, lag and their
//! per-second rates; serves the same at `--http`'s `/metrics`.

use anyhow::Context;
use clap::{Args, Subcommand};
use std::sync::Arc;
use std::time::Duration;
use weir_sink::stats::Stats;

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
    /// Serve /health and /metrics (Prometheus) here, e.g. 127.0.0.1:9187.
    #[arg(long)]
    pub http: Option<std::net::SocketAddr>,
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
        let every = Duration::from_millis(args.report_ms.max(100));
        let mut tasks = Vec::new();
        let mut all_stats = Vec::new();
        for stream in config.streams {
            let (pg, target) = (pg.clone(), target.clone());
            let name = format!("stream {}", stream.stream);
            tasks.push(spawn_task(name, every, &mut all_stats, move |stats| async move {
                weir_sink::stream_table::run(&target, &pg, &stream, idle_exit, &stats).await
            }));
        }
        for counters in config.counters {
            let (pg, target) = (pg.clone(), target.clone());
            let name = format!("counters {}", counters.pattern);
            tasks.push(spawn_task(name, every, &mut all_stats, move |stats| async move {
                weir_sink::counters::run(&target, &pg, &counters, idle_exit, &stats).await
            }));
        }
        if let Some(addr) = args.http {
            let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
            tracing::info!(addr = %listener.local_addr()?, "serving /metrics");
            tokio::spawn(weir_sink::metrics::serve(listener, all_stats));
        }
        for task in tasks {
            task.await.context("sink task")??;
        }
        anyhow::Ok(())
    })
}

/// Spawns one sink task with stats of its own (listed for /metrics),
/// reported every `every`.
fn spawn_task<F, Fut>(
    name: String,
    every: Duration,
    all_stats: &mut Vec<Arc<Stats>>,
    task: F,
) -> tokio::task::JoinHandle<Result<(), weir_sink::SinkError>>
where
    F: FnOnce(Arc<Stats>) -> Fut,
    Fut: std::future::Future<Output = Result<(), weir_sink::SinkError>> + Send + 'static,
{
    let stats = Arc::new(Stats::new(name));
    all_stats.push(stats.clone());
    tokio::spawn(reported(stats.clone(), every, task(stats)))
}

/// Runs a sink task, logging its progress every `every` and once at the end.
async fn reported<F>(stats: Arc<Stats>, every: Duration, task: F) -> Result<(), weir_sink::SinkError>
where
    F: std::future::Future<Output = Result<(), weir_sink::SinkError>>,
{
    let reporter = {
        let stats = stats.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            let mut last = stats.reading();
            loop {
                tick.tick().await;
                last = stats.log(Some(&last));
            }
        })
    };
    let result = task.await;
    reporter.abort();
    stats.log(None);
    result
}
