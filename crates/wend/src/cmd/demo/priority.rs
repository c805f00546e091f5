//! The demo lab's CPU weight against the rest of the machine.
//!
//! Each node's quota caps it at its CPU share, but on a machine busy with other work the
//! nodes may not even get that share, and the three batches would measure the neighbours
//! rather than the cluster. A high weight on the lab's cgroup (cgroup v1 `cpu.shares`, v2
//! `cpu.weight`) lets the nodes take their shares first; other work waits meanwhile. The
//! quotas are untouched, so a node never gets more than its share.

use std::path::PathBuf;

use anyhow::Context;
use wend_lab::cgroup::Cgroups;
use wend_lab::Lab;

/// cgroup v1 `cpu.shares` for the lab (the kernel's maximum; the default is 1024).
const V1_SHARES: u32 = 262_144;
/// cgroup v2 `cpu.weight` for the lab (the maximum; the default is 100).
const V2_WEIGHT: u32 = 10_000;

/// Raises the lab's CPU weight; returns the file written and the value.
pub fn raise(lab: &Lab) -> anyhow::Result<(PathBuf, u32)> {
    let dir = lab.name().cgroup_dir();
    let (file, value) = match &lab.state().cgroups {
        Cgroups::V1 { cpu, .. } => (cpu.join(&dir).join("cpu.shares"), V1_SHARES),
        Cgroups::V2 { root, .. } => (root.join(&dir).join("cpu.weight"), V2_WEIGHT),
    };
    std::fs::write(&file, value.to_string())
        .with_context(|| format!("cannot write {}", file.display()))?;
    Ok((file, value))
}

/// The 1-minute load average and the CPUs online, to tell the user when the machine is busy.
pub fn machine_load() -> Option<(f64, usize)> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let load = text.split_whitespace().next()?.parse().ok()?;
    let cpus = std::thread::available_parallelism().ok()?.get();
    Some((load, cpus))
}
