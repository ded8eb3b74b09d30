//! Command handlers, one module per data type, plus shared argument helpers.

pub mod bitmap;
pub mod hash;
pub mod hyperloglog;
pub mod keys;
pub mod lcs;
pub mod list;
pub mod object;
pub mod random;
pub mod set;
pub mod set_algebra;
pub mod stream;
pub mod stream_admin;
pub mod stream_claim;
pub mod stream_group;
pub mod stream_info;
pub mod string;
pub mod zset;
pub mod zset_algebra;

pub use stream_admin::{check_subcommand, help};

use bytes::Bytes;
use weir_protocol::Frame;

pub fn not_integer() -> Frame {
    Frame::error("ERR value is not an integer or out of range")
}

pub fn syntax() -> Frame {
    Frame::error("ERR syntax error")
}

pub fn wrongtype() -> Frame {
    Frame::error(crate::db::WRONGTYPE)
}

pub fn overflow() -> Frame {
    Frame::error("ERR increment or decrement would overflow")
}

pub fn not_float() -> Frame {
    Frame::error("ERR value is not a valid float")
}

/// Redis's arity error, for arity rules the table cannot express.
pub fn wrong_arity(name: &[u8]) -> Frame {
    let name = String::from_utf8_lossy(name).to_lowercase();
    Frame::error(format!("ERR wrong number of arguments for '{name}' command"))
}

pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

pub fn int_arg(arg: &[u8]) -> Result<i64, Frame> {
    crate::num::parse_i64(arg).ok_or_else(not_integer)
}

pub fn bulks(items: impl IntoIterator<Item = Bytes>) -> Vec<Frame> {
    items.into_iter().map(Frame::Bulk).collect()
}

/// Results of handlers written with `?`.
pub fn reply(result: Result<Frame, Frame>) -> Frame {
    result.unwrap_or_else(|e| e)
}
