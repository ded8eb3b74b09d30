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

/// jemalloc, the allocator redis-server ships with. Against glibc's malloc
/// it took a flash-sale purchase from 58.3k to 52.8k instructions and a
/// no-pipeline LPUSH from 10.7k to 9.9k (callgrind, whole process): a
/// script's Lua objects are allocated per call and freed in bursts by the
/// collector, which overflowed glibc's per-thread cache.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The node's memory as jemalloc counts it (`weir_server::memory`): bytes
/// allocated and resident, after refreshing its statistics (~20 µs).
pub fn jemalloc_reading() -> Option<weir_server::memory::MemoryReading> {
    use tikv_jemalloc_ctl::{epoch, epoch_mib, stats};
    type Mibs = (epoch_mib, stats::allocated_mib, stats::resident_mib);
    static MIBS: std::sync::OnceLock<Option<Mibs>> = std::sync::OnceLock::new();
    let mibs =
        MIBS.get_or_init(|| Some((epoch::mib().ok()?, stats::allocated::mib().ok()?, stats::resident::mib().ok()?)));
    let (refresh, allocated, resident) = mibs.as_ref()?;
    refresh.advance().ok()?;
    let (allocated, resident) = (allocated.read().ok()?, resident.read().ok()?);
    Some(weir_server::memory::MemoryReading { allocated: allocated as u64, resident: resident as u64 })
}

/// jemalloc's options, read before `main` (the crate prefixes jemalloc's
/// symbols): a background thread returns freed pages to the kernel 1 s
/// after they were freed (jemalloc's default is 10 s, and without the
/// thread only at a later allocation). Otherwise an idle node that had
/// just loaded 1M keys stayed ~50% above what the data holds: a write
/// tier's batches free large blocks all the time. Redis also runs
/// jemalloc's background thread; one is enough (jemalloc would start one
/// per core, idle).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: Option<&'static std::ffi::c_char> =
    // SAFETY: a C string literal is 'static and NUL-terminated.
    Some(unsafe {
        &*c"background_thread:true,max_background_threads:1,dirty_decay_ms:1000,muzzy_decay_ms:0".as_ptr()
    });
