//! A batch of identical compressions started together in one lab node, with or without
//! `wend run`, watched until the last one ends; killed if dropped before that.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use wend_lab::Lab;

/// The compression every job runs (with its input path after it).
pub const XZ: [&str; 4] = ["xz", "-9", "-T1", "-c"];

/// One job of a batch.
#[derive(Debug)]
pub struct Job {
    /// `wend lab exec NODE -- [wend run --] xz ...`: its pid becomes `wend run` (or xz).
    child: Child,
    /// The compression's pid (its home pid under wend), once known.
    pub pid: Option<i32>,
    pub output: PathBuf,
    errors: PathBuf,
    /// When it ended, and how.
    pub ended: Option<(Duration, ExitStatus)>,
}

/// Jobs started together.
#[derive(Debug)]
pub struct Batch {
    pub jobs: Vec<Job>,
    started: Instant,
    under_wend: bool,
}

impl Batch {
    /// Starts `count` jobs compressing `input` in `node`, under `wend run` when `wend` is
    /// given; outputs go to `dir/TAG-N.xz`.
    pub fn start(
        lab: &Lab,
        node: &str,
        wend: Option<&Path>,
        input: &Path,
        dir: &Path,
        tag: &str,
        count: usize,
    ) -> anyhow::Result<Batch> {
        let mut argv: Vec<String> = Vec::new();
        if let Some(w) = wend {
            argv.extend([w.display().to_string(), "run".into(), "--".into()]);
        }
        argv.extend(XZ.iter().map(|s| s.to_string()));
        argv.push(input.display().to_string());
        let mut batch = Batch {
            jobs: Vec::with_capacity(count),
            started: Instant::now(),
            under_wend: wend.is_some(),
        };
        for n in 1..=count {
            let output = dir.join(format!("{tag}-{n}.xz"));
            let errors = dir.join(format!("{tag}-{n}.err"));
            let out = File::create(&output)
                .with_context(|| format!("cannot create {}", output.display()))?;
            let err = File::create(&errors)
                .with_context(|| format!("cannot create {}", errors.display()))?;
            let child = lab
                .exec(node, &argv)
                .stdin(Stdio::null())
                .stdout(out)
                .stderr(err)
                // Its own process group: the terminal's Ctrl-C reaches only `wend demo`,
                // which then ends the jobs itself and removes the lab.
                .process_group(0)
                .spawn()
                .with_context(|| format!("cannot start job {n} in {node}"))?;
            batch.jobs.push(Job {
                child,
                pid: None,
                output,
                errors,
                ended: None,
            });
        }
        Ok(batch)
    }

    /// Time since the batch started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Notes the jobs that ended and the compressions' pids; true once every job ended.
    pub fn poll(&mut self) -> anyhow::Result<bool> {
        let now = self.started.elapsed();
        for job in &mut self.jobs {
            if job.ended.is_some() {
                continue;
            }
            if job.pid.is_none() {
                job.pid = compression_pid(job.child.id(), self.under_wend);
            }
            if let Some(status) = job.child.try_wait().context("waiting for a job failed")? {
                job.ended = Some((now, status));
            }
        }
        Ok(self.jobs.iter().all(|j| j.ended.is_some()))
    }

    /// From the start to the end of the last job, once all ended.
    pub fn makespan(&self) -> Option<Duration> {
        self.jobs
            .iter()
            .map(|j| j.ended.map(|(t, _)| t))
            .collect::<Option<Vec<_>>>()?
            .into_iter()
            .max()
    }

    /// An error naming the first job that failed, with what it printed.
    pub fn check_success(&self, what: &str) -> anyhow::Result<()> {
        for (i, job) in self.jobs.iter().enumerate() {
            if let Some((_, status)) = job.ended {
                if !status.success() {
                    let said = std::fs::read_to_string(&job.errors).unwrap_or_default();
                    bail!(
                        "job {} {what} failed ({status}): {}",
                        i + 1,
                        said.trim().lines().last().unwrap_or("it printed nothing")
                    );
                }
            }
        }
        Ok(())
    }
}

/// The compression's pid: the launcher itself without wend (it execs xz), else the child
/// `wend run` started (its only child).
fn compression_pid(launcher: u32, under_wend: bool) -> Option<i32> {
    if !under_wend {
        return Some(launcher as i32);
    }
    let children = std::fs::read_to_string(format!("/proc/{launcher}/task/{launcher}/children"));
    let pid: i32 = children.ok()?.split_whitespace().next()?.parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == "xz").then_some(pid)
}

/// The parent pid of `pid`, from /proc.
fn parent_of(pid: i32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()
}

impl Drop for Batch {
    fn drop(&mut self) {
        for job in &mut self.jobs {
            if job.ended.is_some() {
                continue;
            }
            if let Ok(Some(_)) = job.child.try_wait() {
                continue;
            }
            // The compression first (its pid checked to still be our launcher's child), so
            // that under wend its daemon ends the part running elsewhere too.
            if let Some(pid) = job.pid {
                let launcher = job.child.id();
                if pid as u32 == launcher || parent_of(pid) == Some(launcher) {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
            }
            let _ = job.child.kill();
            let _ = job.child.wait();
        }
    }
}
