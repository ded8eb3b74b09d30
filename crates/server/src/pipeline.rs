//! A connection's pipelined writes, proposed together: consecutive plain
//! writes from one read of the socket that go to the same partition travel
//! to its writer as one proposal with one reply channel
//! ([`Proposal::Commands`]), instead of one channel send and one oneshot per
//! command. Their replies come back as one array and are handed out in
//! order.
//!
//! Order is kept: a group is proposed before anything else this connection
//! sends to any partition, and before any reply is awaited.

use crate::dispatch::abandoned;
use crate::node::Node;
use crate::partition::Proposal;
use bytes::Bytes;
use std::collections::VecDeque;
use tokio::sync::oneshot;
use weir_protocol::Frame;

/// Writes in one group at most (bounds a proposal like a pipeline's depth).
pub const MAX_GROUP: usize = 256;

/// The group being formed, and the proposed groups whose replies are not
/// all handed out yet.
#[derive(Default)]
pub struct Pipeline {
    forming: Option<(u32, Vec<Vec<Bytes>>)>,
    proposed: VecDeque<Proposed>,
}

struct Proposed {
    reply: Option<oneshot::Receiver<Frame>>,
    /// Writes in the group (each takes one reply).
    writes: usize,
    /// Replies received and not yet handed out.
    replies: std::vec::IntoIter<Frame>,
}

impl Pipeline {
    /// Adds a write for `partition`, first proposing the group being formed
    /// if it is for another partition or full. `returning`: whether the
    /// connection came straight back after its last reply
    /// (`Session::returning`), asked only when a group is proposed.
    pub async fn push(&mut self, node: &Node, partition: u32, args: Vec<Bytes>, returning: impl FnOnce() -> bool) {
        let full = self.forming.as_ref().is_some_and(|(p, writes)| *p != partition || writes.len() >= MAX_GROUP);
        if full {
            self.propose(node, returning()).await;
        }
        self.forming.get_or_insert_with(|| (partition, Vec::new())).1.push(args);
    }

    /// Proposes the group being formed, if any.
    pub async fn propose(&mut self, node: &Node, returning: bool) {
        let Some((partition, mut writes)) = self.forming.take() else { return };
        let count = writes.len();
        debug_assert!(count > 0, "a group holds at least one write");
        let proposal = match count {
            1 => Proposal::Command(writes.pop().expect("one write")),
            _ => Proposal::Commands(writes),
        };
        let reply = node.partitions[partition as usize].propose_from(proposal, returning).await;
        self.proposed.push_back(Proposed { reply: Some(reply), writes: count, replies: Vec::new().into_iter() });
    }

    /// The next write's reply, in order (its group must have been
    /// proposed), and whether it had to be waited for.
    pub async fn next_reply(&mut self) -> (Frame, bool) {
        let group = self.proposed.front_mut().expect("a grouped write's group was proposed");
        let mut waited = false;
        if let Some(mut reply) = group.reply.take() {
            let reply = match reply.try_recv() {
                Ok(frame) => frame,
                Err(oneshot::error::TryRecvError::Closed) => abandoned(),
                Err(oneshot::error::TryRecvError::Empty) => {
                    waited = true;
                    reply.await.unwrap_or_else(|_| abandoned())
                }
            };
            group.replies = spread(reply, group.writes).into_iter();
        }
        let reply = group.replies.next().expect("one reply per write");
        if group.replies.len() == 0 {
            self.proposed.pop_front();
        }
        (reply, waited)
    }
}

/// One reply per write: a group's array of replies, or its one error (a
/// refused or failed batch) for every write. A lone write's reply is its own.
fn spread(reply: Frame, writes: usize) -> Vec<Frame> {
    match reply {
        Frame::Array(replies) if writes > 1 && replies.len() == writes => replies,
        reply if writes == 1 => vec![reply],
        reply => vec![reply; writes],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_reply_is_spread_one_per_write() {
        let ok = Frame::Array(vec![Frame::Integer(1), Frame::Integer(2)]);
        assert_eq!(spread(ok, 2), vec![Frame::Integer(1), Frame::Integer(2)]);
        let busy = Frame::error("BUSY");
        assert_eq!(spread(busy.clone(), 3), vec![busy.clone(), busy.clone(), busy]);
        // A lone write's reply is its own, even an array (LPOP with a count).
        let popped = Frame::Array(vec![Frame::bulk("a")]);
        assert_eq!(spread(popped.clone(), 1), vec![popped]);
    }
}
