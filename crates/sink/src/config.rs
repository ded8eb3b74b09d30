//! The sink's TOML file:
//!
//! ```toml
//! [[streams]]
//! stream = "orders"          # the stream to drain
//! table = "orders"           # the PostgreSQL table (created if missing)
//! group = "weir-sink"        # consumer group (default)
//! consumer = "sink-1"        # consumer name (default "sink")
//! id_column = "stream_id"    # primary key: the entry's stream ID (default)
//! batch = 1000               # entries per statement (default)
//! [streams.columns]          # entry field -> text column
//! order = "order_text"
//! ```

use crate::SinkError;
use std::collections::BTreeMap;

/// Entries per INSERT at most (bounds one statement's size).
pub const MAX_BATCH: usize = 10_000;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    #[serde(default)]
    pub streams: Vec<StreamTable>,
    /// Each with a pattern of its own: a pattern's feed is acknowledged
    /// by the one task that pushes it.
    #[serde(default)]
    pub counters: Vec<Counters>,
}

/// Counters and hashes whose keys match `pattern`, written behind to one
/// table (key, latest value) at most every `interval_ms`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Counters {
    pub pattern: String,
    pub table: String,
    #[serde(default = "default_key_column")]
    pub key_column: String,
    #[serde(default = "default_value_column")]
    pub value_column: String,
    #[serde(default = "default_interval_ms")]
    pub interval_ms: u64,
    #[serde(default = "default_batch")]
    pub batch: usize,
}

fn default_key_column() -> String {
    "key".into()
}
fn default_value_column() -> String {
    "value".into()
}
fn default_interval_ms() -> u64 {
    100
}

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamTable {
    pub stream: String,
    pub table: String,
    #[serde(default = "default_group")]
    pub group: String,
    #[serde(default = "default_consumer")]
    pub consumer: String,
    #[serde(default = "default_id_column")]
    pub id_column: String,
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// Entry field → column; fields not listed are not stored.
    pub columns: BTreeMap<String, String>,
}

fn default_group() -> String {
    "weir-sink".into()
}
fn default_consumer() -> String {
    "sink".into()
}
fn default_id_column() -> String {
    "stream_id".into()
}
fn default_batch() -> usize {
    1000
}

/// SQL identifiers are spliced into statements, so only plain names pass.
fn identifier(name: &str) -> Result<(), SinkError> {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_') && name.len() <= 63 {
        Ok(())
    } else {
        Err(SinkError::Config(format!("{name:?} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")))
    }
}

impl SinkConfig {
    pub fn parse(text: &str) -> Result<SinkConfig, SinkError> {
        let config: SinkConfig = toml::from_str(text).map_err(|e| SinkError::Config(e.to_string()))?;
        if config.streams.is_empty() && config.counters.is_empty() {
            return Err(SinkError::Config("nothing to sink: no [[streams]] and no [[counters]]".into()));
        }
        let mut patterns: Vec<&str> = config.counters.iter().map(|c| c.pattern.as_str()).collect();
        patterns.sort_unstable();
        if let Some(twice) = patterns.windows(2).find(|w| w[0] == w[1]) {
            return Err(SinkError::Config(format!(
                "pattern {:?} in two [[counters]] sections (they would split one feed between them)",
                twice[0]
            )));
        }
        for c in &config.counters {
            identifier(&c.table)?;
            identifier(&c.key_column)?;
            identifier(&c.value_column)?;
            if c.batch == 0 || c.batch > MAX_BATCH {
                return Err(SinkError::Config(format!("batch must be 1..={MAX_BATCH}")));
            }
        }
        for s in &config.streams {
            identifier(&s.table)?;
            identifier(&s.id_column)?;
            for column in s.columns.values() {
                identifier(column)?;
            }
            if s.columns.is_empty() {
                return Err(SinkError::Config(format!("stream {:?} maps no fields to columns", s.stream)));
            }
            if s.batch == 0 || s.batch > MAX_BATCH {
                return Err(SinkError::Config(format!("batch must be 1..={MAX_BATCH}")));
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_defaults_and_refuses_unsafe_names() {
        let ok = SinkConfig::parse(
            "[[streams]]\nstream = \"orders\"\ntable = \"orders\"\ncolumns = { order = \"order_text\" }\n",
        )
        .expect("parses");
        assert_eq!(ok.streams[0].group, "weir-sink");
        assert_eq!(ok.streams[0].batch, 1000);
        let bad = "[[streams]]\nstream = \"o\"\ntable = \"o; drop table x\"\ncolumns = { a = \"b\" }\n";
        assert!(SinkConfig::parse(bad).is_err());
        assert!(SinkConfig::parse("").is_err());
        let counters = |p1: &str, p2: &str| {
            format!(
                "[[counters]]\npattern = \"{p1}\"\ntable = \"a\"\n[[counters]]\npattern = \"{p2}\"\ntable = \"b\"\n"
            )
        };
        assert_eq!(SinkConfig::parse(&counters("a:*", "*:x")).expect("two patterns").counters.len(), 2);
        assert!(SinkConfig::parse(&counters("a:*", "a:*")).is_err(), "one feed, two owners");
    }
}
