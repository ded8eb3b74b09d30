//! The HyperLogLog format, as Redis 7 stores it in a string: a 16-byte
//! header ("HYLL", the encoding, 3 unused bytes, the cached cardinality as
//! a little-endian u64 whose top bit marks it stale), then 16384 registers
//! of 6 bits, either dense (12288 bytes, packed from each byte's low bits
//! up) or sparse: run-length opcodes
//! - ZERO  `00xxxxxx`          1..=64 zero registers,
//! - XZERO `01xxxxxx yyyyyyyy` 1..=16384 zero registers,
//! - VAL   `1vvvvvxx`          1..=4 registers of value 1..=32.
//!
//! A new key starts sparse, and turns dense when a register needs a value
//! over 32 or the string would pass `SPARSE_MAX_BYTES` (Redis's
//! `hll-sparse-max-bytes` default). Sparse edits split and merge opcodes
//! exactly as Redis does, so the bytes stay identical, and the count is
//! Redis's estimator. The commands are in `cmd::hyperloglog`.
//!
//! Invariant: a valid sparse key's opcodes cover exactly `REGISTERS`
//! registers; anything else is answered INVALIDOBJ, never guessed at.

use bytes::BytesMut;
use weir_protocol::Frame;

/// Index bits: 2^14 registers.
const P: u32 = 14;
pub(crate) const REGISTERS: usize = 1 << P;
/// Hash bits left for the run of zeros: a register holds at most Q + 1.
const Q: u32 = 64 - P;
pub(crate) const HEADER: usize = 16;
const DENSE_SIZE: usize = HEADER + (REGISTERS * 6).div_ceil(8);
pub(crate) const DENSE: u8 = 0;
pub(crate) const SPARSE: u8 = 1;
/// Redis's `hll-sparse-max-bytes` default: past it a key turns dense.
const SPARSE_MAX_BYTES: usize = 3000;
const VAL_MAX_VALUE: u8 = 32;
const VAL_MAX_LEN: usize = 4;
const ZERO_MAX_LEN: usize = 64;
const XZERO_MAX_LEN: usize = 16384;
/// The stale bit of the cached cardinality's last byte.
pub(crate) const STALE: u8 = 0x80;
/// 1 / (2 ln 2), the estimator's constant as the register count grows.
const ALPHA_INF: f64 = 0.721_347_520_444_481_7;

const NOT_HLL: &str = "WRONGTYPE Key is not a valid HyperLogLog string value.";
const CORRUPT: &str = "INVALIDOBJ Corrupted HLL object detected";

pub(crate) fn corrupt() -> Frame {
    Frame::error(CORRUPT)
}

/// MurmurHash64A (Austin Appleby's), little-endian, as Redis hashes
/// elements.
fn murmur64a(data: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4_a793_5bd1_e995;
    const R: u32 = 47;
    let mut h = seed ^ (data.len() as u64).wrapping_mul(M);
    let mut chunks = data.chunks_exact(8);
    for chunk in &mut chunks {
        let mut k = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        for (i, byte) in rest.iter().enumerate() {
            h ^= u64::from(*byte) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element falls in, and the length of the run of zeros
/// (counting the final one) in the rest of its hash: 1..=Q+1.
pub(crate) fn pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc8_3b19);
    let index = (hash as usize) & (REGISTERS - 1);
    let rest = (hash >> P) | (1 << Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

// --- Dense registers -------------------------------------------------------

pub(crate) fn dense_get(registers: &[u8], i: usize) -> u8 {
    let (byte, shift) = (i * 6 / 8, (i * 6) & 7);
    let low = u32::from(registers[byte]) >> shift;
    let high = u32::from(registers.get(byte + 1).copied().unwrap_or(0)) << (8 - shift);
    ((low | high) & 63) as u8
}

fn dense_set(registers: &mut [u8], i: usize, value: u8) {
    debug_assert!(value <= 63);
    let (byte, shift) = (i * 6 / 8, (i * 6) & 7);
    let value = u32::from(value);
    registers[byte] &= !((63u32 << shift) as u8);
    registers[byte] |= (value << shift) as u8;
    // The last register ends within its byte: there is no next one.
    if let Some(next) = registers.get_mut(byte + 1) {
        *next &= !((63u32 >> (8 - shift)) as u8);
        *next |= (value >> (8 - shift)) as u8;
    }
}

// --- Sparse opcodes --------------------------------------------------------

fn is_xzero(op: u8) -> bool {
    op & 0xc0 == 0x40
}

fn is_val(op: u8) -> bool {
    op & 0x80 != 0
}

fn val_value(op: u8) -> u8 {
    ((op >> 2) & 0x1f) + 1
}

fn val_len(op: u8) -> usize {
    usize::from(op & 3) + 1
}

fn val_op(value: u8, len: usize) -> u8 {
    debug_assert!((1..=VAL_MAX_VALUE).contains(&value) && (1..=VAL_MAX_LEN).contains(&len));
    0x80 | ((value - 1) << 2) | (len - 1) as u8
}

/// A run of zeros as one opcode (ZERO up to 64, XZERO beyond) into `out`.
fn push_zeros(out: &mut Vec<u8>, len: usize) {
    debug_assert!((1..=XZERO_MAX_LEN).contains(&len));
    if len > ZERO_MAX_LEN {
        out.extend_from_slice(&[0x40 | ((len - 1) >> 8) as u8, ((len - 1) & 0xff) as u8]);
    } else {
        out.push((len - 1) as u8);
    }
}

/// One decoded opcode: its registers' value (0 for a zero run), how many,
/// and its length in bytes.
struct Op {
    value: u8,
    span: usize,
    bytes: usize,
}

/// The opcode at `at` (a byte past the end reads as 0, as Redis reads its
/// string's terminator).
fn op_at(sparse: &[u8], at: usize) -> Op {
    let op = sparse[at];
    if is_val(op) {
        Op { value: val_value(op), span: val_len(op), bytes: 1 }
    } else if is_xzero(op) {
        let low = usize::from(sparse.get(at + 1).copied().unwrap_or(0));
        Op { value: 0, span: ((usize::from(op & 0x3f) << 8) | low) + 1, bytes: 2 }
    } else {
        Op { value: 0, span: usize::from(op & 0x3f) + 1, bytes: 1 }
    }
}

/// Runs of `(value, span)` over a sparse key's opcodes.
fn runs(hll: &[u8]) -> impl Iterator<Item = (u8, usize)> + '_ {
    let mut at = HEADER;
    std::iter::from_fn(move || {
        (at < hll.len()).then(|| {
            let op = op_at(hll, at);
            at += op.bytes;
            (op.value, op.span)
        })
    })
}

// --- Keys ------------------------------------------------------------------

/// A new, empty HyperLogLog: sparse, all zeros, cached cardinality 0.
pub(crate) fn empty() -> Vec<u8> {
    let mut hll = b"HYLL".to_vec();
    hll.push(SPARSE);
    hll.resize(HEADER, 0);
    let mut left = REGISTERS;
    while left > 0 {
        let run = left.min(XZERO_MAX_LEN);
        push_zeros(&mut hll, run);
        left -= run;
    }
    hll
}

/// Whether `hll` has a HyperLogLog's header (Redis's `isHLLObjectOrReply`).
pub(crate) fn check(hll: &[u8]) -> Result<(), Frame> {
    let valid = hll.len() >= HEADER
        && hll.starts_with(b"HYLL")
        && hll[4] <= SPARSE
        && (hll[4] != DENSE || hll.len() == DENSE_SIZE);
    if valid {
        Ok(())
    } else {
        Err(Frame::error(NOT_HLL))
    }
}

pub(crate) fn invalidate_cache(hll: &mut [u8]) {
    hll[HEADER - 1] |= STALE;
}

/// The register `i` of a checked key; Err if its opcodes end short.
pub(crate) fn register(hll: &[u8], i: usize) -> Result<u8, Frame> {
    if hll[4] == DENSE {
        return Ok(dense_get(&hll[HEADER..], i));
    }
    let mut first = 0;
    for (value, span) in runs(hll) {
        if i < first + span {
            return Ok(value);
        }
        first += span;
    }
    Err(corrupt())
}

/// Folds a checked key's registers into `max` (Redis's `hllMerge`).
pub(crate) fn merge_into(max: &mut [u8; REGISTERS], hll: &[u8]) -> Result<(), Frame> {
    if hll[4] == DENSE {
        let registers = &hll[HEADER..];
        for (i, slot) in max.iter_mut().enumerate() {
            *slot = (*slot).max(dense_get(registers, i));
        }
        return Ok(());
    }
    let mut i = 0;
    for (value, span) in runs(hll) {
        if value > 0 {
            if i + span > REGISTERS {
                break;
            }
            max[i..i + span].iter_mut().for_each(|slot| *slot = (*slot).max(value));
        }
        i += span;
    }
    if i == REGISTERS {
        Ok(())
    } else {
        Err(corrupt())
    }
}

/// How many registers hold each value; Err for a sparse key whose
/// opcodes do not cover exactly every register.
pub(crate) fn histogram(hll: &[u8]) -> Result<[u32; 64], Frame> {
    let mut counts = [0u32; 64];
    if hll[4] == DENSE {
        let registers = &hll[HEADER..];
        (0..REGISTERS).for_each(|i| counts[usize::from(dense_get(registers, i))] += 1);
        return Ok(counts);
    }
    let mut covered = 0;
    for (value, span) in runs(hll) {
        counts[usize::from(value)] += span as u32;
        covered += span;
    }
    if covered == REGISTERS {
        Ok(counts)
    } else {
        Err(corrupt())
    }
}

pub(crate) fn raw_histogram(max: &[u8; REGISTERS]) -> [u32; 64] {
    let mut counts = [0u32; 64];
    max.iter().for_each(|value| counts[usize::from(*value)] += 1);
    counts
}

/// Otmar Ertl's improved estimator ("New cardinality estimation algorithms
/// for HyperLogLog sketches", 2017), as Redis computes it.
pub(crate) fn estimate(counts: &[u32; 64]) -> u64 {
    let m = REGISTERS as f64;
    let q = Q as usize;
    let mut z = m * tau((m - f64::from(counts[q + 1])) / m);
    for count in counts[1..=q].iter().rev() {
        z += f64::from(*count);
        z *= 0.5;
    }
    z += m * sigma(f64::from(counts[0]) / m);
    (ALPHA_INF * m * m / z).round() as u64
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut y, mut z) = (1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut y, mut z) = (1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x).powi(2) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

// --- Writes ----------------------------------------------------------------

/// Rewrites a sparse key dense (the header, cached cardinality included,
/// kept). Err if its opcodes do not cover exactly every register.
pub(crate) fn to_dense(hll: &mut BytesMut) -> Result<(), Frame> {
    if hll[4] == DENSE {
        return Ok(());
    }
    let mut dense = vec![0u8; DENSE_SIZE];
    dense[..HEADER].copy_from_slice(&hll[..HEADER]);
    dense[4] = DENSE;
    let mut i = 0;
    for (value, span) in runs(hll) {
        if value > 0 {
            if i + span > REGISTERS {
                break;
            }
            (i..i + span).for_each(|r| dense_set(&mut dense[HEADER..], r, value));
        }
        i += span;
    }
    if i != REGISTERS {
        return Err(corrupt());
    }
    hll.clear();
    hll.extend_from_slice(&dense);
    Ok(())
}

/// Raises register `index` to `count` if lower; true if it changed.
pub(crate) fn set(hll: &mut BytesMut, index: usize, count: u8) -> Result<bool, Frame> {
    if hll[4] == DENSE {
        let registers = &mut hll[HEADER..];
        if dense_get(registers, index) >= count {
            return Ok(false);
        }
        dense_set(registers, index, count);
        return Ok(true);
    }
    sparse_set(hll, index, count)
}

/// The sparse case of `set`: the opcode covering `index` is split into at
/// most three (zeros or the old value before, the new value, zeros or the
/// old value after), then equal neighbouring values merge, as Redis's
/// `hllSparseSet` does. Turns the key dense when the value or the new size
/// does not fit the sparse form.
fn sparse_set(hll: &mut BytesMut, index: usize, count: u8) -> Result<bool, Frame> {
    if count > VAL_MAX_VALUE {
        return promote(hll, index, count);
    }
    // Find the opcode covering `index`, and the one before it.
    let (mut at, mut first, mut prev) = (HEADER, 0, None);
    let op = loop {
        if at >= hll.len() {
            return Err(corrupt());
        }
        let op = op_at(hll, at);
        if index < first + op.span {
            break op;
        }
        prev = Some(at);
        at += op.bytes;
        first += op.span;
    };
    if op.value >= count && op.value > 0 {
        return Ok(false);
    }
    if op.span == 1 && op.bytes == 1 {
        hll[at] = val_op(count, 1);
    } else {
        let last = first + op.span - 1;
        let mut seq = Vec::with_capacity(5);
        let around = |seq: &mut Vec<u8>, len: usize| match op.value {
            0 => push_zeros(seq, len),
            value => seq.push(val_op(value, len)),
        };
        if index != first {
            around(&mut seq, index - first);
        }
        seq.push(val_op(count, 1));
        if index != last {
            around(&mut seq, last - index);
        }
        if seq.len() > op.bytes && hll.len() + seq.len() - op.bytes > SPARSE_MAX_BYTES {
            return promote(hll, index, count);
        }
        splice(hll, at, op.bytes, &seq);
    }
    merge_values(hll, prev.unwrap_or(HEADER));
    Ok(true)
}

/// Replaces `hll[at..at + old]` with `with`.
fn splice(hll: &mut BytesMut, at: usize, old: usize, with: &[u8]) {
    let tail = hll.split_off(at + old);
    hll.truncate(at);
    hll.extend_from_slice(with);
    hll.extend_from_slice(&tail);
}

/// Merges neighbouring VAL opcodes of equal value whose lengths fit one,
/// scanning at most 5 opcodes from `at` (the opcode before the edit).
fn merge_values(hll: &mut BytesMut, mut at: usize) {
    let mut scan = 5;
    while at < hll.len() && scan > 0 {
        scan -= 1;
        let op = hll[at];
        if !is_val(op) {
            at += if is_xzero(op) { 2 } else { 1 };
            continue;
        }
        if let Some(&next) = hll.get(at + 1) {
            let len = val_len(op) + val_len(next);
            if is_val(next) && val_value(op) == val_value(next) && len <= VAL_MAX_LEN {
                hll[at + 1] = val_op(val_value(op), len);
                splice(hll, at, 1, &[]);
                // Stay: the merged opcode may merge with the next one too.
                continue;
            }
        }
        at += 1;
    }
}

fn promote(hll: &mut BytesMut, index: usize, count: u8) -> Result<bool, Frame> {
    to_dense(hll)?;
    let raised = set(hll, index, count)?;
    assert!(raised, "a register that forced the dense form is raised");
    Ok(raised)
}

/// PFDEBUG DECODE's listing of a sparse key's opcodes.
pub(crate) fn decode(hll: &[u8]) -> String {
    let mut at = HEADER;
    let mut words = Vec::new();
    while at < hll.len() {
        let op = op_at(hll, at);
        words.push(match (op.value, op.bytes) {
            (0, 1) => format!("z:{}", op.span),
            (0, _) => format!("Z:{}", op.span),
            (value, _) => format!("v:{value},{}", op.span),
        });
        at += op.bytes;
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counted(elements: impl IntoIterator<Item = String>) -> BytesMut {
        let mut hll = BytesMut::from(&empty()[..]);
        for element in elements {
            let (index, count) = pattern(element.as_bytes());
            set(&mut hll, index, count).expect("valid");
        }
        hll
    }

    #[test]
    fn elements_land_where_redis_puts_them() {
        // From redis-server 7.0.15: `PFADD x <element>`, `PFDEBUG DECODE x`.
        assert_eq!(pattern(b"a"), (12711, 2));
        assert_eq!(pattern(b"hello"), (9216, 1));
        assert_eq!(pattern(b"user:1"), (2131, 4));
        assert_eq!(murmur64a(b"", 0), 0);
    }

    #[test]
    fn an_empty_key_is_one_xzero_and_counts_zero() {
        let hll = empty();
        assert_eq!(hll.len(), HEADER + 2);
        assert_eq!(&hll[HEADER..], &[0x7f, 0xff]);
        assert_eq!(decode(&hll), "Z:16384");
        assert_eq!(estimate(&histogram(&hll).expect("valid")), 0);
    }

    #[test]
    fn dense_registers_round_trip_at_every_bit_offset() {
        let mut registers = vec![0u8; DENSE_SIZE - HEADER];
        for i in 0..REGISTERS {
            dense_set(&mut registers, i, (i % 64) as u8);
        }
        for i in 0..REGISTERS {
            assert_eq!(dense_get(&registers, i), (i % 64) as u8, "register {i}");
        }
    }

    #[test]
    fn sparse_and_dense_hold_the_same_registers() {
        let mut sparse = counted((0..500).map(|i| format!("user:{i}")));
        assert_eq!(sparse[4], SPARSE);
        let mut dense = sparse.clone();
        to_dense(&mut dense).expect("valid");
        for i in 0..REGISTERS {
            assert_eq!(register(&sparse, i).expect("valid"), register(&dense, i).expect("valid"));
        }
        assert_eq!(histogram(&sparse).expect("valid"), histogram(&dense).expect("valid"));
        // A later add agrees too.
        let (index, count) = pattern(b"late");
        assert_eq!(set(&mut sparse, index, count), set(&mut dense, index, count));
        assert_eq!(register(&sparse, index).expect("valid"), register(&dense, index).expect("valid"));
    }

    #[test]
    fn estimates_stay_within_a_few_percent() {
        for n in [10usize, 1_000, 100_000] {
            let hll = counted((0..n).map(|i| format!("e{i}")));
            let estimate = estimate(&histogram(&hll).expect("valid")) as f64;
            let error = (estimate - n as f64).abs() / n as f64;
            assert!(error < 0.03, "{n} elements estimated {estimate}");
        }
    }

    #[test]
    fn a_sparse_key_turns_dense_past_its_bound() {
        let hll = counted((0..5_000).map(|i| format!("e{i}")));
        assert_eq!(hll[4], DENSE);
        assert_eq!(hll.len(), DENSE_SIZE);
    }

    #[test]
    fn short_or_foreign_strings_are_not_hyperloglogs() {
        assert!(check(b"HYLL").is_err());
        assert!(check(b"NOPE\x01\0\0\0\0\0\0\0\0\0\0\0\x7f\xff").is_err());
        let mut dense = BytesMut::from(&empty()[..]);
        to_dense(&mut dense).expect("valid");
        assert!(check(&dense).is_ok());
        assert!(check(&dense[..DENSE_SIZE - 1]).is_err());
    }

    #[test]
    fn truncated_sparse_opcodes_are_corrupt() {
        let mut hll = empty();
        hll[HEADER + 1] = 0xfe; // XZERO of 16383: one register short
        assert!(histogram(&hll).is_err());
        let mut max = [0u8; REGISTERS];
        assert!(merge_into(&mut max, &hll).is_err());
        assert!(to_dense(&mut BytesMut::from(&hll[..])).is_err());
    }
}
