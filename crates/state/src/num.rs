//! Number parsing and formatting with Redis's rules.

/// Parses an integer the way Redis's `string2ll` does. Canonical text only,
/// so formatting the value back gives the same bytes (the int encoding).
pub fn parse_i64(data: &[u8]) -> Option<i64> {
    weir_protocol::parse_int(data)
}

/// Parses a float as Redis's `string2ld` does (no spaces, no NaN).
pub fn parse_f64(data: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(data).ok()?;
    if text.is_empty() || text.starts_with(char::is_whitespace) || text.ends_with(char::is_whitespace) {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let value = match lower.as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => text.parse::<f64>().ok()?,
    };
    (!value.is_nan()).then_some(value)
}

/// Formats an INCRBYFLOAT result as Redis stores it. Redis computes in long
/// double and prints 17 significant digits with trailing zeros trimmed,
/// which for everyday operands equals the 15-digit rendering; we use that
/// when it reads back within a couple of ulps, else the shortest exact text.
pub fn format_incr_float(value: f64) -> String {
    // Beyond 15 integer digits, f64's own shortest text is what Redis's
    // fixed-point rendering shows too.
    if value.abs() >= 1e15 {
        let fixed = format!("{value:.17}");
        return fixed.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    let short = format!("{:.14e}", value);
    let candidate = trim_exponent_form(&short);
    let close =
        candidate.parse::<f64>().map(|c| (c - value).abs() <= value.abs() * 4.0 * f64::EPSILON).unwrap_or(false);
    if close {
        candidate
    } else {
        format!("{value}")
    }
}

/// `1.50000000000000e3` → `1500`, without exponent notation (Redis's
/// INCRBYFLOAT never prints one).
fn trim_exponent_form(text: &str) -> String {
    let value: f64 = text.parse().unwrap_or(0.0);
    let (mantissa, exp) = text.split_once('e').unwrap_or((text, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits_after = (mantissa.len().saturating_sub(2) as i32 - exp).max(0) as usize;
    let fixed = format!("{value:.digits_after$}");
    if fixed.contains('.') {
        fixed.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        fixed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_i64(b"42"), Some(42));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        for bad in [&b"042"[..], b"+1", b" 1", b"-0", b"", b"1.0", b"-"] {
            assert_eq!(parse_i64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn incrbyfloat_formatting() {
        assert_eq!(format_incr_float(10.5), "10.5");
        assert_eq!(format_incr_float(0.1 + 0.2), "0.3");
        assert_eq!(format_incr_float(5000.0), "5000");
        assert_eq!(format_incr_float(-1.25), "-1.25");
        assert_eq!(format_incr_float(3.0e-5), "0.00003");
        assert_eq!(format_incr_float(9223372036854775807.0 + 1.5), "9223372036854775808");
    }
}
