//! The log entry payload: a batch of items with the writer's clock and seed.
//!
//! ```text
//! version u8 | now_ms u64 | seed u64 | count u32 | items...
//! item: tag u8, then
//!   COMMAND:     command
//!   TRANSACTION: n u32, n × (key, version u64), m u32, m × command
//!   EXPIRE:      max u32
//!   FLUSH:       (nothing)
//!   SCRIPT:      flags u8 (1 = read-only, 2 = RESP3 caller), body (len u32,
//!                bytes), keys (a command), argv (a command)
//!   SCRIPT_AGAIN: flags u8, body u16 (the n-th distinct body written inline
//!                earlier in this batch), keys, argv: a stream of the same
//!                script logs its text once per batch, not once per call
//! command: argc u32, argc × (len u32, bytes)
//! ```
//! A script queued in a transaction is one of its commands, spelled
//! `[SCRIPT_IN_TRANSACTION, flags, body, numkeys, keys..., argv...]`; no
//! client can send that name (it does not resolve), so it is unambiguous.
//! Little-endian. Decoding is bounded by the buffer: a count never
//! preallocates more than the bytes left could hold.

use crate::db::{Db, ExecCtx, Mode};
use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::Frame;

const VERSION: u8 = 1;
/// The same format, for a batch that holds a script item (so the applier
/// knows, without decoding, that the batch may run for a while).
const VERSION_WITH_SCRIPTS: u8 = 2;
const TAG_COMMAND: u8 = 1;
const TAG_TRANSACTION: u8 = 2;
const TAG_EXPIRE: u8 = 3;
const TAG_FLUSH: u8 = 4;
const TAG_SCRIPT: u8 = 5;
const TAG_SCRIPT_AGAIN: u8 = 6;
/// Distinct script bodies a batch refers back to; more are written inline.
const MAX_BATCH_BODIES: usize = 16;
const SCRIPT_READ_ONLY: u8 = 1;
const SCRIPT_RESP3: u8 = 2;
const HEADER_LEN: usize = 1 + 8 + 8 + 4;
/// The command name a script takes inside a transaction item.
pub const SCRIPT_IN_TRANSACTION: &[u8] = b"\0script";

#[derive(Debug, thiserror::Error)]
#[error("malformed batch: {0}")]
pub struct BatchError(&'static str);

/// One script invocation: what EVAL logs (the text, not just its SHA, so
/// replay never depends on a script cache).
#[derive(Clone, Debug, PartialEq)]
pub struct ScriptCall {
    pub body: Bytes,
    pub keys: Vec<Bytes>,
    pub args: Vec<Bytes>,
    pub read_only: bool,
    /// The caller speaks RESP3 (shapes how Lua booleans reply).
    pub resp3: bool,
}

impl ScriptCall {
    fn flags(&self) -> u8 {
        (if self.read_only { SCRIPT_READ_ONLY } else { 0 }) | if self.resp3 { SCRIPT_RESP3 } else { 0 }
    }

    /// This call as a transaction's command (see the module header).
    pub fn to_command(&self) -> Vec<Bytes> {
        let mut args = Vec::with_capacity(4 + self.keys.len() + self.args.len());
        args.push(Bytes::from_static(SCRIPT_IN_TRANSACTION));
        args.push(Bytes::copy_from_slice(&[self.flags()]));
        args.push(self.body.clone());
        args.push(Bytes::from(self.keys.len().to_string()));
        args.extend(self.keys.iter().cloned());
        args.extend(self.args.iter().cloned());
        args
    }

    /// The call a transaction's command spells, if it is a script.
    pub fn from_command(args: &[Bytes]) -> Option<Result<ScriptCall, BatchError>> {
        if args.first().map(|a| a.as_ref()) != Some(SCRIPT_IN_TRANSACTION) {
            return None;
        }
        let malformed = || BatchError("malformed script in a transaction");
        let parse = || {
            let [_, flags, body, numkeys, rest @ ..] = args else { return Err(malformed()) };
            let flags = *flags.first().ok_or_else(malformed)?;
            let numkeys: usize =
                std::str::from_utf8(numkeys).ok().and_then(|n| n.parse().ok()).ok_or_else(malformed)?;
            let (keys, argv) = rest.split_at_checked(numkeys).ok_or_else(malformed)?;
            let (read_only, resp3) = (flags & SCRIPT_READ_ONLY != 0, flags & SCRIPT_RESP3 != 0);
            Ok(ScriptCall { body: body.clone(), keys: keys.to_vec(), args: argv.to_vec(), read_only, resp3 })
        };
        Some(parse())
    }
}

/// Runs scripts for `apply_batch_with`: the partition's interpreter.
pub trait ScriptHost {
    fn eval(&mut self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Frame;
}

pub struct BatchBuilder {
    buf: BytesMut,
    items: u32,
    /// Script bodies written inline so far, in order (SCRIPT_AGAIN's index).
    bodies: Vec<Bytes>,
}

impl BatchBuilder {
    pub fn new(now_ms: u64, seed: u64) -> BatchBuilder {
        let mut buf = BytesMut::with_capacity(256);
        buf.put_u8(VERSION);
        buf.put_u64_le(now_ms);
        buf.put_u64_le(seed);
        buf.put_u32_le(0);
        BatchBuilder { buf, items: 0, bodies: Vec::new() }
    }

    fn command(&mut self, args: &[Bytes]) {
        self.buf.put_u32_le(args.len() as u32);
        for arg in args {
            self.buf.put_u32_le(arg.len() as u32);
            self.buf.put_slice(arg);
        }
    }

    pub fn push_command(&mut self, args: &[Bytes]) {
        self.buf.put_u8(TAG_COMMAND);
        self.command(args);
        self.items += 1;
    }

    pub fn push_transaction(&mut self, watches: &[(Bytes, u64)], commands: &[Vec<Bytes>]) {
        if commands.iter().any(|c| c.first().map(|a| a.as_ref()) == Some(SCRIPT_IN_TRANSACTION)) {
            self.buf[0] = VERSION_WITH_SCRIPTS;
        }
        self.buf.put_u8(TAG_TRANSACTION);
        self.buf.put_u32_le(watches.len() as u32);
        for (key, version) in watches {
            self.buf.put_u32_le(key.len() as u32);
            self.buf.put_slice(key);
            self.buf.put_u64_le(*version);
        }
        self.buf.put_u32_le(commands.len() as u32);
        for args in commands {
            self.command(args);
        }
        self.items += 1;
    }

    pub fn push_active_expire(&mut self, max_keys: u32) {
        self.buf.put_u8(TAG_EXPIRE);
        self.buf.put_u32_le(max_keys);
        self.items += 1;
    }

    pub fn push_script(&mut self, call: &ScriptCall) {
        self.buf[0] = VERSION_WITH_SCRIPTS;
        match self.bodies.iter().position(|body| *body == call.body) {
            Some(index) => {
                self.buf.put_u8(TAG_SCRIPT_AGAIN);
                self.buf.put_u8(call.flags());
                self.buf.put_u16_le(index as u16);
            }
            None => {
                self.buf.put_u8(TAG_SCRIPT);
                self.buf.put_u8(call.flags());
                self.buf.put_u32_le(call.body.len() as u32);
                self.buf.put_slice(&call.body);
                if self.bodies.len() < MAX_BATCH_BODIES {
                    self.bodies.push(call.body.clone());
                }
            }
        }
        self.command(&call.keys);
        self.command(&call.args);
        self.items += 1;
    }

    pub fn push_flush(&mut self) {
        self.buf.put_u8(TAG_FLUSH);
        self.items += 1;
    }

    pub fn items(&self) -> usize {
        self.items as usize
    }

    pub fn encoded_len(&self) -> usize {
        self.buf.len()
    }

    pub fn finish(mut self) -> Bytes {
        self.buf[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&self.items.to_le_bytes());
        self.buf.freeze()
    }
}

/// Whether a batch holds a script item.
pub fn has_scripts(batch: &[u8]) -> bool {
    batch.first() == Some(&VERSION_WITH_SCRIPTS)
}

struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
    /// Script bodies read inline so far (slices of `data`, not copies).
    bodies: Vec<Bytes>,
}

impl Reader<'_> {
    fn new(data: &Bytes) -> Reader<'_> {
        Reader { data, pos: 0, bodies: Vec::new() }
    }

    /// The range of the next `n` bytes, consumed.
    fn advance(&mut self, n: usize) -> Result<std::ops::Range<usize>, BatchError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len()).ok_or(BatchError("truncated"))?;
        let range = self.pos..end;
        self.pos = end;
        Ok(range)
    }

    /// The next `n` bytes as a slice of the batch (a reference count, so
    /// only for what handlers receive; numbers are read in place).
    fn take(&mut self, n: usize) -> Result<Bytes, BatchError> {
        let range = self.advance(n)?;
        Ok(self.data.slice(range))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BatchError> {
        let range = self.advance(N)?;
        Ok(self.data[range].try_into().expect("advance gave N bytes"))
    }

    fn u8(&mut self) -> Result<u8, BatchError> {
        Ok(self.array::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, BatchError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, BatchError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// A count whose items need at least `min_size` bytes each.
    fn count(&mut self, min_size: usize) -> Result<usize, BatchError> {
        let n = self.u32()? as usize;
        if n.saturating_mul(min_size) > self.data.len() - self.pos {
            return Err(BatchError("count exceeds the batch"));
        }
        Ok(n)
    }

    fn command(&mut self) -> Result<Vec<Bytes>, BatchError> {
        let mut args = Vec::new();
        self.command_into(&mut args)?;
        Ok(args)
    }

    /// A command's arguments into `args` (cleared first), so that applying
    /// a batch allocates one argument vector, not one per command.
    fn command_into(&mut self, args: &mut Vec<Bytes>) -> Result<(), BatchError> {
        args.clear();
        let argc = self.count(4)?;
        args.reserve(argc);
        for _ in 0..argc {
            let len = self.u32()? as usize;
            args.push(self.take(len)?);
        }
        Ok(())
    }
}

impl Reader<'_> {
    /// A SCRIPT item (`again`: a SCRIPT_AGAIN item) after its tag.
    fn script(&mut self, again: bool) -> Result<ScriptCall, BatchError> {
        let flags = self.u8()?;
        let body = if again {
            let index = u16::from_le_bytes([self.u8()?, self.u8()?]) as usize;
            self.bodies.get(index).cloned().ok_or(BatchError("script body index out of range"))?
        } else {
            let len = self.u32()? as usize;
            let body = self.take(len)?;
            if self.bodies.len() < MAX_BATCH_BODIES {
                self.bodies.push(body.clone());
            }
            body
        };
        let keys = self.command()?;
        let args = self.command()?;
        let (read_only, resp3) = (flags & SCRIPT_READ_ONLY != 0, flags & SCRIPT_RESP3 != 0);
        Ok(ScriptCall { body, keys, args, read_only, resp3 })
    }
}

impl Db {
    /// Applies a batch with no script interpreter: script items fail.
    pub fn apply_batch(&mut self, batch: &Bytes) -> Result<Vec<Frame>, BatchError> {
        self.apply_batch_with(batch, None)
    }

    /// Applies a batch: one reply per item, in order.
    pub fn apply_batch_with(
        &mut self,
        batch: &Bytes,
        mut scripts: Option<&mut dyn ScriptHost>,
    ) -> Result<Vec<Frame>, BatchError> {
        let mut r = Reader::new(batch);
        if !matches!(r.u8()?, VERSION | VERSION_WITH_SCRIPTS) {
            return Err(BatchError("unknown version"));
        }
        let now_ms = r.u64()?;
        let seed = r.u64()?;
        let count = r.count(1)?;
        let mut ctx = ExecCtx::new(now_ms, Mode::Apply, seed);
        self.ready.0.clear();
        let mut replies = Vec::with_capacity(count);
        let mut args = Vec::new();
        let mut last = crate::names::LastName::default();
        for _ in 0..count {
            let reply = match r.u8()? {
                TAG_COMMAND => {
                    r.command_into(&mut args)?;
                    match args.first().and_then(|name| last.get(name, crate::spec::lookup)) {
                        Some(spec) => self.execute_spec(&mut ctx, spec, &args),
                        None => self.execute(&mut ctx, &args),
                    }
                }
                TAG_TRANSACTION => self.apply_transaction(&mut ctx, &mut r, &mut scripts)?,
                TAG_EXPIRE => Frame::Integer(self.active_expire(now_ms, r.u32()? as usize) as i64),
                TAG_FLUSH => {
                    self.flush();
                    Frame::ok()
                }
                TAG_SCRIPT => self.run_script(&mut ctx, &r.script(false)?, &mut scripts),
                TAG_SCRIPT_AGAIN => self.run_script(&mut ctx, &r.script(true)?, &mut scripts),
                _ => return Err(BatchError("unknown item tag")),
            };
            replies.push(reply);
        }
        Ok(replies)
    }

    fn run_script(&mut self, ctx: &mut ExecCtx, call: &ScriptCall, host: &mut Option<&mut dyn ScriptHost>) -> Frame {
        match host {
            Some(host) => host.eval(self, ctx, call),
            None => Frame::error("ERR scripting is not available here"),
        }
    }

    fn apply_transaction(
        &mut self,
        ctx: &mut ExecCtx,
        r: &mut Reader<'_>,
        scripts: &mut Option<&mut dyn ScriptHost>,
    ) -> Result<Frame, BatchError> {
        let watches = r.count(12)?;
        let mut intact = true;
        for _ in 0..watches {
            let len = r.u32()? as usize;
            let key = r.take(len)?;
            let version = r.u64()?;
            let now_version = self.get(&key, ctx.now_ms).map(|e| e.version).unwrap_or(0);
            intact &= now_version == version;
        }
        let commands = r.count(4)?;
        let mut parsed = Vec::with_capacity(commands);
        for _ in 0..commands {
            let args = r.command()?;
            let script = ScriptCall::from_command(&args).transpose()?;
            parsed.push((args, script));
        }
        if !intact {
            return Ok(Frame::NullArray);
        }
        let mut replies = Vec::with_capacity(parsed.len());
        for (args, script) in &parsed {
            replies.push(match script {
                Some(call) => self.run_script(ctx, call, scripts),
                None => self.execute(ctx, args),
            });
        }
        Ok(Frame::Array(replies))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn items_apply_in_order_with_one_reply_each() {
        let mut b = BatchBuilder::new(1_000, 7);
        b.push_command(&args(&["SET", "k", "1"]));
        b.push_command(&args(&["INCR", "k"]));
        b.push_transaction(&[], &[args(&["INCR", "k"]), args(&["GET", "k"])]);
        b.push_flush();
        let mut db = Db::new();
        let replies = db.apply_batch(&b.finish()).expect("applies");
        assert_eq!(replies[0], Frame::ok());
        assert_eq!(replies[1], Frame::Integer(2));
        assert_eq!(replies[2], Frame::Array(vec![Frame::Integer(3), Frame::bulk("3")]));
        assert_eq!(replies[3], Frame::ok());
        assert!(db.is_empty());
    }

    #[test]
    fn a_moved_watch_aborts_the_transaction() {
        let mut db = Db::new();
        let mut b = BatchBuilder::new(1, 1);
        b.push_command(&args(&["SET", "k", "1"]));
        db.apply_batch(&b.finish()).expect("set");
        let version = db.get(b"k", 1).expect("k").version;
        let mut b = BatchBuilder::new(2, 1);
        b.push_transaction(&[(Bytes::from_static(b"k"), version + 1)], &[args(&["INCR", "k"])]);
        assert_eq!(db.apply_batch(&b.finish()).expect("tx"), vec![Frame::NullArray]);
    }

    #[test]
    fn a_script_round_trips_as_a_transaction_command() {
        let call = ScriptCall {
            body: Bytes::from_static(b"return 1"),
            keys: args(&["k1", "k2"]),
            args: args(&["a"]),
            read_only: false,
            resp3: true,
        };
        let command = call.to_command();
        assert_eq!(ScriptCall::from_command(&command).expect("a script").expect("well formed"), call);
        assert!(ScriptCall::from_command(&args(&["GET", "k"])).is_none());
        let mut b = BatchBuilder::new(1, 1);
        b.push_transaction(&[], &[args(&["SET", "k", "v"]), command]);
        let batch = b.finish();
        assert!(has_scripts(&batch));
        let replies = Db::new().apply_batch(&batch).expect("applies");
        let expected = Frame::Array(vec![Frame::ok(), Frame::error("ERR scripting is not available here")]);
        assert_eq!(replies, vec![expected]);
        let truncated = &call.to_command()[..4];
        assert!(ScriptCall::from_command(&[truncated, &args(&["only-one-key"])].concat()).expect("script").is_err());
    }

    /// A host that answers each script with its body and first argument.
    struct Echo;
    impl ScriptHost for Echo {
        fn eval(&mut self, _: &mut Db, _: &mut ExecCtx, call: &ScriptCall) -> Frame {
            Frame::Array(vec![Frame::Bulk(call.body.clone()), Frame::Bulk(call.args[0].clone())])
        }
    }

    #[test]
    fn a_repeated_script_body_is_logged_once_per_batch() {
        let call = |body: &'static str, arg: &str| ScriptCall {
            body: Bytes::from_static(body.as_bytes()),
            keys: args(&["k"]),
            args: args(&[arg]),
            read_only: false,
            resp3: false,
        };
        let long = "return 'a long script body, repeated by every buyer in the sale'";
        let mut once = BatchBuilder::new(1, 1);
        once.push_script(&call(long, "0"));
        let single = once.encoded_len();
        let mut b = BatchBuilder::new(1, 1);
        for i in 0..10 {
            b.push_script(&call(long, &i.to_string()));
            b.push_script(&call("return 2", &i.to_string()));
        }
        assert!(b.encoded_len() < single + 19 * 24, "bodies are referenced, not repeated");
        let batch = b.finish();
        let replies = Db::new().apply_batch_with(&batch, Some(&mut Echo)).expect("applies");
        for (i, pair) in replies.chunks(2).enumerate() {
            let want = |body: &str| {
                Frame::Array(vec![Frame::Bulk(Bytes::copy_from_slice(body.as_bytes())), Frame::bulk(i.to_string())])
            };
            assert_eq!(pair, [want(long), want("return 2")]);
        }
        // A reference to a body the batch never wrote fails closed.
        let mut bad = batch.to_vec();
        let again = bad.iter().rposition(|&b| b == TAG_SCRIPT_AGAIN).expect("a back-reference");
        bad[again + 2] = 9;
        assert!(Db::new().apply_batch_with(&Bytes::from(bad), Some(&mut Echo)).is_err());
    }

    #[test]
    fn malformed_batches_fail_without_panicking() {
        let mut b = BatchBuilder::new(1, 1);
        b.push_command(&args(&["SET", "k", "v"]));
        let bytes = b.finish();
        for cut in 0..bytes.len() {
            assert!(Db::new().apply_batch(&bytes.slice(..cut)).is_err());
        }
    }
}
