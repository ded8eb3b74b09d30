//! `weir bench`: a load generator for weir or any RESP server.
//!
//! - [`client`]: a minimal pipelined RESP client (the hot path).
//! - [`keys`]: uniform and Zipf key choice.
//! - [`scenario`]: likes, orders, trades, leaderboard, flash-sale, custom;
//!   each with its end-of-run invariant.
//! - [`run`]: client tasks, open or closed loop, and the per-second
//!   reporter.
//! - [`report`], [`export`], [`html`], [`progress`], [`compare`]: the
//!   figures (ART, T, L, TR, percentiles, Little's law) and their outputs.

pub use weir_client as client;
pub mod compare;
pub mod export;
pub mod html;
pub mod keys;
pub mod progress;
pub mod report;
pub mod run;
pub mod scenario;

use clap::Args;
use scenario::{FlashMode, Kind, Scenario};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Compare mode runs at least this many rounds per server.
pub const MIN_COMPARE_ROUNDS: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("{0}")]
    Usage(String),
    #[error("{0}")]
    Unsupported(String),
    /// Writing a report failed.
    #[error("{0}")]
    Io(String),
    /// Talking to the server failed (connect, auth, I/O, protocol).
    #[error(transparent)]
    Client(#[from] weir_client::ClientError),
}

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// Server to drive: redis://[:password@]host:port. Give two to compare them.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    pub url: Vec<String>,
    /// What the clients do.
    #[arg(long, value_enum, default_value = "likes")]
    pub scenario: Kind,
    /// Connections.
    #[arg(long, default_value_t = 50)]
    pub clients: usize,
    /// Requests each connection keeps in flight.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// How long to measure, e.g. 30s, 500ms, 2m (default 30s unless --requests).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many requests instead of a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Run this long before measuring.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub warmup: Duration,
    /// Open loop: a fixed arrival rate (req/s, all clients); latency counts from the intended send time.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Key space (counters, SKUs, players, accounts; buyers in flash-sale).
    #[arg(long, default_value_t = 10_000)]
    pub keys: u64,
    /// Key distribution: uniform or zipf:<exponent>.
    #[arg(long, default_value = "zipf:0.99")]
    pub dist: keys::Dist,
    /// Bytes of __data__ in custom commands.
    #[arg(long, default_value_t = 16)]
    pub value_size: usize,
    /// Units for sale in flash-sale.
    #[arg(long, default_value_t = 1000)]
    pub stock: u64,
    /// How flash-sale buys: the script by EVAL or EVALSHA, WATCH/MULTI, or
    /// auto (EVAL where the server has it).
    #[arg(long, value_enum, default_value = "auto")]
    pub flash_mode: FlashMode,
    /// The custom scenario's command, e.g. 'SET key:__rand_int__ __data__'.
    #[arg(long)]
    pub command: Option<String>,
    /// Rounds per server in compare mode.
    #[arg(long, default_value_t = MIN_COMPARE_ROUNDS)]
    pub rounds: usize,
    /// Write every report as JSON.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Write one CSV row per run.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// Write a self-contained HTML report with charts.
    #[arg(long)]
    pub html: Option<PathBuf>,
}

/// The load shape, shared by every run.
#[derive(Debug, Clone)]
pub struct Load {
    pub clients: usize,
    pub pipeline: usize,
    pub duration: Option<Duration>,
    pub requests: Option<u64>,
    pub warmup: Duration,
    pub rate: Option<f64>,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    let (number, unit) =
        text.find(|c: char| !c.is_ascii_digit() && c != '.').map(|i| text.split_at(i)).unwrap_or((text, "s"));
    let value: f64 = number.parse().map_err(|_| format!("bad duration {text:?}"))?;
    let secs = match unit {
        "ms" => value / 1000.0,
        "s" | "" => value,
        "m" => value * 60.0,
        _ => return Err(format!("bad duration unit in {text:?} (use ms, s or m)")),
    };
    Ok(Duration::from_secs_f64(secs))
}

impl BenchError {
    pub fn kind(&self) -> String {
        use weir_client::ClientError as C;
        match self {
            BenchError::Io(_) | BenchError::Client(C::Io(_)) => "IO".into(),
            BenchError::Client(C::Protocol(_)) => "PROTOCOL".into(),
            _ => "OTHER".into(),
        }
    }
}

fn scenario(args: &BenchArgs) -> Result<Scenario, BenchError> {
    let template: Vec<String> = match (&args.scenario, &args.command) {
        (Kind::Custom, None) => return Err(BenchError::Usage("--scenario custom needs --command".into())),
        (_, Some(c)) => c.split_whitespace().map(str::to_string).collect(),
        _ => Vec::new(),
    };
    Ok(Scenario {
        kind: args.scenario,
        prefix: format!("bench:{:08x}", rand::random::<u32>()),
        keys: args.keys,
        picker: keys::KeyPicker::new(&args.dist, args.keys)?,
        value: vec![b'x'; args.value_size],
        stock: args.stock,
        flash: args.flash_mode,
        template,
        ledger: Default::default(),
        encoded: Vec::new(),
        script_sha: None,
    })
}

fn load(args: &BenchArgs) -> Result<Load, BenchError> {
    if args.clients == 0 || args.pipeline == 0 {
        return Err(BenchError::Usage("--clients and --pipeline must be at least 1".into()));
    }
    if args.rate.is_some_and(|r| r <= 0.0 || !r.is_finite()) {
        return Err(BenchError::Usage("--rate must be positive".into()));
    }
    let duration = match (args.duration, args.requests) {
        (None, None) => Some(Duration::from_secs(30)),
        (d, _) => d,
    };
    Ok(Load {
        clients: args.clients,
        pipeline: args.pipeline,
        duration,
        requests: args.requests,
        warmup: args.warmup,
        rate: args.rate,
    })
}

/// Runs the benchmark; prints the report; the exit code says whether every
/// invariant held.
pub async fn run(args: BenchArgs) -> ExitCode {
    match run_inner(args).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("error: an invariant broke (see the report above)");
            ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

async fn run_inner(args: BenchArgs) -> Result<bool, BenchError> {
    let load = load(&args)?;
    let targets: Vec<client::Target> = args.url.iter().map(|u| client::Target::parse(u)).collect::<Result<_, _>>()?;
    if targets.len() > 2 {
        return Err(BenchError::Usage("give one --url, or two to compare".into()));
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            flag.store(true, Ordering::Relaxed);
        }
    });
    let rounds = if targets.len() == 2 { args.rounds.max(MIN_COMPARE_ROUNDS) } else { 1 };
    let mut per_target: Vec<Vec<report::Report>> = vec![Vec::new(); targets.len()];
    // Every run in the order it ran (compare mode alternates A, B, A, B).
    let mut all: Vec<report::Report> = Vec::new();
    'rounds: for _ in 0..rounds {
        for (i, target) in targets.iter().enumerate() {
            let report = run::run(&load, target, scenario(&args)?, interrupted.clone()).await?;
            report.print();
            per_target[i].push(report.clone());
            all.push(report);
            if interrupted.load(Ordering::Relaxed) {
                break 'rounds;
            }
        }
    }
    if targets.len() == 2 {
        compare::print(&per_target[0], &per_target[1]);
    }
    if let Some(path) = &args.json {
        export::write_json(path, &all)?;
    }
    if let Some(path) = &args.csv {
        export::write_csv(path, &all)?;
    }
    if let Some(path) = &args.html {
        html::write_html(path, &all)?;
    }
    Ok(all.iter().all(|r| r.invariant_ok))
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert!(parse_duration("3h").is_err());
    }
}
