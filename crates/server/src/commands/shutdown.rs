//! SHUTDOWN: stopping the node from a client, as `redis-cli shutdown` does.
//!
//! Every acknowledged write is already durable in the log, so stopping
//! loses nothing whatever the flags: SAVE only writes a snapshot of every
//! partition first (a save point, so the next start replays less), and
//! NOSAVE, the default, skips it. NOW and FORCE are accepted: NOW skips a
//! wait for lagging replicas (none yet), FORCE stops even when the SAVE
//! fails. ABORT cancels a shutdown that is waiting, and none ever waits
//! here, so it answers as Redis does when none is in progress. On success
//! the client hears nothing: its connection closes, as with Redis.

use super::{is, persistence, syntax_error};
use crate::dispatch::Reply;
use crate::node::Node;
use bytes::Bytes;
use weir_protocol::Frame;

/// Redis's reply when a SHUTDOWN could not complete.
const FAILED: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

/// The flags of a SHUTDOWN.
#[derive(Debug, Default, PartialEq, Eq)]
struct Flags {
    save: bool,
    nosave: bool,
    force: bool,
    abort: bool,
}

fn parse(args: &[Bytes]) -> Option<Flags> {
    let mut flags = Flags::default();
    let mut others = false;
    for arg in args {
        match arg {
            a if is(a, "save") => flags.save = true,
            a if is(a, "nosave") => flags.nosave = true,
            a if is(a, "force") => flags.force = true,
            a if is(a, "abort") => flags.abort = true,
            a if is(a, "now") => others = true,
            _ => return None,
        }
    }
    // ABORT stands alone; SAVE and NOSAVE exclude each other.
    let abort_with_others = flags.abort && (flags.save || flags.nosave || flags.force || others);
    let refused = abort_with_others || (flags.save && flags.nosave);
    (!refused).then_some(flags)
}

/// `args` without the command name. `Reply::HangUp` once the node is told
/// to stop.
pub async fn run(node: &Node, args: &[Bytes]) -> Reply {
    let Some(flags) = parse(args) else { return Reply::Now(syntax_error()) };
    if flags.abort {
        return Reply::Now(Frame::error("ERR No shutdown in progress."));
    }
    if flags.save {
        let saved = persistence::save(node).await;
        if saved.is_error() {
            tracing::warn!(reply = ?saved, force = flags.force, "SHUTDOWN SAVE could not write a snapshot");
            if !flags.force {
                return Reply::Now(Frame::error(FAILED));
            }
        }
    }
    tracing::info!(save = flags.save, "SHUTDOWN from a client");
    node.request_shutdown();
    Reply::HangUp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(words: &[&str]) -> Option<Flags> {
        let args: Vec<Bytes> = words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())).collect();
        parse(&args)
    }

    #[test]
    fn flags_parse_as_redis_takes_them() {
        assert_eq!(flags(&[]), Some(Flags::default()));
        assert_eq!(flags(&["NOW", "force", "Save"]), Some(Flags { save: true, force: true, ..Flags::default() }));
        assert_eq!(flags(&["nosave", "nosave"]), Some(Flags { nosave: true, ..Flags::default() }));
        assert_eq!(flags(&["abort"]), Some(Flags { abort: true, ..Flags::default() }));
        for refused in [&["save", "nosave"][..], &["abort", "now"], &["abort", "force"], &["abort", "save"], &["later"]]
        {
            assert_eq!(flags(refused), None, "{refused:?}");
        }
    }
}
