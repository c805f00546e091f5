//! The host's side effects, behind a trait.
//!
//! `up`, `down` and `status` only talk to the machine through [`Host`]: running `ip`,
//! reading and writing files (cgroups, state), spawning node holders, signalling and
//! inspecting processes. [`SystemHost`] is the real machine; the unit tests drive the same
//! orchestration through a recording double.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::LabError;

/// A signal the lab sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    Term,
    Kill,
    /// Asks a node holder to start its daemon again.
    Usr1,
}

/// What is known of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcState {
    /// Running (or stopped); with its start time in clock ticks since boot, to tell a reused
    /// pid from the process the lab started.
    Alive { start: u64 },
    /// Exited (a zombie counts as gone: it holds no resources but its pid).
    Gone,
}

/// A process to start in the background.
#[derive(Debug, Clone, PartialEq)]
pub struct Launch {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Its stdout and stderr are appended here.
    pub log: PathBuf,
}

/// A held lock; released on drop.
#[derive(Debug)]
pub struct LockGuard(#[allow(dead_code)] Option<Flock<File>>);

impl LockGuard {
    /// A guard that holds nothing (for doubles).
    pub fn none() -> Self {
        LockGuard(None)
    }
}

/// Every side effect the lab's orchestration has on the machine.
pub trait Host {
    /// Runs a program to completion; its stdout, or an error with its stderr.
    fn run(&mut self, program: &str, args: &[String]) -> Result<String, LabError>;
    fn read(&mut self, path: &Path) -> io::Result<String>;
    fn write(&mut self, path: &Path, data: &str) -> io::Result<()>;
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    fn mkdir_all(&mut self, path: &Path) -> io::Result<()>;
    /// Removes an empty directory (a cgroup).
    fn rmdir(&mut self, path: &Path) -> io::Result<()>;
    /// Removes a directory and everything in it.
    fn remove_tree(&mut self, path: &Path) -> io::Result<()>;
    /// The names of the entries of a directory.
    fn list(&mut self, path: &Path) -> io::Result<Vec<String>>;
    fn exists(&mut self, path: &Path) -> bool;
    /// True if a Unix socket accepts a connection.
    fn can_connect(&mut self, socket: &Path) -> bool;
    /// Starts a process in its own process group, stdin from /dev/null; returns its pid.
    fn spawn(&mut self, launch: &Launch) -> Result<u32, LabError>;
    /// Sends a signal; a process that is already gone is not an error.
    fn signal(&mut self, pid: u32, sig: Sig) -> io::Result<()>;
    /// Looks at a process, reaping it if it is a finished child of ours.
    fn proc_state(&mut self, pid: u32) -> ProcState;
    /// Takes an exclusive lock on a file, waiting for it.
    fn lock(&mut self, path: &Path) -> Result<LockGuard, LabError>;
    fn sleep(&mut self, d: Duration);
}

/// The real machine.
#[derive(Debug, Default)]
pub struct SystemHost {
    children: HashMap<u32, Child>,
}

impl SystemHost {
    pub fn new() -> Self {
        SystemHost::default()
    }
}

/// Reads the state and start time (field 22) of `/proc/PID/stat`.
pub fn read_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

impl Host for SystemHost {
    fn run(&mut self, program: &str, args: &[String]) -> Result<String, LabError> {
        let cmd = format!("{program} {}", args.join(" "));
        let out = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| LabError::Command {
                cmd: cmd.clone(),
                detail: format!("{e} (is it installed? `ip` is in the iproute2 package)"),
            })?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            Err(LabError::Command {
                cmd,
                detail: format!(
                    "{}: {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr).trim()
                ),
            })
        }
    }

    fn read(&mut self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn write(&mut self, path: &Path, data: &str) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn rmdir(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn remove_tree(&mut self, path: &Path) -> io::Result<()> {
        match std::fs::remove_dir_all(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            r => r,
        }
    }

    fn list(&mut self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    fn exists(&mut self, path: &Path) -> bool {
        path.exists()
    }

    fn can_connect(&mut self, socket: &Path) -> bool {
        std::os::unix::net::UnixStream::connect(socket).is_ok()
    }

    fn spawn(&mut self, launch: &Launch) -> Result<u32, LabError> {
        use std::os::unix::process::CommandExt;
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&launch.log)
            .map_err(|e| LabError::io("open log", &launch.log, e))?;
        let log2 = log
            .try_clone()
            .map_err(|e| LabError::io("open log", &launch.log, e))?;
        let child = Command::new(&launch.program)
            .args(&launch.args)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .map_err(|e| LabError::io("start", &launch.program, e))?;
        let pid = child.id();
        self.children.insert(pid, child);
        Ok(pid)
    }

    fn signal(&mut self, pid: u32, sig: Sig) -> io::Result<()> {
        let sig = match sig {
            Sig::Term => Signal::SIGTERM,
            Sig::Kill => Signal::SIGKILL,
            Sig::Usr1 => Signal::SIGUSR1,
        };
        match kill(Pid::from_raw(pid as i32), sig) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(e) => Err(io::Error::from(e)),
        }
    }

    fn proc_state(&mut self, pid: u32) -> ProcState {
        if let Some(child) = self.children.get_mut(&pid) {
            if let Ok(Some(_)) = child.try_wait() {
                self.children.remove(&pid);
                return ProcState::Gone;
            }
        }
        match read_stat(pid) {
            None => ProcState::Gone,
            Some(('Z', _)) | Some(('X', _)) => {
                // A zombie: if it became our child (we are a subreaper), reap it.
                if !self.children.contains_key(&pid) {
                    let _ = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG))
                        .map(|s: WaitStatus| s);
                }
                ProcState::Gone
            }
            Some((_, start)) => ProcState::Alive { start },
        }
    }

    fn lock(&mut self, path: &Path) -> Result<LockGuard, LabError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|e| LabError::io("open lock file", path, e))?;
        let flock = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| LabError::sys(format!("flock {}", path.display()), e))?;
        Ok(LockGuard(Some(flock)))
    }

    fn sleep(&mut self, d: Duration) {
        std::thread::sleep(d);
    }
}
