//! The `weir` binary: the only place that turns errors into exit codes
//! (`anyhow` lives here and nowhere else).

mod serve;
mod sink;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "weir", version, about = "A durable, batched, Raft-backed write tier that speaks Redis")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: RESP on --bind/--port, HTTP on --http, data in --dir.
    Serve(serve::ServeArgs),
    /// Drive a load against weir or any other RESP server and report ART, T, L and TR.
    Bench(weir_bench::BenchArgs),
    /// Drain weir into another store: `weir sink postgres`.
    Sink(sink::SinkArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => run_bench(args),
        Command::Sink(args) => logged(|| sink::run(args)),
        Command::Serve(args) => logged(|| serve::run(args)),
    }
}

/// Runs a long-lived command with logging; its error, logged and printed,
/// becomes the exit code.
fn logged(run: impl FnOnce() -> anyhow::Result<()>) -> ExitCode {
    init_logging();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).init();
}

fn run_bench(args: weir_bench::BenchArgs) -> ExitCode {
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(weir_bench::run(args))
}
