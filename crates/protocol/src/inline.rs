//! Splitting an inline command line the way Redis's `sdssplitargs` does:
//! whitespace separates arguments; double quotes allow `\n \r \t \b \a \\
//! \"` and `\xHH` escapes; single quotes allow `\'`. A closing quote must be
//! followed by whitespace or the end of the line.

use bytes::Bytes;

/// Splits `line`; `None` means unbalanced quotes.
pub fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let mut args = Vec::new();
    let mut i = 0;
    loop {
        while i < line.len() && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= line.len() {
            return Some(args);
        }
        let (arg, next) = one_arg(line, i)?;
        args.push(Bytes::from(arg));
        i = next;
    }
}

fn one_arg(line: &[u8], mut i: usize) -> Option<(Vec<u8>, usize)> {
    let mut current = Vec::new();
    loop {
        match line.get(i) {
            None => return Some((current, i)),
            Some(c) if c.is_ascii_whitespace() => return Some((current, i)),
            Some(b'"') => i = double_quoted(line, i + 1, &mut current)?,
            Some(b'\'') => i = single_quoted(line, i + 1, &mut current)?,
            Some(&c) => {
                current.push(c);
                i += 1;
            }
        }
    }
}

fn closing_ok(line: &[u8], after: usize) -> Option<usize> {
    match line.get(after) {
        None => Some(after),
        Some(c) if c.is_ascii_whitespace() => Some(after),
        Some(_) => None,
    }
}

fn double_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *line.get(i)? {
            b'\\'
                if i + 3 < line.len()
                    && line[i + 1] == b'x'
                    && hex(line[i + 2]).is_some()
                    && hex(line[i + 3]).is_some() =>
            {
                out.push(hex(line[i + 2])? * 16 + hex(line[i + 3])?);
                i += 4;
            }
            b'\\' if i + 1 < line.len() => {
                out.push(match line[i + 1] {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    b'b' => 0x08,
                    b'a' => 0x07,
                    other => other,
                });
                i += 2;
            }
            b'"' => return closing_ok(line, i + 1),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn single_quoted(line: &[u8], mut i: usize, out: &mut Vec<u8>) -> Option<usize> {
    loop {
        match *line.get(i)? {
            b'\\' if line.get(i + 1) == Some(&b'\'') => {
                out.push(b'\'');
                i += 2;
            }
            b'\'' => return closing_ok(line, i + 1),
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::split_args;

    fn split(s: &str) -> Option<Vec<String>> {
        split_args(s.as_bytes()).map(|v| v.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect())
    }

    #[test]
    fn splits_like_redis() {
        assert_eq!(split("set a b"), Some(vec!["set".into(), "a".into(), "b".into()]));
        assert_eq!(split("  set   \"a b\"  'c d' "), Some(vec!["set".into(), "a b".into(), "c d".into()]));
        assert_eq!(split(r#"x "\x41\n" 'it\'s'"#), Some(vec!["x".into(), "A\n".into(), "it's".into()]));
        assert_eq!(split("a\"b c\""), Some(vec!["ab c".into()]));
        assert_eq!(split(""), Some(vec![]));
    }

    #[test]
    fn unbalanced_quotes_fail() {
        assert_eq!(split("\"abc"), None);
        assert_eq!(split("'abc"), None);
        assert_eq!(split("\"abc\"d"), None);
    }
}
