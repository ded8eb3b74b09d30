//! Machine-readable output: JSON (everything) and CSV (one row per run).

use crate::report::Report;
use crate::BenchError;
use std::path::Path;

pub fn write_json(path: &Path, reports: &[Report]) -> Result<(), BenchError> {
    let text = serde_json::to_string_pretty(reports).map_err(|e| BenchError::Io(e.to_string()))?;
    std::fs::write(path, text).map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))
}

const CSV_HEADER: &str = "scenario,url,clients,pipeline,requests,elapsed_s,throughput,art_ms,l_ms,tr_mean,tr_min,tr_max,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,errors,littles_deviation_pct,invariant_ok";

pub fn write_csv(path: &Path, reports: &[Report]) -> Result<(), BenchError> {
    let mut text = String::from(CSV_HEADER);
    text.push('\n');
    for r in reports {
        let l = &r.latency;
        let errors: u64 = r.errors.values().sum();
        text.push_str(&format!(
            "{},{},{},{},{},{:.3},{:.1},{:.4},{:.4},{:.1},{:.1},{:.1},{:.4},{:.4},{:.4},{:.4},{:.4},{},{:.2},{}\n",
            r.scenario,
            r.url,
            r.clients,
            r.pipeline,
            r.requests,
            r.elapsed_s,
            r.throughput,
            r.art_ms,
            r.l_ms,
            r.tr.mean,
            r.tr.min,
            r.tr.max,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            errors,
            r.littles_law.deviation_pct,
            r.invariant_ok
        ));
    }
    std::fs::write(path, text).map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))
}
