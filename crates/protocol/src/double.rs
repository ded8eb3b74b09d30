//! Doubles as Redis 7 prints them in replies: the shortest text that reads
//! back to the same value, in `%.17g` style (exponent form below 1e-4 and
//! from 1e17), and `inf`, `-inf`, `nan`.
//!
//! Formatting happens into a stack buffer, with no allocation: a
//! leaderboard's `ZRANGE ... WITHSCORES` prints one double per member, and
//! formatting through `String`s (twice each) was a third of its time.
//! Integral scores, the common case (ZINCRBY by whole points), skip float
//! formatting altogether.

use std::fmt::Write;

/// Room for the longest double: sign, 17 significant digits, a point, and
/// either `e-308` or up to 20 digits of positional form.
const DOUBLE_TEXT_MAX: usize = 48;
/// Integral values below this print as integers (exact in `i64`, and below
/// the 1e17 switch to exponent form).
const INTEGRAL_MAX: f64 = 1e15;

/// A formatted double, on the stack.
pub struct DoubleText {
    buf: [u8; DOUBLE_TEXT_MAX],
    len: usize,
}

impl DoubleText {
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII is ever written.
        std::str::from_utf8(self.as_bytes()).expect("ASCII")
    }

    fn push(&mut self, bytes: &[u8]) {
        assert!(self.len + bytes.len() <= DOUBLE_TEXT_MAX, "double text over {DOUBLE_TEXT_MAX} bytes");
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
    }
}

impl Write for DoubleText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.push(s.as_bytes());
        Ok(())
    }
}

/// Formats `d` as Redis replies print it.
pub fn double_text(d: f64) -> DoubleText {
    let mut text = DoubleText { buf: [0; DOUBLE_TEXT_MAX], len: 0 };
    if d.is_nan() {
        text.push(b"nan");
    } else if d.is_infinite() {
        text.push(if d > 0.0 { b"inf" } else { b"-inf" });
    } else if d == 0.0 {
        text.push(if d.is_sign_negative() { b"-0" } else { b"0" });
    } else if d.trunc() == d && d.abs() < INTEGRAL_MAX {
        let _ = write!(text, "{}", d as i64);
    } else {
        general(d, &mut text);
    }
    text
}

/// The shortest round-trip digits, once, placed in positional form for
/// exponents -4..17 and in `%e` form (two-digit exponent) otherwise.
fn general(d: f64, text: &mut DoubleText) {
    let mut scientific = DoubleText { buf: [0; DOUBLE_TEXT_MAX], len: 0 };
    let _ = write!(scientific, "{d:e}");
    let s = scientific.as_str();
    let (mantissa, exponent) = s.split_once('e').expect("{:e} always has an exponent");
    let exponent: i32 = exponent.parse().expect("{:e} exponent is an integer");
    if !(-4..17).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        let _ = write!(text, "{mantissa}e{sign}{:02}", exponent.abs());
        return;
    }
    let (negative, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, mantissa),
    };
    if negative {
        text.push(b"-");
    }
    positional(mantissa.as_bytes(), exponent, text);
}

/// Places the digits of `d[.ddd]` times 10^`exponent` without an exponent.
fn positional(mantissa: &[u8], exponent: i32, text: &mut DoubleText) {
    let mut digits = [0u8; DOUBLE_TEXT_MAX];
    let mut count = 0;
    for &c in mantissa.iter().filter(|c| c.is_ascii_digit()) {
        digits[count] = c;
        count += 1;
    }
    let digits = &digits[..count];
    if exponent < 0 {
        text.push(b"0.");
        for _ in 0..(-exponent - 1) {
            text.push(b"0");
        }
        return text.push(digits);
    }
    let whole = exponent as usize + 1;
    if digits.len() <= whole {
        text.push(digits);
        for _ in digits.len()..whole {
            text.push(b"0");
        }
        return;
    }
    text.push(&digits[..whole]);
    text.push(b".");
    text.push(&digits[whole..]);
}

/// [`double_text`] as a `String` (HTTP, Lua, stored scores).
pub fn format_double(d: f64) -> String {
    double_text(d).as_str().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The previous implementation, through `String`s: the reference.
    fn reference(d: f64) -> String {
        if d.is_nan() {
            return "nan".into();
        }
        if d.is_infinite() {
            return if d > 0.0 { "inf".into() } else { "-inf".into() };
        }
        if d == 0.0 {
            return if d.is_sign_negative() { "-0".into() } else { "0".into() };
        }
        let scientific = format!("{d:e}");
        let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        if !(-4..17).contains(&exponent) {
            let sign = if exponent < 0 { '-' } else { '+' };
            return format!("{mantissa}e{sign}{:02}", exponent.abs());
        }
        format!("{d}")
    }

    #[test]
    fn doubles_print_like_redis() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(-0.25), "-0.25");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(1.5e-5), "1.5e-05");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(0.1 + 0.2), "0.30000000000000004");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(1e16), "10000000000000000");
        assert_eq!(format_double(-123456.789), "-123456.789");
        assert_eq!(format_double(f64::MIN_POSITIVE), "2.2250738585072014e-308");
        assert_eq!(format_double(-f64::MAX), "-1.7976931348623157e+308");
    }

    #[test]
    fn edges_match_the_reference() {
        let edges = [
            1e15,
            1e15 - 1.0,
            1e15 + 0.5,
            9.999999999999998e16,
            1e17,
            0.00009999,
            0.0001,
            123.0e-7,
            -0.0,
            5e-324,
            -5e-324,
            4503599627370495.5,
            9007199254740993.0,
        ];
        for d in edges {
            assert_eq!(format_double(d), reference(d), "{d:e}");
        }
    }

    proptest! {
        #[test]
        fn any_double_matches_the_reference(bits in any::<u64>()) {
            let d = f64::from_bits(bits);
            prop_assert_eq!(format_double(d), reference(d));
        }

        #[test]
        fn scores_match_the_reference(whole in -1_000_000_000i64..1_000_000_000, frac in 0u32..10_000) {
            let d = whole as f64 + f64::from(frac) / 10_000.0;
            prop_assert_eq!(format_double(d), reference(d));
        }
    }
}
