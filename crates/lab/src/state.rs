//! The lab's record: `/run/wend-lab/<lab>/state.json`, and the layout of the lab's host
//! directory.
//!
//! ```text
//! /run/wend-lab/<lab>/state.json      this record
//! /run/wend-lab/<lab>/cluster.key     the lab's cluster key (from `wend keygen`)
//! /run/wend-lab/<lab>/nodeK/ready     written by the node's holder once the node is set up
//! /run/wend-lab/<lab>/nodeK/run/      bind-mounted on /run/wend inside the node (API socket)
//! /run/wend-lab/<lab>/nodeK/daemon.pid, daemon.exit, daemon.log, holder.log
//! ```
//!
//! The lab's directory is also bind-mounted at the same path inside every node, so these
//! paths mean the same thing on the host and in a node.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use crate::cgroup::Cgroups;
use crate::error::LabError;
use crate::host::Host;
use crate::naming::{LabName, NODE_API_DIR};
use crate::subnet::Prefix;

/// The version of the state file format.
pub const STATE_VERSION: u32 = 1;

/// Everything `exec`, `status` and `down` need to know about a lab.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LabState {
    pub version: u32,
    pub name: LabName,
    /// The lab's host directory (normally /run/wend-lab/<lab>).
    pub dir: PathBuf,
    pub subnet: Prefix,
    pub bridge: String,
    pub bridge_addr: Ipv4Addr,
    /// The peer port every daemon listens on.
    pub port: u16,
    /// The cluster key shared by the lab's daemons (none in a lab without daemons).
    pub key: Option<PathBuf>,
    pub cgroups: Cgroups,
    /// `creating` while `up` runs, `up` once every node is ready.
    pub phase: String,
    pub nodes: Vec<NodeState>,
}

/// One node of a lab.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NodeState {
    /// `node1`, `node2`, ...
    pub name: String,
    pub netns: String,
    pub veth: String,
    pub addr: Ipv4Addr,
    /// CPUs' worth of time, `None` for unlimited.
    pub cpus: Option<f64>,
    /// The CPUs the node is pinned to, if pinned.
    pub cpuset: Option<String>,
    /// The `cgroup.procs` files that every process of the node is written to.
    pub cgroup_procs: Vec<PathBuf>,
    /// The command line of the node's daemon, started (and restarted on request) by the
    /// holder; `None` for a node without a daemon.
    pub daemon: Option<Vec<String>>,
    /// The holder process, which owns the node's namespaces.
    pub holder_pid: Option<u32>,
    /// The holder's start time (clock ticks since boot), to recognise it.
    pub holder_start: Option<u64>,
}

impl LabState {
    /// The state file of a lab directory.
    pub fn file(dir: &Path) -> PathBuf {
        dir.join("state.json")
    }

    /// Reads a lab's state; `Ok(None)` if it has none.
    pub fn load(host: &mut dyn Host, name: &LabName, dir: &Path) -> Result<Option<Self>, LabError> {
        let path = Self::file(dir);
        let text = match host.read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LabError::io("read", path, e)),
        };
        let state: LabState = serde_json::from_str(&text).map_err(|e| LabError::BadState {
            lab: name.to_string(),
            path: path.clone(),
            why: e.to_string(),
        })?;
        if state.version != STATE_VERSION {
            return Err(LabError::BadState {
                lab: name.to_string(),
                path,
                why: format!("format version {} is not {STATE_VERSION}", state.version),
            });
        }
        Ok(Some(state))
    }

    /// Writes the state (to a temporary file renamed over the old one by the host).
    pub fn save(&self, host: &mut dyn Host) -> Result<(), LabError> {
        let path = Self::file(&self.dir);
        let tmp = self.dir.join("state.json.tmp");
        let text = serde_json::to_string_pretty(self).expect("lab state serializes");
        host.write(&tmp, &text)
            .map_err(|e| LabError::io("write", &tmp, e))?;
        host.rename(&tmp, &path)
            .map_err(|e| LabError::io("replace", path, e))
    }

    /// A node by name.
    pub fn node(&self, node: &str) -> Result<&NodeState, LabError> {
        self.nodes
            .iter()
            .find(|n| n.name == node)
            .ok_or_else(|| LabError::NoNode {
                lab: self.name.to_string(),
                node: node.to_owned(),
                count: self.nodes.len(),
            })
    }

    /// A node's host directory.
    pub fn node_dir(&self, node: &str) -> PathBuf {
        self.dir.join(node)
    }

    /// The host directory bind-mounted on /run/wend inside the node.
    pub fn node_run_dir(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("run")
    }

    /// The host path of a node's daemon API socket.
    pub fn api_socket(&self, node: &str) -> PathBuf {
        self.node_run_dir(node).join("wend.sock")
    }

    /// The host path of a node's daemon log.
    pub fn daemon_log(&self, node: &str) -> PathBuf {
        self.node_dir(node).join("daemon.log")
    }
}

/// Where a node sees its API socket directory (for the docs and the holder).
pub fn node_api_dir() -> &'static Path {
    Path::new(NODE_API_DIR)
}
