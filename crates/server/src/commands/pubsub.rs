//! SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, their UNSUBSCRIBEs, PUBLISH,
//! SPUBLISH and PUBSUB, with Redis 7's replies (the registry and the
//! mailboxes are `crate::pubsub`).

use super::ServerCommand;
use crate::dispatch::{Reply, CROSSSLOT};
use crate::node::Node;
use crate::pubsub::{Kind, MAX_SUBSCRIPTIONS};
use crate::session::Session;
use bytes::Bytes;
use weir_protocol::{Frame, Version};
use weir_state::cmd::{check_subcommand, help};

const SUBCOMMANDS: &[(&str, i32)] =
    &[("channels", -2), ("help", 2), ("numpat", 2), ("numsub", -2), ("shardchannels", -2), ("shardnumsub", -2)];

const HELP: &[&str] = &[
    "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CHANNELS [<pattern>]",
    "    Return the currently active channels matching a <pattern> (default: '*').",
    "NUMPAT",
    "    Return number of subscriptions to patterns.",
    "NUMSUB [<channel> ...]",
    "    Return the number of subscribers for the specified channels, excluding",
    "    pattern subscriptions(default: no channels).",
    "SHARDCHANNELS [<pattern>]",
    "    Return the currently active shard level channels matching a <pattern> (default: '*').",
    "SHARDNUMSUB [<shardchannel> ...]",
    "    Return the number of subscribers for the specified shard level channel(s)",
    "HELP",
    "    Print this help.",
];

/// The SUBSCRIBE family (and their UNSUBSCRIBEs).
fn subscribes(command: ServerCommand) -> bool {
    use ServerCommand as C;
    matches!(command, C::Subscribe | C::Unsubscribe | C::Psubscribe | C::Punsubscribe | C::Ssubscribe | C::Sunsubscribe)
}

/// The commands this module runs.
pub fn handles(command: ServerCommand) -> bool {
    use ServerCommand as C;
    subscribes(command) || matches!(command, C::Publish | C::Spublish | C::Pubsub)
}

/// The commands a RESP2 connection may send while subscribed.
pub fn allowed_while_subscribed(command: ServerCommand) -> bool {
    use ServerCommand as C;
    subscribes(command) || matches!(command, C::Ping | C::Quit | C::Reset)
}

/// Redis's refusal of `name` (the full name: `pubsub|numsub`) on a RESP2
/// connection in the subscribed state.
pub fn refused_while_subscribed(name: &str) -> Frame {
    Frame::error(format!(
        "ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
    ))
}

/// PING on a subscribed RESP2 connection: `pong` and the argument, as an
/// array (RESP3 answers it as ever).
pub fn subscribed_ping(session: &Session, args: &[Bytes]) -> Option<Frame> {
    if session.version != Version::Resp2 || !session.pubsub.active() {
        return None;
    }
    let echoed = args.get(1).cloned().unwrap_or_default();
    Some(Frame::Array(vec![Frame::bulk("pong"), Frame::Bulk(echoed)]))
}

pub fn run(node: &Node, session: &mut Session, command: ServerCommand, args: &[Bytes]) -> Reply {
    let reply = dispatch(node, session, command, args);
    if subscribes(command) {
        session.subscriptions_changed();
    }
    reply
}

fn dispatch(node: &Node, session: &mut Session, command: ServerCommand, args: &[Bytes]) -> Reply {
    use ServerCommand as C;
    match command {
        C::Subscribe => Reply::Several(subscribe(node, session, Kind::Channel, &args[1..])),
        C::Psubscribe => Reply::Several(subscribe(node, session, Kind::Pattern, &args[1..])),
        C::Ssubscribe => match same_slot(&args[1..]) {
            true => Reply::Several(subscribe(node, session, Kind::Shard, &args[1..])),
            false => Reply::Now(Frame::error(CROSSSLOT)),
        },
        C::Unsubscribe => Reply::Several(unsubscribe(node, session, Kind::Channel, &args[1..])),
        C::Punsubscribe => Reply::Several(unsubscribe(node, session, Kind::Pattern, &args[1..])),
        C::Sunsubscribe => match same_slot(&args[1..]) {
            true => Reply::Several(unsubscribe(node, session, Kind::Shard, &args[1..])),
            false => Reply::Now(Frame::error(CROSSSLOT)),
        },
        C::Publish => Reply::Now(Frame::Integer(node.pubsub.publish(&args[1], &args[2], false) as i64)),
        C::Spublish => Reply::Now(Frame::Integer(node.pubsub.publish(&args[1], &args[2], true) as i64)),
        _ => Reply::Now(pubsub(node, args)),
    }
}

/// Shard channels are keys: in a cluster those of one command share a slot.
fn same_slot(channels: &[Bytes]) -> bool {
    let mut slots = channels.iter().map(|c| weir_state::key_slot(c));
    let first = slots.next();
    slots.all(|s| Some(s) == first)
}

/// One confirmation per name, in order; a refusal past the bound ends
/// the list.
fn subscribe(node: &Node, session: &mut Session, kind: Kind, names: &[Bytes]) -> Vec<Frame> {
    let (word, _) = kind.words();
    let mut replies = Vec::with_capacity(names.len());
    for name in names {
        match node.pubsub.subscribe(&mut session.pubsub, session.id, kind, name) {
            Ok(count) => replies.push(confirmation(word, Frame::Bulk(name.clone()), count)),
            Err(_) => {
                let limit = format!("ERR too many subscriptions: at most {MAX_SUBSCRIPTIONS} per connection");
                replies.push(Frame::error(limit));
                break;
            }
        }
    }
    replies
}

/// From `names`, or from everything held of `kind` when none are given.
fn unsubscribe(node: &Node, session: &mut Session, kind: Kind, names: &[Bytes]) -> Vec<Frame> {
    let (_, word) = kind.words();
    let names = match names {
        [] => session.pubsub.names(kind),
        names => names.to_vec(),
    };
    if names.is_empty() {
        return vec![confirmation(word, Frame::Null, session.pubsub.count(kind))];
    }
    let unsubscribed = names.into_iter().map(|name| {
        let count = node.pubsub.unsubscribe(&mut session.pubsub, session.id, kind, &name);
        confirmation(word, Frame::Bulk(name), count)
    });
    unsubscribed.collect()
}

fn confirmation(word: &'static str, name: Frame, count: usize) -> Frame {
    Frame::Push(vec![Frame::bulk(word), name, Frame::Integer(count as i64)])
}

fn pubsub(node: &Node, args: &[Bytes]) -> Frame {
    let sub = match check_subcommand("PUBSUB", SUBCOMMANDS, args) {
        Ok(sub) => sub,
        Err(error) => return error,
    };
    let names = |kind: Kind| {
        let active = node.pubsub.active(kind, args.get(2).map(|p| p.as_ref()));
        Frame::Array(active.into_iter().map(Frame::Bulk).collect())
    };
    let counts = |kind: Kind| {
        let pairs = args[2..]
            .iter()
            .flat_map(|name| [Frame::Bulk(name.clone()), Frame::Integer(node.pubsub.subscribers(kind, name) as i64)]);
        Frame::Array(pairs.collect())
    };
    match sub.as_str() {
        "help" => help(HELP),
        "channels" => names(Kind::Channel),
        "shardchannels" => names(Kind::Shard),
        "numsub" => counts(Kind::Channel),
        "shardnumsub" => counts(Kind::Shard),
        _ => Frame::Integer(node.pubsub.count(Kind::Pattern) as i64),
    }
}
