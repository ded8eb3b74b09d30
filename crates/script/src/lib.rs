//! Atomic scripts: one embedded Lua 5.1 per partition, run by the
//! partition's single writer while it applies a log entry.
//!
//! **Replication choice: the invocation is logged.** A script entry carries
//! the script's text, KEYS and ARGV; every replica and every replay runs it
//! against the same state with the same inputs. Everything a script could
//! see that varies is fixed by the entry: the clock (`TIME`) and the random
//! seed come from the batch header, and `math.random` (Redis's rand48) is
//! seeded from the batch's generator before every run. (Redis seeds it once
//! per process, so its sequence depends on the server's history; ours
//! depends only on the entry.) The instruction limit is counted, not timed,
//! so a runaway script stops at the same instruction everywhere.
//!
//! A script can only touch the keys it declares in KEYS (all in one slot,
//! checked before it runs); an undeclared key is an error when touched.

pub mod bit;
pub mod cjson;
pub mod convert;
mod rand48;

use bytes::Bytes;
use convert::{format_number, frame_to_lua, lua_to_frame, strip_dash};
use mlua::{HookTriggers, Lua, LuaOptions, StdLib, Table, Value, Variadic, VmState};
use rand::Rng;
use rand48::Rand48;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weir_protocol::Frame;
use weir_state::{Access, Db, ExecCtx, ScriptCall, ScriptHost};

/// Compiled scripts kept per partition before the cache is cleared.
const MAX_COMPILED: usize = 1024;
/// The hook runs every this many VM instructions.
const HOOK_EVERY: u32 = 1000;

/// Limits on one script run.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// VM instructions before the script is stopped with an error (the
    /// default, 10^11, is minutes of work: a backstop, not the busy limit).
    pub max_instructions: u64,
    /// Bytes a script may allocate beyond what the interpreter held before.
    pub max_memory: usize,
    /// Run time after which a script is busy (the server's busy-script
    /// limit) and runs throttled, on `BUSY_RUN` of every
    /// `BUSY_RUN + BUSY_PAUSE`.
    pub throttle_after_ms: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { max_instructions: 100_000_000_000, max_memory: 64 << 20, throttle_after_ms: 5000 }
    }
}

/// A busy script (one past `Limits::throttle_after_ms`) keeps running, so
/// that SCRIPT KILL or its own end can stop it, but pauses `BUSY_PAUSE`
/// after every `BUSY_RUN` of running: a twentieth of a core, in slices short
/// enough that what shares its core waits at most `BUSY_RUN`. Its
/// instruction budget is counted, not timed, so throttling changes when it
/// ends, never its result.
const BUSY_RUN: Duration = Duration::from_micros(100);
const BUSY_PAUSE: Duration = Duration::from_micros(1900);

/// The limits of the current run, read by the instruction hook, which is
/// installed once with the interpreter and re-armed per run (setting and
/// removing a hook per EVAL cost ~3% of a flash sale's CPU).
struct RunLimits {
    /// Hook calls left before the instruction limit.
    budget: AtomicU64,
    after_ms: u64,
    epoch: Instant,
    /// When the running script last resumed from a pause, in ns since
    /// `epoch` (see `BUSY_RUN`).
    resumed_ns: AtomicU64,
}

impl RunLimits {
    fn new(after_ms: u64) -> RunLimits {
        RunLimits { budget: AtomicU64::new(0), after_ms, epoch: Instant::now(), resumed_ns: AtomicU64::new(0) }
    }

    fn arm(&self, budget: u64) {
        self.budget.store(budget, Ordering::Relaxed);
        self.resumed_ns.store(self.now_ns(), Ordering::Relaxed);
    }

    fn now_ns(&self) -> u64 {
        self.epoch.elapsed().as_nanos() as u64
    }

    /// The hook, every `HOOK_EVERY` instructions.
    fn check(&self, control: &Control) -> mlua::Result<VmState> {
        if control.kill.load(Ordering::Acquire) {
            return Err(mlua::Error::RuntimeError(KILLED.into()));
        }
        if self.budget.fetch_sub(1, Ordering::Relaxed) == 0 {
            return Err(mlua::Error::RuntimeError("Script exceeded the instruction limit".into()));
        }
        self.pace(control);
        Ok(VmState::Continue)
    }

    /// Pauses a busy script that has run its slice.
    fn pace(&self, control: &Control) {
        if control.running_for_ms(wall_ms()).is_none_or(|ran| ran < self.after_ms) {
            return;
        }
        if self.now_ns().saturating_sub(self.resumed_ns.load(Ordering::Relaxed)) >= BUSY_RUN.as_nanos() as u64 {
            control.pauses.fetch_add(1, Ordering::Relaxed);
            std::thread::sleep(BUSY_PAUSE);
            self.resumed_ns.store(self.now_ns(), Ordering::Relaxed);
        }
    }
}

/// What the server sees of a partition's running script: for `BUSY`
/// replies and `SCRIPT KILL`, without taking the partition's lock.
#[derive(Debug, Default)]
pub struct Control {
    /// Wall-clock ms when the running script started; 0 when idle.
    running_since: AtomicU64,
    kill: AtomicBool,
    wrote: AtomicBool,
    /// Set by the applier before it locks the partition for a batch that
    /// holds a script, so readers wait without blocking a thread.
    pending: AtomicBool,
    /// Pauses busy scripts have taken (see `BUSY_RUN`), ever.
    pauses: AtomicU64,
}

/// The answer to `SCRIPT KILL` for one partition.
#[derive(Debug, PartialEq, Eq)]
pub enum Kill {
    NotRunning,
    /// The script has written: killing it would leave half its effects.
    Unkillable,
    Requested,
}

impl Control {
    /// How long the current script has run, if one is running.
    pub fn running_for_ms(&self, now_ms: u64) -> Option<u64> {
        match self.running_since.load(Ordering::Acquire) {
            0 => None,
            since => Some(now_ms.saturating_sub(since)),
        }
    }

    /// A script is about to run or running: the partition's lock may be
    /// held for long.
    pub fn active(&self) -> bool {
        self.pending.load(Ordering::Acquire) || self.running_since.load(Ordering::Acquire) != 0
    }

    /// Pauses busy scripts on this partition have taken so far.
    pub fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Relaxed)
    }

    pub fn set_pending(&self, pending: bool) {
        self.pending.store(pending, Ordering::Release);
    }

    pub fn request_kill(&self) -> Kill {
        if self.running_since.load(Ordering::Acquire) == 0 {
            return Kill::NotRunning;
        }
        if self.wrote.load(Ordering::Acquire) {
            return Kill::Unkillable;
        }
        self.kill.store(true, Ordering::Release);
        Kill::Requested
    }
}

/// The Rust error `redis.call` raises; the error handler swaps in the
/// error reply it left in `holder.call_error`.
const CALL_MARKER: &str = "weir: redis.call failed";

/// The error a killed script's caller gets.
pub const KILLED: &str = "Script killed by user with SCRIPT KILL...";

/// The hex SHA1 of a script body (EVALSHA's name for it).
pub fn sha1_hex(body: &[u8]) -> String {
    let digest = Sha1::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One partition's interpreter.
pub struct Engine {
    lua: Lua,
    /// Private to the engine: the run wrapper, the per-run bridge, the
    /// script's RESP choice.
    holder: Table,
    /// `holder.run`: runs a compiled script under the error handler.
    run: mlua::Function,
    /// The run `redis.call` and `redis.pcall` reach (set only while one runs).
    current: Arc<Current>,
    /// The running script's `redis.setresp(3)`.
    resp3: Arc<AtomicBool>,
    run_limits: Arc<RunLimits>,
    compiled: HashMap<String, mlua::Function>,
    /// The last body run and its SHA1: a stream of one script (a flash
    /// sale) hashes its text once, not once per call.
    last_sha: Option<(Bytes, String)>,
    rand: Arc<Mutex<Rand48>>,
    control: Arc<Control>,
    limits: Limits,
}

/// Wires `redis.call` and `redis.pcall` to the per-run bridge, adds an
/// error handler that records where a script failed (as Redis reports it),
/// and makes globals read-only.
const PRELUDE: &str = r#"
local holder, getinfo = ...
redis = {}
function redis.error_reply(e)
  if type(e) ~= 'string' then error('wrong number or type of arguments', 2) end
  if string.sub(e, 1, 1) == '-' then e = string.sub(e, 2) end
  return {err = e}
end
function redis.status_reply(s)
  if type(s) ~= 'string' then error('wrong number or type of arguments', 2) end
  return {ok = s}
end
function redis.setresp(v)
  if v ~= 2 and v ~= 3 then error({err = 'ERR RESP version must be 2 or 3.'}) end
  holder.set_resp(v)
end
function redis.set_repl(_) end
function redis.replicate_commands() return true end
function redis.breakpoint() return false end
function redis.debug() end
redis.REPL_NONE, redis.REPL_AOF, redis.REPL_SLAVE, redis.REPL_REPLICA, redis.REPL_ALL = 0, 1, 2, 2, 3
redis.LOG_DEBUG, redis.LOG_VERBOSE, redis.LOG_NOTICE, redis.LOG_WARNING = 0, 1, 2, 3
redis.REDIS_VERSION, redis.REDIS_VERSION_NUM = '7.0.15', 0x07000f
local function handler(err)
  local where
  for level = 2, 30 do
    local i = getinfo(level, 'Sl')
    if not i then break end
    if i.source == '@user_script' then where = i break end
  end
  local failed = holder.call_error
  holder.call_error = nil
  if failed and tostring(err):find(holder.call_marker, 1, true) then err = failed end
  if type(err) ~= 'table' then
    local text = tostring(err)
    if string.sub(text, 1, 15) == 'runtime error: ' then text = string.sub(text, 16) end
    err = {err = 'ERR ' .. text}
  end
  if where then err.source = where.source err.line = where.currentline end
  return err
end
function holder.run(f) return xpcall(f, handler) end
loadfile, dofile, debug = nil, nil, nil
setmetatable(_G, {
  __newindex = function(_, k) error('Attempt to modify a readonly table', 2) end,
  __index = function(_, k) error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2) end,
})
"#;

#[derive(Debug, thiserror::Error)]
#[error("starting the Lua interpreter: {0}")]
pub struct StartError(#[from] mlua::Error);

impl Engine {
    pub fn new(limits: Limits) -> Result<Engine, StartError> {
        // The debug library is loaded only so the prelude can capture
        // `debug.getinfo` for error positions; scripts never see it.
        let libs = StdLib::TABLE | StdLib::STRING | StdLib::MATH | StdLib::DEBUG;
        let lua = unsafe { Lua::unsafe_new_with(libs, LuaOptions::default()) };
        let globals = lua.globals();
        bit::install(&lua, &globals)?;
        cjson::install(&lua, &globals)?;
        let rand = Arc::new(Mutex::new(Rand48::seeded(0)));
        install_math_random(&lua, &globals, rand.clone())?;
        let holder = lua.create_table()?;
        let getinfo: mlua::Function = globals.get::<Table>("debug")?.get("getinfo")?;
        holder.raw_set("call_marker", CALL_MARKER)?;
        lua.load(PRELUDE).set_name("=redis").call::<()>((holder.clone(), getinfo))?;
        let redis: Table = globals.raw_get("redis")?;
        redis.raw_set("sha1hex", lua.create_function(|_, s: mlua::LuaString| Ok(sha1_hex(&s.as_bytes())))?)?;
        redis.raw_set("log", lua.create_function(log)?)?;
        let control = Arc::new(Control::default());
        let current = Arc::new(Current::default());
        let resp3 = Arc::new(AtomicBool::new(false));
        for (name, raise) in [("call", true), ("pcall", false)] {
            let (current, control, holder, resp3) = (current.clone(), control.clone(), holder.clone(), resp3.clone());
            let function = lua.create_function(move |lua, args: Variadic<Value>| {
                redis_call(lua, &current, &control, &holder, resp3.load(Ordering::Relaxed), &args, raise)
            })?;
            redis.raw_set(name, function)?;
        }
        let set_resp = resp3.clone();
        holder.raw_set(
            "set_resp",
            lua.create_function(move |_, v: i64| {
                set_resp.store(v == 3, Ordering::Relaxed);
                Ok(())
            })?,
        )?;
        let run_limits = Arc::new(RunLimits::new(limits.throttle_after_ms));
        let (hook_limits, hook_control) = (run_limits.clone(), control.clone());
        lua.set_hook(HookTriggers::new().every_nth_instruction(HOOK_EVERY), move |_, _| {
            hook_limits.check(&hook_control)
        })?;
        let run = holder.raw_get("run")?;
        Ok(Engine {
            lua,
            holder,
            run,
            current,
            resp3,
            run_limits,
            compiled: HashMap::new(),
            last_sha: None,
            rand,
            control,
            limits,
        })
    }

    pub fn control(&self) -> Arc<Control> {
        self.control.clone()
    }

    fn function(&mut self, sha: &str, body: &[u8]) -> Result<mlua::Function, Frame> {
        if let Some(f) = self.compiled.get(sha) {
            return Ok(f.clone());
        }
        let f = self.lua.load(body).set_name("@user_script").into_function().map_err(|e| {
            let text = e.to_string();
            let text = text.strip_prefix("syntax error: ").unwrap_or(&text);
            Frame::error(format!("ERR Error compiling script (new function): {}", first_line(text)))
        })?;
        if self.compiled.len() >= MAX_COMPILED {
            self.compiled.clear();
        }
        self.compiled.insert(sha.to_string(), f.clone());
        Ok(f)
    }

    fn set_arrays(&self, call: &ScriptCall) -> mlua::Result<()> {
        let globals = self.lua.globals();
        let to_table = |items: &[Bytes]| -> mlua::Result<Table> {
            let t = self.lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.iter().enumerate() {
                t.raw_set(i + 1, self.lua.create_string(item)?)?;
            }
            Ok(t)
        };
        globals.raw_set("KEYS", to_table(&call.keys)?)?;
        globals.raw_set("ARGV", to_table(&call.args)?)
    }

    fn arm_limits(&self) -> mlua::Result<()> {
        let _ = self.lua.set_memory_limit(0);
        let _ = self.lua.set_memory_limit(self.lua.used_memory() + self.limits.max_memory);
        self.run_limits.arm(self.limits.max_instructions / u64::from(HOOK_EVERY));
        Ok(())
    }

    fn disarm(&self) {
        let _ = self.lua.set_memory_limit(0);
        let _ = self.holder.raw_set("call_error", Value::Nil);
        self.control.running_since.store(0, Ordering::Release);
        self.control.kill.store(false, Ordering::Release);
    }

    fn sha_of(&mut self, body: &Bytes) -> String {
        match &self.last_sha {
            Some((last, sha)) if last == body => sha.clone(),
            _ => {
                let sha = sha1_hex(body);
                self.last_sha = Some((body.clone(), sha.clone()));
                sha
            }
        }
    }

    fn execute(&mut self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Result<Frame, mlua::Error> {
        let sha = self.sha_of(&call.body);
        let function = match self.function(&sha, &call.body) {
            Ok(f) => f,
            Err(reply) => return Ok(reply),
        };
        self.set_arrays(call)?;
        self.resp3.store(false, Ordering::Relaxed);
        *self.rand.lock().unwrap_or_else(|e| e.into_inner()) = Rand48::seeded(ctx.rng.gen());
        self.control.wrote.store(false, Ordering::Release);
        self.control.kill.store(false, Ordering::Release);
        self.control.running_since.store(wall_ms().max(1), Ordering::Release);
        self.arm_limits()?;
        let (ok, value) = {
            let _running = self.current.enter(db, ctx, call);
            self.run.call::<(bool, Value)>(function)?
        };
        let script_resp3 = self.resp3.load(Ordering::Relaxed);
        Ok(if ok { lua_to_frame(&value, script_resp3) } else { error_reply(&value, &sha) })
    }
}

impl ScriptHost for Engine {
    fn eval(&mut self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Frame {
        let reply =
            self.execute(db, ctx, call).unwrap_or_else(|e| Frame::error(format!("ERR {}", first_line(&e.to_string()))));
        self.disarm();
        reply
    }
}

/// What `redis.call` does with one command: `(reply, failed)`.
/// The state a running script's `redis.call` works on. `redis.call` and
/// `redis.pcall` are created once with the interpreter (not per run, which
/// cost a scope and two closures per EVAL); `Engine::execute` points this
/// at its borrows for exactly the length of the run.
#[derive(Default)]
struct Current(Mutex<Option<Running>>);

#[derive(Clone, Copy)]
struct Running {
    db: *mut Db,
    ctx: *mut ExecCtx,
    call: *const ScriptCall,
}

// SAFETY: the pointers are only dereferenced by `redis_call`, on the
// thread running the script, while `Engine::execute` holds the borrows
// they came from (see `Current::enter`).
unsafe impl Send for Running {}

/// Clears `Current` when the run ends, however it ends.
struct Entered<'a>(&'a Current);

impl Current {
    /// Points `redis.call` at these borrows until the guard drops. The
    /// caller must not use them itself meanwhile: it only runs Lua.
    fn enter<'a>(&'a self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Entered<'a> {
        let running = Running { db, ctx, call };
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(running);
        Entered(self)
    }

    fn get(&self) -> Option<Running> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// `redis.call` (`raise`) and `redis.pcall`.
fn redis_call(
    lua: &Lua,
    current: &Current,
    control: &Control,
    holder: &Table,
    resp3: bool,
    args: &[Value],
    raise: bool,
) -> mlua::Result<Value> {
    let Some(running) = current.get() else {
        return Err(mlua::Error::RuntimeError("redis.call outside a script".into()));
    };
    // SAFETY: `Current::enter` holds these borrows, unused by their owner,
    // until the run that is calling us returns; one script runs at a time.
    let (db, ctx, call) = unsafe { (&mut *running.db, &mut *running.ctx, &*running.call) };
    let (reply, failed) = bridge(db, ctx, call, control, args);
    let value = frame_to_lua(lua, &reply, resp3)?;
    if failed && raise {
        holder.raw_set("call_error", value)?;
        return Err(mlua::Error::RuntimeError(CALL_MARKER.into()));
    }
    Ok(value)
}

fn bridge(db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall, control: &Control, args: &[Value]) -> (Frame, bool) {
    match check_and_run(db, ctx, call, control, args) {
        Ok(reply) => {
            let failed = reply.is_error();
            (reply, failed)
        }
        Err(message) => (Frame::error(message), true),
    }
}

fn check_and_run(
    db: &mut Db,
    ctx: &mut ExecCtx,
    call: &ScriptCall,
    control: &Control,
    args: &[Value],
) -> Result<Frame, String> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call".into());
    }
    let args = args.iter().map(argument).collect::<Option<Vec<Bytes>>>();
    let args = args.ok_or("ERR Lua redis lib command arguments must be strings or integers")?;
    let name = args[0].to_ascii_lowercase();
    if let Some(reply) = node_command(&name, &args, ctx) {
        return reply;
    }
    let spec = weir_state::spec::lookup(&args[0]).ok_or_else(|| not_found_message(&name))?;
    if !spec.arity_ok(args.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if spec.access == Access::Write && call.read_only {
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    for index in spec.key_indexes(&args) {
        if !call.keys.contains(&args[index]) {
            return Err(format!(
                "ERR Script attempted to access key '{}', which is not declared in KEYS",
                String::from_utf8_lossy(&args[index])
            ));
        }
    }
    if spec.access == Access::Write {
        control.wrote.store(true, Ordering::Release);
    }
    Ok(db.execute(ctx, &args))
}

/// Commands scripts reach that are not partition data commands.
fn node_command(name: &[u8], args: &[Bytes], ctx: &ExecCtx) -> Option<Result<Frame, String>> {
    match name {
        b"time" if args.len() == 1 => {
            let (secs, micros) = (ctx.now_ms / 1000, (ctx.now_ms % 1000) * 1000);
            Some(Ok(Frame::Array(vec![Frame::bulk(secs.to_string()), Frame::bulk(micros.to_string())])))
        }
        b"ping" if args.len() == 1 => Some(Ok(Frame::simple("PONG"))),
        b"ping" if args.len() == 2 => Some(Ok(Frame::Bulk(args[1].clone()))),
        _ => None,
    }
}

fn not_found_message(name: &[u8]) -> String {
    const FORBIDDEN: &[&[u8]] = &[
        b"eval",
        b"evalsha",
        b"eval_ro",
        b"evalsha_ro",
        b"script",
        b"multi",
        b"exec",
        b"discard",
        b"watch",
        b"unwatch",
        b"subscribe",
        b"psubscribe",
        b"unsubscribe",
        b"punsubscribe",
        b"auth",
        b"hello",
        b"client",
        b"shutdown",
        b"select",
        b"reset",
        b"quit",
        b"flushall",
        b"flushdb",
    ];
    if FORBIDDEN.contains(&name) {
        "ERR This Redis command is not allowed from script".into()
    } else {
        "ERR Unknown Redis command called from script".into()
    }
}

/// A `redis.call` argument: strings as they are, numbers as Lua prints them.
fn argument(value: &Value) -> Option<Bytes> {
    match value {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Integer(i) => Some(Bytes::from(i.to_string())),
        Value::Number(n) => Some(Bytes::from(format_number(*n))),
        _ => None,
    }
}

/// The reply for a script that raised an error: Redis 7's text, with the
/// script and the line where it failed.
fn error_reply(value: &Value, sha: &str) -> Frame {
    let Value::Table(t) = value else {
        return Frame::error("ERR Error running script: execution failure");
    };
    let message = match t.raw_get::<Value>("err") {
        Ok(Value::String(s)) => strip_dash(Bytes::copy_from_slice(&s.as_bytes())),
        _ => Bytes::from_static(b"ERR execution failure"),
    };
    let mut text = String::from_utf8_lossy(&message).into_owned();
    if let (Ok(Value::String(source)), Ok(line)) = (t.raw_get::<Value>("source"), t.raw_get::<i64>("line")) {
        text.push_str(&format!(" script: {sha}, on {}:{line}.", source.to_string_lossy()));
    }
    Frame::error(text)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

fn wall_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn log(_: &Lua, (level, parts): (i64, Variadic<Value>)) -> mlua::Result<()> {
    let text: Vec<String> = parts
        .iter()
        .map(|v| match v {
            Value::String(s) => s.to_string_lossy(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => format_number(*n),
            other => other.type_name().to_string(),
        })
        .collect();
    let text = text.join(" ");
    match level {
        3 => tracing::warn!(target: "weir::script", "{text}"),
        2 => tracing::info!(target: "weir::script", "{text}"),
        _ => tracing::debug!(target: "weir::script", "{text}"),
    }
    Ok(())
}

/// `math.random` and `math.randomseed` as Redis defines them.
fn install_math_random(lua: &Lua, globals: &Table, rand: Arc<Mutex<Rand48>>) -> mlua::Result<()> {
    let math: Table = globals.get("math")?;
    let draw = rand.clone();
    math.set(
        "random",
        lua.create_function(move |_, args: Variadic<f64>| {
            let r = draw.lock().unwrap_or_else(|e| e.into_inner()).next_unit();
            match args.len() {
                0 => Ok(r),
                1 => {
                    let u = args[0] as i32;
                    if u < 1 {
                        return Err(mlua::Error::RuntimeError(
                            "bad argument #1 to 'random' (interval is empty)".into(),
                        ));
                    }
                    Ok((r * f64::from(u)).floor() + 1.0)
                }
                2 => {
                    let (l, u) = (args[0] as i32, args[1] as i32);
                    if l > u {
                        return Err(mlua::Error::RuntimeError(
                            "bad argument #2 to 'random' (interval is empty)".into(),
                        ));
                    }
                    Ok((r * (f64::from(u) - f64::from(l) + 1.0)).floor() + f64::from(l))
                }
                _ => Err(mlua::Error::RuntimeError("wrong number of arguments".into())),
            }
        })?,
    )?;
    math.set(
        "randomseed",
        lua.create_function(move |_, seed: f64| {
            *rand.lock().unwrap_or_else(|e| e.into_inner()) = Rand48::seeded(seed as i64 as u32);
            Ok(())
        })?,
    )
}

#[cfg(test)]
mod tests;
