//! wend-lab: the lab cluster, N wend nodes on one machine.
//!
//! A node is a network namespace joined by a veth pair to the lab's bridge, with its own
//! mount namespace (private /tmp and /run), its own hostname, its own CPU share (a cgroup,
//! v1 or v2, whichever the machine has) and its own `wend daemon`. Each node is held by one
//! process, the holder (`wend lab hold`, see [`holder`]), which owns the namespaces, is the
//! child subreaper of everything in the node and starts the daemon; `wend lab exec` enters a
//! node through the holder's /proc/<pid>/ns/* files.
//!
//! ```text
//!   host:   wl-<lab>-br (10.213.x.254/24, multicast snooping off)
//!             ├── wl-<lab>-1  ══ veth ══  eth0 10.213.x.1/24 in netns wl-<lab>-node1
//!             ├── wl-<lab>-2  ══ veth ══  eth0 10.213.x.2/24 in netns wl-<lab>-node2
//!             └── ...
//!   cgroups: <hierarchy>/wend-lab-<lab>/nodeK   state: /run/wend-lab/<lab>/state.json
//! ```
//!
//! Nodes have no default route: the lab's range stays inside the machine. A route for
//! 224.0.0.0/4 on eth0 lets the daemons discover each other by multicast.
//!
//! The orchestration ([`up`], [`down`], [`status`]) reaches the machine only through the
//! [`Host`] trait, so it is unit-tested with a recording double; [`SystemHost`] is the real
//! machine, tested by `crates/wend/tests/lab_*.rs` as root.
//!
//! From Rust (tests of the daemon and of migration build labs this way):
//!
//! ```no_run
//! use std::time::Duration;
//! use wend_lab::{CpuSpec, Lab, LabSpec};
//!
//! // In an integration test of the `wend` package: env!("CARGO_BIN_EXE_wend").
//! let mut spec = LabSpec::for_test(5, "/usr/local/bin/wend");
//! spec.cpus = CpuSpec::parse("1").unwrap();
//! let mut lab = Lab::up(spec).unwrap(); // dropped: everything is removed
//! lab.wait_api("node1", Duration::from_secs(30)).unwrap();
//! let wend = lab.wend().display().to_string();
//! let out = lab.exec("node1", &[wend.as_str(), "nodes", "--json"]).output().unwrap();
//! lab.kill_daemon("node3").unwrap(); // a crash; `stop_daemon` is a clean leave
//! lab.start_daemon("node3").unwrap();
//! # let _ = out;
//! ```
//!
//! Why `ip` (iproute2) rather than a netlink crate: the lab needs a dozen one-shot
//! configuration steps (netns, bridge, veth, addresses, routes), not a netlink event loop.
//! `ip` is on every Linux machine that has network namespaces, names namespaces the way
//! users and `ip netns` see them (`/run/netns/NAME`), and each step is one line a person can
//! rerun by hand when something goes wrong; the recording double checks exactly those lines.
//! The netlink crates (rtnetlink and friends) would add an async runtime and a large API
//! surface for no gain here. Namespace entry itself (setns, unshare, mount) uses `nix`, as
//! this crate may not contain `unsafe` code.
#![forbid(unsafe_code)]

pub mod cgroup;
pub mod cpus;
pub mod down;
mod error;
pub mod exec;
pub mod holder;
pub mod host;
mod lab;
pub mod naming;
pub mod state;
pub mod status;
pub mod subnet;
pub mod up;

#[cfg(test)]
mod double;
#[cfg(test)]
mod tests;

pub use cpus::CpuSpec;
pub use down::DownReport;
pub use error::LabError;
pub use host::{Host, SystemHost};
pub use lab::Lab;
pub use naming::{LabName, DEFAULT_LAB, NODE_API_SOCKET, STATE_ROOT};
pub use state::{LabState, NodeState};
pub use status::{LabStatus, NodeStatus};
pub use up::{LabSpec, DEFAULT_PORT};

/// Makes the calling process the child subreaper of its descendants (tests call this so
/// that the processes a lab leaves behind are reaped by them, not by pid 1).
pub fn become_subreaper() -> Result<(), LabError> {
    nix::sys::prctl::set_child_subreaper(true)
        .map_err(|e| LabError::sys("prctl(PR_SET_CHILD_SUBREAPER)", e))
}

/// Reaps `pid` if it is a finished child of the caller (for instance a holder that became
/// our child when `wend lab up` exited); returns true once it is reaped or not our child.
pub fn reap(pid: u32) -> bool {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    !matches!(
        waitpid(pid, Some(WaitPidFlag::WNOHANG)),
        Ok(WaitStatus::StillAlive)
    )
}
