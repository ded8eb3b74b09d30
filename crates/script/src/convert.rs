//! Conversions between replies and Lua values, exactly as Redis documents
//! them ("Data type conversion" in the Lua API reference).
//!
//! Commands build RESP3-shaped frames. A script that has not called
//! `redis.setresp(3)` sees them downgraded to RESP2 first, as Redis's own
//! script client would receive them.

use bytes::Bytes;
use mlua::{Lua, Result, Table, Value};
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

/// `{ok = text}` or `{err = text}`: sized for its one field, so setting it
/// does not resize the table.
fn status_table(lua: &Lua, field: &str, text: &[u8]) -> Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(field, lua.create_string(text)?)?;
    Ok(Value::Table(t))
}

fn wrap(lua: &Lua, field: &str, inner: Value) -> Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(field, inner)?;
    Ok(Value::Table(t))
}

fn array(lua: &Lua, items: impl ExactSizeIterator<Item = Result<Value>>) -> Result<Value> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.enumerate() {
        t.raw_set(i + 1, item?)?;
    }
    Ok(Value::Table(t))
}

/// A command's reply as the script sees it (`redis.call`'s result).
pub fn frame_to_lua(lua: &Lua, frame: &Frame, resp3: bool) -> Result<Value> {
    Ok(match frame {
        Frame::Simple(s) => status_table(lua, "ok", s)?,
        Frame::Error(e) => status_table(lua, "err", e)?,
        Frame::Integer(i) => Value::Number(*i as f64),
        Frame::Bulk(b) | Frame::Verbatim(b) => Value::String(lua.create_string(b)?),
        Frame::Null | Frame::NullArray if resp3 => Value::Nil,
        Frame::Null | Frame::NullArray => Value::Boolean(false),
        Frame::Array(items) | Frame::Push(items) => array(lua, items.iter().map(|f| frame_to_lua(lua, f, resp3)))?,
        Frame::Set(items) if resp3 => {
            let set = lua.create_table()?;
            for item in items {
                set.raw_set(frame_to_lua(lua, item, resp3)?, true)?;
            }
            wrap(lua, "set", Value::Table(set))?
        }
        Frame::Set(items) => array(lua, items.iter().map(|f| frame_to_lua(lua, f, resp3)))?,
        Frame::Map(pairs) | Frame::Keyed(pairs) if resp3 => {
            let map = lua.create_table()?;
            for (k, v) in pairs {
                map.raw_set(frame_to_lua(lua, k, resp3)?, frame_to_lua(lua, v, resp3)?)?;
            }
            wrap(lua, "map", Value::Table(map))?
        }
        Frame::Keyed(pairs) => pair_tables(lua, pairs, resp3)?,
        Frame::Pairs(pairs) if resp3 => pair_tables(lua, pairs, resp3)?,
        Frame::Map(pairs) | Frame::Pairs(pairs) => {
            let flat = pairs.iter().flat_map(|(k, v)| [k, v]).collect::<Vec<_>>();
            array(lua, flat.into_iter().map(|f| frame_to_lua(lua, f, resp3)))?
        }
        Frame::Double(d) if resp3 => wrap(lua, "double", Value::Number(*d))?,
        Frame::Double(d) => Value::String(lua.create_string(weir_protocol::format_double(*d))?),
        Frame::Boolean(b) if resp3 => Value::Boolean(*b),
        Frame::Boolean(b) => Value::Number(if *b { 1.0 } else { 0.0 }),
    })
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

/// An array of `{first, second}` tables.
fn pair_tables(lua: &Lua, pairs: &[(Frame, Frame)], resp3: bool) -> mlua::Result<Value> {
    array(
        lua,
        pairs.iter().map(|(k, v)| {
            let pair = lua.create_table()?;
            pair.raw_set(1, frame_to_lua(lua, k, resp3)?)?;
            pair.raw_set(2, frame_to_lua(lua, v, resp3)?)?;
            Ok(Value::Table(pair))
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let value = frame_to_lua(&lua, &reply, false).expect("to lua");
        // nil-free: false for null, {ok=...} for status.
        assert_eq!(
            lua_to_frame(&value, false),
            Frame::Array(vec![Frame::Integer(1), Frame::bulk("x"), Frame::Null, Frame::ok()])
        );
        let err = frame_to_lua(&lua, &Frame::error("ERR boom"), false).expect("err");
        assert_eq!(lua_to_frame(&err, false), Frame::error("ERR boom"));
        assert_eq!(lua_to_frame(&Value::Number(3.99), false), Frame::Integer(3));
        assert_eq!(lua_to_frame(&Value::Boolean(true), false), Frame::Integer(1));
        assert_eq!(lua_to_frame(&Value::Boolean(true), true), Frame::Boolean(true));
    }

    #[test]
    fn resp3_shapes_survive_for_resp3_scripts() {
        let lua = Lua::new();
        let map = Frame::Map(vec![(Frame::bulk("a"), Frame::Integer(1))]);
        let value = frame_to_lua(&lua, &map, true).expect("map");
        assert_eq!(lua_to_frame(&value, true), map);
        let double = frame_to_lua(&lua, &Frame::Double(1.5), true).expect("double");
        assert_eq!(lua_to_frame(&double, true), Frame::Double(1.5));
        let flat = frame_to_lua(&lua, &map, false).expect("flat");
        assert_eq!(lua_to_frame(&flat, false), Frame::Array(vec![Frame::bulk("a"), Frame::Integer(1)]));
    }
}
