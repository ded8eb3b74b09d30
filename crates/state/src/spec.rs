//! The data-command table: names, arity, key positions and handlers, in one
//! place for routing (CROSSSLOT), COMMAND, and execution.

use crate::changes;
use crate::cmd::{
    bitmap, hash, hyperloglog, keys, lcs, list, object, set, set_algebra, stream, stream_admin, stream_claim,
    stream_group, stream_info, string, zset, zset_algebra,
};
use crate::db::{Db, ExecCtx};
use crate::names::NameIndex;
use bytes::Bytes;
use std::ops::Range;
use std::sync::OnceLock;
use weir_protocol::Frame;

/// Whether a command changes state (and so goes through the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

pub type Handler = fn(&mut Db, &mut ExecCtx, &[Bytes]) -> Frame;

/// Finds the key positions of a command whose keys move (`numkeys` forms):
/// a range of argument indexes, empty when the arguments are malformed (the
/// handler then answers with the precise error).
pub type KeyFinder = fn(&[Bytes]) -> Range<usize>;

#[derive(Debug)]
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis convention: N exactly, -N at least N (the name counts).
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub step: i32,
    pub access: Access,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    /// Data commands carry their handler; node-level commands have none.
    pub handler: Option<Handler>,
    /// Set for commands whose keys follow a `numkeys` argument.
    pub movable: Option<KeyFinder>,
    /// `flags` holds "blocking" (asked of every command routed).
    pub blocking: bool,
}

/// Whether `flags` holds `flag`, at compile time.
pub const fn has_flag(flags: &[&str], flag: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        let (a, b) = (flags[i].as_bytes(), flag.as_bytes());
        if a.len() == b.len() {
            let mut j = 0;
            while j < a.len() && a[j] == b[j] {
                j += 1;
            }
            if j == a.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

impl CommandSpec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let arity = self.arity.unsigned_abs() as usize;
        if self.arity < 0 {
            argc >= arity
        } else {
            argc == arity
        }
    }

    /// Positions of the key arguments in `args`: the fixed ones
    /// (first/last/step), then those a `movable` finder reports (ZUNIONSTORE
    /// has both: its destination, then `numkeys` sources).
    pub fn key_indexes(&self, args: &[Bytes]) -> impl Iterator<Item = usize> {
        let argc = args.len();
        let first = self.first_key.max(0) as usize;
        let last = if self.last_key < 0 { argc as i64 + i64::from(self.last_key) } else { i64::from(self.last_key) };
        let last = last.max(0) as usize;
        let step = self.step.max(1) as usize;
        let count = if first == 0 || last < first { 0 } else { (last - first) / step + 1 };
        let moved = self.movable.map_or(0..0, |find| find(args));
        (0..count).map(move |i| first + i * step).chain(moved).filter(move |&i| i < argc)
    }

    /// Container commands: a subcommand comes before the key, and the
    /// handler checks each subcommand's arity (HELP has no key at all).
    pub fn has_subcommands(&self) -> bool {
        matches!(self.name, "xgroup" | "xinfo" | "object" | "memory")
    }

    /// Whether the command may wait for data (BLPOP and friends).
    pub fn is_blocking(&self) -> bool {
        debug_assert_eq!(self.blocking, self.flags.contains(&"blocking"));
        self.blocking
    }

    /// How long this call may wait for data: `None` if it does not block
    /// (XREAD without BLOCK, or a malformed timeout, which the command
    /// itself then reports); `Some(None)` waits forever.
    pub fn block_timeout(&self, args: &[Bytes]) -> Option<Option<std::time::Duration>> {
        if !self.is_blocking() {
            return None;
        }
        if let "xread" | "xreadgroup" = self.name {
            let ms = crate::cmd::stream_group::read_args(args, self.name == "xreadgroup").ok()?.block_ms?;
            return Some((ms > 0).then(|| std::time::Duration::from_millis(ms)));
        }
        let seconds = crate::cmd::list::timeout_arg(self.timeout_arg(args)?).ok()?;
        Some((seconds > 0.0).then(|| std::time::Duration::from_secs_f64(seconds)))
    }

    /// A blocking command's timeout argument.
    pub fn timeout_arg<'a>(&self, args: &'a [Bytes]) -> Option<&'a Bytes> {
        match self.name {
            "blmove" => args.get(5),
            "brpoplpush" => args.get(3),
            "blmpop" | "bzmpop" => args.get(1),
            _ if self.is_blocking() => args.last(),
            _ => None,
        }
    }
}

/// Keys after a `numkeys` argument at index `AT` (LMPOP, EVAL, ...), when
/// at least `TAIL` arguments follow them.
pub fn numkeys_keys<const AT: usize, const TAIL: usize>(args: &[Bytes]) -> Range<usize> {
    let Some(n) = args.get(AT).and_then(|a| crate::num::parse_i64(a)) else { return 0..0 };
    let start = AT + 1;
    match usize::try_from(n) {
        Ok(n) if n > 0 && start + n + TAIL <= args.len() => start..start + n,
        _ => 0..0,
    }
}

const R: Access = Access::Read;
const W: Access = Access::Write;
const RO: &[&str] = &["readonly", "fast"];
const RW: &[&str] = &["write", "denyoom", "fast"];
const WR: &[&str] = &["write", "fast"];

const BLOCKING: &[&str] = &["write", "blocking"];
const MOVABLE: &[&str] = &["write", "movablekeys"];
const BLOCKING_MOVABLE: &[&str] = &["write", "blocking", "movablekeys"];
const RO_MOVABLE: &[&str] = &["readonly", "movablekeys"];
/// Commands that store a result at a fixed first key, read from movable keys.
const STORE_MOVABLE: &[&str] = &["write", "denyoom", "movablekeys"];

macro_rules! commands {
    (@finder) => { None };
    (@finder $finder:expr) => { Some($finder) };
    ($($name:literal, $arity:expr, $flags:expr, ($f:expr, $l:expr, $s:expr) $(=> $finder:expr)?, $access:expr, $group:literal, $handler:expr, $summary:literal;)*) => {
        &[$(CommandSpec {
            name: $name, arity: $arity, flags: $flags, first_key: $f, last_key: $l, step: $s,
            access: $access, group: $group, summary: $summary, since: "1.0.0", handler: Some($handler),
            movable: commands!(@finder $($finder)?), blocking: has_flag($flags, "blocking"),
        },)*]
    };
}

static COMMANDS: &[CommandSpec] = commands! {
    "get", 2, RO, (1, 1, 1), R, "string", string::get, "Returns the string value of a key.";
    "set", -3, &["write", "denyoom"], (1, 1, 1), W, "string", string::set, "Sets the string value of a key.";
    "setnx", 3, RW, (1, 1, 1), W, "string", string::setnx, "Set the string value of a key only when the key doesn't exist.";
    "setex", 4, &["write", "denyoom"], (1, 1, 1), W, "string", string::setex, "Sets the string value and expiration time of a key.";
    "psetex", 4, &["write", "denyoom"], (1, 1, 1), W, "string", string::psetex, "Sets both string value and expiration time in milliseconds of a key.";
    "getset", 3, RW, (1, 1, 1), W, "string", string::getset, "Returns the previous string value of a key after setting it to a new value.";
    "getdel", 2, WR, (1, 1, 1), W, "string", string::getdel, "Returns the string value of a key after deleting the key.";
    "getex", -2, WR, (1, 1, 1), W, "string", string::getex, "Returns the string value of a key after setting its expiration time.";
    "mget", -2, RO, (1, -1, 1), R, "string", string::mget, "Atomically returns the string values of one or more keys.";
    "mset", -3, &["write", "denyoom"], (1, -1, 2), W, "string", string::mset, "Atomically creates or modifies the string values of one or more keys.";
    "msetnx", -3, &["write", "denyoom"], (1, -1, 2), W, "string", string::msetnx, "Atomically modifies the string values of one or more keys only when all keys don't exist.";
    "incr", 2, RW, (1, 1, 1), W, "string", string::incr, "Increments the integer value of a key by one.";
    "decr", 2, RW, (1, 1, 1), W, "string", string::decr, "Decrements the integer value of a key by one.";
    "incrby", 3, RW, (1, 1, 1), W, "string", string::incrby, "Increments the integer value of a key by a number.";
    "decrby", 3, RW, (1, 1, 1), W, "string", string::decrby, "Decrements a number from the integer value of a key.";
    "incrbyfloat", 3, RW, (1, 1, 1), W, "string", string::incrbyfloat, "Increment the floating point value of a key by a number.";
    "append", 3, RW, (1, 1, 1), W, "string", string::append, "Appends a string to the value of a key.";
    "strlen", 2, RO, (1, 1, 1), R, "string", string::strlen, "Returns the length of a string value.";
    "getrange", 4, &["readonly"], (1, 1, 1), R, "string", string::getrange, "Returns a substring of the string stored at a key.";
    "setrange", 4, &["write", "denyoom"], (1, 1, 1), W, "string", string::setrange, "Overwrites a part of a string value with another by an offset.";
    "lcs", -3, &["readonly"], (1, 2, 1), R, "string", lcs::lcs, "Finds the longest common substring.";
    "setbit", 4, &["write", "denyoom"], (1, 1, 1), W, "bitmap", bitmap::setbit, "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.";
    "getbit", 3, RO, (1, 1, 1), R, "bitmap", bitmap::getbit, "Returns a bit value by offset.";
    "bitcount", -2, &["readonly"], (1, 1, 1), R, "bitmap", bitmap::bitcount, "Counts the number of set bits (population counting) in a string.";
    "bitpos", -3, &["readonly"], (1, 1, 1), R, "bitmap", bitmap::bitpos, "Finds the first set (1) or clear (0) bit in a string.";
    "bitop", -4, &["write", "denyoom"], (2, -1, 1), W, "bitmap", bitmap::bitop, "Performs bitwise operations on multiple strings, and stores the result.";
    "bitfield", -2, &["write", "denyoom"], (1, 1, 1), W, "bitmap", bitmap::bitfield, "Performs arbitrary bitfield integer operations on strings.";
    "bitfield_ro", -2, RO, (1, 1, 1), R, "bitmap", bitmap::bitfield_ro, "Performs arbitrary read-only bitfield integer operations on strings.";
    "pfadd", -2, RW, (1, 1, 1), W, "hyperloglog", hyperloglog::pfadd, "Adds elements to a HyperLogLog key. Creates the key if it doesn't exist.";
    "pfcount", -2, &["readonly"], (1, -1, 1), R, "hyperloglog", hyperloglog::pfcount, "Returns the approximated cardinality of the set(s) observed by the HyperLogLog key(s).";
    "pfmerge", -2, &["write", "denyoom"], (1, -1, 1), W, "hyperloglog", hyperloglog::pfmerge, "Merges one or more HyperLogLog values into a single key.";
    "pfdebug", 3, &["write", "denyoom", "admin"], (2, 2, 1), W, "hyperloglog", hyperloglog::pfdebug, "Internal commands for debugging HyperLogLog values.";
    "del", -2, &["write"], (1, -1, 1), W, "generic", keys::del, "Deletes one or more keys.";
    "unlink", -2, WR, (1, -1, 1), W, "generic", keys::del, "Asynchronously deletes one or more keys.";
    "exists", -2, RO, (1, -1, 1), R, "generic", keys::exists, "Determines whether one or more keys exist.";
    "touch", -2, RO, (1, -1, 1), R, "generic", keys::exists, "Returns the number of existing keys out of those specified.";
    "type", 2, RO, (1, 1, 1), R, "generic", keys::type_of, "Determines the type of value stored at a key.";
    "object", -2, &["readonly"], (2, 2, 1), R, "generic", object::object, "A container for object introspection commands.";
    "memory", -2, &["readonly"], (2, 2, 1), R, "server", object::memory, "A container for memory diagnostics commands.";
    "expire", -3, WR, (1, 1, 1), W, "generic", keys::expire, "Sets the expiration time of a key in seconds.";
    "pexpire", -3, WR, (1, 1, 1), W, "generic", keys::pexpire, "Sets the expiration time of a key in milliseconds.";
    "expireat", -3, WR, (1, 1, 1), W, "generic", keys::expireat, "Sets the expiration time of a key to a Unix timestamp.";
    "pexpireat", -3, WR, (1, 1, 1), W, "generic", keys::pexpireat, "Sets the expiration time of a key to a Unix milliseconds timestamp.";
    "ttl", 2, RO, (1, 1, 1), R, "generic", keys::ttl, "Returns the expiration time in seconds of a key.";
    "pttl", 2, RO, (1, 1, 1), R, "generic", keys::pttl, "Returns the expiration time in milliseconds of a key.";
    "expiretime", 2, RO, (1, 1, 1), R, "generic", keys::expiretime, "Returns the expiration time of a key as a Unix timestamp.";
    "pexpiretime", 2, RO, (1, 1, 1), R, "generic", keys::pexpiretime, "Returns the expiration time of a key as a Unix milliseconds timestamp.";
    "persist", 2, WR, (1, 1, 1), W, "generic", keys::persist, "Removes the expiration time of a key.";
    "rename", 3, &["write"], (1, 2, 1), W, "generic", keys::rename, "Renames a key and overwrites the destination.";
    "renamenx", 3, WR, (1, 2, 1), W, "generic", keys::renamenx, "Renames a key only when the target key name doesn't exist.";
    "copy", -3, &["write", "denyoom"], (1, 2, 1), W, "generic", keys::copy, "Copies the value of a key to a new key.";
    "hset", -4, RW, (1, 1, 1), W, "hash", hash::hset, "Creates or modifies the value of a field in a hash.";
    "hmset", -4, RW, (1, 1, 1), W, "hash", hash::hmset, "Sets the values of multiple fields.";
    "hsetnx", 4, RW, (1, 1, 1), W, "hash", hash::hsetnx, "Sets the value of a field in a hash only when the field doesn't exist.";
    "hget", 3, RO, (1, 1, 1), R, "hash", hash::hget, "Returns the value of a field in a hash.";
    "hmget", -3, RO, (1, 1, 1), R, "hash", hash::hmget, "Returns the values of all fields in a hash.";
    "hgetall", 2, &["readonly"], (1, 1, 1), R, "hash", hash::hgetall, "Returns all fields and values in a hash.";
    "hdel", -3, WR, (1, 1, 1), W, "hash", hash::hdel, "Deletes one or more fields and their values from a hash.";
    "hlen", 2, RO, (1, 1, 1), R, "hash", hash::hlen, "Returns the number of fields in a hash.";
    "hexists", 3, RO, (1, 1, 1), R, "hash", hash::hexists, "Determines whether a field exists in a hash.";
    "hkeys", 2, &["readonly"], (1, 1, 1), R, "hash", hash::hkeys, "Returns all fields in a hash.";
    "hvals", 2, &["readonly"], (1, 1, 1), R, "hash", hash::hvals, "Returns all values in a hash.";
    "hincrby", 4, RW, (1, 1, 1), W, "hash", hash::hincrby, "Increments the integer value of a field in a hash by a number.";
    "hincrbyfloat", 4, RW, (1, 1, 1), W, "hash", hash::hincrbyfloat, "Increments the floating point value of a field by a number.";
    "hstrlen", 3, RO, (1, 1, 1), R, "hash", hash::hstrlen, "Returns the length of the value of a field.";
    "hrandfield", -2, &["readonly"], (1, 1, 1), R, "hash", hash::hrandfield, "Returns one or more random fields from a hash.";
    "hscan", -3, &["readonly"], (1, 1, 1), R, "hash", hash::hscan, "Iterates over fields and values of a hash.";
    "sadd", -3, RW, (1, 1, 1), W, "set", set::sadd, "Adds one or more members to a set.";
    "srem", -3, WR, (1, 1, 1), W, "set", set::srem, "Removes one or more members from a set.";
    "sismember", 3, RO, (1, 1, 1), R, "set", set::sismember, "Determines whether a member belongs to a set.";
    "smismember", -3, RO, (1, 1, 1), R, "set", set::smismember, "Determines whether multiple members belong to a set.";
    "smembers", 2, &["readonly"], (1, 1, 1), R, "set", set::smembers, "Returns all members of a set.";
    "scard", 2, RO, (1, 1, 1), R, "set", set::scard, "Returns the number of members in a set.";
    "spop", -2, WR, (1, 1, 1), W, "set", set::spop, "Returns one or more random members from a set after removing them.";
    "srandmember", -2, &["readonly"], (1, 1, 1), R, "set", set::srandmember, "Get one or multiple random members from a set.";
    "sscan", -3, &["readonly"], (1, 1, 1), R, "set", set::sscan, "Iterates over members of a set.";
    "sinter", -2, &["readonly"], (1, -1, 1), R, "set", set_algebra::sinter, "Returns the intersect of multiple sets.";
    "sunion", -2, &["readonly"], (1, -1, 1), R, "set", set_algebra::sunion, "Returns the union of multiple sets.";
    "sdiff", -2, &["readonly"], (1, -1, 1), R, "set", set_algebra::sdiff, "Returns the difference of multiple sets.";
    "sintercard", -3, RO_MOVABLE, (0, 0, 0) => numkeys_keys::<1, 0>, R, "set", set_algebra::sintercard, "Returns the number of members of the intersect of multiple sets.";
    "sinterstore", -3, &["write", "denyoom"], (1, -1, 1), W, "set", set_algebra::sinterstore, "Stores the intersect of multiple sets in a key.";
    "sunionstore", -3, &["write", "denyoom"], (1, -1, 1), W, "set", set_algebra::sunionstore, "Stores the union of multiple sets in a key.";
    "sdiffstore", -3, &["write", "denyoom"], (1, -1, 1), W, "set", set_algebra::sdiffstore, "Stores the difference of multiple sets in a key.";
    "smove", 4, WR, (1, 2, 1), W, "set", set_algebra::smove, "Moves a member from one set to another.";
    "lpush", -3, RW, (1, 1, 1), W, "list", list::lpush, "Prepends one or more elements to a list. Creates the key if it doesn't exist.";
    "rpush", -3, RW, (1, 1, 1), W, "list", list::rpush, "Appends one or more elements to a list. Creates the key if it doesn't exist.";
    "lpushx", -3, RW, (1, 1, 1), W, "list", list::lpushx, "Prepends one or more elements to a list only when the list exists.";
    "rpushx", -3, RW, (1, 1, 1), W, "list", list::rpushx, "Appends an element to a list only when the list exists.";
    "lpop", -2, WR, (1, 1, 1), W, "list", list::lpop, "Returns the first elements in a list after removing it. Deletes the list if the last element was popped.";
    "rpop", -2, WR, (1, 1, 1), W, "list", list::rpop, "Returns and removes the last elements of a list. Deletes the list if the last element was popped.";
    "llen", 2, RO, (1, 1, 1), R, "list", list::llen, "Returns the length of a list.";
    "lrange", 4, &["readonly"], (1, 1, 1), R, "list", list::lrange, "Returns a range of elements from a list.";
    "lindex", 3, &["readonly"], (1, 1, 1), R, "list", list::lindex, "Returns an element from a list by its index.";
    "lset", 4, &["write", "denyoom"], (1, 1, 1), W, "list", list::lset, "Sets the value of an element in a list by its index.";
    "linsert", 5, &["write", "denyoom"], (1, 1, 1), W, "list", list::linsert, "Inserts an element before or after another element in a list.";
    "lrem", 4, &["write"], (1, 1, 1), W, "list", list::lrem, "Removes elements from a list. Deletes the list if the last element was removed.";
    "ltrim", 4, &["write"], (1, 1, 1), W, "list", list::ltrim, "Removes elements from both ends a list. Deletes the list if all elements were trimmed.";
    "lpos", -3, &["readonly"], (1, 1, 1), R, "list", list::lpos, "Returns the index of matching elements in a list.";
    "lmove", 5, &["write", "denyoom"], (1, 2, 1), W, "list", list::lmove, "Returns an element after popping it from one list and pushing it to another. Deletes the list if the last element was moved.";
    "rpoplpush", 3, &["write", "denyoom"], (1, 2, 1), W, "list", list::rpoplpush, "Returns the last element of a list after removing and pushing it to another list. Deletes the list if the last element was popped.";
    "lmpop", -4, MOVABLE, (0, 0, 0) => numkeys_keys::<1, 1>, W, "list", list::lmpop, "Returns multiple elements from a list after removing them. Deletes the list if the last element was popped.";
    "blpop", -3, BLOCKING, (1, -2, 1), W, "list", list::blpop, "Removes and returns the first element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "brpop", -3, BLOCKING, (1, -2, 1), W, "list", list::brpop, "Removes and returns the last element in a list. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "blmove", 6, BLOCKING, (1, 2, 1), W, "list", list::blmove, "Pops an element from a list, pushes it to another list and returns it. Blocks until an element is available otherwise. Deletes the list if the last element was moved.";
    "brpoplpush", 4, BLOCKING, (1, 2, 1), W, "list", list::brpoplpush, "Pops an element from a list, pushes it to another list and returns it. Block until an element is available otherwise. Deletes the list if the last element was popped.";
    "blmpop", -5, BLOCKING_MOVABLE, (0, 0, 0) => numkeys_keys::<2, 1>, W, "list", list::blmpop, "Pops the first element from one of multiple lists. Blocks until an element is available otherwise. Deletes the list if the last element was popped.";
    "zadd", -4, RW, (1, 1, 1), W, "sorted_set", zset::zadd, "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.";
    "zincrby", 4, RW, (1, 1, 1), W, "sorted_set", zset::zincrby, "Increments the score of a member in a sorted set.";
    "zscore", 3, RO, (1, 1, 1), R, "sorted_set", zset::zscore, "Returns the score of a member in a sorted set.";
    "zmscore", -3, RO, (1, 1, 1), R, "sorted_set", zset::zmscore, "Returns the score of one or more members in a sorted set.";
    "zrank", -3, RO, (1, 1, 1), R, "sorted_set", zset::zrank, "Returns the index of a member in a sorted set ordered by ascending scores.";
    "zrevrank", -3, RO, (1, 1, 1), R, "sorted_set", zset::zrevrank, "Returns the index of a member in a sorted set ordered by descending scores.";
    "zrange", -4, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrange, "Returns members in a sorted set within a range of indexes.";
    "zrevrange", -4, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrevrange, "Returns members in a sorted set within a range of indexes in reverse order.";
    "zrangebyscore", -4, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrangebyscore, "Returns members in a sorted set within a range of scores.";
    "zrevrangebyscore", -4, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrevrangebyscore, "Returns members in a sorted set within a range of scores in reverse order.";
    "zrangebylex", -4, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrangebylex, "Returns members in a sorted set within a lexicographical range.";
    "zrevrangebylex", -4, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrevrangebylex, "Returns members in a sorted set within a lexicographical range in reverse order.";
    "zrem", -3, WR, (1, 1, 1), W, "sorted_set", zset::zrem, "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.";
    "zremrangebyrank", 4, &["write"], (1, 1, 1), W, "sorted_set", zset::zremrangebyrank, "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.";
    "zremrangebyscore", 4, &["write"], (1, 1, 1), W, "sorted_set", zset::zremrangebyscore, "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.";
    "zremrangebylex", 4, &["write"], (1, 1, 1), W, "sorted_set", zset::zremrangebylex, "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.";
    "zcard", 2, RO, (1, 1, 1), R, "sorted_set", zset::zcard, "Returns the number of members in a sorted set.";
    "zcount", 4, RO, (1, 1, 1), R, "sorted_set", zset::zcount, "Returns the count of members in a sorted set that have scores within a range.";
    "zlexcount", 4, RO, (1, 1, 1), R, "sorted_set", zset::zlexcount, "Returns the number of members in a sorted set within a lexicographical range.";
    "zpopmin", -2, WR, (1, 1, 1), W, "sorted_set", zset::zpopmin, "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "zpopmax", -2, WR, (1, 1, 1), W, "sorted_set", zset::zpopmax, "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.";
    "zmpop", -4, MOVABLE, (0, 0, 0) => numkeys_keys::<1, 1>, W, "sorted_set", zset::zmpop, "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.";
    "bzpopmin", -3, BLOCKING, (1, -2, 1), W, "sorted_set", zset::bzpopmin, "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "bzpopmax", -3, BLOCKING, (1, -2, 1), W, "sorted_set", zset::bzpopmax, "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise. Deletes the sorted set if the last element was popped.";
    "bzmpop", -5, BLOCKING_MOVABLE, (0, 0, 0) => numkeys_keys::<2, 1>, W, "sorted_set", zset::bzmpop, "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.";
    "zrandmember", -2, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zrandmember, "Returns one or more random members from a sorted set.";
    "zscan", -3, &["readonly"], (1, 1, 1), R, "sorted_set", zset::zscan, "Iterates over members and scores of a sorted set.";
    "zunion", -3, RO_MOVABLE, (0, 0, 0) => numkeys_keys::<1, 0>, R, "sorted_set", zset_algebra::zunion, "Returns the union of multiple sorted sets.";
    "zinter", -3, RO_MOVABLE, (0, 0, 0) => numkeys_keys::<1, 0>, R, "sorted_set", zset_algebra::zinter, "Returns the intersect of multiple sorted sets.";
    "zdiff", -3, RO_MOVABLE, (0, 0, 0) => numkeys_keys::<1, 0>, R, "sorted_set", zset_algebra::zdiff, "Returns the difference between multiple sorted sets.";
    "zintercard", -3, RO_MOVABLE, (0, 0, 0) => numkeys_keys::<1, 0>, R, "sorted_set", zset_algebra::zintercard, "Returns the number of members of the intersect of multiple sorted sets.";
    "zunionstore", -4, STORE_MOVABLE, (1, 1, 1) => numkeys_keys::<2, 0>, W, "sorted_set", zset_algebra::zunionstore, "Stores the union of multiple sorted sets in a key.";
    "zinterstore", -4, STORE_MOVABLE, (1, 1, 1) => numkeys_keys::<2, 0>, W, "sorted_set", zset_algebra::zinterstore, "Stores the intersect of multiple sorted sets in a key.";
    "zdiffstore", -4, STORE_MOVABLE, (1, 1, 1) => numkeys_keys::<2, 0>, W, "sorted_set", zset_algebra::zdiffstore, "Stores the difference of multiple sorted sets in a key.";
    "zrangestore", -5, &["write", "denyoom"], (1, 2, 1), W, "sorted_set", zset_algebra::zrangestore, "Stores a range of members from sorted set in a key.";
    "xadd", -5, &["write", "denyoom", "fast"], (1, 1, 1), W, "stream", stream::xadd, "Appends a new message to a stream. Creates the key if it doesn't exist.";
    "xlen", 2, RO, (1, 1, 1), R, "stream", stream::xlen, "Return the number of messages in a stream.";
    "xrange", -4, &["readonly"], (1, 1, 1), R, "stream", stream::xrange, "Returns the messages from a stream within a range of IDs.";
    "xrevrange", -4, &["readonly"], (1, 1, 1), R, "stream", stream::xrevrange, "Returns the messages from a stream within a range of IDs in reverse order.";
    "xdel", -3, WR, (1, 1, 1), W, "stream", stream::xdel, "Returns the number of messages after removing them from a stream.";
    "xtrim", -4, &["write"], (1, 1, 1), W, "stream", stream::xtrim, "Deletes messages from the beginning of a stream.";
    "xgroup", -2, &["write"], (2, 2, 1), W, "stream", stream_admin::xgroup, "A container for consumer groups commands.";
    "xread", -4, &["readonly", "blocking", "movablekeys"], (0, 0, 0) => stream_group::read_keys, R, "stream", stream_group::xread, "Returns messages from multiple streams with IDs greater than the ones requested. Blocks until a message is available otherwise.";
    "xreadgroup", -7, &["write", "blocking", "movablekeys"], (0, 0, 0) => stream_group::read_keys, W, "stream", stream_group::xreadgroup, "Returns new or historical messages from a stream for a consumer in a group. Blocks until a message is available otherwise.";
    "xack", -4, WR, (1, 1, 1), W, "stream", stream_group::xack, "Returns the number of messages that were successfully acknowledged by the consumer group member of a stream.";
    "xpending", -3, &["readonly"], (1, 1, 1), R, "stream", stream_group::xpending, "Returns the information and entries from a stream consumer group's pending entries list.";
    "xclaim", -6, WR, (1, 1, 1), W, "stream", stream_claim::xclaim, "Changes, or acquires, ownership of a message in a consumer group, as if the message was delivered a consumer group member.";
    "xautoclaim", -6, WR, (1, 1, 1), W, "stream", stream_claim::xautoclaim, "Changes, or acquires, ownership of messages in a consumer group, as if the messages were delivered to as consumer group member.";
    "xinfo", -2, &["readonly"], (2, 2, 1), R, "stream", stream_info::xinfo, "A container for stream introspection commands.";
    "weir.track", 2, &["write", "admin"], (0, 0, 0), W, "weir", changes::track, "Tracks writes to keys matching a pattern in the changed-keys feed (sent to every partition by CHANGES TRACK).";
    "weir.changes.ack", 4, WR, (1, 1, 1), W, "weir", changes::ack, "Forgets a key's change in a tracked pattern's feed if the key is still at the given version.";
    "xsetid", -3, &["write", "denyoom", "fast"], (1, 1, 1), W, "stream", stream::xsetid, "An internal command for replicating stream values.";
};

/// Every data command.
pub fn all_commands() -> &'static [CommandSpec] {
    COMMANDS
}

/// A spec's position in [`all_commands`] (the spec must come from it).
pub fn command_index(spec: &'static CommandSpec) -> usize {
    let index = table_index(spec);
    debug_assert!(index.is_some(), "a spec of the table");
    index.unwrap_or(usize::MAX)
}

/// A spec's position in [`all_commands`], or None for a spec from
/// elsewhere (a node command's).
pub fn table_index(spec: &'static CommandSpec) -> Option<usize> {
    let offset = (spec as *const CommandSpec as usize).wrapping_sub(COMMANDS.as_ptr() as usize);
    let index = offset / std::mem::size_of::<CommandSpec>();
    (index < COMMANDS.len() && std::ptr::eq(&COMMANDS[index], spec)).then_some(index)
}

/// Looks a data command up by name, ASCII case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    static INDEX: OnceLock<NameIndex> = OnceLock::new();
    let index = INDEX.get_or_init(|| NameIndex::new(COMMANDS.iter().map(|spec| spec.name)));
    let position = index.find(name, |p| COMMANDS[p].name.as_bytes().eq_ignore_ascii_case(name))?;
    Some(&COMMANDS[position])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions() {
        let mset = lookup(b"MSET").expect("mset");
        let args = |n: usize| vec![Bytes::from_static(b"x"); n];
        assert_eq!(mset.key_indexes(&args(5)).collect::<Vec<_>>(), vec![1, 3]);
        let del = lookup(b"del").expect("del");
        assert_eq!(del.key_indexes(&args(4)).collect::<Vec<_>>(), vec![1, 2, 3]);
        let rename = lookup(b"rename").expect("rename");
        assert_eq!(rename.key_indexes(&args(3)).collect::<Vec<_>>(), vec![1, 2]);
        let blpop = lookup(b"blpop").expect("blpop");
        assert_eq!(blpop.key_indexes(&args(4)).collect::<Vec<_>>(), vec![1, 2]);
        let words = |w: &[&'static str]| w.iter().map(|s| Bytes::from_static(s.as_bytes())).collect::<Vec<_>>();
        let lmpop = lookup(b"lmpop").expect("lmpop");
        assert_eq!(lmpop.key_indexes(&words(&["lmpop", "2", "a", "b", "left"])).collect::<Vec<_>>(), vec![2, 3]);
        assert_eq!(lmpop.key_indexes(&words(&["lmpop", "9", "a", "left"])).count(), 0);
        let blmpop = lookup(b"blmpop").expect("blmpop");
        assert_eq!(blmpop.key_indexes(&words(&["blmpop", "0", "1", "a", "left"])).collect::<Vec<_>>(), vec![3]);
        assert!(lookup(b"GeT").is_some() && lookup(b"nope").is_none());
    }

    #[test]
    fn the_blocking_flag_is_computed_from_the_flags() {
        for spec in all_commands() {
            assert_eq!(spec.blocking, spec.flags.contains(&"blocking"), "{}", spec.name);
        }
        assert!(lookup(b"blpop").is_some_and(|s| s.blocking) && lookup(b"lpop").is_some_and(|s| !s.blocking));
        assert!(has_flag(&["a", "blocking"], "blocking") && !has_flag(&["blockin"], "blocking"));
    }

    #[test]
    fn arity() {
        let get = lookup(b"get").expect("get");
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        let set = lookup(b"set").expect("set");
        assert!(set.arity_ok(3) && set.arity_ok(6) && !set.arity_ok(2));
    }
}
