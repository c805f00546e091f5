//! The data of process requests: `wend run` registering its child, `wend migrate`, `wend ps`.

use serde::{Deserialize, Serialize};

/// `wend run` asks the daemon to manage its child.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManageRequest {
    /// The child's pid (this node's).
    pub pid: i32,
    /// Never moved automatically (`--lock`).
    #[serde(default)]
    pub lock: bool,
}

/// The process and node controls (`wend lock`, `unlock`, `block`, `unblock`, `expel`,
/// `bring`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Control {
    /// Never move this process automatically.
    Lock { pid: i32 },
    /// Let the balancer move it again.
    Unlock { pid: i32 },
    /// Take no new guests (root).
    Block,
    /// Take guests again; ends an expel (root).
    Unblock,
    /// Take no new guests and send every guest home (root).
    Expel,
    /// Call the caller's processes (these, or all when empty) home and lock them there.
    Bring { pids: Vec<i32> },
}

/// What a [`Control`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ControlReport {
    /// For people.
    pub message: String,
    /// Processes it concerned (guests sent home, processes brought, ...).
    pub count: u32,
}

/// Where a process should go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Destination {
    /// Back to its home node.
    Home,
    /// The node of this name.
    Node(String),
}

impl std::fmt::Display for Destination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Destination::Home => f.write_str("home"),
            Destination::Node(n) => f.write_str(n),
        }
    }
}

/// `wend migrate PID (NODE | home)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrateRequest {
    /// The process's pid on its home node (this node).
    pub pid: i32,
    pub to: Destination,
}

/// What a migration did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MigrateReport {
    pub pid: i32,
    /// The node it runs on now (`home` when it came home).
    pub now_on: String,
    /// How long the process did not run, milliseconds.
    pub frozen_ms: f64,
    /// From the request to the process running at its destination, milliseconds.
    pub total_ms: f64,
    /// Bytes of image sent.
    pub image_bytes: u64,
}

/// Where a managed process is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcState {
    /// Running at home.
    Home,
    /// Being moved away from home.
    Migrating,
    /// Running on another node; its deputy is at home.
    Remote,
    /// Coming back home.
    Returning,
    /// A guest from another node, running here.
    Guest,
}

impl ProcState {
    pub fn as_str(self) -> &'static str {
        match self {
            ProcState::Home => "home",
            ProcState::Migrating => "migrating",
            ProcState::Remote => "remote",
            ProcState::Returning => "returning",
            ProcState::Guest => "guest",
        }
    }
}

/// One row of `wend ps`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcInfo {
    /// The pid on its home node.
    pub pid: i32,
    /// Its home node's name.
    pub home: String,
    /// The command line.
    pub cmd: String,
    /// The node it runs on (`home` for this node when it is home).
    #[serde(rename = "where")]
    pub where_: String,
    pub state: ProcState,
    /// CPU time used, seconds (at home and away, as far as this node knows).
    pub cpu_secs: f64,
    /// Migrations so far.
    pub migrations: u32,
    /// Never moved automatically.
    pub locked: bool,
    /// Why it cannot migrate now (empty: it can).
    pub stay_reasons: Vec<String>,
    /// For a guest: its pid on this node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_pid: Option<i32>,
}
