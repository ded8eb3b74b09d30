//! The Redis wire protocol (RESP2 and RESP3) as weir speaks it.
//!
//! - [`frame`]: the reply value model, built RESP3-shaped by commands.
//! - [`decode`]: requests (multibulk and inline), pipelined, resumable.
//! - [`limits`]: the named limits that bound what a client can make the
//!   server hold.
//! - [`encode`]: replies, downgraded for RESP2 clients.
//! - [`double`]: doubles printed as Redis prints them.
//! - [`inline`]: Redis's inline-command argument splitting.
//! - [`int`]: integers exactly as Redis reads them.

pub mod decode;
pub mod double;
pub mod encode;
pub mod frame;
pub mod inline;
pub mod int;
pub mod limits;

pub use decode::{args_of, ProtocolError, RequestDecoder};
pub use double::{double_text, format_double};
pub use encode::{encode, encode_request, put_int};
pub use frame::{error_code, Frame, Version};
pub use int::parse_int;
pub use limits::Limits;
