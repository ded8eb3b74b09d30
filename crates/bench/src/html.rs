//! A self-contained HTML report: inline SVG charts (throughput over time,
//! p99 latency over time, latency histogram) and the figures table. No
//! scripts, no fetches.

use crate::report::Report;
use crate::BenchError;
use std::fmt::Write;
use std::path::Path;

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 40.0;
const COLORS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

pub fn write_html(path: &Path, reports: &[Report]) -> Result<(), BenchError> {
    std::fs::write(path, render(reports)).map_err(|e| BenchError::Io(format!("{}: {e}", path.display())))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

pub fn render(reports: &[Report]) -> String {
    let mut html = String::from("<!doctype html><html><head><meta charset=\"utf-8\"><title>weir bench report</title><style>body{font-family:sans-serif;margin:24px}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f3f3f3}svg{border:1px solid #ddd;margin:8px 0}</style></head><body><h1>weir bench</h1>");
    html.push_str("<table><tr><th>run</th><th>scenario</th><th>N</th><th>T req/s</th><th>ART ms</th><th>L ms</th><th>TR mean</th><th>p50</th><th>p99</th><th>p99.9</th><th>max</th><th>invariant</th></tr>");
    for (i, r) in reports.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{i} {}</td><td>{}</td><td>{}</td><td>{:.1}</td><td>{:.3}</td><td>{:.4}</td><td>{:.1}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{:.3}</td><td>{}</td></tr>",
            escape(&r.url), r.scenario, r.requests, r.throughput, r.art_ms, r.l_ms, r.tr.mean,
            r.latency.p50_ms, r.latency.p99_ms, r.latency.p999_ms, r.latency.max_ms,
            if r.invariant_ok { "ok" } else { "BROKEN" }
        );
    }
    html.push_str("</table><p>L = 1/T is the mean interval between completions; per-request latency is given by the percentiles.</p>");
    // Whole seconds only: a final partial window would draw a false drop.
    let series = |f: fn(&crate::report::Point) -> f64| -> Vec<Vec<(f64, f64)>> {
        reports.iter().map(|r| r.timeline.iter().filter(|p| p.window_s >= 0.5).map(|p| (p.t, f(p))).collect()).collect()
    };
    html.push_str("<h2>Throughput over time (req/s)</h2>");
    html.push_str(&line_chart(&series(|p| p.rate)));
    html.push_str("<h2>p99 latency over time (ms)</h2>");
    html.push_str(&line_chart(&series(|p| p.p99_ms)));
    html.push_str("<h2>Latency histogram (requests per bucket, ms)</h2>");
    for r in reports {
        html.push_str(&bar_chart(&r.histogram));
    }
    html.push_str("</body></html>\n");
    html
}

fn scale(v: f64, lo: f64, hi: f64, out_lo: f64, out_hi: f64) -> f64 {
    if hi <= lo {
        return out_lo;
    }
    out_lo + (v - lo) / (hi - lo) * (out_hi - out_lo)
}

fn line_chart(series: &[Vec<(f64, f64)>]) -> String {
    let xs = series.iter().flatten().map(|p| p.0);
    let max_x = xs.fold(1.0f64, f64::max);
    let max_y = series.iter().flatten().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9);
    let mut svg = format!("<svg width=\"{W}\" height=\"{H}\">");
    let _ = write!(svg, "<text x=\"4\" y=\"14\" font-size=\"11\">{max_y:.1}</text><text x=\"{}\" y=\"{}\" font-size=\"11\">{max_x:.0} s</text>", W - 50.0, H - 4.0);
    for (i, points) in series.iter().enumerate() {
        let path: Vec<String> = points
            .iter()
            .map(|(x, y)| {
                format!("{:.1},{:.1}", scale(*x, 0.0, max_x, PAD, W - 10.0), scale(*y, 0.0, max_y, H - PAD, 10.0))
            })
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"2\" points=\"{}\"/>",
            COLORS[i % COLORS.len()],
            path.join(" ")
        );
    }
    svg.push_str("</svg>");
    svg
}

fn bar_chart(buckets: &[(f64, u64)]) -> String {
    let max = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1) as f64;
    let width = (W - PAD) / buckets.len().max(1) as f64;
    let mut svg = format!("<svg width=\"{W}\" height=\"{H}\">");
    for (i, (upper, count)) in buckets.iter().enumerate() {
        let h = scale(*count as f64, 0.0, max, 0.0, H - PAD - 10.0);
        let x = PAD + i as f64 * width;
        let _ = write!(svg, "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"#1f77b4\"><title>≤ {upper:.3} ms: {count}</title></rect>", H - PAD - h, (width - 1.0).max(1.0));
        if i % 4 == 0 {
            let _ = write!(svg, "<text x=\"{x:.1}\" y=\"{}\" font-size=\"10\">{upper:.2}</text>", H - PAD + 14.0);
        }
    }
    svg.push_str("</svg>");
    svg
}
