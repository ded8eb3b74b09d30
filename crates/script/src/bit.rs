//! The `bit` library Redis ships (LuaBitOp semantics): 32-bit signed
//! results, arguments normalised the way LuaBitOp does it (round to the
//! nearest integer, then wrap modulo 2^32).

use mlua::{Lua, Result, Table, Variadic};

/// LuaBitOp's normalisation: adding 2^52 + 2^51 makes the low 32 bits of
/// the double's mantissa the rounded integer, for any |x| < 2^51.
pub fn tobit(x: f64) -> i32 {
    (x + 6_755_399_441_055_744.0).to_bits() as u32 as i32
}

fn fold(args: Variadic<f64>, op: fn(i32, i32) -> i32) -> f64 {
    let mut it = args.into_iter().map(tobit);
    let first = it.next().unwrap_or(0);
    f64::from(it.fold(first, op))
}

fn tohex(x: f64, n: Option<f64>) -> String {
    let mut digits = n.map(tobit).unwrap_or(8);
    let upper = digits < 0;
    digits = digits.unsigned_abs().min(8) as i32;
    let value = tobit(x) as u32;
    let masked = if digits == 8 { value } else { value & ((1u32 << (4 * digits)) - 1) };
    let text = if upper {
        format!("{masked:0width$X}", width = digits as usize)
    } else {
        format!("{masked:0width$x}", width = digits as usize)
    };
    text
}

/// Installs `bit` into `globals`.
pub fn install(lua: &Lua, globals: &Table) -> Result<()> {
    let bit = lua.create_table()?;
    bit.set("tobit", lua.create_function(|_, x: f64| Ok(f64::from(tobit(x))))?)?;
    bit.set("tohex", lua.create_function(|_, (x, n): (f64, Option<f64>)| Ok(tohex(x, n)))?)?;
    bit.set("bnot", lua.create_function(|_, x: f64| Ok(f64::from(!tobit(x))))?)?;
    bit.set("band", lua.create_function(|_, a: Variadic<f64>| Ok(fold(a, |x, y| x & y)))?)?;
    bit.set("bor", lua.create_function(|_, a: Variadic<f64>| Ok(fold(a, |x, y| x | y)))?)?;
    bit.set("bxor", lua.create_function(|_, a: Variadic<f64>| Ok(fold(a, |x, y| x ^ y)))?)?;
    let shift =
        |f: fn(i32, u32) -> i32| move |_: &Lua, (x, n): (f64, f64)| Ok(f64::from(f(tobit(x), tobit(n) as u32 & 31)));
    bit.set("lshift", lua.create_function(shift(|x, n| ((x as u32) << n) as i32))?)?;
    bit.set("rshift", lua.create_function(shift(|x, n| ((x as u32) >> n) as i32))?)?;
    bit.set("arshift", lua.create_function(shift(|x, n| x >> n))?)?;
    bit.set("rol", lua.create_function(shift(|x, n| (x as u32).rotate_left(n) as i32))?)?;
    bit.set("ror", lua.create_function(shift(|x, n| (x as u32).rotate_right(n) as i32))?)?;
    bit.set("bswap", lua.create_function(|_, x: f64| Ok(f64::from((tobit(x) as u32).swap_bytes() as i32)))?)?;
    globals.set("bit", bit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_matches_luabitop() {
        assert_eq!(tobit(0xffff_ffff_u32 as f64), -1);
        assert_eq!(tobit(4_294_967_296.0 + 5.0), 5);
        assert_eq!(tobit(1.5), 2); // round half to even
        assert_eq!(tobit(2.5), 2);
        assert_eq!(tobit(-1.0), -1);
        assert_eq!(tohex(255.0, None), "000000ff");
        assert_eq!(tohex(-1.0, Some(-4.0)), "FFFF");
    }

    #[test]
    fn operations_from_lua() {
        let lua = Lua::new();
        install(&lua, &lua.globals()).expect("install");
        let check = |code: &str, want: f64| {
            let got: f64 = lua.load(code).eval().expect(code);
            assert_eq!(got, want, "{code}");
        };
        check("return bit.band(0xff, 0x0f, 0x3)", 3.0);
        check("return bit.bor(1, 2, 4)", 7.0);
        check("return bit.bxor(5, 1)", 4.0);
        check("return bit.bnot(0)", -1.0);
        check("return bit.lshift(1, 31)", f64::from(i32::MIN));
        check("return bit.rshift(-1, 28)", 15.0);
        check("return bit.arshift(-256, 4)", -16.0);
        check("return bit.rol(0x80000001, 1)", 3.0);
        check("return bit.bswap(0x01020304)", f64::from(0x04030201));
    }
}
