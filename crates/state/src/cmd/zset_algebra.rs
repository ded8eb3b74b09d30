//! Sorted-set algebra: ZUNION, ZINTER, ZDIFF (and their STORE forms),
//! ZINTERCARD and ZRANGESTORE, with Redis 7's argument checks, score rules
//! and replies. Plain sets are valid inputs, every member scoring 1, as in
//! Redis. The typical use is a leaderboard built from others (the week from
//! its days, with WEIGHTS and AGGREGATE); all keys share one slot, so the
//! whole computation is one step of the partition's writer.

use super::zset::{range_query, run_range_items};
use super::{int_arg, is, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::num::parse_f64;
use crate::value::Value;
use crate::zset::ZSet;
use bytes::Bytes;
use std::collections::{BTreeSet, HashMap};
use weir_protocol::Frame;

/// One input of an algebra command.
#[derive(Clone, Copy)]
enum Input<'a> {
    Missing,
    Sorted(&'a ZSet),
    Plain(&'a BTreeSet<Bytes>),
}

impl<'a> Input<'a> {
    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Sorted(z) => z.len(),
            Input::Plain(s) => s.len(),
        }
    }

    fn members(&self) -> Box<dyn Iterator<Item = (&'a [u8], f64)> + 'a> {
        match *self {
            Input::Missing => Box::new(std::iter::empty()),
            Input::Sorted(z) => Box::new(z.iter()),
            Input::Plain(s) => Box::new(s.iter().map(|m| (&m[..], 1.0))),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Sorted(z) => z.score(member),
            Input::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    /// Whether two inputs are the same stored value (a key named twice).
    fn same(&self, other: &Input) -> bool {
        match (self, other) {
            (Input::Sorted(a), Input::Sorted(b)) => std::ptr::eq(*a, *b),
            (Input::Plain(a), Input::Plain(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Redis's `zunionInterAggregate`: a sum of +inf and -inf is 0.
    fn fold(self, target: f64, value: f64) -> f64 {
        match self {
            Aggregate::Sum => {
                let sum = target + value;
                if sum.is_nan() {
                    0.0
                } else {
                    sum
                }
            }
            Aggregate::Min if value < target => value,
            Aggregate::Max if value > target => value,
            Aggregate::Min | Aggregate::Max => target,
        }
    }
}

/// A weighted score, where a NaN product (0 × inf) counts as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// What the command asked for, once parsed.
struct Query<'a> {
    inputs: Vec<(Input<'a>, f64)>,
    aggregate: Aggregate,
    withscores: bool,
    limit: usize,
}

/// The form of the command: where `numkeys` is and which options it takes.
#[derive(Clone, Copy)]
struct Form {
    op: Op,
    numkeys_at: usize,
    store: bool,
    card_only: bool,
}

fn lookup<'a>(db: &'a Db, key: &[u8], now: u64) -> Result<Input<'a>, Frame> {
    match db.get(key, now).map(|e| &e.value) {
        None => Ok(Input::Missing),
        Some(Value::ZSet(z)) => Ok(Input::Sorted(z)),
        Some(Value::Set(s)) => Ok(Input::Plain(s)),
        Some(_) => Err(wrongtype()),
    }
}

/// Parses in Redis's order: numkeys, the keys' types, then the options.
fn parse<'a>(db: &'a Db, now: u64, args: &[Bytes], form: Form) -> Result<Query<'a>, Frame> {
    let count = int_arg(&args[form.numkeys_at])?;
    if count < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_lowercase();
        return Err(Frame::error(format!("ERR at least 1 input key is needed for '{name}' command")));
    }
    let first = form.numkeys_at + 1;
    if count as u64 > (args.len() - first) as u64 {
        return Err(syntax());
    }
    let keys = &args[first..first + count as usize];
    let mut inputs = Vec::with_capacity(keys.len());
    for key in keys {
        inputs.push((lookup(db, key, now)?, 1.0));
    }
    let mut query = Query { inputs, aggregate: Aggregate::Sum, withscores: false, limit: 0 };
    parse_options(&mut query, &args[first + keys.len()..], form)?;
    Ok(query)
}

fn parse_options(query: &mut Query, mut rest: &[Bytes], form: Form) -> Result<(), Frame> {
    let weighted_form = form.op != Op::Diff && !form.card_only;
    let n = query.inputs.len();
    while let Some(word) = rest.first() {
        if weighted_form && rest.len() > n && is(word, "weights") {
            for (input, arg) in query.inputs.iter_mut().zip(&rest[1..=n]) {
                input.1 = parse_f64(arg).ok_or_else(|| Frame::error("ERR weight value is not a float"))?;
            }
            rest = &rest[n + 1..];
        } else if weighted_form && rest.len() >= 2 && is(word, "aggregate") {
            query.aggregate = match &rest[1] {
                a if is(a, "sum") => Aggregate::Sum,
                a if is(a, "min") => Aggregate::Min,
                a if is(a, "max") => Aggregate::Max,
                _ => return Err(syntax()),
            };
            rest = &rest[2..];
        } else if !form.store && !form.card_only && is(word, "withscores") {
            query.withscores = true;
            rest = &rest[1..];
        } else if form.card_only && rest.len() >= 2 && is(word, "limit") {
            let limit = crate::num::parse_i64(&rest[1]).filter(|l| *l >= 0);
            query.limit = limit.ok_or_else(|| Frame::error("ERR LIMIT can't be negative"))? as usize;
            rest = &rest[2..];
        } else {
            return Err(syntax());
        }
    }
    Ok(())
}

/// Union and intersection visit inputs from the smallest, as Redis does
/// (the order in which float sums are taken).
fn by_size(inputs: &mut [(Input, f64)]) {
    inputs.sort_by_key(|(input, _)| input.len());
}

fn union<'a>(query: &mut Query<'a>) -> HashMap<&'a [u8], f64> {
    by_size(&mut query.inputs);
    let mut out: HashMap<&[u8], f64> = HashMap::new();
    for (input, weight) in &query.inputs {
        for (member, score) in input.members() {
            let value = weighted(score, *weight);
            out.entry(member).and_modify(|s| *s = query.aggregate.fold(*s, value)).or_insert(value);
        }
    }
    out
}

/// Members present in every input, with their aggregate score; at most
/// `limit` of them when it is not 0 (ZINTERCARD).
fn inter<'a>(query: &mut Query<'a>) -> Vec<(&'a [u8], f64)> {
    by_size(&mut query.inputs);
    let (first, weight) = query.inputs[0];
    let mut out = Vec::new();
    'members: for (member, score) in first.members() {
        let mut total = weighted(score, weight);
        for (input, weight) in &query.inputs[1..] {
            let found = if input.same(&first) { Some(score) } else { input.score(member) };
            let Some(other) = found else { continue 'members };
            total = query.aggregate.fold(total, other * weight);
        }
        out.push((member, total));
        if out.len() == query.limit {
            break;
        }
    }
    out
}

/// Members of the first input in none of the others, with their scores.
fn diff<'a>(query: &Query<'a>) -> Vec<(&'a [u8], f64)> {
    let (first, others) = query.inputs.split_first().expect("numkeys is at least 1");
    let absent = |member: &[u8]| others.iter().all(|(input, _)| input.score(member).is_none());
    first.0.members().filter(|(member, _)| absent(member)).collect()
}

/// The result as a sorted set of its own (members are copied: they must
/// not share the inputs' storage, which other commands change in place).
fn result(query: &mut Query, op: Op) -> ZSet {
    let members: Vec<(&[u8], f64)> = match op {
        Op::Union => union(query).into_iter().collect(),
        Op::Inter => inter(query),
        Op::Diff => diff(query),
    };
    let mut z = ZSet::new();
    for (member, score) in members {
        z.insert(member, score);
    }
    z
}

fn compute(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes], form: Form) -> Result<Frame, Frame> {
    let mut query = parse(db, ctx.now_ms, args, form)?;
    if form.card_only {
        query.limit = if query.limit == 0 { usize::MAX } else { query.limit };
        return Ok(Frame::Integer(inter(&mut query).len() as i64));
    }
    let withscores = query.withscores;
    let z = result(&mut query, form.op);
    if form.store {
        return Ok(store(db, &args[1], z));
    }
    let items: Vec<(&[u8], f64)> = z.iter().collect();
    Ok(run_range_items(items, withscores))
}

/// Stores `z` at `dst` (replacing any value and TTL), or deletes `dst`
/// when `z` is empty, as Redis does; replies with the stored size.
fn store(db: &mut Db, dst: &Bytes, z: ZSet) -> Frame {
    let len = z.len();
    if len == 0 {
        db.remove(dst);
        return Frame::Integer(0);
    }
    db.put(dst, Value::ZSet(Box::new(z)), 0);
    db.signal_ready(dst);
    Frame::Integer(len as i64)
}

const fn form(op: Op, store: bool) -> Form {
    Form { op, numkeys_at: if store { 2 } else { 1 }, store, card_only: false }
}

pub fn zunion(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(compute(db, ctx, args, form(Op::Union, false)))
}

pub fn zinter(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(compute(db, ctx, args, form(Op::Inter, false)))
}

pub fn zdiff(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(compute(db, ctx, args, form(Op::Diff, false)))
}

pub fn zunionstore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(compute(db, ctx, args, form(Op::Union, true)))
}

pub fn zinterstore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(compute(db, ctx, args, form(Op::Inter, true)))
}

pub fn zdiffstore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(compute(db, ctx, args, form(Op::Diff, true)))
}

pub fn zintercard(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let card = Form { op: Op::Inter, numkeys_at: 1, store: false, card_only: true };
    reply(compute(db, ctx, args, card))
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]:
/// ZRANGE's selection, stored (WITHSCORES is not an option here).
pub fn zrangestore(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let run = || {
        let query = range_query(&args[1..], b'r', false, true, true)?;
        let src = match lookup(db, &args[2], ctx.now_ms)? {
            Input::Plain(_) => return Err(wrongtype()),
            Input::Sorted(z) => Some(z),
            Input::Missing => None,
        };
        let mut z = ZSet::new();
        if let Some(src) = src {
            for (member, score) in super::zset::range_items(src, &query) {
                z.insert(member, score);
            }
        }
        Ok(z)
    };
    match run() {
        Ok(z) => store(db, &args[1], z),
        Err(e) => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_of_opposite_infinities_and_nan_products_count_as_zero() {
        assert_eq!(Aggregate::Sum.fold(f64::INFINITY, f64::NEG_INFINITY), 0.0);
        assert_eq!(weighted(f64::INFINITY, 0.0), 0.0);
        assert_eq!(weighted(2.0, -1.5), -3.0);
    }

    #[test]
    fn min_and_max_keep_the_running_value_on_ties_as_redis_does() {
        let min = Aggregate::Min.fold(0.0, -0.0);
        assert!(min == 0.0 && min.is_sign_positive());
        let max = Aggregate::Max.fold(-0.0, 0.0);
        assert!(max == 0.0 && max.is_sign_negative());
        assert_eq!(Aggregate::Min.fold(1.0, f64::NAN), 1.0);
        assert_eq!(Aggregate::Max.fold(1.0, 2.0), 2.0);
    }
}
