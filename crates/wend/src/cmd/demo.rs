//! `wend demo`: the whole idea in one command. It brings up a lab cluster of its own, starts
//! a batch of identical `xz -9` compressions on node1 under `wend run`, shows them spreading
//! over the nodes while they run, checks every output against a reference, runs the same
//! batch on node1 without wend and one job alone, and prints the times. Everything it made
//! (the lab, the files under /var/tmp) is removed at the end, also on failure or Ctrl-C.

mod batch;
mod input;
mod priority;
mod steps;
mod view;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use wend_lab::LabName;

fn lab_name(s: &str) -> Result<LabName, String> {
    LabName::new(s).map_err(|e| e.to_string())
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// How many lab nodes.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=32))]
    nodes: u16,
    /// How many compressions (default: one per node).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: Option<u16>,
    /// Input size in MB (xz -9 compresses about 1 MB per CPU-second).
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
    mb: u64,
    /// CPU share of each node (1: one CPU's worth).
    #[arg(long, default_value = "1")]
    cpus: String,
    /// The lab's name (default: a unique one).
    #[arg(long, value_parser = lab_name)]
    name: Option<LabName>,
    /// Leave the lab's CPU weight at the default (by default the lab's nodes take their CPU
    /// shares before other work on this machine).
    #[arg(long)]
    no_priority: bool,
    /// An extra argument for every node's daemon (repeat for several).
    #[arg(long = "daemon-arg", allow_hyphen_values = true, hide = true)]
    daemon_args: Vec<String>,
}

/// Where the demo keeps its files: every lab node sees /var/tmp at the same path (their
/// /tmp and /run are their own).
const WORK_ROOT: &str = "/var/tmp";

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    preflight()?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("cannot install signal handlers")?;
    }
    // Whatever the lab leaves behind is reaped here, not by pid 1 (which reaps late).
    wend_lab::become_subreaper()?;
    let result = steps::Demo::new(&args, stop.clone(), std::io::stdout().is_terminal())
        .and_then(|demo| demo.run());
    reap_orphans();
    match result {
        Err(_) if stop.load(Ordering::Relaxed) => {
            eprintln!("wend demo: interrupted; the lab and its files are removed");
            Ok(ExitCode::from(130))
        }
        Err(e) => Err(e),
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}

/// What the demo needs from the machine, each with its fix.
fn preflight() -> anyhow::Result<()> {
    if effective_uid() != Some(0) {
        bail!("wend demo builds network namespaces and cgroups: run it as root (sudo wend demo)");
    }
    for (tool, package) in [("xz", "xz-utils"), ("ip", "iproute2")] {
        let found = Command::new(tool)
            .arg(if tool == "ip" { "-V" } else { "--version" })
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            bail!("{tool} is missing: apt-get install {package}");
        }
    }
    let wend = std::env::current_exe().context("cannot find the wend binary")?;
    if ["/tmp", "/run"].iter().any(|d| wend.starts_with(d)) {
        bail!(
            "{} is under /tmp or /run, which lab nodes do not share: copy wend elsewhere (e.g. /usr/local/bin) or build it with CARGO_TARGET_DIR outside /tmp",
            wend.display()
        );
    }
    Ok(())
}

/// This process's effective user id (the second `Uid:` field of /proc/self/status).
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// Reaps finished children left to this process (lab holders, jobs' orphans).
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(s) = waitpid(nix::unistd::Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
        if s == WaitStatus::StillAlive {
            break;
        }
    }
}

/// The demo's directory under /var/tmp, removed when dropped.
struct WorkDir(PathBuf);

impl WorkDir {
    fn create(tag: &str) -> anyhow::Result<WorkDir> {
        let path = PathBuf::from(WORK_ROOT).join(format!("wend-demo-{tag}"));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("cannot remove the old {}", path.display()))?;
        }
        std::fs::create_dir_all(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok(WorkDir(path))
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("wend demo: cannot remove {}: {e}", self.0.display());
        }
    }
}
