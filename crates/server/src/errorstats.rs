//! Error replies counted by their prefix: INFO's `total_error_replies` and
//! `# Errorstats` section (Redis 6.2+), and `/metrics`.
//!
//! Errors are the rare path: a reply that is not an error costs one
//! discriminant check, and an error takes a short lock on a small map.
//! The map is bounded: a script can make up error prefixes
//! (`redis.error_reply`), so past `MAX_ERROR_CODES` distinct prefixes a new
//! one is counted under `OVERFLOW` (as Valkey does; Redis stops adding
//! prefixes until CONFIG RESETSTAT).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use weir_protocol::{error_code, Frame};

/// Distinct error prefixes tracked by name.
pub const MAX_ERROR_CODES: usize = 128;
/// Where error prefixes past the bound are counted.
pub const OVERFLOW: &str = "ERRORSTATS_OVERFLOW";

/// Error replies by prefix, monotonic.
#[derive(Debug, Default)]
pub struct ErrorStats {
    total: AtomicU64,
    codes: Mutex<BTreeMap<String, u64>>,
    /// Whether the bound was reached (warned once).
    overflowed: AtomicBool,
}

impl ErrorStats {
    /// Counts one error reply's text (without its `-`).
    pub fn count(&self, text: &[u8]) {
        self.count_code(error_code(text), 1);
    }

    /// Counts `n` error replies with this prefix (`weir_protocol::error_code`).
    pub fn count_code(&self, code: &[u8], n: u64) {
        self.total.fetch_add(n, Relaxed);
        let code = String::from_utf8_lossy(code);
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = codes.get_mut(code.as_ref()) {
            *count += n;
            return;
        }
        let name = match codes.len() < MAX_ERROR_CODES {
            true => code.into_owned(),
            false => {
                if !self.overflowed.swap(true, Relaxed) {
                    tracing::warn!(limit = MAX_ERROR_CODES, "error statistics: too many distinct error prefixes (a script's error_reply?); new ones are counted as {OVERFLOW}");
                }
                OVERFLOW.to_string()
            }
        };
        *codes.entry(name).or_insert(0) += n;
        debug_assert!(codes.len() <= MAX_ERROR_CODES + 1, "bounded");
    }

    /// Counts the errors in a reply: the reply itself, or for EXEC
    /// (`nested`) each failed command's reply in its array, as Redis
    /// counts the commands of a transaction one by one.
    pub fn count_reply(&self, reply: &Frame, nested: bool) {
        match reply {
            Frame::Error(text) => self.count(text),
            Frame::Array(items) if nested => {
                for item in items {
                    if let Frame::Error(text) = item {
                        self.count(text);
                    }
                }
            }
            _ => {}
        }
    }

    pub fn total(&self) -> u64 {
        self.total.load(Relaxed)
    }

    /// The counts by prefix, in Redis's (byte) order.
    pub fn codes(&self) -> BTreeMap<String, u64> {
        self.codes.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_prefix_and_transactions_command_by_command() {
        let stats = ErrorStats::default();
        stats.count_reply(&Frame::error("WRONGTYPE Operation"), false);
        stats.count_reply(&Frame::ok(), false);
        let exec = Frame::Array(vec![Frame::error("ERR not an integer"), Frame::ok(), Frame::error("WRONGTYPE x")]);
        stats.count_reply(&exec, true);
        stats.count_reply(&exec, false);
        assert_eq!(stats.total(), 3);
        let codes = stats.codes();
        assert_eq!(codes.get("WRONGTYPE"), Some(&2));
        assert_eq!(codes.get("ERR"), Some(&1));
    }

    #[test]
    fn prefixes_past_the_bound_count_as_overflow() {
        let stats = ErrorStats::default();
        for i in 0..MAX_ERROR_CODES + 10 {
            stats.count(format!("CODE{i} x").as_bytes());
        }
        stats.count(b"CODE0 again");
        let codes = stats.codes();
        assert_eq!(codes.len(), MAX_ERROR_CODES + 1);
        assert_eq!(codes.get(OVERFLOW), Some(&10));
        assert_eq!(codes.get("CODE0"), Some(&2), "known prefixes go on counting");
        assert_eq!(stats.total(), MAX_ERROR_CODES as u64 + 11);
    }
}
