//! The interpreter against a real partition `Db`: conversions, redis.call
//! errors and their positions, the sandbox, libraries, limits and kill.

use super::*;
use weir_state::Mode;

fn ctx() -> ExecCtx {
    ExecCtx::new(1_700_000_000_123, Mode::Apply, 1)
}

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

fn call(body: &str, keys: &[&str], args: &[&str]) -> ScriptCall {
    ScriptCall {
        body: b(body),
        keys: keys.iter().map(|k| b(k)).collect(),
        args: args.iter().map(|a| b(a)).collect(),
        read_only: false,
        resp3: false,
    }
}

fn eval(engine: &mut Engine, db: &mut Db, body: &str, keys: &[&str], args: &[&str]) -> Frame {
    engine.eval(db, &mut ctx(), &call(body, keys, args))
}

#[test]
fn conversions_follow_the_redis_documentation() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    assert_eq!(eval(&mut e, &mut db, "return 3.7", &[], &[]), Frame::Integer(3));
    assert_eq!(eval(&mut e, &mut db, "return 'x'", &[], &[]), Frame::bulk("x"));
    assert_eq!(eval(&mut e, &mut db, "return true", &[], &[]), Frame::Integer(1));
    assert_eq!(eval(&mut e, &mut db, "return false", &[], &[]), Frame::Null);
    assert_eq!(eval(&mut e, &mut db, "return nil", &[], &[]), Frame::Null);
    assert_eq!(
        eval(&mut e, &mut db, "return {1, 'a', {2}, nil, 5}", &[], &[]),
        Frame::Array(vec![Frame::Integer(1), Frame::bulk("a"), Frame::Array(vec![Frame::Integer(2)])])
    );
    assert_eq!(eval(&mut e, &mut db, "return redis.status_reply('FINE')", &[], &[]), Frame::simple("FINE"));
    assert_eq!(eval(&mut e, &mut db, "return redis.error_reply('MY bad')", &[], &[]), Frame::error("MY bad"));
    assert_eq!(eval(&mut e, &mut db, "return redis.error_reply('nospace')", &[], &[]), Frame::error("ERR nospace"));
    assert_eq!(eval(&mut e, &mut db, "return redis.error_reply('-DASH x')", &[], &[]), Frame::error("DASH x"));
    assert_eq!(eval(&mut e, &mut db, "return redis.error_reply('')", &[], &[]), Frame::error("ERR "));
    assert_eq!(eval(&mut e, &mut db, "return {err='nospace'}", &[], &[]), Frame::error("nospace"), "a raw table as is");
    assert_eq!(
        eval(&mut e, &mut db, "return {KEYS[1], ARGV[2]}", &["k"], &["a", "b"]),
        Frame::Array(vec![Frame::bulk("k"), Frame::bulk("b")])
    );
}

#[test]
fn redis_call_reaches_the_partition_and_errors_carry_the_line() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    assert_eq!(eval(&mut e, &mut db, "return redis.call('INCRBY', KEYS[1], 5)", &["n"], &[]), Frame::Integer(5));
    assert_eq!(eval(&mut e, &mut db, "return redis.call('GET', KEYS[1])", &["n"], &[]), Frame::bulk("5"));
    let sha = sha1_hex(b"\nreturn redis.call('HSET', KEYS[1], 'f', 'v')");
    let reply = eval(&mut e, &mut db, "\nreturn redis.call('HSET', KEYS[1], 'f', 'v')", &["n"], &[]);
    assert_eq!(
        reply,
        Frame::error(format!(
            "WRONGTYPE Operation against a key holding the wrong kind of value script: {sha}, on @user_script:2."
        ))
    );
    let reply = eval(&mut e, &mut db, "local r = redis.pcall('HSET', KEYS[1], 'f', 'v') return r.err", &["n"], &[]);
    assert_eq!(reply, Frame::bulk("WRONGTYPE Operation against a key holding the wrong kind of value"));
    let reply = eval(&mut e, &mut db, "return redis.call('GET', 'other')", &["n"], &[]);
    assert!(
        matches!(&reply, Frame::Error(m) if m.starts_with(b"ERR Script attempted to access key 'other'")),
        "{reply:?}"
    );
}

#[test]
fn sandbox_and_libraries() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    let reply = eval(&mut e, &mut db, "x = 1", &[], &[]);
    assert!(
        matches!(&reply, Frame::Error(m) if m.starts_with(b"ERR user_script:1: Attempt to modify a readonly table")),
        "{reply:?}"
    );
    let reply = eval(&mut e, &mut db, "return y", &[], &[]);
    assert!(
        matches!(&reply, Frame::Error(m) if m.starts_with(b"ERR user_script:1: Script attempted to access nonexistent global variable 'y'")),
        "{reply:?}"
    );
    assert_eq!(eval(&mut e, &mut db, "return cjson.encode({a=1})", &[], &[]), Frame::bulk(r#"{"a":1}"#));
    assert_eq!(eval(&mut e, &mut db, "return bit.band(7, 3)", &[], &[]), Frame::Integer(3));
    assert_eq!(
        eval(&mut e, &mut db, "return redis.sha1hex('')", &[], &[]),
        Frame::bulk("da39a3ee5e6b4b0d3255bfef95601890afd80709")
    );
    // math.random restarts from the same seed on every run.
    let first = eval(&mut e, &mut db, "return tostring(math.random())", &[], &[]);
    assert_eq!(eval(&mut e, &mut db, "return tostring(math.random())", &[], &[]), first);
    let reply = eval(&mut e, &mut db, "return loadfile", &[], &[]);
    assert!(reply.is_error(), "{reply:?}");
}

#[test]
fn runaway_scripts_stop_deterministically() {
    let limits = Limits { max_instructions: 1_000_000, max_memory: 1 << 20, ..Limits::default() };
    let (mut e, mut db) = (Engine::new(limits).expect("engine"), Db::new());
    let reply = eval(&mut e, &mut db, "while true do end", &[], &[]);
    assert!(matches!(&reply, Frame::Error(m) if String::from_utf8_lossy(m).contains("instruction limit")), "{reply:?}");
    let reply = eval(&mut e, &mut db, "local t = {} for i = 1, 10000000 do t[i] = i end return 1", &[], &[]);
    assert!(reply.is_error(), "{reply:?}");
    // The interpreter is still usable.
    assert_eq!(eval(&mut e, &mut db, "return 1", &[], &[]), Frame::Integer(1));
}

/// A reply enters Lua under the script's memory limit: one that takes the
/// script past it ends the script, and the limit holds for the next run.
#[test]
fn replies_past_the_memory_limit_end_the_script() {
    let limits = Limits { max_memory: 1 << 20, ..Limits::default() };
    let (mut e, mut db) = (Engine::new(limits).expect("engine"), Db::new());
    for i in 0..50 {
        let element = format!("{i:0>60000}");
        db.execute(&mut ctx(), &[b("RPUSH"), b("big"), b(&element)]);
    }
    db.execute(&mut ctx(), &[b("RPUSH"), b("small"), b("x")]);
    // 3 MB of replies against a 1 MB limit: the next allocations fail
    // (the error handler has no memory left to describe it).
    let body =
        "local r = redis.call('LRANGE', KEYS[1], 0, -1) local t = {} for i = 1, 1000 do t[i] = {i} end return #r";
    let reply = eval(&mut e, &mut db, body, &["big"], &[]);
    assert!(reply.is_error(), "{reply:?}");
    assert_eq!(eval(&mut e, &mut db, body, &["small"], &[]), Frame::Integer(1), "the same script within the limit");
    let reply = eval(&mut e, &mut db, "return #redis.call('LRANGE', KEYS[1], 0, 2)", &["big"], &[]);
    assert_eq!(reply, Frame::Integer(3), "within the limit, a reply is converted as before");
    let reply = eval(&mut e, &mut db, "local t = {} for i = 1, 1000000 do t[i] = i end return 1", &[], &[]);
    assert!(reply.is_error(), "the limit holds again: {reply:?}");
}

#[test]
fn busy_scripts_are_throttled_without_changing_their_result() {
    let runaway = |throttle_after_ms| {
        let limits = Limits { max_instructions: 2_000_000, max_memory: 1 << 20, throttle_after_ms };
        let (mut e, mut db) = (Engine::new(limits).expect("engine"), Db::new());
        let reply = eval(&mut e, &mut db, "while true do end", &[], &[]);
        (reply, e.control().pauses())
    };
    let (fast, no_pauses) = runaway(60_000);
    let (throttled, pauses) = runaway(0);
    assert_eq!(no_pauses, 0, "a script within the busy limit runs unpaced");
    assert!(pauses > 0, "a busy script pauses");
    assert_eq!(fast, throttled, "the same instruction budget, the same result");
}

#[test]
fn kill_stops_a_script_that_has_not_written() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    let control = e.control();
    assert_eq!(control.request_kill(), Kill::NotRunning);
    let killer = std::thread::spawn(move || loop {
        if control.running_for_ms(wall_ms()).is_some() {
            return control.request_kill();
        }
        std::thread::yield_now();
    });
    let reply = eval(&mut e, &mut db, "while true do end", &[], &[]);
    assert_eq!(killer.join().expect("killer"), Kill::Requested);
    assert!(matches!(&reply, Frame::Error(m) if String::from_utf8_lossy(m).contains(KILLED)), "{reply:?}");
}

#[test]
fn a_try_notes_a_refused_write_or_a_spent_budget_and_changes_nothing() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    let control = e.control();
    let mut read_ctx = ctx();
    read_ctx.mode = Mode::Read;
    let read_only = |body: &str| ScriptCall { read_only: true, ..call(body, &["k"], &[]) };
    control.set_trying(true);
    let reply = e.eval(&mut db, &mut read_ctx, &read_only("return redis.call('GET', KEYS[1])"));
    assert_eq!((reply, control.refused_write()), (Frame::Null, false), "a read is a read");
    // pcall catches the refusal; the mark stays.
    let body = "pcall(redis.call, 'SET', KEYS[1], 'v') return 'went on'";
    let reply = e.eval(&mut db, &mut read_ctx, &read_only(body));
    assert_eq!((reply, control.refused_write()), (Frame::bulk("went on"), true));
    assert_eq!(db, Db::new(), "the refused write left nothing");
    let spin = "local n = 0 for i = 1, 10000000 do n = n + 1 end return n";
    let _ = e.eval(&mut db, &mut read_ctx, &read_only(spin));
    assert!(control.refused_write(), "past INLINE_INSTRUCTIONS a try gives up");
    control.set_trying(false);
    let reply = e.eval(&mut db, &mut read_ctx, &read_only(spin));
    assert_eq!((reply, control.refused_write()), (Frame::Integer(10_000_000), false), "not a try: full budget");
}

static OFFLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn count_offload() -> bool {
    // Refuses twice, then reports the run moved: it is asked again meanwhile.
    OFFLOADS.fetch_add(1, Ordering::SeqCst) >= 2
}

#[test]
fn only_a_run_past_the_inline_budget_moves_off_its_thread() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    e.control().set_offload(count_offload);
    assert_eq!(eval(&mut e, &mut db, "return redis.call('INCR', KEYS[1])", &["k"], &[]), Frame::Integer(1));
    assert_eq!(OFFLOADS.load(Ordering::SeqCst), 0, "a short run stays");
    let long = "local n = 0 for i = 1, 1000000 do n = n + 1 end return n";
    assert_eq!(eval(&mut e, &mut db, long, &[], &[]), Frame::Integer(1_000_000), "same result");
    assert_eq!(OFFLOADS.load(Ordering::SeqCst), 3, "asked until it moved, then never again");
}

#[test]
fn a_script_leaves_nothing_behind() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    for attempt in [
        "tostring = function() return 'replaced' end",
        "string.stash = 1",
        "rawset(_G, 'stash', 1)",
        "rawset(string, 'stash', 1)",
        "table.insert(math, 1)",
        "setmetatable(_G, nil)",
        "getmetatable('').__index.upper = nil",
        "redis.call = nil",
    ] {
        let reply = eval(&mut e, &mut db, attempt, &[], &[]);
        assert!(
            matches!(&reply, Frame::Error(m) if String::from_utf8_lossy(m).contains("Attempt to modify a readonly table")),
            "{attempt}: {reply:?}"
        );
    }
    assert_eq!(eval(&mut e, &mut db, "return tostring(5)", &[], &[]), Frame::bulk("5"));
    assert_eq!(eval(&mut e, &mut db, "return ('ab'):upper()", &[], &[]), Frame::bulk("AB"));
    assert_eq!(eval(&mut e, &mut db, "return rawget(string, 'stash') == nil", &[], &[]), Frame::Integer(1));
    for gone in ["print", "setfenv", "getfenv", "newproxy", "stash"] {
        let reply = eval(&mut e, &mut db, &format!("return {gone}"), &[], &[]);
        assert!(reply.is_error(), "{gone}: {reply:?}");
    }
    // A script's own tables are its own.
    let own = "local t = {} rawset(t, 'a', 1) table.insert(t, 2) setmetatable(t, {}) return {t.a, t[1]}";
    assert_eq!(eval(&mut e, &mut db, own, &[], &[]), Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]));
}

#[test]
fn call_arguments_reuse_one_buffer_and_keep_their_bytes() {
    let (mut e, mut db) = (Engine::new(Limits::default()).expect("engine"), Db::new());
    // Many calls in one run and across runs, numbers among strings, one
    // call far larger than the buffer kept between calls.
    let body = "for i = 1, 300 do redis.call('HSET', KEYS[1], 'f' .. i, i * 1.5, 'g' .. i, ARGV[1]) end \
                redis.call('HSET', KEYS[1], 'big', string.rep('x', 100000)) \
                return {redis.call('HGET', KEYS[1], 'f7'), redis.call('HGET', KEYS[1], 'g300'), \
                        redis.call('HSTRLEN', KEYS[1], 'big'), redis.call('HLEN', KEYS[1])}";
    for round in 0..3 {
        let value = format!("v{round}");
        let reply = eval(&mut e, &mut db, body, &["h"], &[&value]);
        let want = vec![Frame::bulk("10.5"), Frame::bulk(value), Frame::Integer(100_000), Frame::Integer(601)];
        assert_eq!(reply, Frame::Array(want));
    }
}
