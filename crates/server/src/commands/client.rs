//! CLIENT ID, SETNAME, GETNAME, SETINFO, INFO, LIST, NO-EVICT, NO-TOUCH.

use super::{is, unknown_subcommand};
use crate::node::Node;
use crate::session::{ClientEntry, Session};
use bytes::Bytes;
use std::sync::atomic::Ordering::Relaxed;
use weir_protocol::Frame;

pub fn run(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let sub = &args[1];
    let arity = |n: usize| args.len() == n;
    let wrong = || Frame::error(format!("ERR wrong number of arguments for 'client|{}' command", lower(sub)));
    if is(sub, "id") && arity(2) {
        Frame::Integer(session.id as i64)
    } else if is(sub, "getname") && arity(2) {
        session.client.meta().name.map(Frame::Bulk).unwrap_or(Frame::Null)
    } else if is(sub, "setname") && arity(3) {
        match check_name(&args[2]) {
            Err(reply) => reply,
            Ok(()) => {
                let name = (!args[2].is_empty()).then(|| args[2].clone());
                session.client.update_meta(|m| m.name = name);
                Frame::ok()
            }
        }
    } else if is(sub, "setinfo") && arity(4) {
        setinfo(session, &args[2], &args[3])
    } else if is(sub, "info") && arity(2) {
        Frame::Verbatim(Bytes::from(describe(&session.client)))
    } else if is(sub, "list") {
        let text: String = node.clients.list().iter().map(|c| describe(c)).collect();
        Frame::Verbatim(Bytes::from(text))
    } else if (is(sub, "no-evict") || is(sub, "no-touch")) && arity(3) {
        Frame::ok()
    } else if ["id", "getname", "setname", "setinfo", "info", "no-evict", "no-touch"].iter().any(|s| is(sub, s)) {
        wrong()
    } else {
        unknown_subcommand(sub, "client")
    }
}

fn lower(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_lowercase()
}

/// Redis refuses names with spaces or non-printable characters.
pub fn check_name(name: &[u8]) -> Result<(), Frame> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(Frame::error("ERR Client names cannot contain spaces, newlines or special characters."));
    }
    Ok(())
}

fn setinfo(session: &mut Session, attr: &[u8], value: &Bytes) -> Frame {
    if value.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Frame::error(format!("ERR {} cannot contain spaces, newlines or special characters.", lower(attr)));
    }
    let value = (!value.is_empty()).then(|| value.clone());
    if is(attr, "lib-name") {
        session.client.update_meta(|m| m.lib_name = value);
    } else if is(attr, "lib-ver") {
        session.client.update_meta(|m| m.lib_ver = value);
    } else {
        return Frame::error(format!("ERR Unrecognized option '{}'", String::from_utf8_lossy(attr)));
    }
    Frame::ok()
}

/// One CLIENT LIST line, with Redis's field names.
fn describe(client: &ClientEntry) -> String {
    let meta = client.meta();
    let text = |b: &Option<Bytes>| b.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
    let addr = client.addr.map(|a| a.to_string()).unwrap_or_default();
    let laddr = client.local.map(|a| a.to_string()).unwrap_or_default();
    let age = client.created.elapsed().as_secs();
    let idle_ms = (client.created.elapsed().as_millis() as u64).saturating_sub(client.last_active_ms.load(Relaxed));
    let last = client.last_command.load(Relaxed);
    let cmd = super::all_specs().nth(last).map(|s| s.name).unwrap_or("NULL");
    let [sub, psub, ssub] = client.subscriptions.each_ref().map(|n| n.load(Relaxed));
    // Redis's flags: P for a subscriber, N for none.
    let flags = if sub + psub + ssub > 0 { "P" } else { "N" };
    format!(
        "id={} addr={addr} laddr={laddr} fd=-1 name={} age={age} idle={} flags={flags} db=0 sub={sub} psub={psub} ssub={ssub} multi=-1 qbuf=0 qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem=0 tot-mem=0 events=r cmd={cmd} user=default redir=-1 resp={} lib-name={} lib-ver={}\n",
        client.id,
        text(&meta.name),
        idle_ms / 1000,
        client.resp.load(Relaxed),
        text(&meta.lib_name),
        text(&meta.lib_ver),
    )
}
