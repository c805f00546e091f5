//! Stay reasons: why a process cannot be checkpointed (or migrated) now.
//!
//! The checks are a pure function of [`ProcessFacts`] (gathered from /proc without touching the
//! process) and a [`StayPath`]: a checkpoint to a file must rebuild every descriptor, a
//! migration leaves descriptors home with the deputy, so sockets, pipes and terminals stop the
//! first but not the second.

use std::fmt;

pub use crate::facts::{FdFact, FdKind, ProcessFacts};

/// What the process is about to go through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StayPath {
    /// Checkpoint to an image and restore later: every descriptor is rebuilt.
    Checkpoint,
    /// Migration: descriptors stay home and the remote's I/O on them is forwarded.
    Migration,
    /// A guest leaving the node it ran on (going home or on): as [`StayPath::Migration`], but
    /// the seccomp filter is wend's own sandbox, which stays behind.
    Return,
}

/// One reason a process must stay. [`StayReason::name`] is a stable short name for scripts;
/// `Display` is the human text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StayReason {
    Threads { count: usize },
    SharedMemory { area: String },
    SysvShm { area: String },
    LockedMemory,
    DeviceMemory { area: String },
    Socket { fd: i32 },
    Terminal { fd: i32, path: String },
    FileLock,
    AnonInode { fd: i32, kind: String },
    Memfd { fd: i32 },
    Pipe { fd: i32 },
    Fifo { fd: i32, path: String },
    Device { fd: i32, path: String },
    UnknownFile { fd: i32, target: String },
    Children { pids: Vec<i32> },
    Traced { by: i32 },
    Seccomp,
    Namespace { kind: String },
    Stopped { state: char },
    PosixTimers { count: usize },
    RealTime { policy: u32 },
}

impl StayReason {
    /// Stable short name.
    pub fn name(&self) -> &'static str {
        match self {
            StayReason::Threads { .. } => "threads",
            StayReason::SharedMemory { .. } => "shared-memory",
            StayReason::SysvShm { .. } => "sysv-shm",
            StayReason::LockedMemory => "locked-memory",
            StayReason::DeviceMemory { .. } => "device-memory",
            StayReason::Socket { .. } => "socket",
            StayReason::Terminal { .. } => "terminal",
            StayReason::FileLock => "file-lock",
            StayReason::AnonInode { .. } => "anon-inode",
            StayReason::Memfd { .. } => "memfd",
            StayReason::Pipe { .. } => "pipe",
            StayReason::Fifo { .. } => "fifo",
            StayReason::Device { .. } => "device",
            StayReason::UnknownFile { .. } => "unknown-file",
            StayReason::Children { .. } => "children",
            StayReason::Traced { .. } => "traced",
            StayReason::Seccomp => "seccomp",
            StayReason::Namespace { .. } => "namespace",
            StayReason::Stopped { .. } => "stopped",
            StayReason::PosixTimers { .. } => "posix-timers",
            StayReason::RealTime { .. } => "real-time",
        }
    }
}

impl fmt::Display for StayReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StayReason::Threads { count } => write!(
                f,
                "it has {count} threads (only single-threaded processes move)"
            ),
            StayReason::SharedMemory { area } => {
                write!(f, "it shares writable memory with others ({area})")
            }
            StayReason::SysvShm { area } => {
                write!(f, "it has System V shared memory attached ({area})")
            }
            StayReason::LockedMemory => write!(f, "it has locked memory (mlock)"),
            StayReason::DeviceMemory { area } => write!(f, "it maps device memory ({area})"),
            StayReason::Socket { fd } => write!(f, "fd {fd} is a socket"),
            StayReason::Terminal { fd, path } => write!(
                f,
                "fd {fd} is a terminal other than stdin/stdout/stderr ({path})"
            ),
            StayReason::FileLock => write!(f, "it holds a file lock"),
            StayReason::AnonInode { fd, kind } => {
                write!(f, "fd {fd} is {kind}, which cannot be rebuilt")
            }
            StayReason::Memfd { fd } => write!(f, "fd {fd} is a memfd that may be shared"),
            StayReason::Pipe { fd } => write!(f, "fd {fd} is a pipe to another process"),
            StayReason::Fifo { fd, path } => write!(f, "fd {fd} is a named pipe ({path})"),
            StayReason::Device { fd, path } => write!(
                f,
                "fd {fd} is a device that cannot be reopened faithfully ({path})"
            ),
            StayReason::UnknownFile { fd, target } => {
                write!(f, "fd {fd} is of an unsupported kind ({target})")
            }
            StayReason::Children { pids } => write!(f, "it has child processes ({pids:?})"),
            StayReason::Traced { by } => write!(f, "it is already traced by process {by}"),
            StayReason::Seccomp => write!(f, "it runs under a seccomp filter"),
            StayReason::Namespace { kind } => {
                write!(f, "it lives in a different {kind} namespace than wend")
            }
            StayReason::Stopped { state } => write!(f, "it is stopped or dying (state {state})"),
            StayReason::PosixTimers { count } => write!(
                f,
                "it has {count} POSIX timers (timer_create), which cannot be rebuilt"
            ),
            StayReason::RealTime { policy } => {
                write!(f, "it runs under real-time scheduling (policy {policy})")
            }
        }
    }
}

/// All reasons the process described by `f` must stay, for `path`. Empty: it may go.
pub fn stay_reasons(f: &ProcessFacts, path: StayPath) -> Vec<StayReason> {
    let mut out = Vec::new();
    let fds_move = path == StayPath::Checkpoint;
    if f.threads > 1 {
        out.push(StayReason::Threads { count: f.threads });
    }
    if f.traced_by != 0 {
        out.push(StayReason::Traced { by: f.traced_by });
    }
    if matches!(f.state, 'T' | 't' | 'Z' | 'X' | 'x') {
        out.push(StayReason::Stopped { state: f.state });
    }
    for a in &f.areas {
        if matches!(
            a.name.as_str(),
            "[vvar]" | "[vvar_vclock]" | "[vdso]" | "[vsyscall]"
        ) {
            continue;
        }
        let label = format!("{:#x}-{:#x} {}", a.start, a.end, a.name);
        if a.name.starts_with("/SYSV") {
            out.push(StayReason::SysvShm { area: label });
        } else if a.shared
            && (a.write || !a.name.starts_with('/') || a.name.ends_with(" (deleted)"))
        {
            out.push(StayReason::SharedMemory { area: label });
        } else if a.name.starts_with("/dev/") && !a.name.starts_with("/dev/zero") {
            out.push(StayReason::DeviceMemory { area: label });
        }
    }
    if f.locked_kb > 0 {
        out.push(StayReason::LockedMemory);
    }
    if f.holds_lock || f.fds.iter().any(|d| d.locks > 0) {
        out.push(StayReason::FileLock);
    }
    if matches!(f.sched_policy, 1 | 2 | 6) {
        out.push(StayReason::RealTime {
            policy: f.sched_policy,
        });
    }
    if f.posix_timers > 0 {
        out.push(StayReason::PosixTimers {
            count: f.posix_timers,
        });
    }
    if f.seccomp != 0 && path != StayPath::Return {
        out.push(StayReason::Seccomp);
    }
    for ns in &f.foreign_namespaces {
        out.push(StayReason::Namespace { kind: ns.clone() });
    }
    if fds_move && !f.children.is_empty() {
        out.push(StayReason::Children {
            pids: f.children.clone(),
        });
    }
    for d in &f.fds {
        let stdio = (0..=2).contains(&d.fd);
        match &d.kind {
            FdKind::Regular | FdKind::Directory | FdKind::Deleted | FdKind::NullDevice => {}
            FdKind::Terminal => {
                if fds_move && !stdio {
                    out.push(StayReason::Terminal {
                        fd: d.fd,
                        path: d.target.clone(),
                    });
                }
            }
            FdKind::Pipe { both_ends_inside } => {
                if fds_move && !stdio && !both_ends_inside {
                    out.push(StayReason::Pipe { fd: d.fd });
                }
            }
            FdKind::Fifo => {
                if fds_move {
                    out.push(StayReason::Fifo {
                        fd: d.fd,
                        path: d.target.clone(),
                    });
                }
            }
            FdKind::Socket => {
                if fds_move {
                    out.push(StayReason::Socket { fd: d.fd });
                }
            }
            FdKind::AnonInode(kind) => out.push(StayReason::AnonInode {
                fd: d.fd,
                kind: kind.clone(),
            }),
            FdKind::Memfd => out.push(StayReason::Memfd { fd: d.fd }),
            FdKind::OtherDevice => {
                if fds_move {
                    out.push(StayReason::Device {
                        fd: d.fd,
                        path: d.target.clone(),
                    });
                }
            }
            FdKind::Other => {
                if fds_move {
                    out.push(StayReason::UnknownFile {
                        fd: d.fd,
                        target: d.target.clone(),
                    });
                }
            }
        }
    }
    out
}
