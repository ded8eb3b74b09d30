//! MULTI/EXEC/DISCARD/WATCH/UNWATCH.
//!
//! A transaction's data commands must share one slot (with the watched
//! keys), so the whole transaction is one item in one partition's batch: it
//! is atomic, costs one log entry, and the watch check runs at apply time on
//! the partition's single writer. Watched keys are remembered with the
//! version they had; EXEC aborts if any version moved.

use super::{Resolved, ServerCommand};
use crate::dispatch::{command_slot, CROSSSLOT};
use crate::node::Node;
use crate::partition::Proposal;
use crate::session::{Multi, Session};
use bytes::Bytes;
use weir_protocol::Frame;
use weir_state::key_slot;

/// Keyless commands that may be queued: they run on the node at EXEC and
/// their replies are spliced in order.
const LOCAL_IN_MULTI: [ServerCommand; 3] = [ServerCommand::Ping, ServerCommand::Echo, ServerCommand::Time];

/// Commands that act on the transaction itself rather than being queued.
pub fn runs_inside_multi(resolved: Resolved) -> bool {
    matches!(
        resolved,
        Resolved::Server(
            ServerCommand::Exec
                | ServerCommand::Discard
                | ServerCommand::Multi
                | ServerCommand::Watch
                | ServerCommand::Quit
                | ServerCommand::Reset,
            _,
            _
        )
    )
}

/// Marks the open transaction as failed (Redis's EXECABORT rule).
pub fn flag_error(session: &mut Session) {
    if let Some(multi) = session.multi.as_mut() {
        multi.aborted = true;
    }
}

/// Queues a command between MULTI and EXEC.
pub fn queue(session: &mut Session, resolved: Resolved, args: Vec<Bytes>) -> Frame {
    let watch_slot = session.watch_slot;
    let Some(multi) = session.multi.as_mut() else { return Frame::error("ERR internal: no transaction") };
    let slot = match resolved {
        Resolved::Data(spec, _) => match command_slot(spec, &args) {
            Ok(slot) => Some(slot),
            Err(error) => return fail(multi, error),
        },
        Resolved::Server(command, _, _) if LOCAL_IN_MULTI.contains(&command) => None,
        // A keyless script may run on whichever partition the rest uses.
        Resolved::Server(command, spec, _) if crate::dispatch::eval_kind(command).is_some() => {
            match spec.key_indexes(&args).next() {
                None => None,
                Some(_) => match command_slot(spec, &args) {
                    Ok(slot) => Some(slot),
                    Err(error) => return fail(multi, error),
                },
            }
        }
        // Redis's own refusal for the commands it marks so (SAVE, SHUTDOWN).
        Resolved::Server(_, spec, _) if weir_state::spec::has_flag(spec.flags, "no_multi") => {
            return fail(multi, Frame::error("ERR Command not allowed inside a transaction"))
        }
        Resolved::Server(_, spec, _) => {
            return fail(multi, Frame::error(format!("ERR '{}' is not allowed inside a transaction", spec.name)))
        }
    };
    if let Some(slot) = slot {
        let expected = multi.slot.or(watch_slot);
        if expected.is_some_and(|s| s != slot) {
            return fail(multi, Frame::error(CROSSSLOT));
        }
        multi.slot = Some(slot);
    }
    multi.commands.push(args);
    Frame::simple("QUEUED")
}

fn fail(multi: &mut Multi, error: Frame) -> Frame {
    multi.aborted = true;
    error
}

pub async fn run(node: &Node, session: &mut Session, command: ServerCommand, args: &[Bytes]) -> Frame {
    match command {
        ServerCommand::Multi => {
            if session.multi.is_some() {
                return Frame::error("ERR MULTI calls can not be nested");
            }
            session.multi = Some(Multi::default());
            Frame::ok()
        }
        ServerCommand::Discard => match session.multi.take() {
            None => Frame::error("ERR DISCARD without MULTI"),
            Some(_) => {
                session.unwatch();
                Frame::ok()
            }
        },
        ServerCommand::Watch => watch(node, session, &args[1..]).await,
        ServerCommand::Unwatch => {
            session.unwatch();
            Frame::ok()
        }
        ServerCommand::Exec => exec(node, session).await,
        _ => Frame::error("ERR internal: not a transaction command"),
    }
}

async fn watch(node: &Node, session: &mut Session, keys: &[Bytes]) -> Frame {
    if session.multi.is_some() {
        return Frame::error("ERR WATCH inside MULTI is not allowed");
    }
    let slot = key_slot(&keys[0]);
    if keys.iter().any(|k| key_slot(k) != slot) || session.watch_slot.is_some_and(|s| s != slot) {
        return Frame::error(CROSSSLOT);
    }
    let partition = node.partition_for_slot(slot);
    let versions = partition.with_state(Some(node.config.busy_script), |m| {
        keys.iter().map(|key| (Bytes::copy_from_slice(key), m.db.key_version(key))).collect::<Vec<_>>()
    });
    match versions.await {
        Ok(versions) => session.watches.extend(versions),
        Err(busy) => return busy,
    }
    session.watch_slot = Some(slot);
    Frame::ok()
}

async fn exec(node: &Node, session: &mut Session) -> Frame {
    let Some(multi) = session.multi.take() else { return Frame::error("ERR EXEC without MULTI") };
    let watches = std::mem::take(&mut session.watches);
    let watch_slot = session.watch_slot.take();
    if multi.aborted {
        return Frame::error("EXECABORT Transaction discarded because of previous errors.");
    }
    let grows = |args: &Vec<Bytes>| super::resolve(&args[0]).is_some_and(crate::dispatch::grows_memory);
    if node.memory.over_limit() && multi.commands.iter().any(grows) {
        return Frame::error(format!("EXECABORT Transaction discarded because of: {}", crate::memory::OOM));
    }
    let mut is_data = Vec::with_capacity(multi.commands.len());
    let mut slots = Vec::with_capacity(multi.commands.len());
    let (mut data, mut local) = (Vec::new(), Vec::new());
    for args in multi.commands {
        let resolved = super::resolve(&args[0]);
        slots.push(resolved.map(|r| r.index()));
        let queued = at_exec(node, session, resolved, args);
        is_data.push(matches!(queued, Queued::Partition(_)));
        match queued {
            Queued::Partition(args) => data.push(args),
            Queued::Local(reply) => local.push(reply),
        }
    }
    let slot = multi.slot.or(watch_slot).or_else(|| (!data.is_empty()).then_some(0));
    let data_replies = match slot {
        None => Vec::new(),
        Some(slot) => {
            let partition = node.partition_for_slot(slot);
            match partition.write(Proposal::Transaction { watches, commands: data }).await {
                Frame::Array(replies) => replies,
                other => return other,
            }
        }
    };
    let replies = splice(&is_data, data_replies, local);
    count_inner(node, &slots, &replies);
    replies
}

/// Counts each command the transaction ran in its own INFO commandstats
/// line, as Redis does (EXEC's line holds the transaction's time; theirs
/// get calls and failures).
fn count_inner(node: &Node, slots: &[Option<usize>], replies: &Frame) {
    let Frame::Array(replies) = replies else { return };
    debug_assert_eq!(slots.len(), replies.len(), "one reply per queued command");
    for (slot, reply) in slots.iter().zip(replies) {
        if let Some(stats) = slot.and_then(|i| node.stats.commands.get(i)) {
            stats.record(std::time::Duration::ZERO, reply.is_error());
        }
    }
}

/// A queued command as EXEC runs it: on the partition, or answered here.
enum Queued {
    Partition(Vec<Bytes>),
    Local(Frame),
}

/// Keyless commands answer on the node; a script is resolved now (EVALSHA
/// may find its script flushed, as in Redis) and logged with its text.
fn at_exec(node: &Node, session: &Session, resolved: Option<Resolved>, args: Vec<Bytes>) -> Queued {
    match resolved {
        Some(Resolved::Data(..)) => Queued::Partition(args),
        Some(Resolved::Server(command, spec, _)) => match crate::dispatch::eval_kind(command) {
            Some(kind) => match node.prepare_eval(session, spec, kind, &args) {
                Ok((_, call, _)) => Queued::Partition(call.to_command()),
                Err(reply) => Queued::Local(reply),
            },
            None => Queued::Local(super::connection::local_reply(node, &args)),
        },
        None => Queued::Local(super::unknown_command(&args)),
    }
}

/// Puts the partition's replies and the local commands' replies back in the
/// order the commands were queued.
fn splice(is_data: &[bool], data_replies: Vec<Frame>, local_replies: Vec<Frame>) -> Frame {
    let mut data = data_replies.into_iter();
    let mut local = local_replies.into_iter();
    let mut out = Vec::with_capacity(is_data.len());
    for &from_partition in is_data {
        let next = if from_partition { data.next() } else { local.next() };
        out.push(next.unwrap_or_else(|| Frame::error("ERR internal: transaction reply missing")));
    }
    Frame::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_keeps_queue_order() {
        let replies = splice(
            &[true, false, true, false],
            vec![Frame::Integer(1), Frame::Integer(2)],
            vec![Frame::simple("PONG"), Frame::bulk("hi")],
        );
        let expected = vec![Frame::Integer(1), Frame::simple("PONG"), Frame::Integer(2), Frame::bulk("hi")];
        assert_eq!(replies, Frame::Array(expected));
    }
}
