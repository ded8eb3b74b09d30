//! Bitmap commands on strings: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP,
//! BITFIELD and BITFIELD_RO, as Redis 7 answers them. Bit 0 is the most
//! significant bit of the first byte. Writes change the stored string where
//! it lies (`string::edit_string`), so a SETBIT on a large bitmap costs one
//! byte, not a copy.

use super::string::{edit_string, string_len};
use super::{is, reply, syntax, wrongtype};
use crate::db::{Db, ExecCtx};
use crate::value::Value;
use bytes::{Bytes, BytesMut};
use weir_protocol::Frame;

/// Bits a string may hold: proto-max-bulk-len (512 MiB) bytes.
const MAX_BITS: u64 = (512 << 20) * 8;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";
const BAD_BIT: &str = "ERR bit is not an integer or out of range";
const BAD_TYPE: &str =
    "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";

/// A bit offset, or with `width` a `#n` offset counted in fields of that
/// width; within the largest string.
fn bit_offset(arg: &[u8], width: Option<u32>) -> Result<u64, Frame> {
    let (digits, scale) = match (arg.first(), width) {
        (Some(b'#'), Some(width)) => (&arg[1..], i64::from(width)),
        _ => (arg, 1),
    };
    crate::num::parse_i64(digits)
        .and_then(|n| n.checked_mul(scale))
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n < MAX_BITS)
        .ok_or_else(|| Frame::error(BAD_OFFSET))
}

/// The string at `key` for reading: empty if absent.
fn read(db: &Db, key: &[u8], now: u64) -> Result<Option<Bytes>, Frame> {
    match db.get(key, now) {
        None => Ok(None),
        Some(entry) => entry.value.string_bytes().map(Some).ok_or_else(wrongtype),
    }
}

fn bit_at(bytes: &[u8], offset: u64) -> bool {
    let byte = (offset >> 3) as usize;
    bytes.get(byte).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

fn set_bit_at(bytes: &mut [u8], offset: u64, on: bool) {
    let mask = 0x80 >> (offset & 7);
    let byte = &mut bytes[(offset >> 3) as usize];
    if on {
        *byte |= mask;
    } else {
        *byte &= !mask;
    }
}

pub fn setbit(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let offset = match bit_offset(&args[2], None) {
        Ok(offset) => offset,
        Err(e) => return e,
    };
    let on = match crate::num::parse_i64(&args[3]) {
        Some(0) => false,
        Some(1) => true,
        _ => return Frame::error(BAD_BIT),
    };
    let min_len = (offset >> 3) as usize + 1;
    reply(string_len(db, &args[1], ctx.now_ms).and_then(|len| {
        // Setting a bit to what it is changes nothing (no version for WATCH).
        if len.is_some_and(|len| len >= min_len) {
            let was = bit_at(&read(db, &args[1], ctx.now_ms)?.unwrap_or_default(), offset);
            if was == on {
                return Ok(Frame::Integer(i64::from(was)));
            }
        }
        edit_string(db, ctx.now_ms, &args[1], min_len, |buf| {
            let was = bit_at(buf, offset);
            set_bit_at(buf, offset, on);
            Frame::Integer(i64::from(was))
        })
    }))
}

pub fn getbit(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let offset = match bit_offset(&args[2], None) {
        Ok(offset) => offset,
        Err(e) => return e,
    };
    reply(read(db, &args[1], ctx.now_ms).map(|v| Frame::Integer(i64::from(bit_at(&v.unwrap_or_default(), offset)))))
}

/// A BITCOUNT or BITPOS range, resolved against a string of `len` bytes:
/// whole bytes `start..=end`, with the bits outside a BIT range masked off
/// in the first and last of them (Redis's negative masks: set bits are the
/// ones outside the range).
struct Range {
    start: i64,
    end: i64,
    first_outside: u8,
    last_outside: u8,
}

fn unit_is_bit(arg: Option<&Bytes>) -> Result<bool, Frame> {
    match arg {
        None => Ok(false),
        Some(a) if is(a, "bit") => Ok(true),
        Some(a) if is(a, "byte") => Ok(false),
        Some(_) => Err(syntax()),
    }
}

fn resolve(len: usize, mut start: i64, mut end: i64, bits: bool) -> Range {
    let total = if bits { len as i64 * 8 } else { len as i64 };
    if start < 0 {
        start += total;
    }
    if end < 0 {
        end += total;
    }
    start = start.max(0);
    end = end.max(0).min(total - 1);
    let (mut first_outside, mut last_outside) = (0, 0);
    if bits && start <= end {
        first_outside = !((1u16 << (8 - (start & 7))) - 1) as u8;
        last_outside = ((1u16 << (7 - (end & 7))) - 1) as u8;
        start >>= 3;
        end >>= 3;
    }
    Range { start, end, first_outside, last_outside }
}

pub fn bitcount(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bitcount_of(db, ctx.now_ms, args))
}

fn bitcount_of(db: &Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let Some(value) = read(db, &args[1], now)? else { return Ok(Frame::Integer(0)) };
    let range = match args.len() {
        2 => Range { start: 0, end: value.len() as i64 - 1, first_outside: 0, last_outside: 0 },
        4 | 5 => {
            let start = super::int_arg(&args[2])?;
            let end = super::int_arg(&args[3])?;
            if start < 0 && end < 0 && start > end {
                return Ok(Frame::Integer(0));
            }
            let bits = unit_is_bit(args.get(4))?;
            resolve(value.len(), start, end, bits)
        }
        _ => return Err(syntax()),
    };
    if range.start > range.end {
        return Ok(Frame::Integer(0));
    }
    let (start, end) = (range.start as usize, range.end as usize);
    let mut count: u64 = value[start..=end].iter().map(|b| u64::from(b.count_ones())).sum();
    count -= u64::from((value[start] & range.first_outside).count_ones());
    count -= u64::from((value[end] & range.last_outside).count_ones());
    Ok(Frame::Integer(count as i64))
}

/// The first bit equal to `bit` in `bytes`, counted from its start; past
/// the end (as if zero-padded) when looking for 0 and there is none, -1
/// when looking for 1.
fn first_bit(bytes: impl ExactSizeIterator<Item = u8>, bit: bool) -> i64 {
    let len = bytes.len() as i64;
    for (i, b) in bytes.enumerate() {
        let b = if bit { b } else { !b };
        if b != 0 {
            return i as i64 * 8 + i64::from(b.leading_zeros());
        }
    }
    if bit {
        -1
    } else {
        len * 8
    }
}

pub fn bitpos(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bitpos_of(db, ctx.now_ms, args))
}

fn bitpos_of(db: &Db, now: u64, args: &[Bytes]) -> Result<Frame, Frame> {
    let bit = match super::int_arg(&args[2])? {
        0 => false,
        1 => true,
        _ => return Err(Frame::error("ERR The bit argument must be 1 or 0.")),
    };
    // A missing key is an endless run of zero bits.
    let Some(value) = read(db, &args[1], now)? else { return Ok(Frame::Integer(if bit { -1 } else { 0 })) };
    let len = value.len() as i64;
    let mut end_given = false;
    let range = match args.len() {
        3 => Range { start: 0, end: len - 1, first_outside: 0, last_outside: 0 },
        4..=6 => {
            let start = super::int_arg(&args[3])?;
            let bits = unit_is_bit(args.get(5))?;
            let end = match args.get(4) {
                Some(end) => {
                    end_given = true;
                    super::int_arg(end)?
                }
                None if bits => len * 8 + 7,
                None => len - 1,
            };
            resolve(value.len(), start, end, bits)
        }
        _ => return Err(syntax()),
    };
    if range.start > range.end {
        return Ok(Frame::Integer(-1));
    }
    let (start, end) = (range.start as usize, range.end as usize);
    let bytes = &value[start..=end];
    // The bits outside the range read as the opposite of the one sought.
    let outside = |byte: u8, mask: u8| if bit { byte & !mask } else { byte | mask };
    let last = bytes.len() - 1;
    let read = |i: usize| {
        let byte = if i == 0 { outside(bytes[0], range.first_outside) } else { bytes[i] };
        if i == last {
            outside(byte, range.last_outside)
        } else {
            byte
        }
    };
    let pos = first_bit((0..bytes.len()).map(read), bit);
    // With an explicit end, no zero bit past the range counts.
    if end_given && !bit && pos == bytes.len() as i64 * 8 {
        return Ok(Frame::Integer(-1));
    }
    Ok(Frame::Integer(if pos == -1 { -1 } else { pos + start as i64 * 8 }))
}

#[derive(Clone, Copy)]
enum BitOp {
    And,
    Or,
    Xor,
    Not,
}

pub fn bitop(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    let op = match &args[1] {
        a if is(a, "and") => BitOp::And,
        a if is(a, "or") => BitOp::Or,
        a if is(a, "xor") => BitOp::Xor,
        a if is(a, "not") => BitOp::Not,
        _ => return syntax(),
    };
    if matches!(op, BitOp::Not) && args.len() != 4 {
        return Frame::error("ERR BITOP NOT must be called with a single source key.");
    }
    let mut sources = Vec::with_capacity(args.len() - 3);
    for key in &args[3..] {
        match read(db, key, ctx.now_ms) {
            Ok(value) => sources.push(value.unwrap_or_default()),
            Err(e) => return e,
        }
    }
    let longest = sources.iter().map(Bytes::len).max().unwrap_or(0);
    if longest == 0 {
        db.remove(&args[2]);
        return Frame::Integer(0);
    }
    let byte = |source: &Bytes, i: usize| source.get(i).copied().unwrap_or(0);
    let mut out = BytesMut::zeroed(longest);
    for (i, slot) in out.iter_mut().enumerate() {
        let first = byte(&sources[0], i);
        *slot = match op {
            BitOp::Not => !first,
            BitOp::And => sources[1..].iter().fold(first, |acc, source| acc & byte(source, i)),
            BitOp::Or => sources[1..].iter().fold(first, |acc, source| acc | byte(source, i)),
            BitOp::Xor => sources[1..].iter().fold(first, |acc, source| acc ^ byte(source, i)),
        };
    }
    db.put(&args[2], Value::string_from(out.freeze()), 0);
    Frame::Integer(longest as i64)
}

/// How BITFIELD's SET and INCRBY treat a value that does not fit.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// A field's type: signed or not, and its width in bits (i1..i64, u1..u63).
#[derive(Clone, Copy)]
struct Field {
    signed: bool,
    bits: u32,
}

enum Op {
    Get,
    Set(i64),
    Incrby(i64),
}

struct FieldOp {
    op: Op,
    field: Field,
    offset: u64,
    overflow: Overflow,
}

fn field_type(arg: &[u8]) -> Result<Field, Frame> {
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(Frame::error(BAD_TYPE)),
    };
    let max = if signed { 64 } else { 63 };
    match crate::num::parse_i64(&arg[1..]) {
        Some(bits) if (1..=max).contains(&bits) => Ok(Field { signed, bits: bits as u32 }),
        _ => Err(Frame::error(BAD_TYPE)),
    }
}

/// Parses BITFIELD's operations. Every argument is checked before anything
/// runs, as Redis does: an error leaves the string untouched.
fn parse_ops(args: &[Bytes]) -> Result<Vec<FieldOp>, Frame> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < args.len() {
        let left = args.len() - j - 1;
        let word = &args[j];
        let takes_value = if is(word, "get") && left >= 2 {
            false
        } else if (is(word, "set") || is(word, "incrby")) && left >= 3 {
            true
        } else if is(word, "overflow") && left >= 1 {
            overflow = match &args[j + 1] {
                a if is(a, "wrap") => Overflow::Wrap,
                a if is(a, "sat") => Overflow::Sat,
                a if is(a, "fail") => Overflow::Fail,
                _ => return Err(Frame::error("ERR Invalid OVERFLOW type specified")),
            };
            j += 2;
            continue;
        } else {
            return Err(syntax());
        };
        let field = field_type(&args[j + 1])?;
        let offset = bit_offset(&args[j + 2], Some(field.bits))?;
        let op = if !takes_value {
            Op::Get
        } else {
            let value = super::int_arg(&args[j + 3])?;
            if is(word, "set") {
                Op::Set(value)
            } else {
                Op::Incrby(value)
            }
        };
        ops.push(FieldOp { op, field, offset, overflow });
        j += if takes_value { 4 } else { 3 };
    }
    Ok(ops)
}

pub fn bitfield(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bitfield_of(db, ctx.now_ms, args, false))
}

pub fn bitfield_ro(db: &mut Db, ctx: &mut ExecCtx, args: &[Bytes]) -> Frame {
    reply(bitfield_of(db, ctx.now_ms, args, true))
}

fn bitfield_of(db: &mut Db, now: u64, args: &[Bytes], read_only: bool) -> Result<Frame, Frame> {
    let ops = parse_ops(args)?;
    // The last bit a SET or INCRBY reaches: the string grows to hold it.
    let reach = ops.iter().filter(|o| !matches!(o.op, Op::Get)).map(|o| o.offset + u64::from(o.field.bits) - 1).max();
    let Some(reach) = reach else {
        let value = read(db, &args[1], now)?.unwrap_or_default();
        return Ok(Frame::Array(ops.iter().map(|o| Frame::Integer(get_field(&value, o.offset, o.field))).collect()));
    };
    if read_only {
        return Err(Frame::error("ERR BITFIELD_RO only supports the GET subcommand"));
    }
    let min_len = (reach >> 3) as usize + 1;
    edit_string(db, now, &args[1], min_len, |buf| Frame::Array(ops.iter().map(|o| run_op(buf, o)).collect()))
}

fn run_op(buf: &mut [u8], o: &FieldOp) -> Frame {
    let old = get_field(buf, o.offset, o.field);
    let (target, increment, answer_old) = match o.op {
        Op::Get => return Frame::Integer(old),
        Op::Set(value) => (value, 0, true),
        Op::Incrby(by) => (old, by, false),
    };
    let (value, overflowed) = if o.field.signed {
        signed_add(target, increment, o.field.bits, o.overflow)
    } else {
        let (value, overflowed) = unsigned_add(target as u64, increment, o.field.bits, o.overflow);
        (value as i64, overflowed)
    };
    if overflowed && o.overflow == Overflow::Fail {
        return Frame::Null;
    }
    set_field(buf, o.offset, o.field.bits, value as u64);
    Frame::Integer(if answer_old { old } else { value })
}

/// The field's value; bits past the end of `bytes` read as zero.
fn get_field(bytes: &[u8], offset: u64, field: Field) -> i64 {
    let raw = (0..u64::from(field.bits)).fold(0u64, |acc, i| (acc << 1) | u64::from(bit_at(bytes, offset + i)));
    if field.signed && field.bits < 64 && raw & (1 << (field.bits - 1)) != 0 {
        (raw | (u64::MAX << field.bits)) as i64
    } else {
        raw as i64
    }
}

fn set_field(bytes: &mut [u8], offset: u64, bits: u32, value: u64) {
    for i in 0..bits {
        set_bit_at(bytes, offset + u64::from(i), (value >> (bits - 1 - i)) & 1 == 1);
    }
}

/// `value + increment` in an unsigned field of `bits` (at most 63): the
/// result as the overflow policy makes it, and whether it overflowed.
fn unsigned_add(value: u64, increment: i64, bits: u32, overflow: Overflow) -> (u64, bool) {
    let max = (1u64 << bits) - 1;
    let wrapped = value.wrapping_add(increment as u64) & max;
    let room_up = max.wrapping_sub(value) as i64;
    let room_down = value.wrapping_neg() as i64;
    let over = if value > max || (increment > 0 && increment > room_up) {
        Some(max)
    } else if increment < 0 && increment < room_down {
        Some(0)
    } else {
        None
    };
    match (over, overflow) {
        (None, _) => (value.wrapping_add(increment as u64), false),
        (Some(limit), Overflow::Sat) => (limit, true),
        (Some(_), _) => (wrapped, true),
    }
}

/// `value + increment` in a signed field of `bits` (at most 64), as
/// `unsigned_add`.
fn signed_add(value: i64, increment: i64, bits: u32, overflow: Overflow) -> (i64, bool) {
    let max = if bits == 64 { i64::MAX } else { (1i64 << (bits - 1)) - 1 };
    let min = -max - 1;
    let room_up = (max as u64).wrapping_sub(value as u64) as i64;
    let room_down = min.wrapping_sub(value);
    let narrow = bits != 64;
    let over = if value > max || (narrow && increment > room_up) || (value >= 0 && increment > 0 && increment > room_up)
    {
        Some(max)
    } else if value < min || (narrow && increment < room_down) || (value < 0 && increment < 0 && increment < room_down)
    {
        Some(min)
    } else {
        None
    };
    let wrap = || {
        let sum = (value as u64).wrapping_add(increment as u64);
        if !narrow {
            return sum as i64;
        }
        let high = u64::MAX << bits;
        (if sum & (1 << (bits - 1)) != 0 { sum | high } else { sum & !high }) as i64
    };
    match (over, overflow) {
        (None, _) => (value.wrapping_add(increment), false),
        (Some(limit), Overflow::Sat) => (limit, true),
        (Some(_), _) => (wrap(), true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_back_what_was_written() {
        let mut bytes = vec![0u8; 16];
        for bits in 1..=64 {
            let field = Field { signed: true, bits };
            let min = if bits == 64 { i64::MIN } else { -(1i64 << (bits - 1)) };
            let max = min.wrapping_neg().wrapping_sub(1);
            for value in [min, -1, 0, 1, max].into_iter().filter(|v| (min..=max).contains(v)) {
                set_field(&mut bytes, 5, bits, value as u64);
                assert_eq!(get_field(&bytes, 5, field), value, "i{bits} {value}");
            }
        }
    }

    #[test]
    fn overflow_policies() {
        assert_eq!(unsigned_add(250, 10, 8, Overflow::Wrap), (4, true));
        assert_eq!(unsigned_add(250, 10, 8, Overflow::Sat), (255, true));
        assert_eq!(unsigned_add(5, -10, 8, Overflow::Sat), (0, true));
        assert_eq!(unsigned_add(5, -10, 8, Overflow::Wrap), (251, true));
        assert_eq!(unsigned_add(5, 10, 8, Overflow::Fail), (15, false));
        assert_eq!(signed_add(120, 10, 8, Overflow::Wrap), (-126, true));
        assert_eq!(signed_add(120, 10, 8, Overflow::Sat), (127, true));
        assert_eq!(signed_add(-120, -10, 8, Overflow::Sat), (-128, true));
        assert_eq!(signed_add(i64::MAX, 1, 64, Overflow::Wrap), (i64::MIN, true));
        assert_eq!(signed_add(i64::MIN, -1, 64, Overflow::Sat), (i64::MIN, true));
        assert_eq!(signed_add(-5, 3, 64, Overflow::Fail), (-2, false));
    }

    #[test]
    fn first_bits() {
        assert_eq!(first_bit([0x00, 0x10].into_iter(), true), 11);
        assert_eq!(first_bit([0xff, 0xff].into_iter(), false), 16);
        assert_eq!(first_bit([0x00].into_iter(), true), -1);
        assert_eq!(first_bit([0xfe].into_iter(), false), 7);
    }

    #[test]
    fn offsets_are_bounded() {
        assert_eq!(bit_offset(b"4294967295", None), Ok(MAX_BITS - 1));
        assert!(bit_offset(b"4294967296", None).is_err());
        assert!(bit_offset(b"-1", None).is_err());
        assert_eq!(bit_offset(b"#3", Some(8)), Ok(24));
        assert!(bit_offset(b"#3", None).is_err(), "# only in BITFIELD");
        assert!(bit_offset(b"#9223372036854775807", Some(64)).is_err(), "no overflow");
    }
}
