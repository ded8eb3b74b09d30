//! What SRANDMEMBER, ZRANDMEMBER and HRANDFIELD share: Redis 7.0's rules
//! for their count (and WITHSCORES / WITHVALUES), and the picks.

use super::{int_arg, is, syntax};
use bytes::Bytes;
use rand::Rng;
use weir_protocol::Frame;

/// Replies are built in memory: more repeated picks than this (a negative
/// count) are refused, where Redis streams them out.
pub const REPEATS_MAX: u64 = 1 << 24;

/// A count in Redis's range, -LONG_MAX..=LONG_MAX.
pub fn count(arg: &[u8]) -> Result<i64, Frame> {
    match int_arg(arg)? {
        i64::MIN => {
            Err(Frame::error(format!("ERR value is out of range, value must between {} and {}", -i64::MAX, i64::MAX)))
        }
        n => Ok(n),
    }
}

/// `key [count [flag]]` of ZRANDMEMBER and HRANDFIELD: the count (checked
/// first), then whether the flag follows; with the flag the count must stay
/// within half the range, so `count * 2` items cannot overflow.
pub fn count_and_flag(args: &[Bytes], flag: &str) -> Result<Option<(i64, bool)>, Frame> {
    let Some(arg) = args.get(2) else { return Ok(None) };
    let n = count(arg)?;
    let flagged = match args.get(3) {
        None => false,
        Some(word) if args.len() == 4 && is(word, flag) => true,
        Some(_) => return Err(syntax()),
    };
    if flagged && !(-i64::MAX / 2..=i64::MAX / 2).contains(&n) {
        return Err(Frame::error("ERR value is out of range"));
    }
    Ok(Some((n, flagged)))
}

/// How many picks a negative count asks for, within `REPEATS_MAX`.
pub fn repeats(count: i64) -> Result<usize, Frame> {
    debug_assert!(count < 0);
    match count.unsigned_abs() {
        n if n > REPEATS_MAX => Err(Frame::error("ERR count is too large for one reply")),
        n => Ok(n as usize),
    }
}

/// Positions to pick among `len`: distinct when `count >= 0` (all of them
/// when it is at least `len`), repeats allowed below.
pub fn pick_ranks(len: usize, count: i64, rng: &mut impl Rng) -> Result<Vec<usize>, Frame> {
    if count < 0 {
        return Ok((0..repeats(count)?).map(|_| rng.gen_range(0..len)).collect());
    }
    let want = (count as u64).min(len as u64) as usize;
    if want == len {
        return Ok((0..len).collect());
    }
    Ok(rand::seq::index::sample(rng, len, want).into_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::{Db, ExecCtx, Mode};
    use rand::SeedableRng;

    #[test]
    fn picks_are_distinct_for_a_count_and_may_repeat_below_zero() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let mut distinct = pick_ranks(10, 4, &mut rng).expect("picks");
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), 4);
        assert_eq!(pick_ranks(3, 100, &mut rng).expect("all"), vec![0, 1, 2]);
        let repeated = pick_ranks(2, -50, &mut rng).expect("picks");
        assert_eq!(repeated.len(), 50);
        assert!(repeated.iter().all(|&r| r < 2));
        assert!(pick_ranks(2, -(REPEATS_MAX as i64) - 1, &mut rng).is_err(), "bounded");
    }

    #[test]
    fn hrandfield_picks_fields_of_the_hash() {
        let mut db = Db::new();
        let mut exec = |words: &[&str]| {
            let mut ctx = ExecCtx::new(1, Mode::Apply, 3);
            let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
            db.execute(&mut ctx, &args)
        };
        exec(&["HSET", "h", "a", "1", "b", "2", "c", "3"]);
        let Frame::Array(two) = exec(&["HRANDFIELD", "h", "2"]) else { panic!("an array") };
        assert_eq!(two.len(), 2);
        assert_ne!(two[0], two[1], "distinct");
        let Frame::Pairs(pairs) = exec(&["HRANDFIELD", "h", "-7", "WITHVALUES"]) else { panic!("pairs") };
        assert_eq!(pairs.len(), 7);
        let fields = [("a", "1"), ("b", "2"), ("c", "3")].map(|(f, v)| (Frame::bulk(f), Frame::bulk(v)));
        assert!(pairs.iter().all(|pair| fields.contains(pair)), "{pairs:?}");
        let one = exec(&["HRANDFIELD", "h"]);
        assert!(fields.iter().any(|(f, _)| *f == one), "{one:?}");
    }
}
