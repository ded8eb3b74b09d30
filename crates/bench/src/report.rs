//! The run's figures: N, duration, throughput (T), average response time
//! (ART), L = 1/T, throughput rate (TR, per-second rates), latency
//! percentiles from an HDR histogram, errors by kind, and Little's law.

use crate::client::Target;
use crate::scenario::Scenario;
use crate::Load;
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;

/// One second (or the last partial window) of the timeline.
#[derive(Clone, Debug, Serialize)]
pub struct Point {
    /// Seconds since measuring began, at the end of the window.
    pub t: f64,
    /// Length of this window (1 s except the last, partial one).
    pub window_s: f64,
    pub completed: u64,
    /// Completions per second in this window.
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

impl Point {
    pub fn from_histogram(t: f64, window_secs: f64, h: &Histogram<u64>) -> Point {
        let ms = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 };
        Point {
            t,
            window_s: window_secs,
            completed: h.len(),
            rate: h.len() as f64 / window_secs.max(1e-9),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Percentiles {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

/// TR: how steady throughput was, over the timeline's whole seconds.
#[derive(Clone, Debug, Serialize)]
pub struct Rate {
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Littles {
    /// clients × pipeline: requests kept in flight.
    pub in_flight: f64,
    /// T × ART: what Little's law says was in flight.
    pub t_times_art: f64,
    pub deviation_pct: f64,
}

#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub scenario: String,
    pub url: String,
    pub clients: usize,
    pub pipeline: usize,
    pub requests: u64,
    pub elapsed_s: f64,
    pub throughput: f64,
    pub art_ms: f64,
    pub l_ms: f64,
    pub tr: Rate,
    pub latency: Percentiles,
    pub errors: BTreeMap<String, u64>,
    pub littles_law: Littles,
    pub invariant_ok: bool,
    pub invariant: String,
    pub interrupted: bool,
    /// --rate was set: arrivals are fixed, so in-flight requests are not
    /// clients × pipeline and Little's law compares T × ART with nothing fixed.
    pub open_loop: bool,
    pub extra: BTreeMap<String, f64>,
    pub timeline: Vec<Point>,
    /// (upper bound ms, count) buckets for the latency histogram chart.
    pub histogram: Vec<(f64, u64)>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        load: &Load,
        target: &Target,
        scenario: &Scenario,
        total: Histogram<u64>,
        elapsed: std::time::Duration,
        timeline: Vec<Point>,
        errors: BTreeMap<String, u64>,
        verdict: Result<String, String>,
        interrupted: bool,
    ) -> Report {
        let n = total.len();
        let secs = elapsed.as_secs_f64().max(1e-9);
        let throughput = n as f64 / secs;
        let ms = |q: f64| if total.is_empty() { 0.0 } else { total.value_at_quantile(q) as f64 / 1000.0 };
        let art_ms = if total.is_empty() { 0.0 } else { total.mean() / 1000.0 };
        let in_flight = (load.clients * load.pipeline) as f64;
        let t_times_art = throughput * art_ms / 1000.0;
        // TR counts whole seconds; a final partial window would skew it.
        let whole: Vec<f64> = timeline.iter().filter(|p| p.window_s >= 0.5).map(|p| p.rate).collect();
        let tr = Rate {
            mean: if whole.is_empty() { 0.0 } else { whole.iter().sum::<f64>() / whole.len() as f64 },
            min: whole.iter().copied().fold(f64::INFINITY, f64::min).min(f64::MAX),
            max: whole.iter().copied().fold(0.0, f64::max),
        };
        let ledger = &scenario.ledger;
        let load_of = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed) as f64;
        let mut extra = BTreeMap::new();
        if scenario.kind == crate::scenario::Kind::FlashSale {
            let attempts = load_of(&ledger.bought) + load_of(&ledger.sold_out) + load_of(&ledger.duplicates);
            extra.insert("flash_watch_retries".into(), load_of(&ledger.watch_retries));
            extra.insert("flash_retry_rate".into(), load_of(&ledger.watch_retries) / attempts.max(1.0));
            extra.insert("flash_orders".into(), load_of(&ledger.bought));
            extra.insert("flash_script".into(), f64::from(u8::from(scenario.flash.scripted())));
        }
        Report {
            scenario: format!("{:?}", scenario.kind).to_lowercase(),
            url: target.url.clone(),
            clients: load.clients,
            pipeline: load.pipeline,
            requests: n,
            elapsed_s: secs,
            throughput,
            art_ms,
            l_ms: if throughput > 0.0 { 1000.0 / throughput } else { 0.0 },
            tr: Rate { min: if tr.min.is_finite() { tr.min } else { 0.0 }, ..tr },
            latency: Percentiles {
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                p999_ms: ms(0.999),
                max_ms: total.max() as f64 / 1000.0,
            },
            errors,
            littles_law: Littles {
                in_flight,
                t_times_art,
                deviation_pct: if in_flight > 0.0 { (t_times_art - in_flight) / in_flight * 100.0 } else { 0.0 },
            },
            invariant_ok: verdict.is_ok(),
            invariant: verdict.unwrap_or_else(|e| e),
            interrupted,
            open_loop: load.rate.is_some(),
            extra,
            timeline,
            histogram: buckets(&total),
        }
    }

    /// The human table.
    pub fn print(&self) {
        let l = &self.latency;
        println!(
            "\nscenario {}  against {}  ({} clients × pipeline {})",
            self.scenario, self.url, self.clients, self.pipeline
        );
        if self.interrupted {
            println!("(interrupted: partial report)");
        }
        println!("  N (requests)          {:>12}", self.requests);
        println!("  duration              {:>12.3} s", self.elapsed_s);
        println!("  T   throughput        {:>12.1} req/s   (N / duration)", self.throughput);
        println!("  ART avg response time {:>12.3} ms", self.art_ms);
        println!(
            "  L   = 1/T             {:>12.4} ms      (mean interval between completions, not a request's latency)",
            self.l_ms
        );
        println!(
            "  TR  throughput rate   {:>12.1} req/s mean per second (min {:.1}, max {:.1})",
            self.tr.mean, self.tr.min, self.tr.max
        );
        println!(
            "  latency per request   p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms",
            l.p50_ms, l.p90_ms, l.p99_ms, l.p999_ms, l.max_ms
        );
        let errors: Vec<String> = self.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
        println!("  errors                {}", if errors.is_empty() { "none".to_string() } else { errors.join(", ") });
        let ll = &self.littles_law;
        println!(
            "  Little's law          clients×pipeline = {:.0} ≈ T×ART = {:.1} (deviation {:+.1}%)",
            ll.in_flight, ll.t_times_art, ll.deviation_pct
        );
        for (k, v) in &self.extra {
            println!("  {k:<21} {v:>12.4}");
        }
        let mark = if self.invariant_ok { "ok" } else { "BROKEN" };
        println!("  invariant {mark}: {}", self.invariant);
    }
}

/// Log-spaced latency buckets for the chart.
fn buckets(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    if h.is_empty() {
        return out;
    }
    for v in h.iter_log(10, 1.5) {
        out.push((v.value_iterated_to() as f64 / 1000.0, v.count_since_last_iteration()));
    }
    out
}
