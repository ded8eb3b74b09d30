//! Conversions between replies and Lua values, exactly as Redis documents
//! them ("Data type conversion" in the Lua API reference).
//!
//! Commands build RESP3-shaped frames. A script that has not called
//! `redis.setresp(3)` sees them downgraded to RESP2 first, as Redis's own
//! script client would receive them.

use bytes::Bytes;
use mlua::{ffi, Result, Table, Value};
use std::ffi::c_int;
use weir_protocol::Frame;

/// Tables nested deeper than this in a script's reply are an error, not a
/// stack overflow.
const MAX_REPLY_DEPTH: usize = 1000;

/// Lua 5.1's `%.14g`, used wherever Lua turns a number into text.
pub fn format_number(n: f64) -> String {
    if n.is_nan() {
        return if n.is_sign_negative() { "-nan".into() } else { "nan".into() };
    }
    if n.is_infinite() {
        return if n > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if n == 0.0 {
        return if n.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{n:.13e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if !(-4..14).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{}e{sign}{:02}", trim_zeros(mantissa), exp.abs());
    }
    let decimals = (13 - exp).max(0) as usize;
    trim_zeros(&format!("{n:.decimals$}")).to_string()
}

fn trim_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// Room a reply's nesting level needs on the Lua stack: a wrapper table,
/// its key, the inner table, and a map entry's key and value.
const STACK_PER_LEVEL: c_int = 5;

/// Prepares a command's reply for [`push_frame`]: what a RESP2 script
/// sees as text is made text here, where allocating cannot be cut short.
pub fn script_view(frame: &mut Frame, resp3: bool) {
    match frame {
        Frame::Double(d) if !resp3 => *frame = Frame::Bulk(Bytes::from(weir_protocol::format_double(*d))),
        Frame::Array(items) | Frame::Push(items) | Frame::Set(items) => {
            items.iter_mut().for_each(|item| script_view(item, resp3));
        }
        Frame::Map(pairs) | Frame::Keyed(pairs) | Frame::Pairs(pairs) => pairs.iter_mut().for_each(|(k, v)| {
            script_view(k, resp3);
            script_view(v, resp3);
        }),
        _ => {}
    }
}

/// Pushes a command's reply as the script sees it (`redis.call`'s result):
/// one value on the stack. False if the stack cannot grow (a reply nested
/// thousands deep; no command makes one).
///
/// # Safety
/// `state` runs a C function that holds nothing needing a drop: when an
/// allocation fails (the script's memory limit), Lua's error unwinds past
/// it. `frame` went through [`script_view`].
pub unsafe fn push_frame(state: *mut ffi::lua_State, frame: &Frame, resp3: bool) -> bool {
    if ffi::lua_checkstack(state, STACK_PER_LEVEL) == 0 {
        return false;
    }
    match frame {
        Frame::Simple(s) => push_status(state, b"ok", s),
        Frame::Error(e) => push_status(state, b"err", e),
        Frame::Integer(i) => ffi::lua_pushnumber(state, *i as f64),
        Frame::Bulk(b) | Frame::Verbatim(b) => push_bytes(state, b),
        Frame::Null | Frame::NullArray if resp3 => ffi::lua_pushnil(state),
        Frame::Null | Frame::NullArray => ffi::lua_pushboolean(state, 0),
        Frame::Array(items) | Frame::Push(items) => return push_array(state, items, resp3),
        Frame::Set(items) if resp3 => {
            start_wrapper(state, b"set", items.len());
            for item in items {
                if !push_frame(state, item, resp3) {
                    return false;
                }
                if ffi::lua_isnil(state, -1) != 0 {
                    ffi::lua_pop(state, 1);
                    continue;
                }
                ffi::lua_pushboolean(state, 1);
                ffi::lua_rawset(state, -3);
            }
            ffi::lua_rawset(state, -3);
        }
        Frame::Set(items) => return push_array(state, items, resp3),
        Frame::Map(pairs) | Frame::Keyed(pairs) if resp3 => {
            start_wrapper(state, b"map", pairs.len());
            for (k, v) in pairs {
                if !push_frame(state, k, resp3) {
                    return false;
                }
                if ffi::lua_isnil(state, -1) != 0 {
                    ffi::lua_pop(state, 1);
                    continue;
                }
                if !push_frame(state, v, resp3) {
                    return false;
                }
                ffi::lua_rawset(state, -3);
            }
            ffi::lua_rawset(state, -3);
        }
        Frame::Keyed(pairs) => return push_pair_tables(state, pairs, resp3),
        Frame::Pairs(pairs) if resp3 => return push_pair_tables(state, pairs, resp3),
        Frame::Map(pairs) | Frame::Pairs(pairs) => {
            ffi::lua_createtable(state, table_size(pairs.len() * 2), 0);
            for (i, item) in pairs.iter().flat_map(|(k, v)| [k, v]).enumerate() {
                if !push_frame(state, item, resp3) {
                    return false;
                }
                ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
            }
        }
        Frame::Double(d) if resp3 => {
            ffi::lua_createtable(state, 0, 1);
            push_bytes(state, b"double");
            ffi::lua_pushnumber(state, *d);
            ffi::lua_rawset(state, -3);
        }
        // `script_view` made it text.
        Frame::Double(_) => ffi::lua_pushnil(state),
        Frame::Boolean(b) if resp3 => ffi::lua_pushboolean(state, c_int::from(*b)),
        Frame::Boolean(b) => ffi::lua_pushnumber(state, if *b { 1.0 } else { 0.0 }),
    }
    true
}

unsafe fn push_bytes(state: *mut ffi::lua_State, bytes: &[u8]) {
    ffi::lua_pushlstring(state, bytes.as_ptr().cast(), bytes.len());
}

/// `{ok = text}` or `{err = text}`: sized for its one field.
unsafe fn push_status(state: *mut ffi::lua_State, field: &[u8], text: &[u8]) {
    ffi::lua_createtable(state, 0, 1);
    push_bytes(state, field);
    push_bytes(state, text);
    ffi::lua_rawset(state, -3);
}

/// `{field = inner}` with `inner` empty: leaves the wrapper, the key and
/// the inner table on the stack, for the caller to fill and set.
unsafe fn start_wrapper(state: *mut ffi::lua_State, field: &[u8], entries: usize) {
    ffi::lua_createtable(state, 0, 1);
    push_bytes(state, field);
    ffi::lua_createtable(state, 0, table_size(entries));
}

unsafe fn push_array(state: *mut ffi::lua_State, items: &[Frame], resp3: bool) -> bool {
    ffi::lua_createtable(state, table_size(items.len()), 0);
    for (i, item) in items.iter().enumerate() {
        if !push_frame(state, item, resp3) {
            return false;
        }
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
    true
}

/// An array of `{first, second}` tables.
unsafe fn push_pair_tables(state: *mut ffi::lua_State, pairs: &[(Frame, Frame)], resp3: bool) -> bool {
    ffi::lua_createtable(state, table_size(pairs.len()), 0);
    for (i, (k, v)) in pairs.iter().enumerate() {
        ffi::lua_createtable(state, 2, 0);
        if !push_frame(state, k, resp3) {
            return false;
        }
        ffi::lua_rawseti(state, -2, 1);
        if !push_frame(state, v, resp3) {
            return false;
        }
        ffi::lua_rawseti(state, -2, 2);
        ffi::lua_rawseti(state, -2, (i + 1) as ffi::lua_Integer);
    }
    true
}

/// A table size hint (a hint only: capped, not checked).
fn table_size(n: usize) -> c_int {
    c_int::try_from(n).unwrap_or(c_int::MAX)
}

/// Redis's `(long long)` cast of a Lua number: truncation, saturating.
fn to_integer(n: f64) -> i64 {
    if n.is_nan() {
        0
    } else {
        n as i64
    }
}

/// How a script's value becomes the reply (and how `redis.call` arguments
/// are checked): `script_resp3` is the script's `redis.setresp` choice.
pub fn lua_to_frame(value: &Value, script_resp3: bool) -> Frame {
    to_frame(value, script_resp3, 0)
}

fn to_frame(value: &Value, script_resp3: bool, depth: usize) -> Frame {
    if depth > MAX_REPLY_DEPTH {
        return Frame::error("ERR reached lua stack limit");
    }
    match value {
        Value::Nil => Frame::Null,
        Value::Boolean(true) if script_resp3 => Frame::Boolean(true),
        Value::Boolean(false) if script_resp3 => Frame::Boolean(false),
        Value::Boolean(true) => Frame::Integer(1),
        Value::Boolean(false) => Frame::Null,
        Value::Integer(i) => Frame::Integer(*i),
        Value::Number(n) => Frame::Integer(to_integer(*n)),
        Value::String(s) => Frame::Bulk(Bytes::copy_from_slice(&s.as_bytes())),
        Value::Table(t) => table_to_frame(t, script_resp3, depth).unwrap_or_else(|e| Frame::error(format!("ERR {e}"))),
        Value::Error(e) => Frame::error(format!("ERR {e}")),
        _ => Frame::Null,
    }
}

fn string_field(t: &Table, name: &str) -> Option<Bytes> {
    match t.raw_get::<Value>(name).ok()? {
        Value::String(s) => Some(Bytes::copy_from_slice(&s.as_bytes())),
        _ => None,
    }
}

fn table_to_frame(t: &Table, script_resp3: bool, depth: usize) -> Result<Frame> {
    if let Some(err) = string_field(t, "err") {
        return Ok(Frame::Error(strip_dash(err)));
    }
    if let Some(ok) = string_field(t, "ok") {
        let text: Vec<u8> = ok.iter().map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }).collect();
        return Ok(Frame::Simple(Bytes::from(text)));
    }
    match t.raw_get::<Value>("double")? {
        Value::Number(n) => return Ok(Frame::Double(n)),
        Value::Integer(i) => return Ok(Frame::Double(i as f64)),
        _ => {}
    }
    if let Value::Table(map) = t.raw_get::<Value>("map")? {
        let mut pairs = Vec::new();
        for pair in map.pairs::<Value, Value>() {
            let (k, v) = pair?;
            pairs.push((to_frame(&k, script_resp3, depth + 1), to_frame(&v, script_resp3, depth + 1)));
        }
        return Ok(Frame::Map(pairs));
    }
    if let Value::Table(set) = t.raw_get::<Value>("set")? {
        let mut items = Vec::new();
        for pair in set.pairs::<Value, Value>() {
            items.push(to_frame(&pair?.0, script_resp3, depth + 1));
        }
        return Ok(Frame::Set(items));
    }
    let mut items = Vec::new();
    for i in 1.. {
        let item: Value = t.raw_get(i)?;
        if item.is_nil() {
            break;
        }
        items.push(to_frame(&item, script_resp3, depth + 1));
    }
    Ok(Frame::Array(items))
}

/// An error text as a reply: without the leading `-` Redis accepts.
pub fn strip_dash(text: Bytes) -> Bytes {
    if text.first() == Some(&b'-') {
        text.slice(1..)
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    /// A reply as `redis.call` hands it to a script.
    fn to_lua(lua: &Lua, frame: &Frame, resp3: bool) -> Value {
        let mut frame = frame.clone();
        script_view(&mut frame, resp3);
        // SAFETY: a protected call with room for the pushes; it owns nothing.
        let pushed = unsafe { lua.exec_raw::<Value>((), |state| assert!(push_frame(state, &frame, resp3))) };
        pushed.expect("pushed")
    }

    #[test]
    fn numbers_print_like_lua() {
        for (n, want) in [
            (3.0, "3"),
            (0.1, "0.1"),
            (-2.5, "-2.5"),
            (1e14, "1e+14"),
            (123456789012345.0, "1.2345678901234e+14"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (1.0 / 3.0, "0.33333333333333"),
        ] {
            assert_eq!(format_number(n), want, "{n}");
        }
    }

    #[test]
    fn replies_round_trip_through_lua_as_redis_documents() {
        let lua = Lua::new();
        let reply = Frame::Array(vec![Frame::Integer(1), Frame::bulk("x"), Frame::Null, Frame::ok()]);
        let value = to_lua(&lua, &reply, false);
        // nil-free: false for null, {ok=...} for status.
        assert_eq!(
            lua_to_frame(&value, false),
            Frame::Array(vec![Frame::Integer(1), Frame::bulk("x"), Frame::Null, Frame::ok()])
        );
        let err = to_lua(&lua, &Frame::error("ERR boom"), false);
        assert_eq!(lua_to_frame(&err, false), Frame::error("ERR boom"));
        assert_eq!(lua_to_frame(&Value::Number(3.99), false), Frame::Integer(3));
        assert_eq!(lua_to_frame(&Value::Boolean(true), false), Frame::Integer(1));
        assert_eq!(lua_to_frame(&Value::Boolean(true), true), Frame::Boolean(true));
    }

    #[test]
    fn resp3_shapes_survive_for_resp3_scripts() {
        let lua = Lua::new();
        let map = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        let value = to_lua(&lua, &map, true);
        assert_eq!(lua_to_frame(&value, true), map);
        let double = to_lua(&lua, &Frame::Double(1.5), true);
        assert_eq!(lua_to_frame(&double, true), Frame::Double(1.5));
        let flat = to_lua(&lua, &map, false);
        assert_eq!(lua_to_frame(&flat, false), Frame::Array(vec![Frame::bulk("a"), Frame::Integer(1)]));
        let text = to_lua(&lua, &Frame::Double(1.5), false);
        assert_eq!(lua_to_frame(&text, false), Frame::bulk("1.5"), "a RESP2 script sees a double as text");
        let set = to_lua(&lua, &Frame::Set(vec![Frame::bulk("m"), Frame::Null]), true);
        assert_eq!(lua_to_frame(&set, true), Frame::Set(vec![Frame::bulk("m")]), "a nil member is left out");
        let pairs = Frame::Keyed(vec![(Frame::bulk("k"), Frame::Integer(2))]);
        let nested = to_lua(&lua, &pairs, false);
        assert_eq!(
            lua_to_frame(&nested, false),
            Frame::Array(vec![Frame::Array(vec![Frame::bulk("k"), Frame::Integer(2)])])
        );
    }
}
