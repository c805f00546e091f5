//! `status`: what a lab's nodes look like now, and control of a node's daemon.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::LabError;
use crate::host::{Host, ProcState, Sig};
use crate::naming::LabName;
use crate::state::{LabState, NodeState};

/// One node, as `wend lab status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct NodeStatus {
    pub name: String,
    pub addr: Ipv4Addr,
    /// The share asked for, in CPUs (`None`: unlimited).
    pub cpus: Option<f64>,
    /// The share the node's cgroup really has now.
    pub cgroup_cpus: Option<f64>,
    pub cpuset: Option<String>,
    pub holder_pid: Option<u32>,
    pub holder_alive: bool,
    pub daemon_pid: Option<u32>,
    pub daemon_alive: bool,
    /// How the daemon last ended, when it is not running.
    pub daemon_exit: Option<String>,
    /// The daemon's API socket, as a host path.
    pub api_socket: PathBuf,
    pub log: PathBuf,
}

/// A lab, as `wend lab status` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LabStatus {
    pub name: String,
    pub phase: String,
    pub subnet: String,
    pub bridge: String,
    pub port: u16,
    pub nodes: Vec<NodeStatus>,
}

/// Labs as pretty JSON (what `wend lab status --json` prints).
pub fn to_json(labs: &[LabStatus]) -> String {
    serde_json::to_string_pretty(labs).expect("lab status serializes")
}

/// The pid of a node's running daemon, if it runs.
pub fn daemon_pid(host: &mut dyn Host, state: &LabState, node: &str) -> Option<u32> {
    let file = state.node_dir(node).join("daemon.pid");
    let pid: u32 = host.read(&file).ok()?.trim().parse().ok()?;
    matches!(host.proc_state(pid), ProcState::Alive { .. }).then_some(pid)
}

/// True if the node's holder (the node itself) still runs.
pub fn holder_alive(host: &mut dyn Host, n: &NodeState) -> bool {
    match (n.holder_pid, n.holder_start) {
        (Some(pid), Some(start)) => host.proc_state(pid) == ProcState::Alive { start },
        _ => false,
    }
}

/// Loads a running lab's state, or says it does not exist.
pub fn load(host: &mut dyn Host, name: &LabName, root: &Path) -> Result<LabState, LabError> {
    LabState::load(host, name, &name.state_dir(root))?
        .ok_or_else(|| LabError::NotFound(name.to_string()))
}

/// The status of one lab.
pub fn status(host: &mut dyn Host, state: &LabState) -> LabStatus {
    let cg_dir = state.name.cgroup_dir();
    let nodes = state
        .nodes
        .iter()
        .map(|n| {
            let daemon = daemon_pid(host, state, &n.name);
            let exit = host
                .read(&state.node_dir(&n.name).join("daemon.exit"))
                .ok()
                .map(|s| s.trim().to_owned());
            NodeStatus {
                name: n.name.clone(),
                addr: n.addr,
                cpus: n.cpus,
                cgroup_cpus: state.cgroups.read_share(host, &cg_dir, &n.name),
                cpuset: n.cpuset.clone(),
                holder_pid: n.holder_pid,
                holder_alive: holder_alive(host, n),
                daemon_pid: daemon,
                daemon_alive: daemon.is_some(),
                daemon_exit: if daemon.is_some() { None } else { exit },
                api_socket: state.api_socket(&n.name),
                log: state.daemon_log(&n.name),
            }
        })
        .collect();
    LabStatus {
        name: state.name.to_string(),
        phase: state.phase.clone(),
        subnet: state.subnet.to_string(),
        bridge: state.bridge.clone(),
        port: state.port,
        nodes,
    }
}

/// The names of the labs recorded under `root`.
pub fn lab_names(host: &mut dyn Host, root: &Path) -> Vec<LabName> {
    host.list(root)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| LabName::new(n).ok())
        .filter(|n| host.exists(&LabState::file(&n.state_dir(root))))
        .collect()
}

/// Signals a node's daemon (SIGTERM: it leaves the cluster; SIGKILL: a crash) and waits
/// until it is gone.
pub fn stop_daemon(
    host: &mut dyn Host,
    state: &LabState,
    node: &str,
    sig: Sig,
    timeout: Duration,
) -> Result<(), LabError> {
    state.node(node)?;
    let Some(pid) = daemon_pid(host, state, node) else {
        return Ok(());
    };
    host.signal(pid, sig)
        .map_err(|e| LabError::io("signal daemon of", state.node_dir(node), e))?;
    let deadline = Instant::now() + timeout;
    while host.proc_state(pid) != ProcState::Gone {
        if Instant::now() > deadline {
            return Err(LabError::Timeout {
                what: format!("the daemon of {node} (pid {pid}) to exit"),
                secs: timeout.as_secs(),
            });
        }
        host.sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Asks a node's holder to start its daemon again (if it is not running) and returns the
/// daemon's new pid.
pub fn start_daemon(
    host: &mut dyn Host,
    state: &LabState,
    node: &str,
    timeout: Duration,
) -> Result<u32, LabError> {
    let n = state.node(node)?;
    if n.daemon.is_none() {
        return Err(LabError::NoDaemon {
            lab: state.name.to_string(),
            node: node.to_owned(),
        });
    }
    if let Some(pid) = daemon_pid(host, state, node) {
        return Ok(pid);
    }
    let holder = n.holder_pid.filter(|_| holder_alive(host, n));
    let Some(holder) = holder else {
        return Err(LabError::NodeGone {
            lab: state.name.to_string(),
            node: node.to_owned(),
            pid: n.holder_pid.unwrap_or(0),
        });
    };
    host.signal(holder, Sig::Usr1)
        .map_err(|e| LabError::io("signal holder of", state.node_dir(node), e))?;
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(pid) = daemon_pid(host, state, node) {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(LabError::Timeout {
                what: format!("the daemon of {node} to start"),
                secs: timeout.as_secs(),
            });
        }
        host.sleep(Duration::from_millis(20));
    }
}
