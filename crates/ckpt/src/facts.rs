//! Facts about a process, read from /proc without changing it: the input of the stay checks.

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use wend_sys::proc::{self, fdinfo, maps::MapEntry};

use crate::error::CkptError;

/// Everything the stay checks look at.
#[derive(Debug, Clone)]
pub struct ProcessFacts {
    pub pid: i32,
    pub threads: usize,
    pub traced_by: i32,
    pub state: char,
    pub children: Vec<i32>,
    pub locked_kb: u64,
    pub seccomp: u32,
    /// Namespace kinds ("pid", "mnt") that differ from wend's own.
    pub foreign_namespaces: Vec<String>,
    pub holds_lock: bool,
    /// Scheduling policy (0 normal, 1 FIFO, 2 RR, 3 batch, 5 idle, 6 deadline).
    pub sched_policy: u32,
    /// POSIX timers (timer_create), from /proc/PID/timers.
    pub posix_timers: usize,
    pub areas: Vec<MapEntry>,
    pub fds: Vec<FdFact>,
}

/// One descriptor, classified.
#[derive(Debug, Clone)]
pub struct FdFact {
    pub fd: i32,
    pub target: String,
    pub kind: FdKind,
    pub locks: usize,
    pub info: fdinfo::FdInfo,
}

/// What a descriptor refers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdKind {
    Regular,
    Directory,
    /// A deleted regular file.
    Deleted,
    /// /dev/null, /dev/zero, /dev/full, /dev/random, /dev/urandom.
    NullDevice,
    Terminal,
    Pipe {
        both_ends_inside: bool,
    },
    Fifo,
    Socket,
    AnonInode(String),
    Memfd,
    OtherDevice,
    Other,
}

const REOPENABLE_DEVICES: [&str; 5] = [
    "/dev/null",
    "/dev/zero",
    "/dev/full",
    "/dev/random",
    "/dev/urandom",
];

impl ProcessFacts {
    /// Read the facts of `pid`.
    pub fn gather(pid: i32) -> Result<ProcessFacts, CkptError> {
        let sys = |e| CkptError::sys(pid, e);
        let status = match proc::status(pid) {
            Ok(s) => s,
            Err(wend_sys::SysError::Os { cause, .. })
                if cause.kind() == std::io::ErrorKind::NotFound =>
            {
                return Err(CkptError::NoSuchProcess { pid })
            }
            Err(wend_sys::SysError::Died { .. }) => return Err(CkptError::NoSuchProcess { pid }),
            Err(e) => return Err(sys(e)),
        };
        let field = |k: &str| proc::status_field(&status, k).unwrap_or("").to_string();
        let num = |k: &str| {
            field(k)
                .split_whitespace()
                .next()
                .unwrap_or("0")
                .parse::<u64>()
                .unwrap_or(0)
        };
        let threads = proc::threads(pid).map_err(sys)?.len();
        let state = field("State").chars().next().unwrap_or('?');
        let mut foreign = Vec::new();
        for kind in ["pid", "mnt"] {
            let theirs = proc::namespace(pid, kind).map_err(sys)?;
            let ours = proc::namespace(std::process::id() as i32, kind).map_err(sys)?;
            if theirs != ours {
                foreign.push(kind.to_string());
            }
        }
        let holds_lock = proc::lock_holders()
            .map(|v| v.contains(&pid))
            .unwrap_or(false);
        // /proc/PID/maps, not smaps: smaps walks every page (tens of ms per GiB).
        let areas = proc::maps::read(pid).map_err(sys)?;
        let raw = fdinfo::list(pid).map_err(sys)?;
        let mut fds: Vec<FdFact> = raw
            .into_iter()
            .map(|o| {
                let target = o.target.to_string_lossy().into_owned();
                let kind = classify(pid, o.fd, &target);
                FdFact {
                    fd: o.fd,
                    locks: o.info.locks,
                    target,
                    kind,
                    info: o.info,
                }
            })
            .collect();
        mark_inner_pipes(pid, &mut fds);
        Ok(ProcessFacts {
            pid,
            threads,
            traced_by: num("TracerPid") as i32,
            state,
            children: proc::children(pid).map_err(sys)?,
            locked_kb: num("VmLck"),
            seccomp: num("Seccomp") as u32,
            foreign_namespaces: foreign,
            holds_lock,
            sched_policy: proc::stat::sched(pid).map_err(sys)?.policy,
            posix_timers: std::fs::read_to_string(format!("/proc/{pid}/timers"))
                .map(|s| s.lines().filter(|l| l.starts_with("ID:")).count())
                .unwrap_or(0),
            areas,
            fds,
        })
    }
}

impl ProcessFacts {
    /// Forget what our own PTRACE_SEIZE changed (tracer pid, the 't' state), for the second
    /// check made while the process is frozen.
    pub fn discount_own_trace(&mut self) {
        let me = std::fs::read_link("/proc/thread-self")
            .ok()
            .and_then(|p| p.file_name()?.to_str()?.parse::<i32>().ok())
            .unwrap_or(std::process::id() as i32);
        if self.traced_by == me || self.traced_by == std::process::id() as i32 {
            self.traced_by = 0;
            if self.state == 't' {
                self.state = 'S';
            }
        }
    }
}

fn classify(pid: i32, fd: i32, target: &str) -> FdKind {
    if target.starts_with("socket:") {
        return FdKind::Socket;
    }
    if target.starts_with("pipe:") {
        return FdKind::Pipe {
            both_ends_inside: false,
        };
    }
    if let Some(k) = target.strip_prefix("anon_inode:") {
        return FdKind::AnonInode(k.trim_matches(|c| c == '[' || c == ']').to_string());
    }
    if target.starts_with("/memfd:") {
        return FdKind::Memfd;
    }
    if !target.starts_with('/') {
        return FdKind::Other;
    }
    // Stat through /proc so deleted files and unreachable paths still answer.
    let Ok(md) = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")) else {
        return FdKind::Other;
    };
    let ft = md.file_type();
    if ft.is_file() {
        if target.ends_with(" (deleted)") || md.nlink() == 0 {
            FdKind::Deleted
        } else {
            FdKind::Regular
        }
    } else if ft.is_dir() {
        FdKind::Directory
    } else if ft.is_fifo() {
        FdKind::Fifo
    } else if ft.is_char_device() {
        let major = libc::major(md.rdev());
        if REOPENABLE_DEVICES.contains(&target) {
            FdKind::NullDevice
        } else if matches!(major, 4 | 5 | 136..=143) {
            FdKind::Terminal
        } else {
            FdKind::OtherDevice
        }
    } else {
        FdKind::Other
    }
}

/// A pipe whose read and write ends are both in this process, and in no other.
fn mark_inner_pipes(pid: i32, fds: &mut [FdFact]) {
    let pipes: Vec<(String, bool)> = fds
        .iter()
        .filter(|d| matches!(d.kind, FdKind::Pipe { .. }))
        .map(|d| {
            (
                d.target.clone(),
                d.info.flags & libc::O_ACCMODE == libc::O_WRONLY,
            )
        })
        .collect();
    let mut candidates: Vec<String> = Vec::new();
    for (t, _) in &pipes {
        let r = pipes.iter().any(|(u, w)| u == t && !w);
        let w = pipes.iter().any(|(u, w)| u == t && *w);
        if r && w && !candidates.contains(t) {
            candidates.push(t.clone());
        }
    }
    if candidates.is_empty() {
        return;
    }
    let outside = pipes_held_elsewhere(pid, &candidates);
    for d in fds.iter_mut() {
        if let FdKind::Pipe { both_ends_inside } = &mut d.kind {
            *both_ends_inside = candidates.contains(&d.target) && !outside.contains(&d.target);
        }
    }
}

/// Which of `targets` ("pipe:[ino]") some other process holds too.
fn pipes_held_elsewhere(pid: i32, targets: &[String]) -> Vec<String> {
    let me = pid.to_string();
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(n) = name.to_str() else { continue };
        if !n.bytes().all(|b| b.is_ascii_digit()) || n == me {
            continue;
        }
        let Ok(fdd) = std::fs::read_dir(e.path().join("fd")) else {
            continue;
        };
        for f in fdd.flatten() {
            if let Ok(t) = std::fs::read_link(f.path()) {
                let t = t.to_string_lossy().into_owned();
                if targets.contains(&t) && !found.contains(&t) {
                    found.push(t);
                }
            }
        }
    }
    found
}
