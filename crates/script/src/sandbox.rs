//! The sandbox: a script leaves nothing behind. Redis's scripts do not
//! have `setfenv`, `getfenv`, `print`, `newproxy`, `loadfile`, `dofile`
//! or `debug`, and the globals, every library table and the string
//! metatable are read-only (Redis 7). A script that replaced `tostring` or
//! stashed a value in `string` would change every later script (another
//! client's), and a replica or a restart replaying the log would not see
//! it. Lua 5.1 has no read-only tables: each is an empty proxy that reads
//! through to the real one and refuses writes, and the functions that
//! write tables raw (`rawset`, `setmetatable`, `table.insert`, `remove`,
//! `sort`) are guarded by a C function that refuses a proxy and otherwise
//! is the original (so its errors read exactly as Redis's).

use mlua::{ffi, Lua};
use std::ffi::{c_int, c_void};

/// Run last, once every library is in place. Its argument wraps a C
/// function in the guard (`wrap`).
const SEAL: &str = r#"
local wrap = ...
loadfile, dofile, debug, newproxy, setfenv, getfenv, print = nil, nil, nil, nil, nil, nil, nil
local function refused() error('Attempt to modify a readonly table', 2) end
local proxies, raw_setmetatable = setmetatable({}, {__mode = 'k'}), setmetatable
rawset = wrap(rawset, proxies)
setmetatable = wrap(setmetatable, proxies)
table.insert = wrap(table.insert, proxies)
table.remove = wrap(table.remove, proxies)
table.sort = wrap(table.sort, proxies)
local function readonly(t, index)
  local proxy = setmetatable({}, {__index = index or t, __newindex = refused, __metatable = false})
  proxies[proxy] = true
  return proxy
end
for _, name in ipairs({'string', 'math', 'table', 'coroutine', 'cjson', 'bit', 'redis'}) do
  _G[name] = readonly(_G[name])
end
local strings = getmetatable('')
strings.__index = string
strings.__metatable = readonly(strings)
local G, real, next = _G, {}, next
for k, v in next, G do real[k] = v end
for k in next, real do G[k] = nil end
raw_setmetatable(real, {__index = function(_, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end})
raw_setmetatable(G, {__index = real, __newindex = refused, __metatable = false})
proxies[G] = true
"#;

/// Seals the interpreter (see the module's documentation).
pub(crate) fn seal(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: `wrap` follows the Lua C API: it checks its arguments and
    // raises through Lua only, holding nothing that needs dropping.
    let wrap = unsafe { lua.create_c_function(wrap)? };
    lua.load(SEAL).set_name("=seal").call::<()>(wrap)
}

/// `wrap(original, proxies)`: the guarded `original` (a C function
/// without upvalues, as Lua 5.1's table writers are).
unsafe extern "C-unwind" fn wrap(state: *mut ffi::lua_State) -> c_int {
    let Some(original) = ffi::lua_tocfunction(state, 1) else {
        ffi::lua_pushstring(state, c"wrap: a C function expected".as_ptr());
        ffi::lua_error(state);
    };
    ffi::lua_pushlightuserdata(state, original as usize as *mut c_void);
    ffi::lua_pushvalue(state, 2);
    ffi::lua_pushcclosure(state, guarded, 2);
    1
}

/// Refuses a read-only proxy as the table to write, else runs the original
/// in its own place on the stack (its argument errors name the function
/// the script called, at the script's line).
unsafe extern "C-unwind" fn guarded(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_type(state, 1) == ffi::LUA_TTABLE {
        ffi::lua_pushvalue(state, 1);
        ffi::lua_rawget(state, ffi::lua_upvalueindex(2));
        let read_only = ffi::lua_toboolean(state, -1) != 0;
        ffi::lua_pop(state, 1);
        if read_only {
            ffi::lua_pushstring(state, c"Attempt to modify a readonly table".as_ptr());
            ffi::lua_error(state);
        }
    }
    // SAFETY: `wrap` stored a lua_CFunction's address there.
    let original: ffi::lua_CFunction = std::mem::transmute(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)));
    original(state)
}
