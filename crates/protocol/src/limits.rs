//! Named limits on what a client may send. Past any of them the server
//! replies with a protocol error and closes the connection.

/// Redis's `proto-max-bulk-len`: the largest bulk string argument.
pub const DEFAULT_MAX_BULK_LEN: usize = 512 << 20;
/// Redis caps a multibulk request at 1024*1024 arguments.
pub const DEFAULT_MAX_ARGS: usize = 1024 * 1024;
/// Redis's `client-query-buffer-limit`: bytes of one request held while it
/// is incomplete.
pub const DEFAULT_MAX_QUERY_BUFFER: usize = 1 << 30;
/// Redis's PROTO_INLINE_MAX_SIZE: an inline command, or a `*N`/`$N` header
/// line, must end within this many bytes.
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Before AUTH, Redis accepts at most this many arguments per command...
pub const UNAUTHENTICATED_MAX_ARGS: usize = 10;
/// ...and bulk strings of at most this many bytes.
pub const UNAUTHENTICATED_MAX_BULK_LEN: usize = 16 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub max_bulk_len: usize,
    pub max_args: usize,
    pub max_inline_len: usize,
    pub max_query_buffer: usize,
    /// Use the unauthenticated error texts when a limit is hit.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_args: DEFAULT_MAX_ARGS,
            max_inline_len: MAX_INLINE_LEN,
            max_query_buffer: DEFAULT_MAX_QUERY_BUFFER,
            unauthenticated: false,
        }
    }
}

impl Limits {
    /// What a client may send before it authenticates: a few small
    /// arguments, so it cannot make the server allocate much.
    pub fn unauthenticated() -> Limits {
        Limits {
            max_bulk_len: UNAUTHENTICATED_MAX_BULK_LEN,
            max_args: UNAUTHENTICATED_MAX_ARGS,
            max_inline_len: MAX_INLINE_LEN,
            max_query_buffer: UNAUTHENTICATED_MAX_BULK_LEN * (UNAUTHENTICATED_MAX_ARGS + 1),
            unauthenticated: true,
        }
    }
}
