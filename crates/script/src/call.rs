//! `redis.call` and `redis.pcall`: from Lua values to a command run on
//! the partition's state, and back.

use crate::convert::{format_number, frame_to_lua};
use crate::limits::Control;
use bytes::Bytes;
use mlua::{Lua, Table, Value};
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Mutex;
use weir_protocol::Frame;
use weir_state::value::SharedText;
use weir_state::{Access, Db, ExecCtx, ScriptCall};

/// The Rust error `redis.call` raises; the error handler swaps in the
/// error reply it left in `holder.call_error`.
pub(crate) const CALL_MARKER: &str = "weir: redis.call failed";
/// Bytes reserved per argument before copying a call's arguments.
const ARGUMENT_GUESS: usize = 16;

/// The state a running script's `redis.call` works on. `redis.call` and
/// `redis.pcall` are created once with the interpreter (not per run, which
/// cost a scope and two closures per EVAL); `Engine::execute` points this
/// at its borrows for exactly the length of the run.
#[derive(Default)]
pub(crate) struct Current(Mutex<Option<Running>>);

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
pub(crate) struct Entered<'a>(&'a Current);

impl Current {
    /// Points `redis.call` at these borrows until the guard drops. The
    /// caller must not use them itself meanwhile: it only runs Lua.
    pub(crate) fn enter<'a>(&'a self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Entered<'a> {
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
pub(crate) fn redis_call(
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
    let value = limit_lifted(lua, || {
        let value = frame_to_lua(lua, &reply, resp3)?;
        if failed && raise {
            holder.raw_set("call_error", value.clone())?;
        }
        Ok(value)
    })?;
    if failed && raise {
        return Err(mlua::Error::RuntimeError(CALL_MARKER.into()));
    }
    Ok(value)
}

/// Runs `f` with the script's memory limit lifted. Under a limit, mlua
/// wraps every string and table it creates in a protected call of its own
/// (~2,000 instructions each, a third of a flash-sale purchase); without
/// one, allocation cannot fail (mlua aborts on a failed allocation) and it
/// pushes them directly. Used for a command's reply on its way into Lua:
/// that reply already exists in full, so it may take the script past its
/// limit by its own size at most, and the script's next allocation then
/// fails as usual.
fn limit_lifted<R>(lua: &Lua, f: impl FnOnce() -> mlua::Result<R>) -> mlua::Result<R> {
    let limit = lua.set_memory_limit(0)?;
    let result = f();
    lua.set_memory_limit(limit)?;
    result
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
    let args = arguments(args).ok_or("ERR Lua redis lib command arguments must be strings or integers")?;
    if let Some(reply) = node_command(&args, ctx) {
        return reply;
    }
    let spec = weir_state::spec::lookup(&args[0]).ok_or_else(|| not_found_message(&args[0].to_ascii_lowercase()))?;
    if !spec.arity_ok(args.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if spec.access == Access::Write && call.read_only {
        control.refused.store(true, Ordering::Release);
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
    Ok(db.execute_spec(ctx, spec, &args))
}

/// Commands scripts reach that are not partition data commands.
fn node_command(args: &[Bytes], ctx: &ExecCtx) -> Option<Result<Frame, String>> {
    let is = |name: &str| args[0].eq_ignore_ascii_case(name.as_bytes());
    match args.len() {
        1 if is("time") => {
            let (secs, micros) = (ctx.now_ms / 1000, (ctx.now_ms % 1000) * 1000);
            Some(Ok(Frame::Array(vec![Frame::bulk(secs.to_string()), Frame::bulk(micros.to_string())])))
        }
        1 if is("ping") => Some(Ok(Frame::simple("PONG"))),
        2 if is("ping") => Some(Ok(Frame::Bulk(args[1].clone()))),
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

/// A call's arguments as Redis takes them (strings as they are, numbers as
/// Lua prints them), copied into one allocation for the whole call, not
/// one each.
fn arguments(values: &[Value]) -> Option<Vec<Bytes>> {
    let mut shared = SharedText::with_capacity(values.len() * ARGUMENT_GUESS, values.len());
    for value in values {
        match value {
            Value::String(s) => shared.push(&s.as_bytes()),
            Value::Integer(i) => shared.push_with(|text| write!(text, "{i}").expect("a BytesMut grows")),
            Value::Number(n) => shared.push(format_number(*n).as_bytes()),
            _ => return None,
        }
    }
    Some(shared.finish())
}
