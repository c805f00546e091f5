//! What a [`crate::ClusterNode`] reports: member views, events, counters.

use std::time::Duration;

use crate::identity::NodeId;
use crate::load::LoadVector;

/// A member's state as this node sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Answers probes.
    Alive,
    /// Missed a probe; declared dead unless it refutes in time.
    Suspect,
    /// Declared dead by the failure detector (crashed or unreachable).
    Dead,
    /// Announced its departure (graceful leave).
    Left,
}

impl MemberState {
    /// Lowercase name for displays and JSON (`alive`, `suspect`, `dead`, `left`).
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Alive => "alive",
            MemberState::Suspect => "suspect",
            MemberState::Dead => "dead",
            MemberState::Left => "left",
        }
    }
}

/// One row of [`crate::ClusterNode::members`].
#[derive(Debug, Clone, PartialEq)]
pub struct MemberView {
    /// Identity (address and generation).
    pub id: NodeId,
    /// Name from its load vector (empty until a vector arrived).
    pub name: String,
    /// Membership state.
    pub state: MemberState,
    /// Whether this row is the local node.
    pub is_self: bool,
    /// Its freshest load vector, if any arrived.
    pub load: Option<LoadVector>,
    /// How long ago (local time) that vector arrived.
    pub load_age: Option<Duration>,
}

/// Something the daemon may want to log or react to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClusterEvent {
    /// This node is known by at least one member (joined the cluster).
    Joined,
    /// Every known member is gone; this node is alone.
    Isolated,
    /// The cluster had declared this node dead; it rejoined as `id`.
    Rejoined {
        /// The new identity.
        id: NodeId,
    },
    /// A member became active.
    MemberUp {
        /// Its identity.
        id: NodeId,
    },
    /// A member restarted (or renewed itself) with a new generation.
    MemberRestarted {
        /// The identity it had.
        old: NodeId,
        /// The identity it has now.
        new: NodeId,
    },
    /// A member went away: `Dead` (detected) or `Left` (announced).
    MemberDown {
        /// Its identity.
        id: NodeId,
        /// `Dead` or `Left`.
        state: MemberState,
    },
    /// A member announced its departure (may come before or after `MemberDown`).
    MemberLeft {
        /// Its identity.
        id: NodeId,
    },
}

/// Traffic and work counters of one node (for `wend nodes`, logs, benchmarks).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Datagrams sent.
    pub datagrams_sent: u64,
    /// Bytes sent (sealed, as on the wire).
    pub bytes_sent: u64,
    /// Of those, SWIM membership datagrams (probes, acks, updates).
    pub membership_bytes_sent: u64,
    /// Of those, pushed load rumours.
    pub rumour_bytes_sent: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Datagrams refused (undecodable, unauthentic, refused by foca).
    pub rejected: u64,
    /// Load vectors decoded from peers.
    pub vectors_received: u64,
    /// Of those, how many were news.
    pub vectors_merged: u64,
}
