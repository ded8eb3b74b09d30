//! Values and their encodings. Strings that are canonical integers are
//! stored as `Int` (like Redis's int encoding): INCR then neither parses nor
//! formats, and GET still returns the exact bytes. Collections use ordered
//! containers so iteration order (and SPOP's choice) is the same on every
//! replica and after every replay or snapshot load.

use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Bytes),
    Int(i64),
    Hash(BTreeMap<Bytes, Bytes>),
    Set(BTreeSet<Bytes>),
}

impl Value {
    /// A string value, using the int encoding when it round-trips exactly.
    pub fn string(data: &[u8]) -> Value {
        match crate::num::parse_canonical_i64(data) {
            Some(n) => Value::Int(n),
            None => Value::Str(Bytes::copy_from_slice(data)),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) | Value::Int(_) => "string",
            Value::Hash(_) => "hash",
            Value::Set(_) => "set",
        }
    }

    /// The bytes of a string value (`None` for other types).
    pub fn string_bytes(&self) -> Option<Bytes> {
        match self {
            Value::Str(b) => Some(b.clone()),
            Value::Int(n) => Some(Bytes::from(n.to_string())),
            _ => None,
        }
    }

    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Hash(h) => h.is_empty(),
            Value::Set(s) => s.is_empty(),
            _ => false,
        }
    }
}
