//! Driving the load: one task per client connection, each sending its
//! pipeline and reading the replies in order; a reporter merges each
//! second's latencies into the timeline and shows progress.

use crate::client::{Client, Reply, Target};
use crate::report::{Point, Report};
use crate::scenario::{FlashMode, Kind, Outcome, Scenario};
use crate::{BenchError, Load};
use hdrhistogram::Histogram;
use rand::SeedableRng;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, up to an hour.
const MAX_LATENCY_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds")
}

/// What the workers share with the reporter.
struct Shared {
    scenario: Arc<Scenario>,
    stop: AtomicBool,
    /// Requests still to start when --requests is set.
    budget: Option<AtomicI64>,
    measuring: AtomicBool,
    completed: AtomicU64,
    interval: Vec<Mutex<Histogram<u64>>>,
    errors: Mutex<BTreeMap<String, u64>>,
}

/// Runs one scenario against one target and returns its report.
pub async fn run(
    load: &Load,
    target: &Target,
    mut scenario: Scenario,
    interrupted: Arc<AtomicBool>,
) -> Result<Report, BenchError> {
    let mut control = Client::connect(target).await?;
    scenario.setup(&mut control, &target.url).await?;
    let mut clients = Vec::with_capacity(load.clients);
    for _ in 0..load.clients {
        clients.push(Client::connect(target).await?);
    }
    let shared = Arc::new(Shared {
        scenario: Arc::new(scenario),
        stop: AtomicBool::new(false),
        budget: load.requests.map(|n| AtomicI64::new(n as i64)),
        measuring: AtomicBool::new(load.warmup.is_zero()),
        completed: AtomicU64::new(0),
        interval: (0..load.clients).map(|_| Mutex::new(histogram())).collect(),
        errors: Mutex::new(BTreeMap::new()),
    });
    let started = Instant::now();
    let workers: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(id, client)| tokio::spawn(worker(shared.clone(), client, id, load.clone(), started)))
        .collect();
    let (mut timeline, mut total, measure_start, last_point) = report_loop(&shared, load, &interrupted).await;
    shared.stop.store(true, Relaxed);
    let mut failure = None;
    for w in workers {
        if let Ok(Err(e)) = w.await {
            failure.get_or_insert(e);
        }
    }
    if let Some(e) = failure {
        return Err(e);
    }
    // Requests in flight when the reporter stopped complete into a last point.
    let mut rest = histogram();
    drain(&shared, &mut rest);
    let end = Instant::now();
    let elapsed = measure_start.map(|s| end.duration_since(s)).unwrap_or_default();
    if !rest.is_empty() {
        let window = end.duration_since(last_point).as_secs_f64();
        timeline.push(Point::from_histogram(elapsed.as_secs_f64(), window, &rest));
        total.add(&rest).ok();
    }
    let verdict = crate::scenario::verify(&shared.scenario, &mut control).await;
    let errors = shared.errors.lock().map(|m| m.clone()).unwrap_or_default();
    Ok(Report::build(
        load,
        target,
        &shared.scenario,
        total,
        elapsed,
        timeline,
        errors,
        verdict,
        interrupted.load(Relaxed),
    ))
}

/// Each second: merge the workers' interval histograms, show progress, stop
/// at the deadline or when the budget is spent.
async fn report_loop(
    shared: &Shared,
    load: &Load,
    interrupted: &AtomicBool,
) -> (Vec<Point>, Histogram<u64>, Option<Instant>, Instant) {
    let progress = crate::progress::Progress::new(load);
    let mut total = histogram();
    let mut timeline = Vec::new();
    let warmup_end = Instant::now() + load.warmup;
    let mut measure_start = if load.warmup.is_zero() { Some(Instant::now()) } else { None };
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut second = histogram();
    let mut last_second = Instant::now();
    loop {
        tick.tick().await;
        let now = Instant::now();
        if measure_start.is_none() && now >= warmup_end {
            drain(shared, &mut histogram());
            shared.measuring.store(true, Relaxed);
            measure_start = Some(now);
            last_second = now;
        }
        let finished = shared.stop.load(Relaxed) || interrupted.load(Relaxed);
        let deadline = measure_start.zip(load.duration).is_some_and(|(s, d)| now >= s + d);
        if now - last_second >= Duration::from_secs(1) || finished || deadline {
            drain(shared, &mut second);
            if let Some(start) = measure_start {
                let point = Point::from_histogram(
                    now.duration_since(start).as_secs_f64(),
                    now.duration_since(last_second).as_secs_f64(),
                    &second,
                );
                progress.update(&point, shared.completed.load(Relaxed));
                total.add(&second).ok();
                timeline.push(point);
            }
            second.reset();
            last_second = now;
        }
        if finished || deadline {
            progress.finish();
            return (timeline, total, measure_start, last_second);
        }
    }
}

fn drain(shared: &Shared, into: &mut Histogram<u64>) {
    for interval in &shared.interval {
        if let Ok(mut h) = interval.lock() {
            into.add(&*h).ok();
            h.reset();
        }
    }
}

/// How many requests this worker may start now (budget permitting).
fn take(shared: &Shared, want: usize) -> usize {
    match &shared.budget {
        None => want,
        Some(budget) => {
            let before = budget.fetch_sub(want as i64, Relaxed);
            before.clamp(0, want as i64) as usize
        }
    }
}

async fn worker(
    shared: Arc<Shared>,
    mut client: Client,
    id: usize,
    load: Load,
    started: Instant,
) -> Result<(), BenchError> {
    let mut rng = rand::rngs::SmallRng::seed_from_u64(started.elapsed().as_nanos() as u64 ^ (id as u64) << 32);
    let scenario = shared.scenario.clone();
    let watch = scenario.kind == Kind::FlashSale && scenario.flash == FlashMode::Watch;
    let pipeline = if watch { 1 } else { load.pipeline };
    let per_client_rate = load.rate.map(|r| r / load.clients as f64);
    let mut sent = 0u64;
    let mut out = Vec::with_capacity(4096);
    let mut counts = Vec::with_capacity(pipeline);
    let mut intended = Vec::with_capacity(pipeline);
    let result = loop {
        if shared.stop.load(Relaxed) {
            break Ok(());
        }
        let n = take(&shared, pipeline);
        if n == 0 {
            break Ok(());
        }
        out.clear();
        counts.clear();
        intended.clear();
        for _ in 0..n {
            // Open loop: each request has an intended send time, and its
            // latency counts from then (coordinated-omission correction).
            let due = per_client_rate.map(|r| started + Duration::from_secs_f64(sent as f64 / r));
            sent += 1;
            intended.push(due);
            if watch {
                continue;
            }
            counts.push(scenario.encode_request(&mut rng, &mut out));
        }
        if let Some(Some(first)) = intended.first() {
            tokio::time::sleep_until((*first).into()).await;
        }
        let send_time = Instant::now();
        let outcomes = if watch {
            let user = scenario.picker.pick(&mut rng);
            vec![scenario.watch_purchase(&mut client, user).await]
        } else {
            match exchange(&mut client, &out, &counts, &scenario).await {
                Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
                Err(e) => break Err(e),
            }
        };
        let done = Instant::now();
        let mut settled = Vec::with_capacity(outcomes.len());
        for (outcome, due) in outcomes.into_iter().zip(&intended) {
            settled.push((outcome?, done.duration_since(due.unwrap_or(send_time))));
        }
        record(&shared, id, settled);
    };
    if shared.budget.is_some() && !shared.stop.load(Relaxed) {
        shared.stop.store(true, Relaxed);
    }
    result
}

async fn exchange(
    client: &mut Client,
    out: &[u8],
    counts: &[usize],
    scenario: &Scenario,
) -> Result<Vec<Outcome>, BenchError> {
    client.send(out).await?;
    let mut outcomes = Vec::with_capacity(counts.len());
    let mut replies: Vec<Reply> = Vec::new();
    for &count in counts {
        replies.clear();
        for _ in 0..count {
            replies.push(client.read_reply().await?);
        }
        outcomes.push(scenario.settle(&replies));
    }
    Ok(outcomes)
}

/// Records one pipeline's outcomes: one lock per batch, not per request.
fn record(shared: &Shared, id: usize, settled: Vec<(Outcome, Duration)>) {
    if !shared.measuring.load(Relaxed) {
        return;
    }
    shared.completed.fetch_add(settled.len() as u64, Relaxed);
    let Ok(mut h) = shared.interval[id].lock() else { return };
    for (outcome, latency) in settled {
        if let Outcome::Error(kind) = outcome {
            if let Ok(mut errors) = shared.errors.lock() {
                *errors.entry(kind).or_insert(0) += 1;
            }
        }
        h.record((latency.as_micros() as u64).clamp(1, MAX_LATENCY_US)).ok();
    }
}
