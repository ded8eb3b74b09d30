//! The `weir` binary: the only place that turns errors into exit codes
//! (`anyhow` lives here and nowhere else).

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
    /// Drive a load against weir or any other RESP server and report ART, T, L and TR.
    Bench(weir_bench::BenchArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Bench(args) => run_bench(args),
    }
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
