//! SLOWLOG: the last commands that took longer than
//! `slowlog-log-slower-than` microseconds, newest first, in Redis's format.
//!
//! What is timed differs from Redis, which times a command's execution
//! alone: here a command's time runs from the read of the socket that
//! brought it to its reply being ready, so a write's includes its batch's
//! wait to be durable. A write is slow when its client waited, whatever
//! made it wait (a snapshot holding its partition, a slow disk), and that
//! is what a user of a write tier looks for. Blocking calls (BLPOP and
//! friends) and AUTH and HELLO (passwords) are never logged.
//!
//! Bounded: at most `slowlog-max-len` entries, each with at most
//! `MAX_ARGS` arguments of at most `MAX_ARG_BYTES` bytes, as in Redis.

use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use weir_protocol::Frame;

/// Arguments kept per entry; the last one kept says how many more there were.
const MAX_ARGS: usize = 32;
/// Bytes kept per argument; the rest is said in a suffix.
const MAX_ARG_BYTES: usize = 128;
/// Entries SLOWLOG GET returns without a count.
const DEFAULT_GET: usize = 10;

/// One logged command.
#[derive(Debug, Clone)]
struct Entry {
    id: u64,
    unix_secs: u64,
    micros: u64,
    args: Vec<Bytes>,
    addr: String,
    name: String,
}

/// The node's slow log.
#[derive(Debug)]
pub struct SlowLog {
    /// `None`: disabled (a negative `slowlog-log-slower-than`, or no room).
    threshold: Option<Duration>,
    max_len: usize,
    entries: Mutex<(VecDeque<Entry>, u64)>,
}

impl SlowLog {
    /// `slower_than_us` < 0 disables the log; 0 logs every command.
    pub fn new(slower_than_us: i64, max_len: usize) -> SlowLog {
        let threshold = u64::try_from(slower_than_us).ok().filter(|_| max_len > 0).map(Duration::from_micros);
        SlowLog { threshold, max_len, entries: Mutex::new((VecDeque::new(), 0)) }
    }

    /// Whether commands are timed for the log at all (their arguments are
    /// then kept until their reply).
    pub fn enabled(&self) -> bool {
        self.threshold.is_some()
    }

    /// Whether a command that took `took` belongs in the log.
    pub fn is_slow(&self, took: Duration) -> bool {
        self.threshold.is_some_and(|t| took >= t)
    }

    /// Logs a command that was slow, dropping the oldest beyond the bound.
    pub fn push(&self, took: Duration, args: &[Bytes], addr: String, name: String) {
        let unix_secs = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        let mut guard = self.lock();
        let (entries, next_id) = &mut *guard;
        let entry = Entry { id: *next_id, unix_secs, micros, args: kept_args(args), addr, name };
        *next_id += 1;
        entries.push_front(entry);
        entries.truncate(self.max_len);
        debug_assert!(entries.len() <= self.max_len);
    }

    pub fn len(&self) -> usize {
        self.lock().0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn reset(&self) {
        self.lock().0.clear();
    }

    /// SLOWLOG GET's reply: the `count` newest entries (all if `None`).
    pub fn get(&self, count: Option<usize>) -> Frame {
        let guard = self.lock();
        let take = count.unwrap_or(usize::MAX);
        Frame::Array(guard.0.iter().take(take).map(Entry::frame).collect())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<Entry>, u64)> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Entry {
    fn frame(&self) -> Frame {
        Frame::Array(vec![
            Frame::Integer(i64::try_from(self.id).unwrap_or(i64::MAX)),
            Frame::Integer(i64::try_from(self.unix_secs).unwrap_or(i64::MAX)),
            Frame::Integer(i64::try_from(self.micros).unwrap_or(i64::MAX)),
            Frame::Array(self.args.iter().cloned().map(Frame::Bulk).collect()),
            Frame::bulk(self.addr.clone()),
            Frame::bulk(self.name.clone()),
        ])
    }
}

/// The arguments as Redis keeps them: the first 31 and "... (N more
/// arguments)" past 32; each cut to 128 bytes plus "... (N more bytes)".
fn kept_args(args: &[Bytes]) -> Vec<Bytes> {
    let keep = if args.len() > MAX_ARGS { MAX_ARGS - 1 } else { args.len() };
    let mut kept: Vec<Bytes> = args[..keep].iter().map(cut_arg).collect();
    if args.len() > MAX_ARGS {
        kept.push(Bytes::from(format!("... ({} more arguments)", args.len() - keep)));
    }
    debug_assert!(kept.len() <= MAX_ARGS);
    kept
}

fn cut_arg(arg: &Bytes) -> Bytes {
    if arg.len() <= MAX_ARG_BYTES {
        return arg.clone();
    }
    let mut cut = arg[..MAX_ARG_BYTES].to_vec();
    cut.extend_from_slice(format!("... ({} more bytes)", arg.len() - MAX_ARG_BYTES).as_bytes());
    Bytes::from(cut)
}

/// SLOWLOG's subcommands.
pub fn command(log: &SlowLog, args: &[Bytes]) -> Frame {
    let sub = &args[0];
    let Some((name, max_args)) = [("get", 2), ("len", 1), ("reset", 1), ("help", 1)]
        .into_iter()
        .find(|(n, _)| sub.eq_ignore_ascii_case(n.as_bytes()))
    else {
        return crate::commands::unknown_subcommand(sub, "slowlog");
    };
    if args.len() > max_args && name == "get" {
        // Redis checks GET's count of arguments itself, with its own text.
        let typed: String = String::from_utf8_lossy(sub).chars().take(128).collect();
        return Frame::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{typed}'. Try SLOWLOG HELP."
        ));
    }
    if args.len() > max_args {
        return Frame::error(format!("ERR wrong number of arguments for 'slowlog|{name}' command"));
    }
    match name {
        "get" => match get_count(args.get(1)) {
            Ok(count) => log.get(count),
            Err(reply) => reply,
        },
        "len" => Frame::Integer(i64::try_from(log.len()).unwrap_or(i64::MAX)),
        "reset" => {
            log.reset();
            Frame::ok()
        }
        _ => Frame::Array(HELP.iter().map(|line| Frame::Simple(Bytes::from_static(line.as_bytes()))).collect()),
    }
}

/// SLOWLOG GET's count: `None` for all (-1).
fn get_count(arg: Option<&Bytes>) -> Result<Option<usize>, Frame> {
    let Some(arg) = arg else { return Ok(Some(DEFAULT_GET)) };
    match std::str::from_utf8(arg).ok().and_then(|c| c.parse::<i64>().ok()) {
        Some(-1) => Ok(None),
        Some(n) if n >= 0 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        // Redis answers a count that is no number at all the same way.
        _ => Err(Frame::error("ERR count should be greater than or equal to -1")),
    }
}

const HELP: [&str; 12] = [
    "SLOWLOG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "GET [<count>]",
    "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
    "    Entries are made of:",
    "    id, timestamp, time in microseconds, arguments array, client IP and port,",
    "    client name",
    "LEN",
    "    Return the length of the slowlog.",
    "RESET",
    "    Reset the slowlog.",
    "HELP",
    "    Prints this help.",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn keeps_the_newest_entries_within_the_bound() {
        let log = SlowLog::new(0, 3);
        for i in 0..5 {
            log.push(Duration::from_micros(i), &args(&["SET", &format!("k{i}")]), "a:1".into(), String::new());
        }
        assert_eq!(log.len(), 3);
        let Frame::Array(entries) = log.get(None) else { panic!("an array") };
        let ids: Vec<i64> = entries
            .iter()
            .map(|e| match e {
                Frame::Array(fields) => match fields[0] {
                    Frame::Integer(id) => id,
                    _ => panic!("id"),
                },
                _ => panic!("entry"),
            })
            .collect();
        assert_eq!(ids, vec![4, 3, 2], "newest first, ids keep counting");
        log.reset();
        assert!(log.is_empty());
    }

    #[test]
    fn thresholds_as_redis_reads_them() {
        assert!(!SlowLog::new(-1, 128).enabled(), "negative disables");
        assert!(SlowLog::new(0, 128).is_slow(Duration::ZERO), "zero logs everything");
        let log = SlowLog::new(10_000, 128);
        assert!(!log.is_slow(Duration::from_micros(9_999)) && log.is_slow(Duration::from_millis(10)));
        assert!(!SlowLog::new(0, 0).enabled(), "no room, no log");
    }

    #[test]
    fn long_commands_are_cut_as_in_redis() {
        let many: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let kept = kept_args(&many);
        assert_eq!(kept.len(), 32);
        assert_eq!(kept[31], Bytes::from("... (9 more arguments)"));
        let long = Bytes::from(vec![b'x'; 200]);
        let cut = cut_arg(&long);
        assert_eq!(&cut[..128], &long[..128]);
        assert_eq!(&cut[128..], b"... (72 more bytes)");
        assert_eq!(cut_arg(&Bytes::from_static(b"short")), Bytes::from_static(b"short"));
    }
}
