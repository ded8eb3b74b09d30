//! CLUSTER, READONLY, READWRITE and ASKING: the node as Redis Cluster
//! clients see it.
//!
//! A single node is a cluster of one: it serves every one of the 16,384
//! slots (`weir_state::slot`), so a cluster-aware client that asks CLUSTER
//! SLOTS or SHARDS routes everything here and never meets a redirect. The
//! node's name, Redis's 40-hex-digit node id, is its Raft node id in hex:
//! one identity for both. The node has no cluster bus (its peers will speak
//! Raft), so CLUSTER NODES shows bus port 0 and CLUSTER LINKS is empty.
//! Subcommands that reshape a Redis cluster (ADDSLOTS, MEET, SETSLOT, ...)
//! are not offered: the slot map follows the partitions. COUNTKEYSINSLOT
//! and GETKEYSINSLOT are not offered either: a partition keeps no per-slot
//! index, and scanning one for them would hold it for as long as it is
//! large.

use crate::node::Node;
use crate::session::Session;
use bytes::Bytes;
use std::net::SocketAddr;
use weir_protocol::Frame;
use weir_state::cmd::{check_subcommand, help};
use weir_state::SLOT_COUNT;

const SUBCOMMANDS: &[(&str, i32)] =
    &[("help", 2), ("info", 2), ("keyslot", 3), ("links", 2), ("myid", 2), ("nodes", 2), ("shards", 2), ("slots", 2)];

const HELP: &[&str] = &[
    "CLUSTER <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "INFO",
    "    Return information about the cluster.",
    "KEYSLOT <key>",
    "    Return the hash slot for <key>.",
    "LINKS",
    "    Return information about all network links between this node and its peers.",
    "    (weir: none; its peers speak Raft.)",
    "MYID",
    "    Return the node id.",
    "NODES",
    "    Return cluster configuration seen by node. Output format:",
    "    <id> <ip:port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
    "SHARDS",
    "    Return information about slot range mappings and the nodes associated with them.",
    "SLOTS",
    "    Return information about slots range mappings. Each range is made of:",
    "    start, end, master and replicas IP addresses, ports and ids",
    "HELP",
    "    Prints this help.",
];

/// The slots this node serves: all of them, as one range.
const SERVED: (u16, u16) = (0, SLOT_COUNT - 1);

pub fn run(node: &Node, session: &Session, args: &[Bytes]) -> Frame {
    let sub = match check_subcommand("CLUSTER", SUBCOMMANDS, args) {
        Ok(sub) => sub,
        Err(error) => return error,
    };
    let me = Me { name: node_name(node.config.node_id), addr: advertised(node, session) };
    match sub.as_str() {
        "help" => help(HELP),
        "info" => Frame::Verbatim(Bytes::from(info())),
        "keyslot" => Frame::Integer(i64::from(weir_state::key_slot(&args[2]))),
        "links" => Frame::Array(Vec::new()),
        "myid" => Frame::bulk(me.name),
        "nodes" => Frame::Verbatim(Bytes::from(me.nodes_line())),
        "shards" => Frame::Array(vec![me.shard()]),
        _ => Frame::Array(vec![me.slot_range()]),
    }
}

/// Redis's 40-hex-digit node id for a Raft node id.
pub fn node_name(node_id: u64) -> String {
    format!("{node_id:040x}")
}

/// The address clients reach this node at: the listener's, or, when it
/// listens on every interface, the one this client connected to.
fn advertised(node: &Node, session: &Session) -> SocketAddr {
    let mut addr = node.resp_addr;
    if addr.ip().is_unspecified() {
        if let Some(local) = session.client.local {
            addr.set_ip(local.ip());
        }
    }
    addr
}

/// CLUSTER INFO of a healthy cluster of one, field for field as Redis 7.
fn info() -> String {
    let slots = u32::from(SLOT_COUNT);
    format!(
        "cluster_state:ok\r\ncluster_slots_assigned:{slots}\r\ncluster_slots_ok:{slots}\r\n\
         cluster_slots_pfail:0\r\ncluster_slots_fail:0\r\ncluster_known_nodes:1\r\ncluster_size:1\r\n\
         cluster_current_epoch:0\r\ncluster_my_epoch:0\r\ncluster_stats_messages_sent:0\r\n\
         cluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
    )
}

/// This node as the slot map names it.
struct Me {
    name: String,
    addr: SocketAddr,
}

impl Me {
    /// CLUSTER SLOTS' entry: start, end, then the master as ip, port, id
    /// and its networking metadata (none).
    fn slot_range(&self) -> Frame {
        let master = Frame::Array(vec![
            Frame::bulk(self.addr.ip().to_string()),
            Frame::Integer(i64::from(self.addr.port())),
            Frame::bulk(self.name.clone()),
            Frame::Map(Vec::new()),
        ]);
        Frame::Array(vec![Frame::Integer(i64::from(SERVED.0)), Frame::Integer(i64::from(SERVED.1)), master])
    }

    /// CLUSTER SHARDS' entry: the shard's slot ranges and its one node.
    fn shard(&self) -> Frame {
        let field = |name: &'static str, value: Frame| (Frame::bulk(name), value);
        let ip = self.addr.ip().to_string();
        let me = Frame::Map(vec![
            field("id", Frame::bulk(self.name.clone())),
            field("port", Frame::Integer(i64::from(self.addr.port()))),
            field("ip", Frame::bulk(ip.clone())),
            field("endpoint", Frame::bulk(ip)),
            field("role", Frame::bulk("master")),
            field("replication-offset", Frame::Integer(0)),
            field("health", Frame::bulk("online")),
        ]);
        let slots = vec![Frame::Integer(i64::from(SERVED.0)), Frame::Integer(i64::from(SERVED.1))];
        Frame::Map(vec![field("slots", Frame::Array(slots)), field("nodes", Frame::Array(vec![me]))])
    }

    /// CLUSTER NODES' line: id, ip:port@bus-port, flags, master, ping
    /// sent, pong received, config epoch, link state, slots.
    fn nodes_line(&self) -> String {
        let (ip, port) = (self.addr.ip(), self.addr.port());
        format!("{} {ip}:{port}@0 myself,master - 0 0 0 connected {}-{}\n", self.name, SERVED.0, SERVED.1)
    }
}

/// READONLY, READWRITE and ASKING: accepted, as a cluster node accepts
/// them; this node leads every slot, so none changes what a read sees.
pub fn accept() -> Frame {
    Frame::ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_are_forty_hex_digits() {
        assert_eq!(node_name(1), format!("{}1", "0".repeat(39)));
        assert_eq!(node_name(u64::MAX).len(), 40);
        assert!(node_name(0xabc).chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn one_node_serves_every_slot() {
        let me = Me { name: node_name(7), addr: ([10, 0, 0, 5], 6380).into() };
        let line = me.nodes_line();
        assert_eq!(line, format!("{} 10.0.0.5:6380@0 myself,master - 0 0 0 connected 0-16383\n", node_name(7)));
        let Frame::Array(range) = me.slot_range() else { panic!("an array") };
        assert_eq!(range[..2], [Frame::Integer(0), Frame::Integer(16383)]);
        assert!(info().contains("cluster_slots_assigned:16384\r\n"));
    }
}
