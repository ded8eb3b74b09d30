//! The `cjson` library Redis ships (lua-cjson's defaults): `cjson.encode`,
//! `cjson.decode` and `cjson.null`.

use crate::convert::format_number;
use mlua::{LightUserData, Lua, Result, Table, Value};

/// lua-cjson's default nesting limit.
const MAX_DEPTH: usize = 1000;
/// lua-cjson's sparse-array rule: an array with holes is refused when its
/// largest index exceeds both this and twice its element count.
const SPARSE_SAFE: usize = 10;
const SPARSE_RATIO: usize = 2;

fn err(message: String) -> mlua::Error {
    mlua::Error::RuntimeError(message)
}

fn is_null(value: &Value) -> bool {
    matches!(value, Value::LightUserData(p) if p.0.is_null())
}

fn encode_string(bytes: &[u8], out: &mut Vec<u8>) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'/' => out.extend_from_slice(b"\\/"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            b if b < 0x20 || b == 0x7f => out.extend_from_slice(format!("\\u{b:04x}").as_bytes()),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// The largest index if the table is an array (positive integer keys
/// only), `None` if it is an object.
fn array_len(table: &Table) -> Result<Option<usize>> {
    let (mut max, mut items) = (0usize, 0usize);
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let index = match key {
            Value::Integer(i) if i >= 1 => i as usize,
            Value::Number(n) if n >= 1.0 && n.fract() == 0.0 => n as usize,
            _ => return Ok(None),
        };
        max = max.max(index);
        items += 1;
    }
    if max > SPARSE_SAFE && max > items * SPARSE_RATIO {
        return Err(err("Cannot serialise table: excessively sparse array".into()));
    }
    Ok(Some(max))
}

fn encode_value(value: &Value, depth: usize, out: &mut Vec<u8>) -> Result<()> {
    match value {
        Value::Nil => out.extend_from_slice(b"null"),
        v if is_null(v) => out.extend_from_slice(b"null"),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Integer(i) => out.extend_from_slice(format_number(*i as f64).as_bytes()),
        Value::Number(n) if n.is_finite() => out.extend_from_slice(format_number(*n).as_bytes()),
        Value::Number(_) => return Err(err("Cannot serialise number: must not be NaN or Inf".into())),
        Value::String(s) => encode_string(&s.as_bytes(), out),
        Value::Table(t) => encode_table(t, depth + 1, out)?,
        other => return Err(err(format!("Cannot serialise {}: type not supported", other.type_name()))),
    }
    Ok(())
}

fn encode_table(table: &Table, depth: usize, out: &mut Vec<u8>) -> Result<()> {
    if depth > MAX_DEPTH {
        return Err(err(format!("Cannot serialise, excessive nesting ({depth})")));
    }
    match array_len(table)? {
        Some(len) if len > 0 => {
            out.push(b'[');
            for i in 1..=len {
                if i > 1 {
                    out.push(b',');
                }
                encode_value(&table.raw_get::<Value>(i)?, depth, out)?;
            }
            out.push(b']');
        }
        _ => {
            out.push(b'{');
            let mut first = true;
            for pair in table.pairs::<Value, Value>() {
                let (key, value) = pair?;
                if !first {
                    out.push(b',');
                }
                first = false;
                match &key {
                    Value::String(s) => encode_string(&s.as_bytes(), out),
                    Value::Integer(i) => encode_string(format_number(*i as f64).as_bytes(), out),
                    Value::Number(n) => encode_string(format_number(*n).as_bytes(), out),
                    _ => return Err(err("Cannot serialise table: table key must be a number or string".into())),
                }
                out.push(b':');
                encode_value(&value, depth, out)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn decode_value(lua: &Lua, value: serde_json::Value, depth: usize) -> Result<Value> {
    if depth > MAX_DEPTH {
        return Err(err(format!("Found too many nested data structures ({depth})")));
    }
    Ok(match value {
        serde_json::Value::Null => Value::LightUserData(LightUserData(std::ptr::null_mut())),
        serde_json::Value::Bool(b) => Value::Boolean(b),
        serde_json::Value::Number(n) => Value::Number(n.as_f64().unwrap_or(0.0)),
        serde_json::Value::String(s) => Value::String(lua.create_string(&s)?),
        serde_json::Value::Array(items) => {
            let table = lua.create_table_with_capacity(items.len(), 0)?;
            for (i, item) in items.into_iter().enumerate() {
                table.raw_set(i + 1, decode_value(lua, item, depth + 1)?)?;
            }
            Value::Table(table)
        }
        serde_json::Value::Object(fields) => {
            let table = lua.create_table_with_capacity(0, fields.len())?;
            for (key, item) in fields {
                table.raw_set(key, decode_value(lua, item, depth + 1)?)?;
            }
            Value::Table(table)
        }
    })
}

/// Installs `cjson` into `globals`.
pub fn install(lua: &Lua, globals: &Table) -> Result<()> {
    let cjson = lua.create_table()?;
    cjson.set(
        "encode",
        lua.create_function(|lua, value: Value| {
            let mut out = Vec::new();
            encode_value(&value, 0, &mut out)?;
            lua.create_string(&out)
        })?,
    )?;
    cjson.set(
        "decode",
        lua.create_function(|lua, text: mlua::LuaString| {
            let parsed: serde_json::Value = serde_json::from_slice(&text.as_bytes())
                .map_err(|e| err(format!("Expected value but found invalid token: {e}")))?;
            decode_value(lua, parsed, 0)
        })?,
    )?;
    cjson.set("null", Value::LightUserData(LightUserData(std::ptr::null_mut())))?;
    globals.set("cjson", cjson)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(code: &str) -> String {
        let lua = Lua::new();
        install(&lua, &lua.globals()).expect("install");
        lua.load(code).eval::<String>().expect(code)
    }

    #[test]
    fn encodes_like_lua_cjson() {
        assert_eq!(eval("return cjson.encode({1, 2, 'a/b'})"), r#"[1,2,"a\/b"]"#);
        assert_eq!(eval("return cjson.encode({})"), "{}");
        assert_eq!(eval("return cjson.encode({x = 0.5})"), r#"{"x":0.5}"#);
        assert_eq!(eval("return cjson.encode({1, nil, 3})"), "[1,null,3]");
        assert_eq!(eval("return cjson.encode(cjson.null)"), "null");
        assert_eq!(eval("return cjson.encode(100000000000000)"), "1e+14");
    }

    #[test]
    fn decodes_into_tables() {
        assert_eq!(eval(r#"local t = cjson.decode('{"a":[1,2,{"b":"c"}]}') return t.a[3].b"#), "c");
        assert_eq!(eval(r#"return tostring(cjson.decode('[null]')[1] == cjson.null)"#), "true");
    }

    #[test]
    fn refuses_what_lua_cjson_refuses() {
        let lua = Lua::new();
        install(&lua, &lua.globals()).expect("install");
        for code in ["return cjson.encode({[20] = 1})", "return cjson.encode(print)", "return cjson.decode('{')"] {
            assert!(lua.load(code).eval::<String>().is_err(), "{code}");
        }
    }
}
