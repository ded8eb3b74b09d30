//! The openraft type configuration shared by every partition group.

use bytes::Bytes;
use std::io::Cursor;
use weir_protocol::Frame;

/// Members are numbered; a single node is member 1 unless configured.
pub type NodeId = u64;

/// A Raft entry's application payload: one batch of commands, already
/// encoded by `weir_state::batch::BatchBuilder`. Keeping it encoded means the
/// log writes these bytes as they are and the in-memory log holds one buffer
/// per entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request(pub Bytes);

/// The replies to a batch's items, in item order (empty for blank and
/// membership entries), and the keys the batch pushed to (so the leader can
/// wake clients blocked on them).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Response {
    pub replies: Vec<Frame>,
    pub ready: Vec<Bytes>,
}

openraft::declare_raft_types!(
    /// weir's Raft types.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = NodeId,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type Entry = openraft::Entry<TypeConfig>;
pub type LogId = openraft::LogId<NodeId>;
pub type Vote = openraft::Vote<NodeId>;
pub type Membership = openraft::Membership<NodeId, openraft::BasicNode>;
pub type StoredMembership = openraft::StoredMembership<NodeId, openraft::BasicNode>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;
