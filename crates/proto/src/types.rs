//! The data carried by API messages.

use serde::{Deserialize, Serialize};

/// A node's membership state, as this daemon sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Answering.
    Alive,
    /// Not answering lately; may be declared dead soon.
    Suspect,
    /// Declared dead after failing to answer (crashed or cut off).
    Dead,
    /// Announced its own leave.
    Left,
}

impl NodeState {
    /// The lowercase name used in tables and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeState::Alive => "alive",
            NodeState::Suspect => "suspect",
            NodeState::Dead => "dead",
            NodeState::Left => "left",
        }
    }
}

impl std::fmt::Display for NodeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One row of `wend nodes`: a node and its last known load vector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// The node's name (unique in the cluster).
    pub name: String,
    /// Membership state.
    pub state: NodeState,
    /// The node's peer address (`IP:PORT`).
    pub addr: String,
    /// CPUs available to the node; fractional under a CPU quota.
    pub cpus: f64,
    /// CPU speed relative to the yardstick (1.0 = one yardstick CPU).
    pub speed: f64,
    /// Smoothed load, normalised by speed: 1.0 is one yardstick CPU fully busy.
    pub load: f64,
    /// Memory available for new work, bytes.
    pub mem_free: u64,
    /// Memory the node has in all, bytes.
    pub mem_total: u64,
    /// Guest processes running there.
    pub guests: u32,
    /// Whether it accepts guests.
    pub accepting: bool,
    /// True for the node answering this request.
    #[serde(default)]
    pub local: bool,
    /// Milliseconds since this node's load vector was last refreshed, if known.
    #[serde(default)]
    pub age_ms: Option<u64>,
}

/// The answer to a status request: this daemon, and who is asking.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaemonStatus {
    /// This node's name.
    pub name: String,
    /// The wend version of the daemon.
    pub version: String,
    /// The API version it speaks.
    pub api_version: u8,
    /// The peer address it listens on.
    pub listen: String,
    /// Seconds since it started.
    pub uptime_secs: u64,
    /// Nodes it knows alive, itself included.
    pub alive: u32,
    /// Nodes it knows at all, itself included.
    pub known: u32,
    /// Whether it accepts guests.
    pub accepting: bool,
    /// Whether multicast discovery is on.
    pub discovery: bool,
    /// The caller as the daemon identified it.
    pub caller: Caller,
}

/// A client of the local API as identified by the kernel (SO_PEERCRED), never by its own word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caller {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id, when the kernel gives one.
    pub pid: Option<i32>,
}

impl Caller {
    /// Root sees and controls everything.
    pub fn is_root(&self) -> bool {
        self.uid == 0
    }

    /// Whether this caller may see or act on a process owned by `owner_uid`: root may, other
    /// users only on their own. Node information is public and needs no check.
    pub fn may_access(&self, owner_uid: u32) -> bool {
        self.is_root() || self.uid == owner_uid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_policy() {
        let root = Caller {
            uid: 0,
            gid: 0,
            pid: None,
        };
        let user = Caller {
            uid: 1000,
            gid: 1000,
            pid: Some(5),
        };
        assert!(root.may_access(1000));
        assert!(root.may_access(0));
        assert!(user.may_access(1000));
        assert!(!user.may_access(1001));
        assert!(!user.may_access(0));
    }

    #[test]
    fn state_names_match_serde() {
        for s in [
            NodeState::Alive,
            NodeState::Suspect,
            NodeState::Dead,
            NodeState::Left,
        ] {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
