//! `exec`: running a command inside a node.
//!
//! The calling process (which must be single-threaded, as `wend lab exec` is) writes itself
//! into the node's cgroups, enters the holder's network, UTS and mount namespaces with
//! setns(2) through /proc/<holder>/ns/*, goes back to its working directory if the node has
//! it, and replaces itself with the command, so the command's exit status, signals and
//! stdin/stdout/stderr are the caller's own.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use nix::sched::{setns, CloneFlags};

use crate::error::LabError;
use crate::holder::{join_cgroups, node_env};
use crate::host::{read_stat, SystemHost};
use crate::naming::LabName;
use crate::status;

/// Enters `node` of lab `name` and runs `argv` in place of the calling process. Returns only
/// on failure: `Err` if the node cannot be entered, `Ok(err)` if the command could not be
/// started (`err.kind()` is `NotFound` for a missing program).
pub fn exec_in_node(
    name: &LabName,
    node: &str,
    root: &Path,
    argv: &[String],
) -> Result<std::io::Error, LabError> {
    let mut host = SystemHost::new();
    let state = status::load(&mut host, name, root)?;
    let n = state.node(node)?;
    let gone = || LabError::NodeGone {
        lab: name.to_string(),
        node: node.to_owned(),
        pid: n.holder_pid.unwrap_or(0),
    };
    let pid = n.holder_pid.ok_or_else(gone)?;
    match read_stat(pid) {
        Some((s, start)) if s != 'Z' && Some(start) == n.holder_start => {}
        _ => return Err(gone()),
    }
    let (program, args) = argv.split_first().ok_or_else(|| LabError::NodeStart {
        node: node.to_owned(),
        why: "no command given: write `wend lab exec NODE -- CMD...`".to_owned(),
    })?;
    let cwd = std::env::current_dir().ok();
    let mut namespaces = Vec::new();
    for (ns, flag) in [
        ("net", CloneFlags::CLONE_NEWNET),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("mnt", CloneFlags::CLONE_NEWNS),
    ] {
        let path = format!("/proc/{pid}/ns/{ns}");
        let f = File::open(&path).map_err(|e| LabError::io("open", &path, e))?;
        namespaces.push((ns, f, flag));
    }
    join_cgroups(n)?;
    for (ns, f, flag) in &namespaces {
        setns(f, *flag).map_err(|e| LabError::sys(format!("setns({ns}) into {node}"), e))?;
    }
    drop(namespaces);
    match cwd.filter(|d| d.is_dir()) {
        Some(d) => std::env::set_current_dir(&d).map_err(|e| LabError::io("enter", d, e))?,
        None => std::env::set_current_dir("/").map_err(|e| LabError::io("enter", "/", e))?,
    }
    Ok(Command::new(program)
        .args(args)
        .envs(node_env(&state, n))
        .exec())
}
