//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT.
//!
//! The node keeps the script cache (SHA1 → text) for EVALSHA; what reaches
//! a partition is always the full text, so a log entry never depends on the
//! cache. Writing scripts are logged and run by the partition's writer
//! while it applies them; read-only scripts run on the read path.

use crate::dispatch::{command_slot, Reply};
use crate::node::Node;
use crate::partition::Proposal;
use crate::session::Session;
use bytes::Bytes;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;
use weir_protocol::{Frame, Version};
use weir_script::{sha1_hex, Kill};
use weir_state::{CommandSpec, ScriptCall};

/// Scripts the cache holds at most (SCRIPT LOAD and EVAL add to it).
pub const MAX_SCRIPTS: usize = 10_000;
/// Total script text the cache holds at most.
pub const MAX_SCRIPT_BYTES: usize = 64 << 20;

pub const BUSY: &str = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.";
const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";
const UNKILLABLE: &str = "UNKILLABLE Sorry the script already executed write commands against the dataset. You can \
                          either wait the script termination or kill the server in a hard way using the SHUTDOWN \
                          NOSAVE command.";
const NOTBUSY: &str = "NOTBUSY No scripts in execution right now.";

/// (script, slot) pairs whose write hint is kept at most (cleared when full).
pub const MAX_HINTS: usize = 4096;
/// A writing script found to write is still tried on the read path once in
/// this many calls, to notice when it stops writing (a sale sold out).
pub const PROBE_EVERY: u32 = 64;

/// A script's SHA1 as lowercase hex: the cache's key, kept on the stack
/// (a stream of EVALSHA looks it up several times per call).
type Sha = [u8; 40];

/// The key for an EVALSHA's argument, if it can name a script at all.
fn sha_key(text: &[u8]) -> Option<Sha> {
    let mut sha: Sha = text.try_into().ok()?;
    sha.make_ascii_lowercase();
    Some(sha)
}

fn sha_of_body(body: &[u8]) -> Sha {
    sha_key(sha1_hex(body).as_bytes()).expect("a SHA1 is 40 hex digits")
}

fn sha_text(sha: &Sha) -> String {
    String::from_utf8_lossy(sha).into_owned()
}

/// Hashes the cache's keys: SHA1 digits are already uniform, so a fold of
/// their words does (std's SipHash cost ~300 instructions per lookup, four
/// lookups per EVALSHA). Keys come from SHA1, which clients cannot aim at
/// one bucket.
#[derive(Default)]
struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FoldMap<K, V> = HashMap<K, V, BuildHasherDefault<FoldHasher>>;

/// SHA1 → script text, bounded.
#[derive(Default)]
pub struct ScriptCache {
    inner: Mutex<Cached>,
}

/// Whether a script's last try on the read path (per slot) wanted to
/// write, and the calls since it last tried.
#[derive(Clone, Copy, Default)]
struct Hint {
    wrote: bool,
    skipped: u32,
}

#[derive(Default)]
struct Cached {
    scripts: FoldMap<Sha, Bytes>,
    bytes: usize,
    /// The last text added and its SHA1: a stream of EVALs of one script
    /// (a flash sale) compares its text instead of hashing it each time.
    last: Option<(Bytes, Sha)>,
    hints: FoldMap<HintKey, Hint>,
}

/// A script (the first 64 bits of its SHA1, as 16 digits: a hint may be
/// shared by a collision, never a reply) and a slot.
type HintKey = ([u8; 16], u16);

fn hint_key(sha: &Sha, slot: u16) -> HintKey {
    let mut prefix = [0u8; 16];
    prefix.copy_from_slice(&sha[..16]);
    (prefix, slot)
}

impl ScriptCache {
    fn get(&self, sha: &[u8]) -> Option<Bytes> {
        self.script(&sha_key(sha)?)
    }

    fn script(&self, sha: &Sha) -> Option<Bytes> {
        self.lock().scripts.get(sha).cloned()
    }

    /// Adds a script and returns its SHA1, or an error when the cache is full.
    fn insert(&self, body: &Bytes) -> Result<Sha, Frame> {
        let sha = match self.last_sha(body) {
            Some(sha) => return Ok(sha),
            None => sha_of_body(body),
        };
        let mut inner = self.lock();
        if !inner.scripts.contains_key(&sha) {
            if inner.scripts.len() >= MAX_SCRIPTS || inner.bytes + body.len() > MAX_SCRIPT_BYTES {
                return Err(Frame::error(format!(
                    "ERR the script cache is full ({MAX_SCRIPTS} scripts or {MAX_SCRIPT_BYTES} bytes); SCRIPT FLUSH empties it"
                )));
            }
            inner.bytes += body.len();
            inner.scripts.insert(sha, body.clone());
        }
        inner.last = Some((body.clone(), sha));
        Ok(sha)
    }

    /// The SHA1 of an EVAL's script (hashed unless it is the last one
    /// added) or an EVALSHA's (none if it cannot be one).
    fn sha_of(&self, kind: EvalKind, script: &[u8]) -> Option<Sha> {
        if kind.by_sha {
            return sha_key(script);
        }
        Some(self.last_sha(script).unwrap_or_else(|| sha_of_body(script)))
    }

    /// The SHA1 of `body` if it is the last script added.
    fn last_sha(&self, body: &[u8]) -> Option<Sha> {
        self.lock().last.as_ref().filter(|(last, _)| last == body).map(|(_, sha)| *sha)
    }

    /// Whether this writing script is expected to read only, so its caller
    /// settles its earlier writes first, for the try (`Node::eval`).
    fn expects_read(&self, sha: &Sha, slot: u16) -> bool {
        let inner = self.lock();
        !inner.hints.get(&hint_key(sha, slot)).is_some_and(|hint| hint.wrote)
    }

    /// Whether to try this writing script on the read path now.
    fn try_read(&self, sha: &Sha, slot: u16) -> bool {
        let key = hint_key(sha, slot);
        let mut inner = self.lock();
        if inner.hints.len() >= MAX_HINTS && !inner.hints.contains_key(&key) {
            inner.hints.clear();
        }
        let hint = inner.hints.entry(key).or_default();
        if !hint.wrote {
            return true;
        }
        hint.skipped += 1;
        if hint.skipped < PROBE_EVERY {
            return false;
        }
        hint.skipped = 0;
        true
    }

    /// What a try on the read path found.
    fn note_try(&self, sha: &Sha, slot: u16, wrote: bool) {
        if let Some(hint) = self.lock().hints.get_mut(&hint_key(sha, slot)) {
            hint.wrote = wrote;
        }
    }

    fn flush(&self) {
        *self.lock() = Cached::default();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Which EVAL form.
#[derive(Clone, Copy)]
pub struct EvalKind {
    pub by_sha: bool,
    pub read_only: bool,
}

impl Node {
    /// Runs EVAL and its variants.
    ///
    /// A writing script that wrote nothing when last tried on its slot is
    /// first tried on the read path, where a write command stops it: if
    /// it wrote nothing it is answered as a read (a flash sale's sold-out
    /// and duplicate answers), with no log entry, else it is logged and
    /// run as usual. Only a settled caller tries: its earlier writes are
    /// applied, so the read sees them.
    pub async fn eval(&self, session: &Session, spec: &CommandSpec, kind: EvalKind, args: Vec<Bytes>) -> Reply {
        let (slot, mut call, sha) = match self.prepare_eval(session, spec, kind, &args) {
            Err(reply) => return Reply::Now(reply),
            Ok(prepared) => prepared,
        };
        let partition = self.partition_for_slot(slot);
        if let Err(busy) = partition.check_busy(self.config.busy_script) {
            return Reply::Now(busy);
        }
        if call.read_only {
            return Reply::Now(partition.read_script(&call, self.config.busy_script).await);
        }
        if session.settled && self.scripts.try_read(&sha, slot) {
            let tried = partition.try_script_as_read(&mut call, self.config.busy_script).await;
            self.scripts.note_try(&sha, slot, tried.is_none());
            if let Some(reply) = tried {
                self.stats.scripts_read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Reply::Now(reply);
            }
        }
        Reply::Later(partition.propose_from(Proposal::Script(call), session.returning()).await)
    }

    /// Whether a writing EVAL is expected to be answered on the read path
    /// (`Node::eval`): its caller settles its earlier writes first.
    /// The slot is the first key's (hashing one key, not all): the others
    /// share it, or the EVAL fails with CROSSSLOT before any try.
    pub fn eval_expects_read(&self, kind: EvalKind, args: &[Bytes]) -> bool {
        let Some(sha) = args.get(1).and_then(|script| self.scripts.sha_of(kind, script)) else { return false };
        let keyed = args.get(2).and_then(|n| weir_protocol::parse_int(n)).is_some_and(|n| n >= 1);
        let slot = match (keyed, args.get(3)) {
            (true, Some(key)) => weir_state::key_slot(key),
            // No key: `command_slot`'s slot for a keyless EVAL.
            _ => 0,
        };
        self.scripts.expects_read(&sha, slot)
    }

    pub fn prepare_eval(
        &self,
        session: &Session,
        spec: &CommandSpec,
        kind: EvalKind,
        args: &[Bytes],
    ) -> Result<(u16, ScriptCall, Sha), Frame> {
        let numkeys = weir_protocol::parse_int(&args[2])
            .ok_or_else(|| Frame::error("ERR value is not an integer or out of range"))?;
        if numkeys < 0 {
            return Err(Frame::error("ERR Number of keys can't be negative"));
        }
        let numkeys = numkeys as usize;
        if numkeys > args.len() - 3 {
            return Err(Frame::error("ERR Number of keys can't be greater than number of args"));
        }
        let (body, sha) = if kind.by_sha {
            let sha = sha_key(&args[1]).ok_or_else(|| Frame::error(NOSCRIPT))?;
            let body = self.scripts.script(&sha).ok_or_else(|| Frame::error(NOSCRIPT))?;
            (body, sha)
        } else {
            (args[1].clone(), self.scripts.insert(&args[1])?)
        };
        let slot = command_slot(spec, args)?;
        let call = ScriptCall {
            body,
            keys: args[3..3 + numkeys].to_vec(),
            args: args[3 + numkeys..].to_vec(),
            read_only: kind.read_only,
            resp3: session.version == Version::Resp3,
        };
        Ok((slot, call, sha))
    }

    /// SCRIPT LOAD | EXISTS | FLUSH | KILL | HELP.
    pub fn script_command(&self, args: &[Bytes]) -> Frame {
        let sub = args[1].to_ascii_lowercase();
        match (sub.as_slice(), args.len()) {
            (b"load", 3) => match self.scripts.insert(&args[2]) {
                Ok(sha) => Frame::bulk(sha_text(&sha)),
                Err(reply) => reply,
            },
            (b"exists", n) if n >= 3 => Frame::Array(
                args[2..].iter().map(|sha| Frame::Integer(i64::from(self.scripts.get(sha).is_some()))).collect(),
            ),
            (b"flush", 2) => {
                self.scripts.flush();
                Frame::ok()
            }
            (b"flush", 3) if matches!(args[2].to_ascii_lowercase().as_slice(), b"sync" | b"async") => {
                self.scripts.flush();
                Frame::ok()
            }
            (b"flush", 3) => Frame::error("ERR SCRIPT FLUSH only support SYNC|ASYNC option"),
            (b"kill", 2) => self.kill_scripts(),
            (b"help", 2) => Frame::Array(
                [
                    "SCRIPT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
                    "EXISTS <sha1> [<sha1> ...]",
                    "FLUSH [ASYNC|SYNC]",
                    "KILL",
                    "LOAD <script>",
                    "HELP",
                ]
                .iter()
                .map(|line| Frame::Simple(Bytes::from_static(line.as_bytes())))
                .collect(),
            ),
            _ => crate::commands::unknown_subcommand(&args[1], "script"),
        }
    }

    fn kill_scripts(&self) -> Frame {
        let outcomes: Vec<Kill> = self.partitions.iter().map(|p| p.scripts.request_kill()).collect();
        if outcomes.contains(&Kill::Requested) {
            Frame::ok()
        } else if outcomes.contains(&Kill::Unkillable) {
            Frame::error(UNKILLABLE)
        } else {
            Frame::error(NOTBUSY)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_tried_as_a_read_until_it_writes_then_probed() {
        let cache = ScriptCache::default();
        let sha = sha_of_body(b"return 1");
        assert!(cache.expects_read(&sha, 7) && cache.try_read(&sha, 7), "unknown: tried");
        cache.note_try(&sha, 7, true);
        assert!(!cache.expects_read(&sha, 7), "it wrote: its caller need not settle");
        assert!(cache.expects_read(&sha, 8), "hints are per slot");
        let tries: Vec<bool> = (0..2 * PROBE_EVERY).map(|_| cache.try_read(&sha, 7)).collect();
        assert_eq!(tries.iter().filter(|t| **t).count(), 2, "one probe in PROBE_EVERY calls");
        assert!(tries[PROBE_EVERY as usize - 1]);
        cache.note_try(&sha, 7, false);
        assert!(cache.try_read(&sha, 7), "the probe found no write: tried every time again");
    }

    #[test]
    fn evalsha_names_are_case_blind_and_forty_digits() {
        let cache = ScriptCache::default();
        let sha = cache.insert(&Bytes::from_static(b"return 2")).expect("room");
        assert_eq!(sha_text(&sha), sha1_hex(b"return 2"));
        assert!(cache.get(&sha_text(&sha).to_ascii_uppercase().into_bytes()).is_some());
        assert!(cache.get(&sha[..39]).is_none(), "39 digits name nothing");
        assert!(cache.get(b"").is_none());
    }

    #[test]
    fn the_fold_hasher_spreads_shas() {
        let hash = |text: &[u8]| {
            let mut h = FoldHasher::default();
            h.write(text);
            h.finish()
        };
        let (a, b) = (sha_of_body(b"a"), sha_of_body(b"b"));
        assert_ne!(hash(&a), hash(&b));
        let mut tail = a;
        tail[39] ^= 1;
        assert_ne!(hash(&a), hash(&tail), "every digit counts");
    }

    #[test]
    fn hints_stay_within_their_bound() {
        let cache = ScriptCache::default();
        let sha = sha_of_body(b"return 1");
        for slot in 0..(MAX_HINTS as u16 + 10) {
            cache.try_read(&sha, slot);
            assert!(cache.lock().hints.len() <= MAX_HINTS);
        }
    }
}
