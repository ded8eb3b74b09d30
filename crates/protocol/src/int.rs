//! Integers as Redis reads them (`string2ll`): an optional `-`, decimal
//! digits, no leading zeros, no `+`, no spaces, within i64. One definition
//! serves request lengths, command arguments and reply parsing, so every
//! layer accepts exactly what Redis accepts.

/// Parses `text` as Redis's `string2ll` does.
pub fn parse_int(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 || (digits[0] == b'0' && (digits.len() > 1 || negative)) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let digit = i64::from(d - b'0');
        // Accumulate towards the sign so i64::MIN parses.
        value = if negative {
            value.checked_mul(10)?.checked_sub(digit)?
        } else {
            value.checked_mul(10)?.checked_add(digit)?
        };
    }
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::parse_int;

    #[test]
    fn like_string2ll() {
        assert_eq!(parse_int(b"42"), Some(42));
        assert_eq!(parse_int(b"0"), Some(0));
        assert_eq!(parse_int(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_int(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b"9223372036854775808"[..], b"042", b"+1", b" 1", b"1 ", b"-0", b"", b"1.0", b"-", b"0x1"] {
            assert_eq!(parse_int(bad), None, "{bad:?}");
        }
    }
}
