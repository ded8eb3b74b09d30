//! PING, ECHO, HELLO, AUTH, SELECT, QUIT, RESET.

use super::{is, ServerCommand};
use crate::node::Node;
use crate::session::Session;
use bytes::Bytes;
use std::sync::atomic::Ordering::Relaxed;
use weir_protocol::{Frame, Version};

/// The Redis version weir answers as: clients gate features on it.
pub const REDIS_COMPAT_VERSION: &str = "7.2.4";

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";
const NO_PASSWORD: &str = "ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?";

pub fn run(node: &Node, session: &mut Session, command: ServerCommand, args: &[Bytes]) -> Frame {
    match command {
        ServerCommand::Ping => super::pubsub::subscribed_ping(session, args).unwrap_or_else(|| local_reply(node, args)),
        ServerCommand::Echo => local_reply(node, args),
        ServerCommand::Hello => hello(node, session, &args[1..]),
        ServerCommand::Auth => auth(node, session, &args[1..]),
        ServerCommand::Select => match super::parse_i64(&args[1]) {
            None => super::not_an_integer(),
            Some(0) => Frame::ok(),
            // A cluster of one has database 0 only, as a Redis Cluster node.
            Some(_) => Frame::error("ERR SELECT is not allowed in cluster mode"),
        },
        ServerCommand::Quit => {
            session.closing = true;
            Frame::ok()
        }
        ServerCommand::Reset => {
            node.pubsub.unsubscribe_all(&mut session.pubsub, session.id);
            session.subscriptions_changed();
            session.multi = None;
            session.unwatch();
            session.version = Version::Resp2;
            session.authenticated = node.config.requirepass.is_none();
            session.client.update_meta(|m| m.name = None);
            Frame::simple("RESET")
        }
        _ => Frame::error("ERR internal: not a connection command"),
    }
}

/// Replies of keyless commands that may also run inside MULTI.
pub fn local_reply(node: &Node, args: &[Bytes]) -> Frame {
    let name = &args[0];
    if is(name, "ping") {
        match args.len() {
            1 => Frame::simple("PONG"),
            2 => Frame::Bulk(args[1].clone()),
            _ => super::wrong_arity(&super::SERVER_COMMANDS[0].1),
        }
    } else if is(name, "echo") {
        Frame::Bulk(args[1].clone())
    } else {
        super::introspection::time(node)
    }
}

fn hello(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let mut version = session.version;
    let mut rest = args;
    if let Some(first) = args.first() {
        version = match super::parse_i64(first) {
            Some(2) => Version::Resp2,
            Some(3) => Version::Resp3,
            Some(_) => return Frame::error("NOPROTO unsupported protocol version"),
            None => return Frame::error("ERR Protocol version is not an integer or out of range"),
        };
        rest = &args[1..];
    }
    let mut name = None;
    while let Some(option) = rest.first() {
        if is(option, "auth") && rest.len() >= 3 {
            if let Err(reply) = check_password(node, &rest[1], &rest[2]) {
                return reply;
            }
            session.authenticated = true;
            rest = &rest[3..];
        } else if is(option, "setname") && rest.len() >= 2 {
            if let Err(reply) = super::client::check_name(&rest[1]) {
                return reply;
            }
            name = Some(rest[1].clone());
            rest = &rest[2..];
        } else {
            return Frame::error(format!("ERR Syntax error in HELLO option '{}'", String::from_utf8_lossy(option)));
        }
    }
    if !session.authenticated {
        return Frame::error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
    }
    if let Some(name) = name {
        session.client.update_meta(|m| m.name = Some(name));
    }
    session.version = version;
    session.client.resp.store(if version == Version::Resp3 { 3 } else { 2 }, Relaxed);
    hello_reply(session.id, version)
}

fn hello_reply(id: u64, version: Version) -> Frame {
    let proto = if version == Version::Resp3 { 3 } else { 2 };
    let pair = |k: &'static str, v: Frame| (Frame::bulk(Bytes::from_static(k.as_bytes())), v);
    Frame::Map(vec![
        pair("server", Frame::bulk("redis")),
        pair("version", Frame::bulk(REDIS_COMPAT_VERSION)),
        pair("proto", Frame::Integer(proto)),
        pair("id", Frame::Integer(id as i64)),
        pair("mode", Frame::bulk("cluster")),
        pair("role", Frame::bulk("master")),
        pair("modules", Frame::Array(Vec::new())),
    ])
}

fn auth(node: &Node, session: &mut Session, args: &[Bytes]) -> Frame {
    let (user, password) = match args {
        [password] => (Bytes::from_static(b"default"), password),
        [user, password] => (user.clone(), password),
        _ => return super::syntax_error(),
    };
    if node.config.requirepass.is_none() && args.len() == 1 {
        return Frame::error(NO_PASSWORD);
    }
    match check_password(node, &user, password) {
        Ok(()) => {
            session.authenticated = true;
            Frame::ok()
        }
        Err(reply) => reply,
    }
}

/// Only the `default` user exists. Compared in constant time so the reply
/// time says nothing about how much of the password matched.
fn check_password(node: &Node, user: &[u8], password: &[u8]) -> Result<(), Frame> {
    let Some(expected) = node.config.requirepass.as_deref() else {
        // No password configured: any password for `default` is accepted, as in Redis.
        return if user == b"default" { Ok(()) } else { Err(Frame::error(WRONGPASS)) };
    };
    if user == b"default" && constant_time_eq(expected.as_bytes(), password) {
        Ok(())
    } else {
        Err(Frame::error(WRONGPASS))
    }
}

/// Equality whose running time depends only on the lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = u8::from(a.len() != b.len());
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0xff);
        diff |= x ^ y;
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn constant_time_eq_is_equality() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secrets"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}
