//! The sink's HTTP endpoint: `/health` and `/metrics` (Prometheus text,
//! one series per sink task, labelled `sink`), read from the tasks'
//! atomics at scrape time.

use crate::stats::Stats;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

type Tasks = Arc<Vec<Arc<Stats>>>;

/// Serves `/health` and `/metrics` on `listener` until the process ends.
pub async fn serve(listener: tokio::net::TcpListener, tasks: Vec<Arc<Stats>>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/health", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .with_state(Arc::new(tasks));
    axum::serve(listener, app).await
}

async fn metrics(State(tasks): State<Tasks>) -> axum::response::Response {
    match render(&tasks) {
        Ok(text) => ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], text)
            .into_response(),
        Err(_) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "metrics encoding failed\n").into_response(),
    }
}

/// The Prometheus text for these tasks.
pub fn render(tasks: &[Arc<Stats>]) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("weir_sink");
    registry.register_collector(Box::new(SinkCollector(tasks.to_vec())));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

#[derive(Debug)]
struct SinkCollector(Vec<Arc<Stats>>);

/// A metric family with one series per task, labelled `sink`.
fn family<M: EncodeMetric>(
    encoder: &mut DescriptorEncoder,
    tasks: &[Arc<Stats>],
    (name, help, kind): (&str, &str, MetricType),
    metric: impl Fn(&Stats) -> M,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, kind)?;
    for task in tasks {
        metric(task).encode(family.encode_family(&[("sink", task.name.as_str())])?)?;
    }
    Ok(())
}

fn counter(value: u64) -> ConstCounter<u64> {
    ConstCounter::new(value)
}

impl Collector for SinkCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use MetricType::{Counter, Gauge};
        let (tasks, e) = (&self.0, &mut encoder);
        family(e, tasks, ("batches", "Batches written to PostgreSQL.", Counter), |s| counter(s.batches.load(Relaxed)))?;
        family(e, tasks, ("rows", "Rows inserted, upserted or deleted.", Counter), |s| counter(s.rows.load(Relaxed)))?;
        let statements = ("statements", "Statements sent to PostgreSQL.", Counter);
        family(e, tasks, statements, |s| counter(s.statements.load(Relaxed)))?;
        let writes = (
            "client_writes",
            "Client writes carried to PostgreSQL (stream entries, or counter writes merged).",
            Counter,
        );
        family(e, tasks, writes, |s| counter(s.client_writes.load(Relaxed)))?;
        let lag = (
            "lag",
            "Work waiting in weir: stream entries not yet acknowledged by the sink's group, or changed keys not yet written.",
            Gauge,
        );
        family(e, tasks, lag, |s| ConstGauge::new(s.lag.load(Relaxed) as f64))?;
        let ratio = ("writes_per_statement", "Client writes per database statement, since the sink started.", Gauge);
        family(e, tasks, ratio, |s| ConstGauge::new(s.merge_ratio()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_series_per_task_with_its_label() {
        let orders = Arc::new(Stats::new("stream orders".into()));
        orders.client_writes.fetch_add(300, Relaxed);
        orders.statements.fetch_add(3, Relaxed);
        orders.lag.store(7, Relaxed);
        let likes = Arc::new(Stats::new("counters *:likes:*".into()));
        let text = render(&[orders, likes]).expect("renders");
        assert!(text.contains("weir_sink_client_writes_total{sink=\"stream orders\"} 300"), "{text}");
        assert!(text.contains("weir_sink_statements_total{sink=\"counters *:likes:*\"} 0"), "{text}");
        assert!(text.contains("weir_sink_lag{sink=\"stream orders\"} 7.0"), "{text}");
        assert!(text.contains("weir_sink_writes_per_statement{sink=\"stream orders\"} 100.0"), "{text}");
    }
}
