//! Routing one command: authentication, arity, transactions, then either a
//! node-level handler or the partition that owns the command's slot.
//!
//! Writes return a pending reply (the partition's writer answers once the
//! batch is durable and applied); everything else answers at once.

use crate::commands::scripting::EvalKind;
use crate::commands::{self, transaction, Resolved, ServerCommand};
use crate::node::Node;
use crate::partition::Proposal;
use crate::session::Session;
use bytes::Bytes;
use std::time::Duration;
use tokio::sync::oneshot;
use weir_protocol::Frame;
use weir_state::{hash_part, slot_of_part, Access, CommandSpec};

/// A command's reply, now or once its batch is applied.
pub enum Reply {
    Now(Frame),
    Later(oneshot::Receiver<Frame>),
    /// A plain write for the connection to propose with its neighbours
    /// (`crate::pipeline`); only when the caller asked for it.
    Staged {
        partition: u32,
        args: Vec<Bytes>,
    },
    /// A staged write's reply, from its group.
    Grouped,
    /// No reply: the connection closes once the replies before are out
    /// (SHUTDOWN, as Redis hangs up).
    HangUp,
    /// Several replies to one command, in order (SUBSCRIBE's confirmations).
    Several(Vec<Frame>),
}

/// The reply to a write whose writer went away before answering it.
pub fn abandoned() -> Frame {
    Frame::error("ERR the write was abandoned")
}

pub const CROSSSLOT: &str = "CROSSSLOT Keys in request don't hash to the same slot";
pub const NOAUTH: &str = "NOAUTH Authentication required.";

/// Whether a command must wait for this connection's earlier writes before
/// it runs (everything that reads state does). Queued-only and pure writes
/// do not, so a pipeline of writes stays in flight together.
pub fn needs_barrier(node: &Node, session: &Session, resolved: Option<Resolved>, args: &[Bytes]) -> bool {
    match resolved {
        Some(Resolved::Data(spec, _)) => session.multi.is_none() && spec.access == Access::Read,
        Some(Resolved::Server(command, _, _)) => match command {
            ServerCommand::Exec | ServerCommand::Discard | ServerCommand::Multi => false,
            // A writing script queues on its partition behind this
            // connection's earlier writes there, like any write: no wait,
            // unless it is to be tried on the read path first.
            _ => match eval_kind(command) {
                Some(kind) if !kind.read_only => session.multi.is_none() && node.eval_expects_read(kind, args),
                _ => session.multi.is_none(),
            },
        },
        None => false,
    }
}

/// Whether a command may grow memory, and so is refused past `maxmemory`:
/// Redis's `denyoom` commands, and scripts that may write (decided before
/// the script runs, where Redis decides at its first write: a script's
/// effects must not depend on this node's memory, or a replica or a
/// replay would differ). EXEC checks its queued commands (`transaction`).
pub fn grows_memory(resolved: Resolved) -> bool {
    match resolved {
        Resolved::Data(spec, _) => spec.flags.contains(&"denyoom"),
        Resolved::Server(command, _, _) => eval_kind(command).is_some_and(|kind| !kind.read_only),
    }
}

impl Node {
    /// Executes one command for `session`; `resolved` is
    /// `commands::resolve(&args[0])`, looked up once by the caller. Returns
    /// the command's stats slot (if it resolved) and its reply. With
    /// `stage`, a plain write is checked and routed but handed back
    /// (`Reply::Staged`) for the caller to propose.
    pub async fn execute(
        &self,
        session: &mut Session,
        resolved: Option<Resolved>,
        args: Vec<Bytes>,
        stage: bool,
    ) -> (Option<usize>, Reply) {
        if args.is_empty() {
            return (None, Reply::Now(Frame::error("ERR empty command")));
        }
        if !session.authenticated && !allowed_before_auth(resolved) {
            self.reject(resolved);
            return (None, Reply::Now(Frame::error(NOAUTH)));
        }
        let Some(resolved) = resolved else {
            transaction::flag_error(session);
            return (None, Reply::Now(commands::unknown_command(&args)));
        };
        let index = Some(resolved.index());
        session.client.touch(resolved.index());
        if !resolved.spec().arity_ok(args.len()) {
            transaction::flag_error(session);
            self.reject(Some(resolved));
            return (None, Reply::Now(commands::wrong_arity(resolved.spec())));
        }
        if session.version == weir_protocol::Version::Resp2 && session.pubsub.active() && !resumable(resolved) {
            transaction::flag_error(session);
            self.reject(Some(resolved));
            return (None, Reply::Now(commands::pubsub::refused_while_subscribed(&full_name(resolved.spec(), &args))));
        }
        if self.memory.over_limit() && grows_memory(resolved) {
            transaction::flag_error(session);
            self.reject(Some(resolved));
            return (None, Reply::Now(Frame::error(crate::memory::OOM)));
        }
        if session.multi.is_some() && !transaction::runs_inside_multi(resolved) {
            // As in Redis, a queued command is counted when EXEC runs it; one
            // refused at queuing is a rejected call.
            let reply = transaction::queue(session, resolved, args);
            if reply.is_error() {
                self.reject(Some(resolved));
            }
            return (None, Reply::Now(reply));
        }
        let reply = match resolved {
            Resolved::Server(command, spec, _) if eval_kind(command).is_some() => {
                let kind = eval_kind(command).expect("checked");
                self.eval(session, spec, kind, args).await
            }
            Resolved::Server(ServerCommand::Shutdown, _, _) => commands::shutdown::run(self, &args[1..]).await,
            Resolved::Server(command, _, _) if commands::pubsub::handles(command) => {
                commands::pubsub::run(self, session, command, &args)
            }
            Resolved::Server(command, _, _) => Reply::Now(self.server_command(session, command, &args).await),
            Resolved::Data(spec, _) => self.data_command(spec, args, stage).await,
        };
        (index, reply)
    }

    /// Counts a command refused before it ran (INFO's `rejected_calls`, as
    /// in Redis: not among its `calls`).
    fn reject(&self, resolved: Option<Resolved>) {
        if let Some(stats) = resolved.and_then(|r| self.stats.commands.get(r.index())) {
            stats.rejected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    async fn data_command(&self, spec: &'static CommandSpec, args: Vec<Bytes>, stage: bool) -> Reply {
        let slot = match command_slot(spec, &args) {
            Ok(slot) => slot,
            Err(reply) => return Reply::Now(reply),
        };
        let partition = self.partition_for_slot(slot);
        if let Err(busy) = partition.check_busy(self.config.busy_script) {
            return Reply::Now(busy);
        }
        let proposal = match (spec.block_timeout(&args), spec.access) {
            (Some(timeout), _) => match self.resolve_for_blocking(partition, spec, args).await {
                Ok(args) => blocking_proposal(spec, args, timeout),
                Err(reply) => return Reply::Now(reply),
            },
            (None, Access::Read) => return Reply::Now(partition.read(&args, self.config.busy_script).await),
            (None, Access::Write) if stage => return Reply::Staged { partition: partition.id, args },
            (None, Access::Write) => Proposal::Command(args),
        };
        Reply::Later(partition.propose(proposal).await)
    }

    async fn server_command(&self, session: &mut Session, command: ServerCommand, args: &[Bytes]) -> Frame {
        use ServerCommand as C;
        match command {
            C::Ping | C::Echo | C::Hello | C::Auth | C::Select | C::Quit | C::Reset => {
                commands::connection::run(self, session, command, args)
            }
            C::Client => commands::client::run(self, session, args),
            C::Cluster => commands::cluster::run(self, session, args),
            C::Readonly | C::Readwrite | C::Asking => commands::cluster::accept(),
            C::Slowlog => crate::slowlog::command(&self.slowlog, &args[1..]),
            C::Latency => commands::latency::run(self, args),
            C::Save | C::Bgsave | C::Lastsave => commands::persistence::run(self, command, args).await,
            C::Command | C::Config | C::Info | C::Time | C::Role => commands::introspection::run(self, command, args),
            C::Dbsize | C::Flushdb | C::Flushall | C::Scan | C::Keys | C::Randomkey | C::Wait => {
                commands::keyspace::run(self, command, args).await
            }
            C::Multi | C::Exec | C::Discard | C::Watch | C::Unwatch => {
                transaction::run(self, session, command, args).await
            }
            C::Script => self.script_command(args),
            C::Changes => commands::changes::run(self, args).await,
            // Run by `execute` itself.
            C::Eval
            | C::EvalSha
            | C::EvalRo
            | C::EvalShaRo
            | C::Shutdown
            | C::Subscribe
            | C::Unsubscribe
            | C::Psubscribe
            | C::Punsubscribe
            | C::Ssubscribe
            | C::Sunsubscribe
            | C::Publish
            | C::Spublish
            | C::Pubsub => Frame::error("ERR internal: a command reached the wrong path"),
        }
    }
}

/// Whether a RESP2 connection may run `resolved` while subscribed.
fn resumable(resolved: Resolved) -> bool {
    matches!(resolved, Resolved::Server(command, _, _) if commands::pubsub::allowed_while_subscribed(command))
}

/// A command's full name as Redis names it in errors: `pubsub|numsub` for
/// a container's subcommand.
fn full_name(spec: &CommandSpec, args: &[Bytes]) -> String {
    match args.get(1) {
        Some(sub) if spec.summary.starts_with("A container for") => {
            format!("{}|{}", spec.name, String::from_utf8_lossy(sub).to_lowercase())
        }
        _ => spec.name.to_string(),
    }
}

/// A blocking command with its keys and deadline (`None`: forever).
fn blocking_proposal(spec: &CommandSpec, args: Vec<Bytes>, timeout: Option<Duration>) -> Proposal {
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let keys = spec.key_indexes(&args).map(|i| args[i].clone()).collect();
    Proposal::Block { args, keys, deadline }
}

impl Node {
    /// XREAD BLOCK's `$` means "after the last ID now": resolved here, on
    /// the applied state (this connection's earlier writes included), so
    /// a retry after a wake-up reads from the same point.
    async fn resolve_for_blocking(
        &self,
        partition: &crate::partition::Partition,
        spec: &CommandSpec,
        args: Vec<Bytes>,
    ) -> Result<Vec<Bytes>, Frame> {
        if spec.name != "xread" || !args.iter().any(|a| a.as_ref() == b"$") {
            return Ok(args);
        }
        let now = crate::partition::now_ms();
        let resolve =
            |m: &mut weir_raft::machine::Machine| weir_state::cmd::stream_group::resolve_last_ids(&m.db, now, args);
        partition.with_state(Some(self.config.busy_script), resolve).await?
    }
}

pub fn eval_kind(command: ServerCommand) -> Option<EvalKind> {
    let (by_sha, read_only) = match command {
        ServerCommand::Eval => (false, false),
        ServerCommand::EvalSha => (true, false),
        ServerCommand::EvalRo => (false, true),
        ServerCommand::EvalShaRo => (true, true),
        _ => return None,
    };
    Some(EvalKind { by_sha, read_only })
}

fn allowed_before_auth(resolved: Option<Resolved>) -> bool {
    matches!(
        resolved,
        Some(Resolved::Server(
            ServerCommand::Auth | ServerCommand::Hello | ServerCommand::Quit | ServerCommand::Reset,
            _,
            _
        ))
    )
}

/// The one slot all of a command's keys hash to, or CROSSSLOT.
/// A key whose hashed part (`{hash tag}`) equals the first key's shares its
/// slot without a CRC: a flash sale's three `{sale:ID}` keys hash once.
pub fn command_slot(spec: &CommandSpec, args: &[Bytes]) -> Result<u16, Frame> {
    let mut slot: Option<(u16, &[u8])> = None;
    for index in spec.key_indexes(args) {
        let Some(key) = args.get(index) else { continue };
        let part = hash_part(key);
        match slot {
            None => slot = Some((slot_of_part(part), part)),
            Some((_, first)) if first == part => {}
            Some((first, _)) if first != slot_of_part(part) => return Err(Frame::error(CROSSSLOT)),
            Some(_) => {}
        }
    }
    let slot = slot.map(|(slot, _)| slot);
    match slot {
        Some(slot) => Ok(slot),
        // Malformed `numkeys`, or a container's keyless subcommand: any
        // partition's handler gives the exact reply.
        None if spec.movable.is_some() || spec.has_subcommands() => Ok(0),
        None => Err(commands::wrong_arity(spec)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slot_of(keys: &[&str]) -> Result<u16, Frame> {
        let mut args = vec![Bytes::from_static(b"MGET")];
        args.extend(keys.iter().map(|k| Bytes::copy_from_slice(k.as_bytes())));
        command_slot(weir_state::lookup(b"MGET").expect("MGET"), &args)
    }

    #[test]
    fn keys_share_a_slot_by_tag_or_by_crc_else_crossslot() {
        let tagged = weir_state::key_slot(b"sale:1");
        assert_eq!(slot_of(&["{sale:1}:stock", "{sale:1}:buyer:7", "{sale:1}:orders"]), Ok(tagged));
        assert_eq!(slot_of(&["sale:1", "{sale:1}x"]), Ok(tagged), "a whole key equal to the other's tag");
        // Different keys whose CRCs land in one slot.
        assert_eq!(slot_of(&["user:1", "k22669"]), Ok(10778));
        assert_eq!(slot_of(&["{sale:1}:stock", "{sale:2}:stock"]), Err(Frame::error(CROSSSLOT)));
        assert_eq!(slot_of(&["{sale:1}a", "{sale:1}b", "c"]), Err(Frame::error(CROSSSLOT)));
    }
}
