//! HyperLogLog commands: PFADD, PFCOUNT, PFMERGE and PFDEBUG, on strings
//! in Redis 7's own format ([`crate::hll`]), so a key copied between weir
//! and Redis (GET/SET) counts the same on both, and every reply matches.
//!
//! One difference: Redis's PFCOUNT stores the cardinality it computed in the
//! key's header (a write). Here PFCOUNT is a read, served from the applied
//! state without going through the log, so it computes a stale count anew
//! and stores nothing (ARCHITECTURE.md, Known differences).

use super::string::edit_string;
use super::{is, reply, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::hll::{
    check, decode, dense_get, empty, estimate, histogram, invalidate_cache, merge_into, pattern, raw_histogram,
    register, set, to_dense, DENSE, HEADER, REGISTERS, SPARSE, STALE,
};
use bytes::{Bytes, BytesMut};
use weir_protocol::Frame;

/// The HyperLogLog at `key` for reading, checked; None if absent.
fn read(db: &Db, key: &[u8], now: u64) -> Result<Option<Bytes>, Frame> {
    let Some(entry) = db.get(key, now) else { return Ok(None) };
    let hll = entry.value.string_bytes().ok_or_else(wrongtype)?;
    check(&hll)?;
    Ok(Some(hll))
}

pub fn pfadd(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(pfadd_of(db, ctx.now_ms, &args[1], &args[2..]))
}

fn pfadd_of(db: &mut Db, now: u64, key: &[u8], elements: &[Bytes]) -> Result<Frame, Frame> {
    let patterns: Vec<(usize, u8)> = elements.iter().map(|e| pattern(e)).collect();
    let existing = read(db, key, now)?;
    if let Some(hll) = &existing {
        // A PFADD that raises no register changes nothing (not even the
        // key's version, which WATCH sees), as in Redis.
        let mut raises = false;
        for (index, count) in &patterns {
            raises |= register(hll, *index)? < *count;
        }
        if !raises {
            return Ok(Frame::Integer(0));
        }
    }
    // Our handle on the stored bytes goes first, or the edit below could
    // not take them back in place and would copy the key.
    let created = existing.is_none();
    drop(existing);
    edit_string(db, now, key, 0, |hll| {
        if created {
            hll.extend_from_slice(&empty());
        }
        let mut changed = created;
        for (index, count) in patterns {
            match set(hll, index, count) {
                Ok(raised) => changed |= raised,
                Err(e) => return e,
            }
        }
        invalidate_cache(hll);
        Frame::Integer(i64::from(changed))
    })
}

pub fn pfcount(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(pfcount_of(db, ctx.now_ms, &args[1..]))
}

fn pfcount_of(db: &Db, now: u64, keys: &[Bytes]) -> Result<Frame, Frame> {
    if let [key] = keys {
        let Some(hll) = read(db, key, now)? else { return Ok(Frame::Integer(0)) };
        let cached = u64::from_le_bytes(hll[8..HEADER].try_into().expect("eight bytes"));
        if hll[HEADER - 1] & STALE == 0 {
            return Ok(Frame::Integer(cached as i64));
        }
        return Ok(Frame::Integer(estimate(&histogram(&hll)?) as i64));
    }
    let mut max = [0u8; REGISTERS];
    for key in keys {
        if let Some(hll) = read(db, key, now)? {
            merge_into(&mut max, &hll)?;
        }
    }
    Ok(Frame::Integer(estimate(&raw_histogram(&max)) as i64))
}

pub fn pfmerge(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(pfmerge_of(db, ctx.now_ms, &args[1], &args[1..]))
}

fn pfmerge_of(db: &mut Db, now: u64, dest: &[u8], sources: &[Bytes]) -> Result<Frame, Frame> {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut any_dense = false;
    for key in sources {
        if let Some(hll) = read(db, key, now)? {
            any_dense |= hll[4] == DENSE;
            merge_into(&mut max, &hll)?;
        }
    }
    let created = read(db, dest, now)?.is_none();
    edit_string(db, now, dest, 0, |hll| {
        if created {
            hll.extend_from_slice(&empty());
        }
        // The result is dense if any source was (a dense merge result
        // seldom fits the sparse bound anyway).
        if any_dense {
            if let Err(e) = to_dense(hll) {
                return e;
            }
        }
        for (index, count) in max.iter().enumerate().filter(|(_, count)| **count > 0) {
            if let Err(e) = set(hll, index, *count) {
                return e;
            }
        }
        invalidate_cache(hll);
        Frame::ok()
    })
}

pub fn pfdebug(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(pfdebug_of(db, ctx.now_ms, args))
}

fn pfdebug_of(db: &mut Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let (sub, key) = (&args[1], &args[2]);
    let hll = read(db, key, now)?.ok_or_else(|| Frame::error("ERR The specified key does not exist"))?;
    let sparse = hll[4] == SPARSE;
    if is(sub, "getreg") || is(sub, "todense") {
        let mut dense = BytesMut::from(&hll[..]);
        if sparse {
            to_dense(&mut dense)?;
            edit_string(db, now, key, 0, |stored| {
                *stored = dense.clone();
                Frame::ok()
            })?;
        }
        if is(sub, "todense") {
            return Ok(Frame::Integer(i64::from(sparse)));
        }
        let registers = &dense[HEADER..];
        return Ok(Frame::Array((0..REGISTERS).map(|i| Frame::Integer(i64::from(dense_get(registers, i)))).collect()));
    }
    if is(sub, "encoding") {
        return Ok(Frame::simple(if sparse { "sparse" } else { "dense" }));
    }
    if is(sub, "decode") {
        if !sparse {
            return Err(Frame::error("ERR HLL encoding is not sparse"));
        }
        return Ok(Frame::Bulk(Bytes::from(decode(&hll))));
    }
    Err(Frame::error(format!("ERR Unknown PFDEBUG subcommand '{}'", String::from_utf8_lossy(sub))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Mode;

    fn pfadd_all(db: &mut Db, ctx: &mut ExecCtx, elements: impl Iterator<Item = String>) -> Frame {
        let args: Vec<Bytes> =
            ["PFADD".to_string(), "k".to_string()].into_iter().chain(elements).map(Bytes::from).collect();
        pfadd(db, ctx, &args)
    }

    fn stored_at(db: &Db) -> *const u8 {
        db.get(b"k", 0).expect("the key").value.string_bytes().expect("a string").as_ptr()
    }

    #[test]
    fn pfadd_raises_a_dense_key_where_it_lies() {
        let (mut db, mut ctx) = (Db::new(), ExecCtx::new(0, Mode::Apply, 0));
        assert_eq!(pfadd_all(&mut db, &mut ctx, (0..5_000).map(|i| format!("e{i}"))), Frame::Integer(1));
        let before = stored_at(&db);
        assert_eq!(pfadd_all(&mut db, &mut ctx, (5_000..6_000).map(|i| format!("e{i}"))), Frame::Integer(1));
        assert_eq!(stored_at(&db), before, "no copy of the 12 KB key");
        let count = pfcount(&mut db, &mut ctx, &[Bytes::from("PFCOUNT"), Bytes::from("k")]);
        let Frame::Integer(count) = count else { panic!("a count: {count:?}") };
        assert!((5_800..6_200).contains(&count), "6000 elements counted {count}");
    }
}
