//! The data-command table: names, arity, key positions and handlers, in one
//! place for routing (CROSSSLOT), COMMAND, and execution.

use crate::cmd::{hash, keys, set, string};
use crate::db::{Db, ExecCtx};
use bytes::Bytes;
use weir_protocol::Frame;

/// Whether a command changes state (and so goes through the log).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

pub type Handler = fn(&mut Db, &mut ExecCtx, &[Bytes]) -> Frame;

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

    /// Positions of the key arguments for a command of `argc` arguments.
    pub fn key_indexes(&self, argc: usize) -> impl Iterator<Item = usize> {
        let first = self.first_key.max(0) as usize;
        let last = if self.last_key < 0 { argc as i64 + i64::from(self.last_key) } else { i64::from(self.last_key) };
        let last = last.max(0) as usize;
        let step = self.step.max(1) as usize;
        let count = if first == 0 || last < first { 0 } else { (last - first) / step + 1 };
        (0..count).map(move |i| first + i * step).filter(move |&i| i < argc)
    }
}

const R: Access = Access::Read;
const W: Access = Access::Write;
const RO: &[&str] = &["readonly", "fast"];
const RW: &[&str] = &["write", "denyoom", "fast"];
const WR: &[&str] = &["write", "fast"];

macro_rules! commands {
    ($($name:literal, $arity:expr, $flags:expr, ($f:expr, $l:expr, $s:expr), $access:expr, $group:literal, $handler:expr, $summary:literal;)*) => {
        &[$(CommandSpec {
            name: $name, arity: $arity, flags: $flags, first_key: $f, last_key: $l, step: $s,
            access: $access, group: $group, summary: $summary, since: "1.0.0", handler: Some($handler),
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
    "del", -2, &["write"], (1, -1, 1), W, "generic", keys::del, "Deletes one or more keys.";
    "unlink", -2, WR, (1, -1, 1), W, "generic", keys::del, "Asynchronously deletes one or more keys.";
    "exists", -2, RO, (1, -1, 1), R, "generic", keys::exists, "Determines whether one or more keys exist.";
    "touch", -2, RO, (1, -1, 1), R, "generic", keys::exists, "Returns the number of existing keys out of those specified.";
    "type", 2, RO, (1, 1, 1), R, "generic", keys::type_of, "Determines the type of value stored at a key.";
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
};

/// Every data command.
pub fn all_commands() -> &'static [CommandSpec] {
    COMMANDS
}

/// Looks a data command up by name, ASCII case-insensitively.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    COMMANDS.iter().find(|spec| spec.name.len() == name.len() && spec.name.as_bytes().eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_positions() {
        let mset = lookup(b"MSET").expect("mset");
        assert_eq!(mset.key_indexes(5).collect::<Vec<_>>(), vec![1, 3]);
        let del = lookup(b"del").expect("del");
        assert_eq!(del.key_indexes(4).collect::<Vec<_>>(), vec![1, 2, 3]);
        let rename = lookup(b"rename").expect("rename");
        assert_eq!(rename.key_indexes(3).collect::<Vec<_>>(), vec![1, 2]);
        assert!(lookup(b"GeT").is_some() && lookup(b"nope").is_none());
    }

    #[test]
    fn arity() {
        let get = lookup(b"get").expect("get");
        assert!(get.arity_ok(2) && !get.arity_ok(3));
        let set = lookup(b"set").expect("set");
        assert!(set.arity_ok(3) && set.arity_ok(6) && !set.arity_ok(2));
    }
}
