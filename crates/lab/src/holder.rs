//! The node holder: the process that is a lab node (`wend lab hold`, started by `up`).
//!
//! It joins the node's cgroup, enters the node's network namespace (made by `ip netns add`),
//! unshares a mount and a UTS namespace (hostname = node name), mounts a private tmpfs on
//! /tmp and /run, bind-mounts the lab's host directory at the same path and the node's API
//! directory on /run/wend, and becomes the child subreaper of everything in the node. Then
//! it starts the node's daemon and waits for signals:
//!
//! - SIGCHLD: reap; when the daemon exits, record how in `daemon.exit`.
//! - SIGUSR1: start the daemon again if it is not running.
//! - SIGTERM, SIGINT, SIGHUP: SIGTERM every process of the node (the daemon leaves the
//!   cluster), SIGKILL what remains after a grace period, exit 0.
//!
//! This is the real thing (namespaces cannot be faked); `crates/wend/tests/lab_*.rs` test it.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{sethostname, Pid};

use crate::cgroup::read_procs;
use crate::error::LabError;
use crate::host::SystemHost;
use crate::naming::{LabName, NODE_API_SOCKET};
use crate::state::{node_api_dir, LabState, NodeState};

/// How long the node's processes get after SIGTERM before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(8);

fn sys<T>(what: &str, r: nix::Result<T>) -> Result<T, LabError> {
    r.map_err(|e| LabError::sys(what.to_owned(), e))
}

fn mkdir(dir: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(dir).map_err(|e| LabError::io("create", dir, e))
}

/// Mounts a fresh sysfs on /sys, as sysfs shows the network namespace of whoever mounts it
/// (so the node sees its own interfaces), and keeps the host's cgroup tree at
/// /sys/fs/cgroup (moved aside, then back) so node processes still see their cgroups.
fn remount_sys() -> Result<(), LabError> {
    let none = None::<&str>;
    let cg = Path::new("/sys/fs/cgroup");
    let cg_stage = Path::new("/tmp/.wend-lab-cgroup");
    let keep_cg = cg.exists();
    if keep_cg {
        mkdir(cg_stage)?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
        sys(
            "keep /sys/fs/cgroup",
            mount(Some(cg), cg_stage, none, flags, none),
        )?;
    }
    sys("unmount /sys", umount2("/sys", MntFlags::MNT_DETACH))?;
    let ro = MsFlags::MS_RDONLY | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    sys(
        "mount sysfs",
        mount(Some("sysfs"), "/sys", Some("sysfs"), ro, none),
    )?;
    if keep_cg {
        let flags = MsFlags::MS_MOVE;
        sys(
            "put back /sys/fs/cgroup",
            mount(Some(cg_stage), cg, none, flags, none),
        )?;
        let _ = std::fs::remove_dir(cg_stage);
    }
    Ok(())
}

/// Writes the calling process into each of the node's cgroups.
pub fn join_cgroups(node: &NodeState) -> Result<(), LabError> {
    let me = std::process::id().to_string();
    for f in &node.cgroup_procs {
        std::fs::write(f, &me).map_err(|e| LabError::io("join cgroup", f, e))?;
    }
    Ok(())
}

/// Sets up the node's namespaces around the calling (single-threaded) process.
fn enter_node(state: &LabState, node: &NodeState) -> Result<(), LabError> {
    join_cgroups(node)?;
    let netns_path = PathBuf::from("/run/netns").join(&node.netns);
    let netns = File::open(&netns_path).map_err(|e| LabError::io("open", &netns_path, e))?;
    sys("setns(net)", setns(&netns, CloneFlags::CLONE_NEWNET))?;
    sys(
        "unshare(mount, uts)",
        unshare(CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWUTS),
    )?;
    sys("sethostname", sethostname(&node.name))?;
    let none = None::<&str>;
    sys(
        "make / private",
        mount(none, "/", none, MsFlags::MS_REC | MsFlags::MS_PRIVATE, none),
    )?;
    let nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    sys(
        "mount tmpfs on /tmp",
        mount(
            Some("tmpfs"),
            "/tmp",
            Some("tmpfs"),
            nodev,
            Some("mode=1777"),
        ),
    )?;
    // The new /run is built aside (under the new /tmp) while the host's /run is still
    // visible, then moved over /run with its bind mounts.
    let stage = Path::new("/tmp/.wend-lab-run");
    mkdir(stage)?;
    sys(
        "mount tmpfs for /run",
        mount(Some("tmpfs"), stage, Some("tmpfs"), nodev, Some("mode=755")),
    )?;
    let lab_in_stage = stage.join(state.dir.strip_prefix("/run").unwrap_or(&state.dir));
    let api_in_stage = stage.join(node_api_dir().strip_prefix("/run").expect("under /run"));
    for (source, target) in [
        (state.dir.clone(), lab_in_stage),
        (state.node_run_dir(&node.name), api_in_stage),
    ] {
        mkdir(&target)?;
        sys(
            &format!("bind {} on {}", source.display(), target.display()),
            mount(Some(&source), &target, none, MsFlags::MS_BIND, none),
        )?;
    }
    sys(
        "move the node's /run in place",
        mount(Some(stage), "/run", none, MsFlags::MS_MOVE, none),
    )?;
    let _ = std::fs::remove_dir(stage);
    remount_sys()?;
    sys(
        "become child subreaper",
        nix::sys::prctl::set_child_subreaper(true),
    )?;
    std::env::set_current_dir("/").map_err(|e| LabError::io("enter", "/", e))?;
    Ok(())
}

/// The environment every process of a node gets.
pub fn node_env(state: &LabState, node: &NodeState) -> Vec<(String, String)> {
    let mut env = vec![
        ("WEND_API".to_owned(), NODE_API_SOCKET.to_owned()),
        ("WEND_LAB".to_owned(), state.name.to_string()),
        ("WEND_LAB_NODE".to_owned(), node.name.clone()),
    ];
    if let Some(c) = node.cpus {
        env.push(("WEND_LAB_CPUS".to_owned(), c.to_string()));
    }
    env
}

fn write_file(path: &Path, text: &str) -> Result<(), LabError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| LabError::io("write", &tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LabError::io("write", path, e))
}

fn start_daemon(state: &LabState, node: &NodeState, argv: &[String]) -> Result<u32, LabError> {
    let log_path = state.daemon_log(&node.name);
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| LabError::io("open", &log_path, e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LabError::io("open", &log_path, e))?;
    let (program, args) = argv.split_first().ok_or_else(|| LabError::NodeStart {
        node: node.name.clone(),
        why: "empty daemon command line".to_owned(),
    })?;
    let child = Command::new(program)
        .args(args)
        .envs(node_env(state, node))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        .spawn()
        .map_err(|e| LabError::io("start daemon", program, e))?;
    let pid = child.id();
    let dir = state.node_dir(&node.name);
    let _ = std::fs::remove_file(dir.join("daemon.exit"));
    write_file(&dir.join("daemon.pid"), &format!("{pid}\n"))?;
    // The child is reaped through waitpid in the signal loop, not through `child`.
    drop(child);
    Ok(pid)
}

fn describe(status: WaitStatus) -> String {
    match status {
        WaitStatus::Exited(_, code) => format!("exited with status {code}"),
        WaitStatus::Signaled(_, sig, _) => format!("killed by {sig}"),
        other => format!("{other:?}"),
    }
}

/// Reaps every finished child; returns how the daemon ended if it was among them.
fn reap(daemon: Option<u32>) -> Option<WaitStatus> {
    let mut daemon_end = None;
    while let Ok(status) = waitpid(None::<Pid>, Some(WaitPidFlag::WNOHANG)) {
        match status.pid() {
            None => break,
            Some(pid) if Some(pid.as_raw() as u32) == daemon => daemon_end = Some(status),
            Some(_) => {}
        }
    }
    daemon_end
}

/// The node's processes other than the holder.
fn others(node: &NodeState) -> Vec<u32> {
    let me = std::process::id();
    let Some(file) = node.cgroup_procs.first() else {
        return Vec::new();
    };
    read_procs(&mut SystemHost::new(), file)
        .into_iter()
        .filter(|p| *p != me)
        .collect()
}

fn stop_node(node: &NodeState) {
    for (sig, limit) in [(Signal::SIGTERM, STOP_GRACE), (Signal::SIGKILL, STOP_GRACE)] {
        for p in others(node) {
            let _ = kill(Pid::from_raw(p as i32), sig);
        }
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            reap(None);
            if others(node).is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Runs the holder of `node` in lab `name` (state under `root`) until told to stop.
pub fn hold(name: &LabName, node: &str, root: &Path) -> Result<(), LabError> {
    let mut mask = SigSet::empty();
    for s in [
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
        Signal::SIGCHLD,
        Signal::SIGUSR1,
    ] {
        mask.add(s);
    }
    // Blocked here, delivered through the signalfd; std resets the mask in children.
    sys("block signals", mask.thread_block())?;
    let signals = sys("signalfd", SignalFd::new(&mask))?;
    let mut host = SystemHost::new();
    let state = crate::status::load(&mut host, name, root)?;
    let n = state.node(node)?.clone();
    enter_node(&state, &n)?;
    let node_dir = state.node_dir(node);
    let mut daemon = match &n.daemon {
        Some(argv) => Some(start_daemon(&state, &n, argv)?),
        None => None,
    };
    write_file(
        &node_dir.join("ready"),
        &format!("{}\n", std::process::id()),
    )?;
    loop {
        let Some(info) = sys("read signalfd", signals.read_signal())? else {
            continue;
        };
        match Signal::try_from(info.ssi_signo as i32) {
            Ok(Signal::SIGCHLD) => {
                if let Some(end) = reap(daemon) {
                    daemon = None;
                    let _ = std::fs::remove_file(node_dir.join("daemon.pid"));
                    write_file(
                        &node_dir.join("daemon.exit"),
                        &format!("{}\n", describe(end)),
                    )?;
                }
            }
            Ok(Signal::SIGUSR1) => {
                if let (None, Some(argv)) = (daemon, &n.daemon) {
                    daemon = Some(start_daemon(&state, &n, argv)?);
                }
            }
            Ok(_) => {
                stop_node(&n);
                let _ = std::fs::remove_file(node_dir.join("daemon.pid"));
                return Ok(());
            }
            Err(_) => {}
        }
    }
}
