//! The lab's typed errors.

use std::io;
use std::path::PathBuf;

use crate::naming::{MAX_NAME_LEN, MAX_NODES};

/// Everything that can go wrong while building, entering or removing a lab.
#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error(
        "invalid lab name {0:?}: use 1 to {MAX_NAME_LEN} lowercase ascii letters or digits \
         (it prefixes kernel names limited to 15 bytes)"
    )]
    BadName(String),
    #[error(
        "{0} is under /tmp or /run, which are private in every lab node, so the nodes cannot \
         run it: install wend elsewhere (e.g. `cargo install --path crates/wend`, or build with \
         CARGO_TARGET_DIR outside /tmp and /run)"
    )]
    HiddenProgram(PathBuf),
    #[error("invalid node count {0}: a lab has 1 to {MAX_NODES} nodes")]
    BadNodeCount(usize),
    #[error("invalid --cpus {spec:?}: {why}")]
    BadCpus { spec: String, why: String },
    #[error(
        "lab {0} already exists (or left debris behind): run `wend lab down --name {0}` first"
    )]
    Exists(String),
    #[error("lab {0} is not running: start it with `wend lab up --name {0}`")]
    NotFound(String),
    #[error("lab {lab} has no node {node:?}: its nodes are node1..node{count}")]
    NoNode {
        lab: String,
        node: String,
        count: usize,
    },
    #[error(
        "no free /24 subnet left in 10.213.0.0/16 for the lab: remove stale labs \
         (`wend lab status`) or routes that overlap it"
    )]
    NoSubnet,
    #[error(
        "no usable cgroup cpu controller (neither a v1 `cpu` hierarchy nor cgroup v2 with `cpu` \
         in cgroup.controllers): mount cgroups under /sys/fs/cgroup"
    )]
    NoCgroup,
    #[error("`{cmd}` failed: {detail}")]
    Command { cmd: String, detail: String },
    // The cause is part of the message (not a `source`), so it is printed once.
    #[error("cannot {what} {path}: {err}")]
    Io {
        what: &'static str,
        path: PathBuf,
        err: io::Error,
    },
    #[error("{what} failed: {err}")]
    Sys { what: String, err: nix::Error },
    #[error(
        "state file {path} is unreadable ({why}): run `wend lab down --name {lab}` to clean up"
    )]
    BadState {
        lab: String,
        path: PathBuf,
        why: String,
    },
    #[error("node {node} did not come up: {why}")]
    NodeStart { node: String, why: String },
    #[error(
        "node {node} of lab {lab} is gone (its holder process {pid} died): \
         run `wend lab down --name {lab}` and `wend lab up` again"
    )]
    NodeGone { lab: String, node: String, pid: u32 },
    #[error(
        "node {node} of lab {lab} has no daemon (the lab was built with --no-daemon): \
         run `wend lab down --name {lab}` and `wend lab up` without it"
    )]
    NoDaemon { lab: String, node: String },
    #[error("timed out after {secs} s waiting for {what}")]
    Timeout { what: String, secs: u64 },
}

impl LabError {
    /// Wraps an I/O error with what was being done and where.
    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        LabError::Io {
            what,
            path: path.into(),
            err: source,
        }
    }

    /// Wraps a failed system call.
    pub fn sys(what: impl Into<String>, source: nix::Error) -> Self {
        LabError::Sys {
            what: what.into(),
            err: source,
        }
    }

    /// True for mistakes in the user's input (the binary exits 2 for those).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            LabError::BadName(_)
                | LabError::HiddenProgram(_)
                | LabError::BadNodeCount(_)
                | LabError::BadCpus { .. }
                | LabError::NoNode { .. }
                | LabError::Exists(_)
                | LabError::NotFound(_)
        )
    }
}
