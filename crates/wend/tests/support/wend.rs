//! Running `wend` under the reaper (tests/guests/reaper.c), a child subreaper that adopts,
//! reaps and records every process a command leaves behind.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::proc::{descendants, signal, wait_until, Proc};

/// How one process under the reaper ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    Exit(i32),
    Signal(i32),
}

/// A `wend` command running under the reaper.
pub struct WendRun {
    pub proc: Proc,
    status_file: PathBuf,
    pub args: Vec<String>,
}

/// What a finished `wend` command did.
pub struct Outcome {
    pub args: Vec<String>,
    /// wend's exit code (128+N if killed by signal N).
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// (pid, end) of every process reaped, wend itself included.
    pub reaped: Vec<(u32, End)>,
    pub wend_pid: Option<u32>,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "`wend {}` exited {}", self.args.join(" "), self.code)?;
        writeln!(f, "--- stdout:\n{}", self.stdout)?;
        writeln!(f, "--- stderr:\n{}", self.stderr)?;
        write!(f, "--- reaped: {:?}", self.reaped)
    }
}

impl Outcome {
    /// Processes other than wend itself that ended under the reaper.
    pub fn others(&self) -> Vec<(u32, End)> {
        self.reaped
            .iter()
            .filter(|(p, _)| Some(*p) != self.wend_pid)
            .cloned()
            .collect()
    }

    pub fn assert_ok(&self) {
        assert_eq!(self.code, 0, "expected success:\n{self}");
    }

    /// A refusal: non-zero exit, and stderr names every reason (case-insensitive; each
    /// entry of `reasons` is a list of accepted spellings).
    pub fn assert_refused(&self, reasons: &[&[&str]]) {
        assert_ne!(self.code, 0, "expected a refusal:\n{self}");
        let err = self.stderr.to_lowercase();
        for alternatives in reasons {
            assert!(
                alternatives.iter().any(|r| err.contains(&r.to_lowercase())),
                "the refusal does not name {alternatives:?}:\n{self}"
            );
        }
    }

    /// The guest's own verdict as the restored process printed it through wend restore.
    pub fn assert_verdict_ok(&self) {
        assert!(
            self.code == 0 && self.stdout.contains("verdict: ok") && !self.stdout.contains("FAIL"),
            "the restored guest did not pass:\n{self}"
        );
    }
}

pub fn wend_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_wend"))
}

impl WendRun {
    /// Starts `reaper STATUS wend ARGS...` with the given stdin; stdout/stderr watched.
    pub fn start(reaper: &Path, dir: &Path, args: &[String], stdin: Stdio) -> WendRun {
        WendRun::start_program(reaper, dir, &wend_exe(), args, stdin)
    }

    /// Starts `reaper STATUS PROGRAM ARGS...` (the harness checks itself with this).
    pub fn start_program(
        reaper: &Path,
        dir: &Path,
        program: &Path,
        args: &[String],
        stdin: Stdio,
    ) -> WendRun {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let status_file = dir.join(format!("reaper-{n}.status"));
        let proc = Proc::spawn(
            &format!("{} {}", program.display(), args.join(" ")),
            Command::new(reaper)
                .arg(&status_file)
                .arg(program)
                .args(args)
                .current_dir(dir)
                .stdin(stdin)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        WendRun {
            proc,
            status_file,
            args: args.to_vec(),
        }
    }

    fn status_lines(&self) -> Vec<String> {
        fs::read_to_string(&self.status_file)
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The pid of the `wend` process itself.
    pub fn wend_pid(&self) -> u32 {
        let mut pid = None;
        wait_until(Duration::from_secs(10), || {
            pid = self
                .status_lines()
                .iter()
                .find_map(|l| l.strip_prefix("child ")?.parse().ok());
            pid.is_some()
        });
        pid.expect("reaper did not record the wend pid")
    }

    /// The pid `wend restore --detach` printed. Waits for the line itself: wend's exit says
    /// nothing about whether the reader thread has taken the line out of the pipe yet (and
    /// the restored process shares that pipe, so its output may come before or after).
    pub fn detached_pid(&self, timeout: Duration) -> u32 {
        // Only complete lines: a pid whose digits are still in the pipe must not be cut.
        let parse = |text: &str| {
            text[..text.rfind('\n').map_or(0, |i| i + 1)]
                .lines()
                .find_map(|l| l.trim().parse::<u32>().ok())
        };
        let mut pid = None;
        wait_until(timeout, || {
            pid = parse(&self.proc.stdout.text());
            pid.is_some() || self.proc.stdout.at_eof()
        });
        pid.or_else(|| parse(&self.proc.stdout.text()))
            .unwrap_or_else(|| {
                panic!(
                    "no pid line from `wend {}` within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                    self.args.join(" "),
                    self.proc.stdout.text(),
                    self.proc.stderr.text()
                )
            })
    }

    /// Processes below the reaper other than wend itself (a detached or running restore).
    pub fn others_alive(&self) -> Vec<u32> {
        let wend = self.wend_pid();
        descendants(self.proc.pid())
            .into_iter()
            .filter(|p| *p != wend)
            .collect()
    }

    /// Waits until wend and everything it left behind have ended (the reaper exits then).
    /// Panics with the outputs on timeout; everything is killed by drop then.
    pub fn finish(mut self, timeout: Duration) -> Outcome {
        let status = self.proc.wait_timeout(timeout);
        let Some(status) = status else {
            panic!(
                "`wend {}` (or what it started) still runs after {timeout:?}\nstdout:\n{}\nstderr:\n{}\nprocesses: {:?}",
                self.args.join(" "),
                self.proc.stdout.text(),
                self.proc.stderr.text(),
                descendants(self.proc.pid())
            );
        };
        self.proc.stdout.wait_eof(Duration::from_secs(5));
        self.proc.stderr.wait_eof(Duration::from_secs(5));
        let lines = self.status_lines();
        let wend_pid = lines
            .iter()
            .find_map(|l| l.strip_prefix("child ")?.parse().ok());
        let reaped = lines
            .iter()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                let kind = it.next()?;
                let pid = it.next()?.parse().ok()?;
                let v = it.next()?.parse().ok()?;
                match kind {
                    "exit" => Some((pid, End::Exit(v))),
                    "signal" => Some((pid, End::Signal(v))),
                    _ => None,
                }
            })
            .collect();
        Outcome {
            args: self.args.clone(),
            code: status.code().unwrap_or(-1),
            stdout: self.proc.stdout.text(),
            stderr: self.proc.stderr.text(),
            reaped,
            wend_pid,
        }
    }
}

impl Drop for WendRun {
    fn drop(&mut self) {
        // Kill what runs below the reaper first, so nothing is orphaned to pid 1; the reaper
        // then reaps them and exits by itself (Proc's drop kills it otherwise).
        if self.proc.try_wait().is_none() {
            for pid in descendants(self.proc.pid()) {
                signal(pid, "KILL");
            }
            self.proc.wait_timeout(Duration::from_secs(5));
        }
    }
}
