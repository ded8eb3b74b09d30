//! `tonumber` without `strtod` for plain decimal integers.
//!
//! Scripts read their numbers from strings: `tonumber(ARGV[2])`,
//! `tonumber(redis.call('GET', KEYS[1]))`. Lua 5.1's `tonumber` converts
//! such a string twice (`lua_isnumber`, then `lua_tonumber`), each through
//! glibc's `strtod`: ~1,950 of a flash-sale purchase's ~67,000
//! instructions. A string of at most `MAX_DIGITS` decimal digits with an
//! optional `-` is read here instead, exactly (below 2^53 every such
//! integer is a double); anything else, and any call with a base, goes to
//! the original, in its place on the stack, so results and errors are
//! Lua's own.

use mlua::{ffi, Lua};
use std::ffi::{c_int, c_void};

/// Digits read here: 10^15 < 2^53, so the double is exact, as `strtod`'s.
const MAX_DIGITS: usize = 15;

/// Replaces the global `tonumber` (before the sandbox seals the globals).
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: a protected call with room for a few values; `replace`
    // leaves the stack as it found it.
    unsafe { lua.exec_raw::<()>((), |state| replace(state)) }
}

/// # Safety
/// `state` has room for two values and `tonumber` is Lua's C function.
unsafe fn replace(state: *mut ffi::lua_State) {
    ffi::lua_getglobal(state, c"tonumber".as_ptr());
    let original = ffi::lua_tocfunction(state, -1).expect("the base library's tonumber is a C function");
    ffi::lua_pop(state, 1);
    ffi::lua_pushlightuserdata(state, original as usize as *mut c_void);
    ffi::lua_pushcclosure(state, tonumber, 1);
    ffi::lua_setglobal(state, c"tonumber".as_ptr());
}

unsafe extern "C-unwind" fn tonumber(state: *mut ffi::lua_State) -> c_int {
    if ffi::lua_gettop(state) == 1 && ffi::lua_type(state, 1) == ffi::LUA_TSTRING {
        let mut len = 0;
        let text = ffi::lua_tolstring(state, 1, &mut len);
        if let Some(n) = plain_integer(std::slice::from_raw_parts(text.cast::<u8>(), len)) {
            ffi::lua_pushnumber(state, n);
            return 1;
        }
    }
    // SAFETY: `replace` stored a lua_CFunction's address there.
    let original: ffi::lua_CFunction = std::mem::transmute(ffi::lua_touserdata(state, ffi::lua_upvalueindex(1)));
    original(state)
}

/// `-?[0-9]{1,MAX_DIGITS}` as the double `strtod` gives (`-0` is -0.0).
fn plain_integer(text: &[u8]) -> Option<f64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let value = digits.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0'));
    let value = value as f64;
    Some(if negative { -value } else { value })
}

#[cfg(test)]
mod tests {
    use super::plain_integer;

    #[test]
    fn reads_only_plain_integers() {
        assert_eq!(plain_integer(b"0"), Some(0.0));
        assert_eq!(plain_integer(b"007"), Some(7.0));
        assert_eq!(plain_integer(b"-12"), Some(-12.0));
        assert_eq!(plain_integer(b"999999999999999"), Some(999_999_999_999_999.0));
        assert!(plain_integer(b"-0").is_some_and(|z| z == 0.0 && z.is_sign_negative()));
        for other in [&b""[..], b"-", b"+1", b" 1", b"1 ", b"1e3", b"0x10", b"1.5", b"1\0", b"1000000000000000"] {
            assert_eq!(plain_integer(other), None, "{:?} goes to Lua's own", String::from_utf8_lossy(other));
        }
    }
}
