//! Values and their encodings. Strings that are canonical integers are
//! stored as `Int` (like Redis's int encoding): INCR then neither parses nor
//! formats, and GET still returns the exact bytes. Short strings live inside
//! the entry (`Inline`, like Redis's embstr) so they cost no allocation of
//! their own: most keys of a write tier hold small values. Collections use ordered
//! containers so iteration order (and SPOP's choice) is the same on every
//! replica and after every replay or snapshot load.

use crate::stream::Stream;
use crate::zset::ZSet;
use bytes::{Bytes, BytesMut};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Strings up to this many bytes are stored inline (the variant then is no
/// larger than the `Bytes` one).
pub const INLINE_MAX: usize = 30;

/// A short string stored in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inline {
    len: u8,
    data: [u8; INLINE_MAX],
}

impl Inline {
    fn new(bytes: &[u8]) -> Option<Inline> {
        let mut data = [0u8; INLINE_MAX];
        data.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Inline { len: bytes.len() as u8, data })
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.data[..usize::from(self.len)]
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Inline(Inline),
    Str(Bytes),
    Int(i64),
    Hash(BTreeMap<Bytes, Bytes>),
    Set(BTreeSet<Bytes>),
    List(VecDeque<Elem>),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

impl Value {
    /// A string value, using the int encoding when it round-trips exactly.
    pub fn string(data: &[u8]) -> Value {
        if let Some(n) = crate::num::parse_i64(data) {
            return Value::Int(n);
        }
        match Inline::new(data) {
            Some(inline) => Value::Inline(inline),
            None => Value::Str(Bytes::copy_from_slice(data)),
        }
    }

    /// Like [`Value::string`], keeping an owned buffer when it is long.
    pub fn string_from(data: Bytes) -> Value {
        if data.len() <= INLINE_MAX {
            return Value::string(&data);
        }
        Value::Str(data)
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) | Value::Inline(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
            Value::List(_) => "list",
            Value::ZSet(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The bytes of a string value (`None` for other types).
    pub fn string_bytes(&self) -> Option<Bytes> {
        match self {
            Value::Str(b) => Some(b.clone()),
            Value::Inline(s) => Some(Bytes::copy_from_slice(s.as_bytes())),
            Value::Int(n) => Some(Bytes::from(n.to_string())),
            _ => None,
        }
    }

    pub fn is_string(&self) -> bool {
        matches!(self, Value::Str(_) | Value::Int(_) | Value::Inline(_))
    }

    /// A string value as a buffer to change in place: a long string's own
    /// buffer when nothing else holds it (a reply not yet written may), so
    /// changing it copies nothing; otherwise a copy. `None` for other types.
    pub fn into_string_buffer(self) -> Option<BytesMut> {
        match self {
            Value::Str(b) => Some(b.try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..]))),
            Value::Inline(s) => Some(BytesMut::from(s.as_bytes())),
            Value::Int(n) => Some(BytesMut::from(n.to_string().as_bytes())),
            _ => None,
        }
    }

    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::ZSet(z) => z.is_empty(),
            _ => false,
        }
    }
}

/// Bytes a list element holds in place (the element is then 24 bytes, with
/// no allocation of its own: queues mostly carry short ids).
pub const ELEM_INLINE_MAX: usize = 22;

/// One list element or sorted-set member: compact, since a list may hold
/// millions, and comparable without following a pointer when short.
/// Equality and hashing are those of its bytes, so a map keyed by `Elem`
/// is searched with a `&[u8]`.
#[derive(Clone)]
pub enum Elem {
    Inline { len: u8, data: [u8; ELEM_INLINE_MAX] },
    Heap(Box<[u8]>),
}

impl Elem {
    pub fn new(bytes: &[u8]) -> Elem {
        if bytes.len() > ELEM_INLINE_MAX {
            return Elem::Heap(Box::from(bytes));
        }
        let mut data = [0u8; ELEM_INLINE_MAX];
        data[..bytes.len()].copy_from_slice(bytes);
        Elem::Inline { len: bytes.len() as u8, data }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Elem::Inline { len, data } => &data[..usize::from(*len)],
            Elem::Heap(b) => b,
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        Bytes::copy_from_slice(self.as_bytes())
    }

    /// Copies elements out for a reply (LRANGE, a counted pop): one
    /// allocation and one copy, not an allocation per element (which was
    /// most of LRANGE 600's time).
    pub fn copy_all<'a, I>(elems: I) -> Vec<Bytes>
    where
        I: Iterator<Item = &'a Elem> + Clone,
    {
        copy_shared(elems.map(Elem::as_bytes))
    }

    /// Heap bytes beyond the element itself, as allocated.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Elem::Inline { .. } => 0,
            Elem::Heap(b) => crate::memory_usage::alloc_size(b.len()),
        }
    }
}

/// Texts written one after another into one allocation and handed out as
/// `Bytes` slices of it, one per text: a reply's members or fields, a
/// script call's arguments. The slices live and die together (one reply,
/// one call), so sharing retains nothing; and nothing refers to the buffer
/// the originals came from (a command's arguments are slices of its whole
/// Raft batch, which a stored slice would keep alive).
pub struct SharedText {
    text: BytesMut,
    /// Where each text ends in `text`.
    ends: Vec<usize>,
}

impl SharedText {
    pub fn with_capacity(bytes: usize, texts: usize) -> SharedText {
        SharedText { text: BytesMut::with_capacity(bytes), ends: Vec::with_capacity(texts) }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.push_with(|text| text.extend_from_slice(bytes));
    }

    /// A text as `write` appends it (a number or an ID formatted in place).
    pub fn push_with(&mut self, write: impl FnOnce(&mut BytesMut)) {
        write(&mut self.text);
        self.ends.push(self.text.len());
    }

    /// The texts, in the order they were pushed.
    pub fn finish(self) -> Vec<Bytes> {
        let text = self.text.freeze();
        let mut start = 0;
        self.ends
            .into_iter()
            .map(|end| {
                let slice = text.slice(start..end);
                start = end;
                slice
            })
            .collect()
    }
}

/// Copies byte strings into one allocation ([`SharedText`]).
pub fn copy_shared<'a, I>(items: I) -> Vec<Bytes>
where
    I: Iterator<Item = &'a [u8]> + Clone,
{
    let (bytes, count) = items.clone().fold((0, 0), |(bytes, count), item| (bytes + item.len(), count + 1));
    let mut shared = SharedText::with_capacity(bytes, count);
    for item in items {
        shared.push(item);
    }
    shared.finish()
}

impl PartialEq for Elem {
    fn eq(&self, other: &Elem) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Elem {}

impl std::hash::Hash for Elem {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for Elem {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::fmt::Debug for Elem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", Bytes::copy_from_slice(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_texts_come_back_in_order_from_one_buffer() {
        let mut shared = SharedText::with_capacity(4, 3);
        shared.push(b"member");
        shared.push_with(|text| text.extend_from_slice(b"1700000000000-0"));
        shared.push(b"");
        let texts = shared.finish();
        assert_eq!(texts, [&b"member"[..], b"1700000000000-0", b""]);
        assert_eq!(texts[0].as_ptr().wrapping_add(6), texts[1].as_ptr(), "one buffer, in order");
    }

    #[test]
    fn elements_are_compact_and_exact() {
        assert_eq!(std::mem::size_of::<Elem>(), 24);
        for len in [0, 1, ELEM_INLINE_MAX, ELEM_INLINE_MAX + 1, 1000] {
            let data = vec![b'x'; len];
            assert_eq!(Elem::new(&data).as_bytes(), &data[..]);
        }
        assert!(matches!(Elem::new(&[1; ELEM_INLINE_MAX]), Elem::Inline { .. }));
    }

    #[test]
    fn copy_all_returns_each_element_exactly() {
        let data: Vec<Vec<u8>> = [0, 3, ELEM_INLINE_MAX + 1, 0, 1000].iter().map(|n| vec![*n as u8; *n]).collect();
        let elems: Vec<Elem> = data.iter().map(|d| Elem::new(d)).collect();
        let copied = Elem::copy_all(elems.iter());
        assert_eq!(copied.iter().map(|b| b.to_vec()).collect::<Vec<_>>(), data);
        assert!(Elem::copy_all([].iter()).is_empty());
    }
}
