//! Child processes with their output watched by threads and killed on drop, plus small
//! readers of /proc used to tell a running, frozen, traced or dead process apart.

use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// The bytes received so far and whether end of file was seen.
type Buffer = Mutex<(Vec<u8>, bool)>;

/// Everything a pipe delivered so far, filled by a reader thread; waiters are woken on each
/// chunk and at end of file.
#[derive(Clone, Default)]
pub struct Watch {
    inner: Arc<(Buffer, Condvar)>,
}

impl Watch {
    /// A watch that never receives data and is already at end of file.
    pub fn closed() -> Watch {
        let w = Watch::default();
        w.inner.0.lock().unwrap().1 = true;
        w
    }

    pub fn spawn<R: Read + Send + 'static>(mut reader: R) -> Watch {
        let w = Watch::default();
        let inner = Arc::clone(&w.inner);
        thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            loop {
                let n = reader.read(&mut buf).unwrap_or(0);
                let (lock, cv) = &*inner;
                let mut g = lock.lock().unwrap();
                if n == 0 {
                    g.1 = true;
                    cv.notify_all();
                    return;
                }
                g.0.extend_from_slice(&buf[..n]);
                cv.notify_all();
            }
        });
        w
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.inner.0.lock().unwrap().0.clone()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }

    pub fn at_eof(&self) -> bool {
        self.inner.0.lock().unwrap().1
    }

    /// Waits until the output contains `pat`. Err(output so far) on timeout or end of file.
    pub fn wait_for(&self, pat: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.inner;
        let mut g = lock.lock().unwrap();
        loop {
            if String::from_utf8_lossy(&g.0).contains(pat) {
                return Ok(());
            }
            let now = Instant::now();
            if g.1 || now >= deadline {
                return Err(String::from_utf8_lossy(&g.0).into_owned());
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Waits for end of file; false on timeout.
    pub fn wait_eof(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cv) = &*self.inner;
        let mut g = lock.lock().unwrap();
        while !g.1 {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
        true
    }
}

/// A child process whose stdout and stderr (when piped) are watched; killed with all its
/// descendants and reaped on drop.
pub struct Proc {
    pub name: String,
    child: Child,
    pub stdout: Watch,
    pub stderr: Watch,
    pub stdin: Option<ChildStdin>,
    status: Option<ExitStatus>,
}

impl Proc {
    /// Spawns `cmd` as configured by the caller; piped stdout/stderr get a [`Watch`].
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("spawning {name} ({cmd:?}): {e}"));
        let stdout = child.stdout.take().map_or_else(Watch::closed, Watch::spawn);
        let stderr = child.stderr.take().map_or_else(Watch::closed, Watch::spawn);
        let stdin = child.stdin.take();
        Proc {
            name: name.to_string(),
            child,
            stdout,
            stderr,
            stdin,
            status: None,
        }
    }

    /// Spawns with stdin from /dev/null and stdout/stderr piped and watched.
    pub fn spawn_piped(name: &str, cmd: &mut Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        Proc::spawn(name, cmd)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for `pat` on stdout; panics with both outputs on timeout or end of file.
    pub fn expect_stdout(&self, pat: &str, timeout: Duration) {
        if let Err(out) = self.stdout.wait_for(pat, timeout) {
            panic!(
                "{} (pid {}) did not print {pat:?} within {timeout:?}\nstdout:\n{out}\nstderr:\n{}",
                self.name,
                self.pid(),
                self.stderr.text()
            );
        }
    }

    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Polls for the exit; None on timeout (the process keeps running).
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_wait() {
                return Some(st);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits for the exit, panicking with the outputs on timeout.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_timeout(timeout) {
            Some(st) => st,
            None => panic!(
                "{} (pid {}) still runs after {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.pid(),
                self.stdout.text(),
                self.stderr.text()
            ),
        }
    }

    /// Kills the process and all its descendants, then reaps it.
    pub fn kill(&mut self) {
        if self.try_wait().is_some() {
            return;
        }
        for pid in descendants(self.pid()) {
            signal(pid, "KILL");
        }
        let _ = self.child.kill();
        self.status = self.child.wait().ok();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends a signal (by name, e.g. "TERM") to a pid with /usr/bin/kill; true if delivered.
pub fn signal(pid: u32, sig: &str) -> bool {
    Command::new("kill")
        .arg("-s")
        .arg(sig)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// All descendants of `pid`, children before grandchildren.
pub fn descendants(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            let Ok(children) = fs::read_to_string(t.path().join("children")) else {
                continue;
            };
            for c in children
                .split_whitespace()
                .filter_map(|s| s.parse::<u32>().ok())
            {
                if !out.contains(&c) {
                    out.push(c);
                    queue.push(c);
                }
            }
        }
    }
    out
}

/// The fields of /proc/PID/stat after the command name (field 3, the state, is index 0).
pub fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    Some(rest.split_whitespace().map(str::to_string).collect())
}

/// The process state letter (R, S, D, T, t, Z, ...); None if the pid does not exist.
pub fn state(pid: u32) -> Option<char> {
    stat_fields(pid)?.first()?.chars().next()
}

/// True while the pid exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    matches!(state(pid), Some(c) if c != 'Z' && c != 'X')
}

/// user + system CPU time in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let f = stat_fields(pid)?;
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// A field of /proc/PID/status, e.g. "TracerPid".
pub fn status_field(pid: u32, key: &str) -> Option<String> {
    let s = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
}

/// The system call the process sleeps in (first field of /proc/PID/syscall), or None when
/// it runs in user space or the pid is gone.
pub fn syscall_nr(pid: u32) -> Option<i64> {
    let s = fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// The `pos:` of a descriptor from /proc/PID/fdinfo/FD.
pub fn fd_pos(pid: u32, fd: u32) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix("pos:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Polls `cond` every few milliseconds until it holds; false on timeout.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(Duration::from_millis(3));
    }
}

/// Asserts that `pid` runs untouched: alive, not stopped, not traced.
pub fn assert_untouched(pid: u32, context: &str) {
    // A refused checkpoint may still be detaching when wend exits; give it a moment.
    let ok = wait_until(Duration::from_secs(5), || {
        matches!(state(pid), Some('R' | 'S' | 'D'))
            && status_field(pid, "TracerPid").as_deref() == Some("0")
    });
    assert!(
        ok,
        "{context}: process {pid} is not running untouched: state {:?}, TracerPid {:?}",
        state(pid),
        status_field(pid, "TracerPid")
    );
}

pub fn read_or_empty(path: &Path) -> Vec<u8> {
    fs::read(path).unwrap_or_default()
}
