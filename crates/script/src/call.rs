//! `redis.call` and `redis.pcall`: from Lua values to a command run on
//! the partition's state, and back.

use crate::convert::{format_number, push_frame, script_view};
use crate::limits::Control;
use bytes::{Bytes, BytesMut};
use mlua::ffi;
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use weir_protocol::Frame;
use weir_state::names::RecentNames;
use weir_state::spec::CommandSpec;
use weir_state::{Access, Db, ExecCtx, ScriptCall};

/// Bytes reserved per argument before copying a call's arguments.
const ARGUMENT_GUESS: usize = 16;
/// Command names a script's calls remember (a script cycles through a few).
const NAMES_KEPT: usize = 8;
/// Argument bytes whose buffer is kept for the next call; a call with more
/// leaves a fresh one behind, so one large call pins no memory.
const ARGUMENTS_KEPT: usize = 64 << 10;

/// A call's arguments, copied off the Lua stack into one buffer that the
/// next call reuses once this call's slices are gone (`BytesMut::reserve`
/// takes back a buffer nothing else shares): ~3 allocations per
/// `redis.call` fewer.
#[derive(Default)]
struct Arguments {
    text: BytesMut,
    /// Where each argument ends in `text`.
    ends: Vec<usize>,
    args: Vec<Bytes>,
}

/// What `redis.call` and `redis.pcall` reach: Lua C functions (not mlua
/// callbacks, whose argument and reply handles cost ~2,000 instructions a
/// call, a tenth of a flash-sale purchase) with this bridge as an upvalue.
/// The engine owns it, boxed, for as long as its interpreter.
pub(crate) struct Bridge {
    running: Cell<Option<Running>>,
    control: Arc<Control>,
    /// The running script's `redis.setresp(3)`.
    resp3: Arc<AtomicBool>,
    /// The reply being pushed into Lua. It lives here, not in the C
    /// function's frame: pushing may fail (the script's memory limit) with
    /// a Lua error that unwinds past that frame, which must therefore own
    /// nothing that needs dropping.
    reply: UnsafeCell<Frame>,
    /// The arguments of the call running, then kept for the next one.
    arguments: UnsafeCell<Arguments>,
    /// The commands called lately, by name as the scripts spell them:
    /// comparing bytes costs less than the table's lookup (~190
    /// instructions a call).
    commands: UnsafeCell<RecentNames<&'static CommandSpec, NAMES_KEPT>>,
    /// A panic inside a call, resumed once the script has returned.
    panic: Cell<Option<Box<dyn Any + Send>>>,
}

#[derive(Clone, Copy)]
struct Running {
    db: *mut Db,
    ctx: *mut ExecCtx,
    call: *const ScriptCall,
}

// SAFETY: the pointers are only dereferenced by `redis_call`, on the
// thread running the script, while `Engine::execute` holds the borrows
// they came from (see `Bridge::enter`); the rest is only touched by that
// thread, during a run.
unsafe impl Send for Bridge {}

/// Clears the bridge's borrows when the run ends, however it ends.
pub(crate) struct Entered<'a>(&'a Bridge);

impl Bridge {
    pub(crate) fn new(control: Arc<Control>, resp3: Arc<AtomicBool>) -> Bridge {
        Bridge {
            running: Cell::new(None),
            control,
            resp3,
            reply: UnsafeCell::new(Frame::Null),
            arguments: UnsafeCell::new(Arguments::default()),
            commands: UnsafeCell::new(RecentNames::default()),
            panic: Cell::new(None),
        }
    }

    /// Points `redis.call` at these borrows until the guard drops. The
    /// caller must not use them itself meanwhile: it only runs Lua.
    pub(crate) fn enter<'a>(&'a self, db: &mut Db, ctx: &mut ExecCtx, call: &ScriptCall) -> Entered<'a> {
        self.running.set(Some(Running { db, ctx, call }));
        Entered(self)
    }

    /// A panic a call caught during the run that just ended.
    pub(crate) fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        self.panic.take()
    }

    /// Runs the call whose arguments are on the stack into `reply`; true if
    /// it failed. Touches the Lua stack only to read it: never raises.
    fn run(&self, state: *mut ffi::lua_State) -> bool {
        let outcome = match self.running.get() {
            None => Err("ERR redis.call outside a script".to_string()),
            Some(running) => {
                // SAFETY: `enter` holds these borrows, unused by their
                // owner, until the run calling us returns; one script runs
                // at a time.
                let (db, ctx, call) = unsafe { (&mut *running.db, &mut *running.ctx, &*running.call) };
                // SAFETY: only this thread touches `arguments` and
                // `commands`, and no borrow of them outlives a call
                // (commands do not call Lua).
                let (arguments, commands) = unsafe { (&mut *self.arguments.get(), &mut *self.commands.get()) };
                // SAFETY: a C function's arguments are the stack.
                let outcome = unsafe { arguments.read(state) }
                    .and_then(|()| check_and_run(db, ctx, call, &self.control, commands, &arguments.args));
                arguments.release();
                outcome
            }
        };
        let (mut reply, failed) = match outcome {
            Ok(reply) => {
                let failed = reply.is_error();
                (reply, failed)
            }
            Err(message) => (Frame::error(message), true),
        };
        if let (true, Frame::Error(text)) = (failed, &reply) {
            self.control.note_error(text);
        }
        script_view(&mut reply, self.resp3.load(Ordering::Relaxed));
        // SAFETY: only this thread touches `reply`, and no borrow of it
        // outlives a call.
        unsafe { *self.reply.get() = reply };
        failed
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        self.0.running.set(None);
        // SAFETY: as in `Bridge::run`: the run is over.
        unsafe { *self.0.reply.get() = Frame::Null };
    }
}

/// The field of a failed call's error table that says it was counted.
pub(crate) const IGNORE_ERROR_STATS: &std::ffi::CStr = c"ignore_error_stats_update";

/// Creates `redis.call` (`raise`) or `redis.pcall` on top of the stack.
///
/// # Safety
/// `state` has room for two values; `bridge` outlives the interpreter's
/// use of the function.
pub(crate) unsafe fn push_redis_call(state: *mut ffi::lua_State, bridge: *const Bridge, raise: bool) {
    ffi::lua_pushlightuserdata(state, bridge.cast_mut().cast::<c_void>());
    ffi::lua_pushboolean(state, c_int::from(raise));
    ffi::lua_pushcclosure(state, redis_call, 2);
}

/// `redis.call` and `redis.pcall`. A failed call's `{err = ...}` is raised
/// as the error itself by `redis.call` (the error handler adds where), and
/// returned by `redis.pcall`.
unsafe extern "C-unwind" fn redis_call(state: *mut ffi::lua_State) -> c_int {
    // SAFETY: upvalues as `push_redis_call` set them.
    let bridge = &*ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)).cast::<Bridge>();
    let raise = ffi::lua_toboolean(state, ffi::lua_upvalueindex(2)) != 0;
    let failed = match catch_unwind(AssertUnwindSafe(|| bridge.run(state))) {
        Ok(failed) => failed,
        Err(panic) => {
            bridge.panic.set(Some(panic));
            *bridge.reply.get() = Frame::error("ERR internal error in redis.call");
            true
        }
    };
    // From here on a Lua error may unwind past this frame: it holds only
    // borrows.
    let reply = &*bridge.reply.get();
    if !push_frame(state, reply, bridge.resp3.load(Ordering::Relaxed)) {
        ffi::lua_pushstring(state, c"ERR reply nested too deep for Lua".as_ptr());
        ffi::lua_error(state);
    }
    if failed && ffi::lua_istable(state, -1) != 0 && ffi::lua_checkstack(state, 2) != 0 {
        // As Redis marks it: the error is counted (`Control::note_error`),
        // so the script's reply with it is not counted again.
        ffi::lua_pushstring(state, IGNORE_ERROR_STATS.as_ptr());
        ffi::lua_pushboolean(state, 1);
        ffi::lua_rawset(state, -3);
    }
    if failed && raise {
        ffi::lua_error(state);
    }
    1
}

fn check_and_run(
    db: &mut Db,
    ctx: &mut ExecCtx,
    call: &ScriptCall,
    control: &Control,
    commands: &mut RecentNames<&'static CommandSpec, NAMES_KEPT>,
    args: &[Bytes],
) -> Result<Frame, String> {
    if let Some((spec, reply)) = node_command(args, ctx) {
        control.count_call(spec, false);
        return Ok(reply);
    }
    let spec = commands
        .get(&args[0], weir_state::spec::lookup)
        .ok_or_else(|| not_found_message(&args[0].to_ascii_lowercase()))?;
    if !spec.arity_ok(args.len()) {
        return Err("ERR Wrong number of args calling Redis command from script".into());
    }
    if spec.access == Access::Write && call.read_only {
        control.refused.store(true, Ordering::Release);
        return Err("ERR Write commands are not allowed from read-only scripts.".into());
    }
    for index in spec.key_indexes(args) {
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
    let reply = db.execute_spec(ctx, spec, args);
    control.count_call(spec, reply.is_error());
    Ok(reply)
}

/// The node commands scripts may call, as specs so that their calls are
/// counted like any other's (INFO commandstats).
static NODE_COMMANDS: [CommandSpec; 2] = [node_spec("time", 1), node_spec("ping", -1)];

const fn node_spec(name: &'static str, arity: i32) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags: &["fast"],
        first_key: 0,
        last_key: 0,
        step: 0,
        access: Access::Read,
        group: "connection",
        summary: "",
        since: "1.0.0",
        handler: None,
        movable: None,
        blocking: false,
    }
}

/// Commands scripts reach that are not partition data commands, and
/// their specs.
fn node_command(args: &[Bytes], ctx: &ExecCtx) -> Option<(&'static CommandSpec, Frame)> {
    let is = |name: &str| args[0].eq_ignore_ascii_case(name.as_bytes());
    let [time, ping] = &NODE_COMMANDS;
    match args.len() {
        1 if is("time") => {
            let (secs, micros) = (ctx.now_ms / 1000, (ctx.now_ms % 1000) * 1000);
            Some((time, Frame::Array(vec![Frame::bulk(secs.to_string()), Frame::bulk(micros.to_string())])))
        }
        1 if is("ping") => Some((ping, Frame::simple("PONG"))),
        2 if is("ping") => Some((ping, Frame::Bulk(args[1].clone()))),
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
        b"save",
        b"bgsave",
    ];
    if FORBIDDEN.contains(&name) {
        "ERR This Redis command is not allowed from script".into()
    } else {
        "ERR Unknown Redis command called from script".into()
    }
}

impl Arguments {
    /// Copies a call's arguments as Redis takes them (strings as they are,
    /// numbers as Lua prints them, integral ones as integers) into `args`,
    /// slices of one buffer.
    ///
    /// # Safety
    /// The stack holds a C function's arguments. Nothing here can raise: a
    /// number is read, never converted in place.
    unsafe fn read(&mut self, state: *mut ffi::lua_State) -> Result<(), String> {
        debug_assert!(self.args.is_empty(), "released after the last call");
        let count = usize::try_from(ffi::lua_gettop(state)).unwrap_or(0);
        if count == 0 {
            return Err("ERR Please specify at least one argument for this redis lib call".into());
        }
        self.text.reserve(count * ARGUMENT_GUESS);
        self.ends.clear();
        for index in 1..=count {
            let at = index as c_int;
            match ffi::lua_type(state, at) {
                ffi::LUA_TSTRING => {
                    let mut len = 0;
                    let text = ffi::lua_tolstring(state, at, &mut len);
                    self.text.extend_from_slice(std::slice::from_raw_parts(text.cast::<u8>(), len));
                }
                ffi::LUA_TNUMBER => {
                    let n = ffi::lua_tonumber(state, at);
                    match integral(n) {
                        Some(i) => weir_protocol::put_int(&mut self.text, i),
                        None => self.text.extend_from_slice(format_number(n).as_bytes()),
                    }
                }
                _ => {
                    self.text.clear();
                    return Err("ERR Lua redis lib command arguments must be strings or integers".into());
                }
            }
            self.ends.push(self.text.len());
        }
        let whole = self.text.split().freeze();
        let mut start = 0;
        for &end in &self.ends {
            self.args.push(whole.slice(start..end));
            start = end;
        }
        Ok(())
    }

    /// Drops the call's slices, so the next call can take the buffer back;
    /// a buffer grown past `ARGUMENTS_KEPT` is let go.
    fn release(&mut self) {
        let len: usize = self.args.iter().map(Bytes::len).sum();
        self.args.clear();
        if len > ARGUMENTS_KEPT {
            *self = Arguments::default();
        }
    }
}

/// A Lua number that is exactly an integer (-0 is not).
fn integral(n: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    let i = n as i64;
    ((-LIMIT..LIMIT).contains(&n) && (i as f64).to_bits() == n.to_bits()).then_some(i)
}
