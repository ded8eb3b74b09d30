//! Commands the node answers itself, rather than a partition: connection
//! and server commands, whole-keyspace commands, and transactions.
//!
//! Data commands (GET, HSET, ...) are described and executed by `weir-state`;
//! this table uses the same `CommandSpec` so COMMAND and INFO see one list.

pub mod changes;
pub mod client;
pub mod cluster;
pub mod connection;
pub mod introspection;
pub mod keyspace;
pub mod latency;
pub mod persistence;
pub mod pubsub;
pub mod scripting;
pub mod shutdown;
pub mod transaction;

use std::sync::OnceLock;
use weir_state::names::NameIndex;
use weir_state::{Access, CommandSpec};

/// The node-level commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerCommand {
    Ping,
    Echo,
    Hello,
    Auth,
    Select,
    Quit,
    Reset,
    Client,
    Command,
    Config,
    Info,
    Dbsize,
    Time,
    Flushdb,
    Flushall,
    Wait,
    Scan,
    Keys,
    Randomkey,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
    Eval,
    EvalSha,
    EvalRo,
    EvalShaRo,
    Script,
    Changes,
    Slowlog,
    Role,
    Latency,
    Save,
    Bgsave,
    Lastsave,
    Shutdown,
    Cluster,
    Readonly,
    Readwrite,
    Asking,
    Subscribe,
    Unsubscribe,
    Psubscribe,
    Punsubscribe,
    Ssubscribe,
    Sunsubscribe,
    Publish,
    Spublish,
    Pubsub,
}

const fn spec(
    name: &'static str,
    arity: i32,
    flags: &'static [&'static str],
    keys: (i32, i32, i32),
    group: &'static str,
    summary: &'static str,
) -> CommandSpec {
    CommandSpec {
        name,
        arity,
        flags,
        first_key: keys.0,
        last_key: keys.1,
        step: keys.2,
        access: Access::Read,
        group,
        summary,
        since: "1.0.0",
        handler: None,
        movable: None,
        blocking: weir_state::spec::has_flag(flags, "blocking"),
    }
}

const NONE: (i32, i32, i32) = (0, 0, 0);
const FAST: &[&str] = &["fast", "stale", "loading"];
const NOAUTH: &[&str] = &["noscript", "loading", "stale", "fast", "no-auth", "allow-busy"];
const ADMIN: &[&str] = &["write"];
const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow-busy"];

/// Every node-level command with its metadata.
/// EVAL and friends: keys follow `numkeys` at index 2.
const fn script_spec(name: &'static str, flags: &'static [&'static str], summary: &'static str) -> CommandSpec {
    let mut spec = spec(name, -3, flags, NONE, "scripting", summary);
    spec.movable = Some(weir_state::spec::numkeys_keys::<2, 0>);
    spec
}

const SCRIPT_FLAGS: &[&str] =
    &["noscript", "stale", "skip-monitor", "may-replicate", "no-mandatory-keys", "movablekeys"];
const SCRIPT_RO_FLAGS: &[&str] = &["noscript", "stale", "skip-monitor", "no-mandatory-keys", "movablekeys", "readonly"];

pub static SERVER_COMMANDS: [(ServerCommand, CommandSpec); 50] = [
    (ServerCommand::Ping, spec("ping", -1, FAST, NONE, "connection", "Returns the server's liveliness response.")),
    (ServerCommand::Echo, spec("echo", 2, FAST, NONE, "connection", "Returns the given string.")),
    (ServerCommand::Hello, spec("hello", -1, NOAUTH, NONE, "connection", "Handshakes with the server.")),
    (ServerCommand::Auth, spec("auth", -2, NOAUTH, NONE, "connection", "Authenticates the connection.")),
    (ServerCommand::Select, spec("select", 2, FAST, NONE, "connection", "Changes the selected database.")),
    (ServerCommand::Quit, spec("quit", -1, NOAUTH, NONE, "connection", "Closes the connection.")),
    (ServerCommand::Reset, spec("reset", 1, NOAUTH, NONE, "connection", "Resets the connection.")),
    (
        ServerCommand::Client,
        spec("client", -2, FAST, NONE, "connection", "A container for client connection commands."),
    ),
    (
        ServerCommand::Command,
        spec("command", -1, FAST, NONE, "server", "Returns detailed information about all commands."),
    ),
    (ServerCommand::Config, spec("config", -2, FAST, NONE, "server", "A container for server configuration commands.")),
    (
        ServerCommand::Info,
        spec("info", -1, FAST, NONE, "server", "Returns information and statistics about the server."),
    ),
    (
        ServerCommand::Dbsize,
        spec("dbsize", 1, &["readonly", "fast"], NONE, "server", "Returns the number of keys in the database."),
    ),
    (ServerCommand::Time, spec("time", 1, FAST, NONE, "server", "Returns the server time.")),
    (
        ServerCommand::Randomkey,
        spec("randomkey", 1, &["readonly"], NONE, "generic", "Returns a random key name from the database."),
    ),
    (ServerCommand::Flushdb, spec("flushdb", -1, ADMIN, NONE, "server", "Removes all keys from the current database.")),
    (ServerCommand::Flushall, spec("flushall", -1, ADMIN, NONE, "server", "Removes all keys from all databases.")),
    (
        ServerCommand::Wait,
        spec(
            "wait",
            3,
            &["noscript"],
            NONE,
            "generic",
            "Blocks until the writes of this connection are acknowledged by replicas.",
        ),
    ),
    (
        ServerCommand::Scan,
        spec("scan", -2, &["readonly"], NONE, "generic", "Iterates over the key names in the database."),
    ),
    (
        ServerCommand::Keys,
        spec("keys", 2, &["readonly"], NONE, "generic", "Returns all key names that match a pattern."),
    ),
    (ServerCommand::Multi, spec("multi", 1, TX, NONE, "transactions", "Starts a transaction.")),
    (
        ServerCommand::Exec,
        spec(
            "exec",
            1,
            &["noscript", "loading", "stale", "skip-slowlog"],
            NONE,
            "transactions",
            "Executes all commands in a transaction.",
        ),
    ),
    (ServerCommand::Discard, spec("discard", 1, TX, NONE, "transactions", "Discards a transaction.")),
    (
        ServerCommand::Watch,
        spec(
            "watch",
            -2,
            TX,
            (1, -1, 1),
            "transactions",
            "Monitors changes to keys to determine the execution of a transaction.",
        ),
    ),
    (
        ServerCommand::Unwatch,
        spec("unwatch", 1, TX, NONE, "transactions", "Forgets about watched keys of a transaction."),
    ),
    (ServerCommand::Eval, script_spec("eval", SCRIPT_FLAGS, "Executes a server-side Lua script.")),
    (ServerCommand::EvalSha, script_spec("evalsha", SCRIPT_FLAGS, "Executes a server-side Lua script by SHA1 digest.")),
    (ServerCommand::EvalRo, script_spec("eval_ro", SCRIPT_RO_FLAGS, "Executes a read-only server-side Lua script.")),
    (
        ServerCommand::EvalShaRo,
        script_spec("evalsha_ro", SCRIPT_RO_FLAGS, "Executes a read-only server-side Lua script by SHA1 digest."),
    ),
    (
        ServerCommand::Script,
        spec(
            "script",
            -2,
            &["noscript", "allow-busy"],
            NONE,
            "scripting",
            "A container for Lua scripts management commands.",
        ),
    ),
    (
        ServerCommand::Changes,
        spec(
            "changes",
            -2,
            &["admin"],
            NONE,
            "weir",
            "The changed-keys feed for write-behind sinks (TRACK, PARTITIONS, FETCH, PENDING).",
        ),
    ),
    (
        ServerCommand::Slowlog,
        spec(
            "slowlog",
            -2,
            &["admin", "random", "loading", "stale"],
            NONE,
            "server",
            "A container for slow log commands.",
        ),
    ),
    (
        ServerCommand::Save,
        spec(
            "save",
            1,
            &["admin", "noscript", "no_async_loading", "no_multi"],
            NONE,
            "server",
            "Synchronously saves the database(s) to disk.",
        ),
    ),
    (
        ServerCommand::Bgsave,
        spec(
            "bgsave",
            -1,
            &["admin", "noscript", "no_async_loading"],
            NONE,
            "server",
            "Asynchronously saves the database(s) to disk.",
        ),
    ),
    (
        ServerCommand::Lastsave,
        spec(
            "lastsave",
            1,
            &["loading", "stale", "fast"],
            NONE,
            "server",
            "Returns the Unix timestamp of the last successful save to disk.",
        ),
    ),
    (
        ServerCommand::Role,
        spec("role", 1, &["noscript", "loading", "stale", "fast"], NONE, "server", "Returns the replication role."),
    ),
    (
        ServerCommand::Latency,
        spec(
            "latency",
            -2,
            &["admin", "noscript", "loading", "stale"],
            NONE,
            "server",
            "A container for latency diagnostics commands.",
        ),
    ),
    (
        ServerCommand::Shutdown,
        spec(
            "shutdown",
            -1,
            &["admin", "noscript", "loading", "stale", "no_multi", "sentinel", "allow_busy"],
            NONE,
            "server",
            "Synchronously saves the database(s) to disk and shuts down the Redis server.",
        ),
    ),
    (ServerCommand::Cluster, spec("cluster", -2, &[], NONE, "cluster", "A container for Redis Cluster commands.")),
    (
        ServerCommand::Readonly,
        spec(
            "readonly",
            1,
            FAST,
            NONE,
            "cluster",
            "Enables read-only queries for a connection to a Redis Cluster replica node.",
        ),
    ),
    (
        ServerCommand::Readwrite,
        spec(
            "readwrite",
            1,
            FAST,
            NONE,
            "cluster",
            "Enables read-write queries for a connection to a Redis Cluster replica node.",
        ),
    ),
    (
        ServerCommand::Asking,
        spec("asking", 1, &["fast"], NONE, "cluster", "Signals that a cluster client is following an -ASK redirect."),
    ),
    (
        ServerCommand::Subscribe,
        spec("subscribe", -2, SUBSCRIBE, NONE, "pubsub", "Listens for messages published to channels."),
    ),
    (
        ServerCommand::Unsubscribe,
        spec("unsubscribe", -1, SUBSCRIBE, NONE, "pubsub", "Stops listening to messages posted to channels."),
    ),
    (
        ServerCommand::Psubscribe,
        spec(
            "psubscribe",
            -2,
            SUBSCRIBE,
            NONE,
            "pubsub",
            "Listens for messages published to channels that match one or more patterns.",
        ),
    ),
    (
        ServerCommand::Punsubscribe,
        spec(
            "punsubscribe",
            -1,
            SUBSCRIBE,
            NONE,
            "pubsub",
            "Stops listening to messages published to channels that match one or more patterns.",
        ),
    ),
    (
        ServerCommand::Ssubscribe,
        spec("ssubscribe", -2, SUBSCRIBE, (1, -1, 1), "pubsub", "Listens for messages published to shard channels."),
    ),
    (
        ServerCommand::Sunsubscribe,
        spec(
            "sunsubscribe",
            -1,
            SUBSCRIBE,
            (1, -1, 1),
            "pubsub",
            "Stops listening to messages posted to shard channels.",
        ),
    ),
    (ServerCommand::Publish, spec("publish", 3, PUBLISH, NONE, "pubsub", "Posts a message to a channel.")),
    (ServerCommand::Spublish, spec("spublish", 3, PUBLISH, (1, 1, 1), "pubsub", "Post a message to a shard channel")),
    (ServerCommand::Pubsub, spec("pubsub", -2, &[], NONE, "pubsub", "A container for Pub/Sub commands.")),
];

const SUBSCRIBE: &[&str] = &["pubsub", "noscript", "loading", "stale"];
const PUBLISH: &[&str] = &["pubsub", "loading", "stale", "fast"];

/// What a command name resolves to.
#[derive(Clone, Copy)]
pub enum Resolved {
    Server(ServerCommand, &'static CommandSpec, usize),
    Data(&'static CommandSpec, usize),
}

impl Resolved {
    pub fn spec(&self) -> &'static CommandSpec {
        match self {
            Resolved::Server(_, spec, _) | Resolved::Data(spec, _) => spec,
        }
    }

    /// The command's slot in the stats table.
    pub fn index(&self) -> usize {
        match self {
            Resolved::Server(_, _, i) | Resolved::Data(_, i) => *i,
        }
    }
}

/// Looks a command name up (ASCII case-insensitive, no allocation).
pub fn resolve(name: &[u8]) -> Option<Resolved> {
    if let Some(spec) = weir_state::lookup(name) {
        let index = weir_state::spec::command_index(spec);
        return Some(Resolved::Data(spec, index));
    }
    static INDEX: OnceLock<NameIndex> = OnceLock::new();
    let index = INDEX.get_or_init(|| NameIndex::new(SERVER_COMMANDS.iter().map(|(_, spec)| spec.name)));
    let i = index.find(name, |i| SERVER_COMMANDS[i].1.name.as_bytes().eq_ignore_ascii_case(name))?;
    let (command, spec) = &SERVER_COMMANDS[i];
    Some(Resolved::Server(*command, spec, weir_state::all_commands().len() + i))
}

/// Every command spec, data commands first (the stats table's order).
pub fn all_specs() -> impl Iterator<Item = &'static CommandSpec> {
    weir_state::all_commands().iter().chain(SERVER_COMMANDS.iter().map(|(_, spec)| spec))
}

/// Redis's reply to an unknown command.
pub fn unknown_command(args: &[bytes::Bytes]) -> weir_protocol::Frame {
    let name = args.first().map(|a| String::from_utf8_lossy(a).into_owned()).unwrap_or_default();
    let mut listed = String::new();
    for arg in args.iter().skip(1) {
        if listed.len() >= 128 {
            break;
        }
        let room = 128 - listed.len();
        let text = String::from_utf8_lossy(arg);
        let cut: String = text.chars().take(room).collect();
        listed.push_str(&format!("'{cut}' "));
    }
    let name: String = name.chars().take(128).collect();
    weir_protocol::Frame::error(format!("ERR unknown command '{name}', with args beginning with: {listed}"))
}

pub fn wrong_arity(spec: &CommandSpec) -> weir_protocol::Frame {
    weir_protocol::Frame::error(format!("ERR wrong number of arguments for '{}' command", spec.name))
}

/// Redis's reply to an unknown subcommand.
pub fn unknown_subcommand(sub: &[u8], command: &str) -> weir_protocol::Frame {
    weir_protocol::Frame::error(format!(
        "ERR unknown subcommand '{}'. Try {} HELP.",
        String::from_utf8_lossy(sub).chars().take(128).collect::<String>(),
        command.to_ascii_uppercase()
    ))
}

/// Case-insensitive keyword match for option parsing.
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// Parses a Redis integer argument (`string2ll` rules).
pub fn parse_i64(arg: &[u8]) -> Option<i64> {
    weir_protocol::parse_int(arg)
}

pub fn not_an_integer() -> weir_protocol::Frame {
    weir_protocol::Frame::error("ERR value is not an integer or out of range")
}

pub fn syntax_error() -> weir_protocol::Frame {
    weir_protocol::Frame::error("ERR syntax error")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_command_text_matches_redis() {
        let args =
            [bytes::Bytes::from_static(b"foo"), bytes::Bytes::from_static(b"a"), bytes::Bytes::from_static(b"b")];
        assert_eq!(
            unknown_command(&args),
            weir_protocol::Frame::error("ERR unknown command 'foo', with args beginning with: 'a' 'b' ")
        );
    }

    #[test]
    fn server_names_are_unique_and_lowercase() {
        let mut names: Vec<_> = all_specs().map(|s| s.name).collect();
        assert!(names.iter().all(|n| n.chars().all(|c| !c.is_ascii_uppercase())));
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a command name is defined twice");
    }
}
