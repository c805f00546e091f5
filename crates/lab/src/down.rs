//! `down`: removing everything a lab created, also when its state file is gone.
//!
//! The state file, when present, names the holder processes (checked by start time before
//! any signal). Everything else is found by the lab's prefix: the cgroup directories
//! `wend-lab-<lab>` (every process of a node is in its cgroup, so what is listed there is
//! killed), the network namespaces and interfaces `wl-<lab>-*` (with any process still inside
//! a namespace), and the state directory. Running it again finds nothing and succeeds.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::{self, read_procs};
use crate::error::LabError;
use crate::host::{Host, ProcState, Sig};
use crate::naming::LabName;
use crate::state::LabState;

/// How long holders get to stop their daemons (which leave the cluster) before SIGKILL.
pub const GRACE: Duration = Duration::from_secs(10);
/// How long to wait for killed processes to disappear.
const KILL_WAIT: Duration = Duration::from_secs(10);

/// What `down` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DownReport {
    pub processes: Vec<u32>,
    pub netns: Vec<String>,
    pub links: Vec<String>,
    pub cgroups: Vec<PathBuf>,
    pub state_dir: bool,
}

impl DownReport {
    pub fn is_empty(&self) -> bool {
        *self == DownReport::default()
    }
}

fn ip(host: &mut dyn Host, args: &[&str]) -> Result<String, LabError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    host.run("ip", &args)
}

/// Names from `ip -j ...` output whose `key` starts with `prefix`.
fn json_names(text: &str, key: &str, prefix: &str) -> Vec<String> {
    let items: Vec<serde_json::Value> = serde_json::from_str(text.trim()).unwrap_or_default();
    items
        .iter()
        .filter_map(|v| v.get(key)?.as_str())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

/// The lab's network namespaces present on the host.
pub fn lab_netns(host: &mut dyn Host, name: &LabName) -> Result<Vec<String>, LabError> {
    let out = ip(host, &["-j", "netns", "list"])?;
    Ok(json_names(&out, "name", &name.net_prefix()))
}

/// The lab's interfaces present in the host's namespace.
pub fn lab_links(host: &mut dyn Host, name: &LabName) -> Result<Vec<String>, LabError> {
    let out = ip(host, &["-j", "link", "show"])?;
    Ok(json_names(&out, "ifname", &name.net_prefix()))
}

/// The lab's cgroup directories present in any hierarchy.
pub fn lab_cgroups(host: &mut dyn Host, name: &LabName) -> Vec<PathBuf> {
    let Ok(cgroups) = cgroup::detect(host) else {
        return Vec::new();
    };
    cgroups
        .lab_dirs(&name.cgroup_dir())
        .into_iter()
        .filter(|d| host.exists(d))
        .collect()
}

/// Everything of the lab still on the host, by prefix (empty when the lab is fully gone).
pub fn leftovers(host: &mut dyn Host, name: &LabName) -> Result<Vec<String>, LabError> {
    let mut found = lab_netns(host, name)?;
    found.extend(lab_links(host, name)?);
    found.extend(
        lab_cgroups(host, name)
            .iter()
            .map(|p| p.display().to_string()),
    );
    Ok(found)
}

fn wait_gone(host: &mut dyn Host, pids: &[u32], limit: Duration) -> Vec<u32> {
    let deadline = Instant::now() + limit;
    loop {
        let alive: Vec<u32> = pids
            .iter()
            .copied()
            .filter(|p| host.proc_state(*p) != ProcState::Gone)
            .collect();
        if alive.is_empty() || Instant::now() > deadline {
            return alive;
        }
        host.sleep(Duration::from_millis(20));
    }
}

/// Stops the holders named in the state: SIGTERM (they stop their daemons and the node's
/// other processes), then SIGKILL after [`GRACE`].
fn stop_holders(host: &mut dyn Host, state: &LabState, report: &mut DownReport) {
    let mut holders = Vec::new();
    for n in &state.nodes {
        let (Some(pid), Some(start)) = (n.holder_pid, n.holder_start) else {
            continue;
        };
        if host.proc_state(pid) == (ProcState::Alive { start }) {
            let _ = host.signal(pid, Sig::Term);
            holders.push(pid);
        }
    }
    for pid in wait_gone(host, &holders, GRACE) {
        let _ = host.signal(pid, Sig::Kill);
    }
    wait_gone(host, &holders, KILL_WAIT);
    report.processes.extend(holders);
}

/// Kills every process listed in the cgroup directory `dir`'s node groups and removes them.
fn remove_cgroup(host: &mut dyn Host, dir: &Path, report: &mut DownReport) -> Result<(), LabError> {
    let entries = host.list(dir).unwrap_or_default();
    let nodes: Vec<PathBuf> = entries
        .iter()
        .map(|e| dir.join(e))
        .filter(|p| host.exists(&p.join("cgroup.procs")))
        .collect();
    for node in &nodes {
        let procs = node.join("cgroup.procs");
        let deadline = Instant::now() + KILL_WAIT;
        loop {
            let pids = read_procs(host, &procs);
            if pids.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: format!("processes {pids:?} of {} to die", node.display()),
                    secs: KILL_WAIT.as_secs(),
                });
            }
            for p in &pids {
                let _ = host.signal(*p, Sig::Kill);
                if !report.processes.contains(p) {
                    report.processes.push(*p);
                }
            }
            host.sleep(Duration::from_millis(20));
        }
        rmdir_retry(host, node)?;
        report.cgroups.push(node.clone());
    }
    rmdir_retry(host, dir)?;
    report.cgroups.push(dir.to_path_buf());
    Ok(())
}

/// Removes a cgroup directory, retrying while the kernel still counts exiting tasks.
fn rmdir_retry(host: &mut dyn Host, dir: &Path) -> Result<(), LabError> {
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        match host.rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() > deadline => {
                return Err(LabError::io("remove cgroup", dir, e));
            }
            Err(_) => host.sleep(Duration::from_millis(20)),
        }
    }
}

/// Removes the lab `name` (state under `root`): processes, cgroups, namespaces, links and
/// the state directory. Idempotent.
pub fn down(host: &mut dyn Host, name: &LabName, root: &Path) -> Result<DownReport, LabError> {
    let mut report = DownReport::default();
    let dir = name.state_dir(root);
    // A damaged state file must not stop the cleanup: everything is found by prefix too.
    if let Ok(Some(state)) = LabState::load(host, name, &dir) {
        stop_holders(host, &state, &mut report);
    }
    let netns = lab_netns(host, name)?;
    for ns in &netns {
        let pids = ip(host, &["netns", "pids", ns]).unwrap_or_default();
        for p in pids
            .split_whitespace()
            .filter_map(|p| p.parse::<u32>().ok())
        {
            let _ = host.signal(p, Sig::Kill);
            if !report.processes.contains(&p) {
                report.processes.push(p);
            }
        }
    }
    for dir in lab_cgroups(host, name) {
        remove_cgroup(host, &dir, &mut report)?;
    }
    for ns in netns {
        ip(host, &["netns", "del", &ns])?;
        report.netns.push(ns);
    }
    for link in lab_links(host, name)? {
        // A veth's host end may vanish with its namespace in the meantime.
        if ip(host, &["link", "del", &link]).is_ok() {
            report.links.push(link);
        }
    }
    if host.exists(&dir) {
        host.remove_tree(&dir)
            .map_err(|e| LabError::io("remove", &dir, e))?;
        report.state_dir = true;
    }
    Ok(report)
}
