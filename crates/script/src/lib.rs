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
mod call;
pub mod cjson;
pub mod convert;
mod errors;
mod limits;
mod rand48;
mod sandbox;
mod tonumber;

use call::{push_redis_call, Bridge};
use limits::{wall_ms, RunLimits, HOOK_EVERY};
pub use limits::{CallCounter, Control, Kill, Limits, INLINE_INSTRUCTIONS, KILLED};

use bytes::Bytes;
use convert::{format_number, lua_to_frame, strip_dash};
use mlua::{ffi, HookTriggers, Lua, LuaOptions, StdLib, Table, Value, Variadic};
use rand::Rng;
use rand48::Rand48;
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::ffi::c_int;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use weir_protocol::Frame;
use weir_state::{Db, ExecCtx, ScriptCall, ScriptHost};

/// Compiled scripts kept per partition before the cache is cleared.
const MAX_COMPILED: usize = 1024;
/// The hex SHA1 of a script body (EVALSHA's name for it).
pub fn sha1_hex(body: &[u8]) -> String {
    let digest = Sha1::digest(body);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// One partition's interpreter.
pub struct Engine {
    lua: Lua,
    /// `holder.run`: runs a compiled script under the error handler.
    run: mlua::Function,
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
    /// What `redis.call` and `redis.pcall` reach (boxed: they hold its
    /// address). Declared last, so dropped after the interpreter.
    bridge: Box<Bridge>,
}

/// Defines the `redis` library and adds an error handler that records
/// where a script failed (as Redis reports it).
const PRELUDE: &str = r#"
local holder, getinfo = ...
redis = {}
function redis.error_reply(e)
  if type(e) ~= 'string' then error('wrong number or type of arguments', 2) end
  if string.sub(e, 1, 1) == '-' then e = string.sub(e, 2) end
  -- As Redis 7: an error with no code (no space) gets the generic one.
  if not string.find(e, ' ', 1, true) then e = 'ERR ' .. e end
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
  if type(err) ~= 'table' then
    local text = tostring(err)
    if string.sub(text, 1, 15) == 'runtime error: ' then text = string.sub(text, 16) end
    err = {err = 'ERR ' .. text}
  end
  if where then err.source = where.source err.line = where.currentline end
  return err
end
function holder.run(f) return xpcall(f, handler) end
-- As in Redis 7, pcall hands over an error table's err field (a failed
-- redis.call raises {err = ...}); xpcall hands over the table.
local raw_pcall = pcall
local function caught(ok, ...)
  if not ok then
    local e = ...
    if type(e) == 'table' and rawget(e, 'err') ~= nil then return false, rawget(e, 'err') end
  end
  return ok, ...
end
function pcall(...) return caught(raw_pcall(...)) end
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
        lua.load(PRELUDE).set_name("=redis").call::<()>((holder.clone(), getinfo))?;
        let redis: Table = globals.raw_get("redis")?;
        redis.raw_set("sha1hex", lua.create_function(|_, s: mlua::LuaString| Ok(sha1_hex(&s.as_bytes())))?)?;
        redis.raw_set("log", lua.create_function(log)?)?;
        let control = Arc::new(Control::default());
        let resp3 = Arc::new(AtomicBool::new(false));
        let bridge = Box::new(Bridge::new(control.clone(), resp3.clone()));
        for (name, raise) in [("call", true), ("pcall", false)] {
            let address: *const Bridge = &*bridge;
            // SAFETY: a protected call with room for the two upvalues; the
            // engine keeps the bridge for as long as the interpreter.
            let function =
                unsafe { lua.exec_raw::<mlua::Function>((), |state| push_redis_call(state, address, raise))? };
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
        tonumber::install(&lua)?;
        sandbox::seal(&lua)?;
        Ok(Engine {
            lua,
            run,
            resp3,
            run_limits,
            compiled: HashMap::new(),
            last_sha: None,
            rand,
            control,
            limits,
            bridge,
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

    /// Sets KEYS and ARGV (fresh tables per run: a script may change
    /// them), arms the limits and runs `function` under the error handler,
    /// all on the Lua stack: through mlua's handles and protected calls the
    /// same cost ~3,000 instructions more per EVAL.
    fn run_script(&self, function: &mlua::Function, call: &ScriptCall) -> mlua::Result<(bool, Value)> {
        self.lua.exec_raw_lua(|raw| {
            // SAFETY: nothing before lua_pcall can raise a Lua error: no
            // memory limit is armed yet (`disarm` lifted the last one, and
            // mlua aborts on a failed allocation), the sets are raw, and no
            // script-defined finalizer exists (scripts have no newproxy).
            // The stack is put back as it was found.
            unsafe {
                let state = raw.state();
                let _restore = StackRestore(state, ffi::lua_gettop(state));
                if ffi::lua_checkstack(state, RUN_STACK) == 0 {
                    return Err(mlua::Error::StackError);
                }
                ffi::lua_pushvalue(state, ffi::LUA_GLOBALSINDEX);
                push_array(state, b"KEYS", &call.keys);
                push_array(state, b"ARGV", &call.args);
                ffi::lua_pop(state, 1);
                self.arm_limits();
                raw.push(&self.run)?;
                raw.push(function)?;
                if ffi::lua_pcall(state, 1, 2, 0) != 0 {
                    // Only xpcall itself failing (out of memory) gets here.
                    return Err(mlua::Error::RuntimeError(error_text(state)));
                }
                let value = raw.pop_value();
                Ok((ffi::lua_toboolean(state, -1) != 0, value))
            }
        })
    }

    fn arm_limits(&self) {
        // No limit is set here (`disarm` lifted the last one).
        let _ = self.lua.set_memory_limit(self.lua.used_memory() + self.limits.max_memory);
        let trying = self.control.trying.load(Ordering::Acquire);
        let instructions = match trying {
            true => INLINE_INSTRUCTIONS.min(self.limits.max_instructions),
            false => self.limits.max_instructions,
        };
        self.run_limits.arm(instructions / u64::from(HOOK_EVERY), !trying && self.control.offloads());
    }

    fn disarm(&self) {
        let _ = self.lua.set_memory_limit(0);
        self.control.running_since.store(0, Ordering::Release);
        self.control.kill.store(false, Ordering::Release);
    }

    fn sha_of(&mut self, body: &Bytes) -> String {
        match &self.last_sha {
            Some((last, sha)) if last == body => sha.clone(),
            _ => {
                let sha = sha1_hex(body);
                // A copy: the body is a slice of its whole Raft batch.
                self.last_sha = Some((Bytes::copy_from_slice(body), sha.clone()));
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
        self.resp3.store(false, Ordering::Relaxed);
        *self.rand.lock().unwrap_or_else(|e| e.into_inner()) = Rand48::seeded(ctx.rng.gen());
        self.control.wrote.store(false, Ordering::Release);
        self.control.refused.store(false, Ordering::Release);
        self.control.kill.store(false, Ordering::Release);
        self.control.running_since.store(wall_ms().max(1), Ordering::Release);
        let ran = {
            let _running = self.bridge.enter(db, ctx, call);
            self.run_script(&function, call)
        };
        if let Some(panic) = self.bridge.take_panic() {
            std::panic::resume_unwind(panic);
        }
        let (ok, value) = ran?;
        let script_resp3 = self.resp3.load(Ordering::Relaxed);
        let reply = if ok { lua_to_frame(&value, script_resp3) } else { error_reply(&value, &sha) };
        // Only an error reply looks for the mark: a table reply pays nothing.
        if let Frame::Error(text) = &reply {
            if counted_error(&value) {
                self.control.take_back_error(text);
            }
        }
        Ok(reply)
    }
}

impl ScriptHost for Engine {
    fn eval(&mut self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Frame {
        let reply =
            self.execute(db, ctx, call).unwrap_or_else(|e| Frame::error(format!("ERR {}", first_line(&e.to_string()))));
        self.disarm();
        self.control.end_run_errors();
        reply
    }
}

/// Whether a script's error table came from a failed command, already
/// counted in errorstats (`call::IGNORE_ERROR_STATS`, a boolean as Redis
/// reads it).
fn counted_error(value: &Value) -> bool {
    let Value::Table(t) = value else { return false };
    let field = call::IGNORE_ERROR_STATS.to_str().unwrap_or_default();
    matches!(t.raw_get::<Value>(field), Ok(Value::Boolean(true)))
}

/// Stack room a run needs: the globals, a name, an array and an item,
/// then the wrapper and the script (two slots each to push).
const RUN_STACK: c_int = 8;

/// Puts the Lua stack back to the height it had.
struct StackRestore(*mut ffi::lua_State, c_int);

impl Drop for StackRestore {
    fn drop(&mut self) {
        // SAFETY: the state outlives the guard, and the height was valid.
        unsafe { ffi::lua_settop(self.0, self.1) };
    }
}

/// The text of the error on top of the stack.
///
/// # Safety
/// `state` has a value on top.
unsafe fn error_text(state: *mut ffi::lua_State) -> String {
    if ffi::lua_type(state, -1) != ffi::LUA_TSTRING {
        return "execution failure".into();
    }
    let mut len = 0;
    let text = ffi::lua_tolstring(state, -1, &mut len);
    String::from_utf8_lossy(std::slice::from_raw_parts(text.cast::<u8>(), len)).into_owned()
}

/// Sets `name` in the table on top of the stack to a new array of `items`.
///
/// # Safety
/// `state` has a table on top and room for three more values; run inside
/// a protected call.
unsafe fn push_array(state: *mut ffi::lua_State, name: &[u8], items: &[Bytes]) {
    ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
    ffi::lua_createtable(state, c_int::try_from(items.len()).unwrap_or(0), 0);
    for (i, item) in items.iter().enumerate() {
        ffi::lua_pushlstring(state, item.as_ptr().cast(), item.len());
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
    ffi::lua_rawset(state, -3);
}

/// What `redis.call` does with one command: `(reply, failed)`.
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
