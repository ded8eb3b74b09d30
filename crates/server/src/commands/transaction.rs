//! MULTI/EXEC/DISCARD/WATCH/UNWATCH.
//!
//! A transaction's data commands must share one slot (with the watched
//! keys; else EXEC answers CROSSSLOT, as on a Redis cluster node), so the
//! whole transaction is one item in one partition's batch: it is atomic,
//! costs one log entry, and the watch check runs at apply time on the
//! partition's single writer. Watched keys are remembered with the
//! version they had; EXEC aborts if any version moved. PUBLISH and
//! SPUBLISH may be queued: they publish once the transaction's writes are
//! durable and applied, so a subscriber never hears of a write it could
//! not yet read, and not at all when EXEC aborts.

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

/// Published once the transaction's writes are durable (and not at all if
/// a watched key moved), in the order queued, as Redis publishes at EXEC.
const PUBLISH_IN_MULTI: [ServerCommand; 2] = [ServerCommand::Publish, ServerCommand::Spublish];

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
        // A keyless script may run on whichever partition the rest uses; a
        // shard channel is a key, as on a cluster node.
        Resolved::Server(command, spec, _)
            if crate::dispatch::eval_kind(command).is_some() || PUBLISH_IN_MULTI.contains(&command) =>
        {
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
        // Each command is queued; the transaction as a whole is refused at
        // EXEC, as a Redis cluster node refuses it.
        match multi.slot.or(watch_slot) {
            Some(expected) if expected != slot => multi.crossslot = true,
            _ => multi.slot = Some(slot),
        }
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
    if multi.crossslot {
        return Frame::error(CROSSSLOT);
    }
    if multi.aborted {
        return Frame::error("EXECABORT Transaction discarded because of previous errors.");
    }
    let grows = |args: &Vec<Bytes>| super::resolve(&args[0]).is_some_and(crate::dispatch::grows_memory);
    if node.memory.over_limit() && multi.commands.iter().any(grows) {
        return Frame::error(format!("EXECABORT Transaction discarded because of: {}", crate::memory::OOM));
    }
    let mut slots = Vec::with_capacity(multi.commands.len());
    let mut order: Vec<Queued> = multi
        .commands
        .into_iter()
        .map(|args| {
            let resolved = super::resolve(&args[0]);
            slots.push(resolved.map(|r| r.index()));
            at_exec(node, session, resolved, args)
        })
        .collect();
    // The partition's commands move into its entry; their places stay.
    let data: Vec<Vec<Bytes>> = order
        .iter_mut()
        .filter_map(|queued| match queued {
            Queued::Partition(args) => Some(std::mem::take(args)),
            _ => None,
        })
        .collect();
    let slot = multi.slot.or(watch_slot).or_else(|| (!data.is_empty()).then_some(0));
    let data_replies = match slot {
        None => Vec::new(),
        Some(slot) => {
            let partition = node.partition_for_slot(slot);
            match partition.write(Proposal::Transaction { watches, commands: data }).await {
                Frame::Array(replies) => replies,
                // Aborted (a watched key moved) or refused: nothing published.
                other => return other,
            }
        }
    };
    let publish = |args: &[Bytes], shard| Frame::Integer(node.pubsub.publish(&args[1], &args[2], shard) as i64);
    let replies = splice(order, data_replies, publish);
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

/// A queued command as EXEC runs it: on the partition, answered here, or
/// published after the partition's writes.
enum Queued {
    Partition(Vec<Bytes>),
    Local(Frame),
    /// The command's arguments, and whether the channel is a shard's.
    Publish(Vec<Bytes>, bool),
}

/// Keyless commands answer on the node; a script is resolved now (EVALSHA
/// may find its script flushed, as in Redis) and logged with its text.
fn at_exec(node: &Node, session: &Session, resolved: Option<Resolved>, args: Vec<Bytes>) -> Queued {
    match resolved {
        Some(Resolved::Data(..)) => Queued::Partition(args),
        Some(Resolved::Server(ServerCommand::Publish, _, _)) => Queued::Publish(args, false),
        Some(Resolved::Server(ServerCommand::Spublish, _, _)) => Queued::Publish(args, true),
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

/// The replies in the order the commands were queued: the partition's in
/// turn, the local ones as answered, and each publish made now, in order.
fn splice(order: Vec<Queued>, data_replies: Vec<Frame>, mut publish: impl FnMut(&[Bytes], bool) -> Frame) -> Frame {
    let mut data = data_replies.into_iter();
    let replies = order.into_iter().map(|queued| match queued {
        Queued::Partition(_) => data.next().unwrap_or_else(|| Frame::error("ERR internal: transaction reply missing")),
        Queued::Local(reply) => reply,
        Queued::Publish(args, shard) => publish(&args, shard),
    });
    Frame::Array(replies.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splice_keeps_queue_order() {
        let order = vec![
            Queued::Partition(Vec::new()),
            Queued::Local(Frame::simple("PONG")),
            Queued::Publish(vec![Bytes::from("PUBLISH"), Bytes::from("c"), Bytes::from("m")], false),
            Queued::Partition(Vec::new()),
            Queued::Publish(vec![Bytes::from("SPUBLISH"), Bytes::from("s"), Bytes::from("n")], true),
        ];
        let mut published = Vec::new();
        let replies = splice(order, vec![Frame::Integer(1), Frame::Integer(2)], |args, shard| {
            published.push((args[1].clone(), shard));
            Frame::Integer(published.len() as i64 * 10)
        });
        let expected =
            vec![Frame::Integer(1), Frame::simple("PONG"), Frame::Integer(10), Frame::Integer(2), Frame::Integer(20)];
        assert_eq!(replies, Frame::Array(expected));
        assert_eq!(published, vec![(Bytes::from("c"), false), (Bytes::from("s"), true)]);
    }
}
