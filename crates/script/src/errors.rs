//! The error replies a script's commands returned, by prefix, held until
//! the run ends: Redis counts them in INFO errorstats even when
//! `redis.pcall` swallowed them, but not again when the script returns or
//! raises one of them (its table carries `ignore_error_stats_update`), and
//! a try refused on the read path is not counted at all (its run through
//! the log is).

use weir_protocol::error_code;

/// Distinct prefixes one tally holds. A script that makes more flushes the
/// oldest early (see `ErrorTally::add`).
pub const MAX_TALLIED_CODES: usize = 16;

/// Error counts by prefix, bounded.
#[derive(Debug, Default)]
pub struct ErrorTally {
    codes: Vec<(Vec<u8>, u64)>,
}

impl ErrorTally {
    /// Counts one error reply's text (without its `-`). Past
    /// `MAX_TALLIED_CODES` prefixes the oldest is handed to `overflow`
    /// now: it may then be counted once more if the script returns it.
    pub fn add(&mut self, text: &[u8], overflow: impl FnOnce(&[u8], u64)) {
        let code = error_code(text);
        if let Some((_, count)) = self.codes.iter_mut().find(|(c, _)| c == code) {
            *count += 1;
            return;
        }
        if self.codes.len() == MAX_TALLIED_CODES {
            let (oldest, count) = self.codes.remove(0);
            overflow(&oldest, count);
        }
        self.codes.push((code.to_vec(), 1));
        debug_assert!(self.codes.len() <= MAX_TALLIED_CODES);
    }

    /// Takes back one count of `text`'s prefix: the script replies with
    /// that error, and the reply is counted where it is sent.
    pub fn take_back(&mut self, text: &[u8]) {
        let code = error_code(text);
        if let Some(i) = self.codes.iter().position(|(c, _)| c == code) {
            self.codes[i].1 -= 1;
            if self.codes[i].1 == 0 {
                self.codes.remove(i);
            }
        }
    }

    /// Adds `other`'s counts to this tally.
    pub fn merge(&mut self, other: ErrorTally, mut overflow: impl FnMut(&[u8], u64)) {
        for (code, count) in other.codes {
            match self.codes.iter().position(|(c, _)| *c == code) {
                Some(i) => self.codes[i].1 += count,
                None if self.codes.len() == MAX_TALLIED_CODES => overflow(&code, count),
                None => self.codes.push((code, count)),
            }
        }
    }

    /// Hands every count to `count` (a prefix, how many) and empties.
    pub fn drain(&mut self, mut count: impl FnMut(&[u8], u64)) {
        for (code, n) in self.codes.drain(..) {
            count(&code, n);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drained(tally: &mut ErrorTally) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        tally.drain(|code, n| out.push((String::from_utf8_lossy(code).into_owned(), n)));
        out
    }

    #[test]
    fn counts_by_prefix_and_takes_back_a_returned_error() {
        let mut tally = ErrorTally::default();
        let never = |_: &[u8], _: u64| panic!("within the bound");
        tally.add(b"WRONGTYPE Operation against a key", never);
        tally.add(b"ERR value is not an integer", never);
        tally.add(b"WRONGTYPE Operation against a key", never);
        tally.take_back(b"ERR value is not an integer");
        tally.take_back(b"NOSUCH code never added");
        assert_eq!(drained(&mut tally), [("WRONGTYPE".to_string(), 2)]);
        assert!(drained(&mut tally).is_empty(), "drained");
    }

    #[test]
    fn past_the_bound_the_oldest_is_flushed_early() {
        let mut tally = ErrorTally::default();
        let mut flushed = Vec::new();
        for i in 0..=MAX_TALLIED_CODES {
            tally.add(format!("CODE{i} x").as_bytes(), |code, n| flushed.push((code.to_vec(), n)));
        }
        assert_eq!(flushed, [(b"CODE0".to_vec(), 1)]);
        assert_eq!(drained(&mut tally).len(), MAX_TALLIED_CODES);
    }

    #[test]
    fn merge_adds_counts_and_flushes_what_does_not_fit() {
        let mut tries = ErrorTally::default();
        let mut run = ErrorTally::default();
        let never = |_: &[u8], _: u64| panic!("within the bound");
        tries.add(b"ERR a", never);
        run.add(b"ERR b", never);
        run.add(b"WRONGTYPE c", never);
        tries.merge(run, never);
        assert_eq!(drained(&mut tries), [("ERR".to_string(), 2), ("WRONGTYPE".to_string(), 1)]);
    }
}
