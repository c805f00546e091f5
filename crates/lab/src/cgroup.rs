//! Node CPU shares through cgroups, v1 or v2, whichever the machine has (found at run time
//! from /proc/self/mountinfo).
//!
//! - v1: the `cpu` hierarchy gives the share (`cpu.cfs_quota_us` per `cpu.cfs_period_us`);
//!   the `cpuset` hierarchy, when mounted, pins a node to CPUs if asked.
//! - v2: `cpu.max` (`QUOTA PERIOD`) and `cpuset.cpus`, after enabling the controllers in
//!   `cgroup.subtree_control` of the parents.
//!
//! Each lab has one directory `wend-lab-<lab>` per hierarchy and one sub-directory per node.

use std::path::{Path, PathBuf};

use crate::cpus::{quota_us, CFS_PERIOD_US};
use crate::error::LabError;
use crate::host::Host;

/// The cgroup hierarchies the lab uses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "version", rename_all = "lowercase")]
pub enum Cgroups {
    V1 {
        cpu: PathBuf,
        cpuset: Option<PathBuf>,
    },
    V2 {
        root: PathBuf,
        cpuset: bool,
    },
}

/// Finds the cgroup hierarchies from the text of /proc/self/mountinfo (v1 `cpu` wins, as
/// controllers bound to v1 are absent from v2).
pub fn detect(host: &mut dyn Host) -> Result<Cgroups, LabError> {
    let mountinfo = host
        .read(Path::new("/proc/self/mountinfo"))
        .map_err(|e| LabError::io("read", "/proc/self/mountinfo", e))?;
    let mut cpu = None;
    let mut cpuset = None;
    let mut v2 = None;
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let Some(mount_point) = left.split_whitespace().nth(4) else {
            continue;
        };
        let mut r = right.split_whitespace();
        let (fstype, opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
        let point = PathBuf::from(mount_point);
        match fstype {
            "cgroup" => {
                let opts: Vec<&str> = opts.split(',').collect();
                if opts.contains(&"cpu") && cpu.is_none() {
                    cpu = Some(point.clone());
                }
                if opts.contains(&"cpuset") && cpuset.is_none() {
                    cpuset = Some(point);
                }
            }
            "cgroup2" if v2.is_none() => v2 = Some(point),
            _ => {}
        }
    }
    if let Some(cpu) = cpu {
        return Ok(Cgroups::V1 { cpu, cpuset });
    }
    let root = v2.ok_or(LabError::NoCgroup)?;
    let controllers = host
        .read(&root.join("cgroup.controllers"))
        .unwrap_or_default();
    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
    if !has("cpu") {
        return Err(LabError::NoCgroup);
    }
    Ok(Cgroups::V2 {
        cpuset: has("cpuset"),
        root,
    })
}

impl Cgroups {
    /// The lab's directory in each hierarchy.
    pub fn lab_dirs(&self, dir_name: &str) -> Vec<PathBuf> {
        self.roots().iter().map(|r| r.join(dir_name)).collect()
    }

    /// The mount points of the hierarchies in use.
    pub fn roots(&self) -> Vec<PathBuf> {
        match self {
            Cgroups::V1 { cpu, cpuset } => std::iter::once(cpu.clone())
                .chain(cpuset.iter().cloned())
                .collect(),
            Cgroups::V2 { root, .. } => vec![root.clone()],
        }
    }

    /// The `cgroup.procs` files a node's processes are written to (one per hierarchy).
    pub fn procs_files(&self, dir_name: &str, node: &str) -> Vec<PathBuf> {
        self.lab_dirs(dir_name)
            .iter()
            .map(|d| d.join(node).join("cgroup.procs"))
            .collect()
    }

    /// The CPUs the lab may use (from the root cpuset), if cpusets are available.
    pub fn available_cpus(&self, host: &mut dyn Host) -> Option<String> {
        let file = match self {
            Cgroups::V1 {
                cpuset: Some(c), ..
            } => c.join("cpuset.cpus"),
            Cgroups::V2 { root, cpuset: true } => root.join("cpuset.cpus.effective"),
            _ => return None,
        };
        host.read(&file).ok().map(|s| s.trim().to_owned())
    }

    /// Creates the lab's directory with everything a node cgroup needs from its parent.
    pub fn create_lab(&self, host: &mut dyn Host, dir_name: &str) -> Result<(), LabError> {
        match self {
            Cgroups::V1 { cpu, cpuset } => {
                mkdir(host, &cpu.join(dir_name))?;
                if let Some(cs) = cpuset {
                    let lab = cs.join(dir_name);
                    mkdir(host, &lab)?;
                    // v1 cpusets start empty: copy the parent's CPUs and memory nodes.
                    for f in ["cpuset.cpus", "cpuset.mems"] {
                        let v = read(host, &cs.join(f))?;
                        write(host, &lab.join(f), v.trim())?;
                    }
                }
            }
            Cgroups::V2 { root, cpuset } => {
                let wanted: &[&str] = if *cpuset {
                    &["cpu", "cpuset"]
                } else {
                    &["cpu"]
                };
                enable_controllers(host, root, wanted)?;
                let lab = root.join(dir_name);
                mkdir(host, &lab)?;
                enable_controllers(host, &lab, wanted)?;
            }
        }
        Ok(())
    }

    /// Creates a node's cgroup with its CPU share and, if given, its CPU pinning.
    pub fn create_node(
        &self,
        host: &mut dyn Host,
        dir_name: &str,
        node: &str,
        share: Option<f64>,
        pinned: Option<&str>,
    ) -> Result<(), LabError> {
        let quota = quota_us(share);
        match self {
            Cgroups::V1 { cpu, cpuset } => {
                let d = cpu.join(dir_name).join(node);
                mkdir(host, &d)?;
                write(
                    host,
                    &d.join("cpu.cfs_period_us"),
                    &CFS_PERIOD_US.to_string(),
                )?;
                let q = quota.map_or("-1".to_owned(), |q| q.to_string());
                write(host, &d.join("cpu.cfs_quota_us"), &q)?;
                if let Some(cs) = cpuset {
                    let lab = cs.join(dir_name);
                    let d = lab.join(node);
                    mkdir(host, &d)?;
                    let cpus = match pinned {
                        Some(p) => p.to_owned(),
                        None => read(host, &lab.join("cpuset.cpus"))?.trim().to_owned(),
                    };
                    write(host, &d.join("cpuset.cpus"), &cpus)?;
                    let mems = read(host, &lab.join("cpuset.mems"))?;
                    write(host, &d.join("cpuset.mems"), mems.trim())?;
                }
            }
            Cgroups::V2 { root, cpuset } => {
                let d = root.join(dir_name).join(node);
                mkdir(host, &d)?;
                let q = quota.map_or("max".to_owned(), |q| q.to_string());
                write(host, &d.join("cpu.max"), &format!("{q} {CFS_PERIOD_US}"))?;
                if let (true, Some(p)) = (cpuset, pinned) {
                    write(host, &d.join("cpuset.cpus"), p)?;
                }
            }
        }
        Ok(())
    }

    /// The CPU share a node's cgroup really has (quota / period), `None` when unlimited.
    pub fn read_share(&self, host: &mut dyn Host, dir_name: &str, node: &str) -> Option<f64> {
        match self {
            Cgroups::V1 { cpu, .. } => {
                let d = cpu.join(dir_name).join(node);
                let q: i64 = host
                    .read(&d.join("cpu.cfs_quota_us"))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                let p: i64 = host
                    .read(&d.join("cpu.cfs_period_us"))
                    .ok()?
                    .trim()
                    .parse()
                    .ok()?;
                (q > 0 && p > 0).then(|| q as f64 / p as f64)
            }
            Cgroups::V2 { root, .. } => {
                let s = host
                    .read(&root.join(dir_name).join(node).join("cpu.max"))
                    .ok()?;
                let mut it = s.split_whitespace();
                let q: f64 = it.next()?.parse().ok()?;
                let p: f64 = it.next()?.parse().ok()?;
                Some(q / p)
            }
        }
    }
}

/// Enables cgroup v2 controllers for the children of `dir`, writing only those not yet on.
fn enable_controllers(host: &mut dyn Host, dir: &Path, wanted: &[&str]) -> Result<(), LabError> {
    let file = dir.join("cgroup.subtree_control");
    let on = host.read(&file).unwrap_or_default();
    let missing: Vec<String> = wanted
        .iter()
        .filter(|c| !on.split_whitespace().any(|o| o == **c))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    host.write(&file, &missing.join(" "))
        .map_err(|e| LabError::Command {
            cmd: format!("echo '{}' > {}", missing.join(" "), file.display()),
            detail: format!(
                "{e}: cannot enable the controllers for the lab's cgroups (a cgroup v2 group \
                 that holds processes itself cannot delegate them: run the lab where \
                 {} has no processes of its own, or as a systemd unit with Delegate=yes)",
                dir.display()
            ),
        })
}

/// The pids listed in a `cgroup.procs` file (empty if it is gone).
pub fn read_procs(host: &mut dyn Host, file: &Path) -> Vec<u32> {
    host.read(file)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

fn mkdir(host: &mut dyn Host, p: &Path) -> Result<(), LabError> {
    host.mkdir_all(p)
        .map_err(|e| LabError::io("create cgroup", p, e))
}

fn read(host: &mut dyn Host, p: &Path) -> Result<String, LabError> {
    host.read(p).map_err(|e| LabError::io("read", p, e))
}

fn write(host: &mut dyn Host, p: &Path, v: &str) -> Result<(), LabError> {
    host.write(p, v).map_err(|e| LabError::io("write", p, e))
}
