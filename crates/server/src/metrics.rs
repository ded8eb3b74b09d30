//! `/metrics` in Prometheus text format, read from the node's atomics at
//! scrape time (nothing on the hot path takes a lock to count).

use crate::node::Node;
use crate::stats::AtomicHistogram;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

pub fn render(node: &Arc<Node>) -> Result<String, std::fmt::Error> {
    let mut registry = Registry::with_prefix("weir");
    registry.register_collector(Box::new(NodeCollector(node.clone())));
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    Ok(text)
}

struct NodeCollector(Arc<Node>);

impl std::fmt::Debug for NodeCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeCollector")
    }
}

fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    ConstCounter::new(value).encode(metric)
}

fn gauge(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: i64) -> Result<(), std::fmt::Error> {
    let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    ConstGauge::new(value).encode(metric)
}

fn histogram(
    mut metric: prometheus_client::encoding::MetricEncoder,
    h: &AtomicHistogram,
) -> Result<(), std::fmt::Error> {
    metric.encode_histogram::<Vec<(String, String)>>(h.sum(), h.count(), &h.buckets(), None)
}

impl Collector for NodeCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let node = &self.0;
        let stats = &node.stats;
        let log = node.log.stats();
        let specs: Vec<_> = crate::commands::all_specs().collect();
        {
            let mut family =
                encoder.encode_descriptor("commands", "Commands executed, by name.", None, MetricType::Counter)?;
            for (spec, c) in specs.iter().zip(&stats.commands) {
                let calls = c.calls.load(Relaxed);
                if calls > 0 {
                    ConstCounter::new(calls).encode(family.encode_family(&[("command", spec.name)])?)?;
                }
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "error_replies",
                "Error replies, by prefix (INFO errorstats).",
                None,
                MetricType::Counter,
            )?;
            for (code, count) in stats.errors.codes() {
                ConstCounter::new(count).encode(family.encode_family(&[("code", code.as_str())])?)?;
            }
        }
        {
            let mut family = encoder.encode_descriptor(
                "command_duration_seconds",
                "Command latency from dispatch to reply, by name.",
                None,
                MetricType::Histogram,
            )?;
            for (spec, c) in specs.iter().zip(&stats.commands) {
                if c.latency.count() > 0 {
                    histogram(family.encode_family(&[("command", spec.name)])?, &c.latency)?;
                }
            }
        }
        let batch = encoder.encode_descriptor(
            "batch_items",
            "Commands per Raft entry (group commit).",
            None,
            MetricType::Histogram,
        )?;
        histogram(batch, &stats.batch_items)?;
        counter(
            &mut encoder,
            "log_fsyncs",
            "Durable writes (O_DSYNC) or fdatasync calls on the node log.",
            log.fsyncs,
        )?;
        gauge(
            &mut encoder,
            "log_direct_io",
            "1 if the log appends with O_DIRECT | O_DSYNC, 0 if with write + fdatasync.",
            i64::from(log.direct_io),
        )?;
        counter(&mut encoder, "log_batches", "Group-commit writes to the node log.", log.batches)?;
        counter(&mut encoder, "log_bytes", "Bytes written to the node log.", log.bytes)?;
        counter(&mut encoder, "log_records", "Records written to the node log.", log.records)?;
        gauge(
            &mut encoder,
            "log_poisoned",
            "1 if a log write or fsync failed and writes are refused.",
            i64::from(node.log.poisoned().is_some()),
        )?;
        let memory = &node.memory;
        gauge(&mut encoder, "used_memory_bytes", "Bytes allocated (sampled; INFO used_memory).", memory.used() as i64)?;
        gauge(&mut encoder, "resident_memory_bytes", "Bytes of the process in RAM.", memory.resident() as i64)?;
        gauge(
            &mut encoder,
            "maxmemory_bytes",
            "Memory past which writes that may grow it are refused (OOM); 0: no limit.",
            memory.limit().unwrap_or(0) as i64,
        )?;
        gauge(&mut encoder, "connected_clients", "Open RESP connections.", stats.connected.load(Relaxed) as i64)?;
        counter(&mut encoder, "connections", "RESP connections accepted.", stats.connections_total.load(Relaxed))?;
        counter(
            &mut encoder,
            "connections_rejected",
            "Connections refused at max-clients.",
            stats.connections_rejected.load(Relaxed),
        )?;
        counter(
            &mut encoder,
            "protocol_errors",
            "Connections closed for malformed input.",
            stats.protocol_errors.load(Relaxed),
        )?;
        counter(&mut encoder, "snapshots", "Partition snapshots built.", node.groups_snapshots())?;
        counter(
            &mut encoder,
            "scripts_read",
            "Writing scripts (EVAL) that wrote nothing, answered on the read path without a log entry.",
            stats.scripts_read.load(Relaxed),
        )?;
        gauge(
            &mut encoder,
            "blocked_clients",
            "Clients waiting in blocking pops and stream reads.",
            stats.blocked_clients.load(Relaxed) as i64,
        )?;
        let pending: u64 = node.partitions.iter().map(|p| p.stream_pending_entries()).sum();
        gauge(
            &mut encoder,
            "stream_pending_entries",
            "Stream entries delivered to consumers, not acknowledged.",
            pending as i64,
        )?;
        let mut applied = encoder.encode_descriptor(
            "partition_applied_index",
            "Last log index applied, by partition.",
            None,
            MetricType::Gauge,
        )?;
        for partition in &node.partitions {
            let label = [("partition", partition.id.to_string())];
            ConstGauge::new(partition.applied_index.load(Relaxed) as i64).encode(applied.encode_family(&label)?)?;
        }
        Ok(())
    }
}
