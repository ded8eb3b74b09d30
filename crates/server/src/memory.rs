//! The node's memory: what it uses (the allocator's count, sampled), its
//! limit (`--maxmemory`), and the refusal of commands that could grow it
//! past the limit.
//!
//! The policy is Redis's `noeviction`: past the limit, commands flagged
//! `denyoom` (and scripts that may write) are answered
//! `-OOM command not allowed when used memory > 'maxmemory'.`, while reads,
//! deletes and pops go on and free memory. A durable write tier never drops
//! acknowledged data to make room. The check reads one atomic; the sample
//! behind it is at most `SAMPLE_EVERY` old, so a burst can pass the limit
//! by what arrives in that time.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

/// Redis's reply to a command refused for memory.
pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// How often the allocator's count is read (jemalloc: ~20 µs to refresh
/// its statistics, so ~0.1% of a core).
pub const SAMPLE_EVERY: Duration = Duration::from_millis(20);

/// The default limit: this share of the machine's memory. A snapshot's
/// bytes may briefly take as much again as the state (`weir_state::capture`),
/// so half leaves room for one.
pub const DEFAULT_SHARE_PERCENT: u64 = 50;

/// One reading of the process's memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryReading {
    /// Bytes the allocator has handed out and not taken back.
    pub allocated: u64,
    /// Bytes of the process in RAM.
    pub resident: u64,
}

/// Reads the process's memory. The binary passes jemalloc's statistics;
/// [`proc_probe`] is the fallback.
pub type MemoryProbe = fn() -> Option<MemoryReading>;

/// The node's memory figures and limit.
#[derive(Debug)]
pub struct Memory {
    limit: Option<u64>,
    probe: MemoryProbe,
    /// `mem_allocator` in INFO.
    pub allocator: &'static str,
    used: AtomicU64,
    resident: AtomicU64,
    peak: AtomicU64,
}

impl Memory {
    /// Takes a first sample at once, so the limit holds from the start.
    pub fn new(limit: Option<u64>, probe: MemoryProbe, allocator: &'static str) -> Memory {
        let memory = Memory {
            limit,
            probe,
            allocator,
            used: AtomicU64::new(0),
            resident: AtomicU64::new(0),
            peak: AtomicU64::new(0),
        };
        memory.sample();
        memory
    }

    /// Whether commands that may grow memory are refused now.
    pub fn over_limit(&self) -> bool {
        self.limit.is_some_and(|limit| self.used.load(Relaxed) > limit)
    }

    pub fn limit(&self) -> Option<u64> {
        self.limit
    }

    pub fn used(&self) -> u64 {
        self.used.load(Relaxed)
    }

    pub fn resident(&self) -> u64 {
        self.resident.load(Relaxed)
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Relaxed)
    }

    pub fn sample(&self) {
        let Some(reading) = (self.probe)() else { return };
        self.used.store(reading.allocated, Relaxed);
        self.resident.store(reading.resident, Relaxed);
        self.peak.fetch_max(reading.allocated, Relaxed);
    }

    /// Samples every `SAMPLE_EVERY` until the node goes away.
    pub async fn sample_forever(memory: Arc<Memory>) {
        let mut every = tokio::time::interval(SAMPLE_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            memory.sample();
        }
    }
}

/// The process's resident memory from `/proc/self/statm`, for both figures
/// (an allocator without statistics: freed pages it keeps count as used).
pub fn proc_probe() -> Option<MemoryReading> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    let resident = pages.saturating_mul(page_size());
    Some(MemoryReading { allocated: resident, resident })
}

fn page_size() -> u64 {
    // SAFETY: sysconf reads a constant of the system; no memory is shared.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    u64::try_from(size).ok().filter(|&s| s > 0).unwrap_or(4096)
}

/// The default `maxmemory`: `DEFAULT_SHARE_PERCENT` of the machine's RAM
/// (none if it cannot be read).
pub fn default_limit() -> Option<u64> {
    // SAFETY: as in `page_size`.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    let total = u64::try_from(pages).ok().filter(|&p| p > 0)?.saturating_mul(page_size());
    Some(total / 100 * DEFAULT_SHARE_PERCENT)
}

/// A size as Redis's configuration writes them: bytes, or a number with
/// `k`/`m`/`g` (powers of 1000) or `kb`/`mb`/`gb` (powers of 1024), any
/// case. `0` means no limit, as in Redis.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.find(|c: char| !c.is_ascii_digit()).unwrap_or(lower.len());
    let (number, unit) = lower.split_at(digits);
    let multiplier: u64 = match unit {
        "" | "b" => 1,
        "k" => 1_000,
        "kb" => 1 << 10,
        "m" => 1_000_000,
        "mb" => 1 << 20,
        "g" => 1_000_000_000,
        "gb" => 1 << 30,
        _ => return Err(format!("invalid size '{text}': use bytes, or a number with k, kb, m, mb, g or gb")),
    };
    let number: u64 = number.parse().map_err(|_| format!("invalid size '{text}'"))?;
    number.checked_mul(multiplier).ok_or_else(|| format!("size '{text}' is too large"))
}

/// Redis's human-readable bytes (INFO's `*_human` fields).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["K", "M", "G", "T", "P"];
    if bytes < 1024 {
        return format!("{bytes}B");
    }
    let mut value = bytes as f64 / 1024.0;
    for unit in UNITS {
        if value < 1024.0 {
            return format!("{value:.2}{unit}");
        }
        value /= 1024.0;
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_redis_reads_them() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("100"), Ok(100));
        assert_eq!(parse_size("1k"), Ok(1_000));
        assert_eq!(parse_size("1kb"), Ok(1024));
        assert_eq!(parse_size("4GB"), Ok(4 << 30));
        assert_eq!(parse_size("512mb"), Ok(512 << 20));
        assert_eq!(parse_size("2m"), Ok(2_000_000));
        assert!(parse_size("1tb").is_err());
        assert!(parse_size("mb").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("99999999999999gb").is_err(), "overflow");
    }

    #[test]
    fn human_sizes_match_redis() {
        assert_eq!(human(1023), "1023B");
        assert_eq!(human(1024), "1.00K");
        assert_eq!(human(1536 << 10), "1.50M");
        assert_eq!(human(3 << 30), "3.00G");
    }

    fn fixed() -> Option<MemoryReading> {
        Some(MemoryReading { allocated: 1000, resident: 1500 })
    }

    #[test]
    fn the_limit_refuses_once_passed_and_keeps_the_peak() {
        assert!(!Memory::new(None, fixed, "test").over_limit(), "no limit");
        assert!(!Memory::new(Some(1000), fixed, "test").over_limit(), "at the limit is not over it");
        let memory = Memory::new(Some(999), fixed, "test");
        assert!(memory.over_limit());
        assert_eq!((memory.used(), memory.resident(), memory.peak()), (1000, 1500, 1000));
    }

    #[test]
    fn the_proc_probe_reads_this_process() {
        let reading = proc_probe().expect("/proc is there");
        assert!(reading.resident > 0 && reading.allocated == reading.resident);
        assert!(default_limit().is_some_and(|l| l > 0));
    }
}
