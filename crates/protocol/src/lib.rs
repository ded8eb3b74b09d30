//! The Redis wire protocol (RESP2 and RESP3) as weir speaks it.
//!
//! - [`frame`]: the reply value model, built RESP3-shaped by commands.
//! - Request decoding enforces named limits so that nothing a client sends can
//!   make the server allocate without bound.

pub mod frame;

pub use frame::{Frame, Version};
