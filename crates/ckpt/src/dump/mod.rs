//! Freeze a process and stream its state into an image.

mod files;
mod memory;
mod state;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use wend_image::model::{CpuState, ProcessImage, MODEL_VERSION};
use wend_image::{AtomicFile, ImageStats, ImageWriter, WriteOptions};
use wend_sys::{proc, Stopped, SysError};

use crate::error::CkptError;
use crate::facts::ProcessFacts;
use crate::progress::Progress;
use crate::stay::{stay_reasons, StayPath};

/// How to checkpoint.
#[derive(Debug, Clone)]
pub struct CheckpointOptions {
    /// Let the process continue after the image is written (else it is killed).
    pub leave_running: bool,
    /// Which stay rules apply.
    pub path: StayPath,
    pub write: WriteOptions,
    pub progress: Progress,
    /// With `leave_running`: read memory from a copy-on-write snapshot and let the process run
    /// on as soon as its state is collected (frozen for milliseconds, not for the whole dump).
    pub snapshot: bool,
    /// Post-copy: leave the contents of anonymous memory out of the image and list its
    /// present pages in [`DumpReport::lazy`] instead, for a target that fetches them from the
    /// (still frozen) process later. Only for a process that stays frozen (not with
    /// `leave_running`); restore such an image with [`crate::restore_postcopy`].
    pub lazy: bool,
}

impl Default for CheckpointOptions {
    fn default() -> Self {
        CheckpointOptions {
            leave_running: false,
            path: StayPath::Checkpoint,
            write: WriteOptions::default(),
            progress: Progress::none(),
            snapshot: true,
            lazy: false,
        }
    }
}

/// What [`dump`] did.
#[derive(Debug, Clone)]
pub struct DumpReport {
    pub pid: i32,
    /// Bytes of memory the process maps.
    pub mapped_bytes: u64,
    /// Bytes of memory content handed to the writer.
    pub dumped_bytes: u64,
    pub stats: ImageStats,
    /// From the freeze to the end of the dump.
    pub frozen_so_far: Duration,
    /// With [`CheckpointOptions::lazy`]: the runs (address, length) of present pages left out
    /// of the image, in address order.
    pub lazy: Vec<(u64, u64)>,
}

/// What [`checkpoint_to_file`] did.
#[derive(Debug, Clone)]
pub struct CheckpointReport {
    pub dump: DumpReport,
    /// From the freeze until the process was killed or let go.
    pub frozen: Duration,
    pub total: Duration,
    pub image_bytes: u64,
}

/// A process frozen by [`dump`]: kill it, let it run on, or keep it.
#[derive(Debug)]
pub struct Frozen {
    /// None once the process was let go early (a leave-running checkpoint that read memory
    /// from a copy-on-write snapshot).
    stopped: Option<Stopped>,
    pid: i32,
    since: Instant,
    thawed: Option<Duration>,
}

impl Frozen {
    pub fn pid(&self) -> i32 {
        self.pid
    }
    /// When it was frozen.
    pub fn since(&self) -> Instant {
        self.since
    }
    /// How long it stayed frozen, if it already runs again.
    pub fn thawed_after(&self) -> Option<Duration> {
        self.thawed
    }
    /// Let it continue exactly where it was (nothing to do if it already runs).
    pub fn resume(self) -> Result<(), CkptError> {
        let pid = self.pid;
        match self.stopped {
            Some(st) => st.detach().map_err(|e| CkptError::sys(pid, e)),
            None => Ok(()),
        }
    }
    /// Kill it.
    pub fn kill(self) -> Result<(), CkptError> {
        let pid = self.pid;
        match self.stopped {
            Some(st) => st.kill().map_err(|e| CkptError::sys(pid, e)),
            None => {
                let pfd = wend_sys::pidfd::open(pid).map_err(|e| CkptError::sys(pid, e))?;
                wend_sys::pidfd::send_signal(&pfd, pid, libc::SIGKILL)
                    .map_err(|e| CkptError::sys(pid, e))
            }
        }
    }
    /// Kill it; the time from the freeze to SIGKILL.
    fn kill_measured(self) -> Result<Duration, CkptError> {
        let pid = self.pid;
        let since = self.since;
        let Some(st) = self.stopped else {
            self.kill()?;
            return Ok(since.elapsed());
        };
        let mut at = None;
        st.kill_then(|| at = Some(since.elapsed()))
            .map_err(|e| CkptError::sys(pid, e))?;
        Ok(at.unwrap_or_else(|| since.elapsed()))
    }
    /// The ptrace handle, to keep the process frozen (a deputy). Dropping it lets it run.
    /// Fails if the process already runs again.
    pub fn into_stopped(self) -> Result<Stopped, CkptError> {
        self.stopped.ok_or_else(|| CkptError::Rebuild {
            what: format!("process {}", self.pid),
            detail: "it already runs again (leave-running snapshot checkpoint)".into(),
        })
    }
}

/// Whether `pid` is gone or a zombie.
fn exited(pid: i32) -> bool {
    matches!(proc::stat::state(pid), Err(_) | Ok('Z') | Ok('X') | Ok('x'))
}

fn seize(pid: i32, after_interrupt: &mut dyn FnMut()) -> Result<Stopped, CkptError> {
    Stopped::seize_then(pid, after_interrupt).map_err(|e| match e.errno() {
        Some(libc::ESRCH) => CkptError::NoSuchProcess { pid },
        // EPERM also comes from a process that is exiting (a zombie cannot be traced).
        Some(libc::EPERM) if exited(pid) => CkptError::Died { pid },
        Some(libc::EPERM) => CkptError::NotTraceable {
            pid,
            why: "permission denied: it is already traced, or wend lacks the rights \
                  (run as root or as its owner, and check kernel.yama.ptrace_scope)"
                .into(),
        },
        _ => CkptError::sys(pid, e),
    })
}

/// Check the stay reasons, freeze `pid`, and write its image to `writer`. On success the
/// process stays frozen ([`Frozen`]); on failure it runs on unchanged.
pub fn dump<W: Write>(
    pid: i32,
    writer: ImageWriter<W>,
    opts: &CheckpointOptions,
) -> Result<(Frozen, W, DumpReport), CkptError> {
    dump_with(pid, writer, opts, &mut || {})
}

/// [`dump`], calling `after_interrupt` once the freeze is requested and before waiting for it
/// (see [`Stopped::seize_then`]): a migration guest blocked in a forwarded call is let go there.
pub fn dump_with<W: Write>(
    pid: i32,
    writer: ImageWriter<W>,
    opts: &CheckpointOptions,
    after_interrupt: &mut dyn FnMut(),
) -> Result<(Frozen, W, DumpReport), CkptError> {
    precheck(pid, opts.path)?;
    dump_checked(pid, writer, opts, false, after_interrupt)
}

/// Refuse by stay reasons (or a missing pid) without touching the process.
fn precheck(pid: i32, path: StayPath) -> Result<(), CkptError> {
    let reasons = stay_reasons(&ProcessFacts::gather(pid)?, path);
    if !reasons.is_empty() {
        return Err(CkptError::Stay { pid, reasons });
    }
    Ok(())
}

/// Dump `pid`. With `thaw_early`, memory is read from a copy-on-write snapshot (an injected
/// `clone` that never runs) and the process runs on as soon as the snapshot exists, so it stays
/// frozen only while its state is collected, not while its memory is written.
fn dump_checked<W: Write>(
    pid: i32,
    mut writer: ImageWriter<W>,
    opts: &CheckpointOptions,
    thaw_early: bool,
    after_interrupt: &mut dyn FnMut(),
) -> Result<(Frozen, W, DumpReport), CkptError> {
    let mut stopped = seize(pid, after_interrupt)?;
    let since = Instant::now();
    // Check again now that it cannot change (a thread may have appeared meanwhile).
    tracing::debug!("frozen");
    let mut facts = ProcessFacts::gather(pid)?;
    tracing::debug!(elapsed = ?since.elapsed(), "facts gathered again");
    facts.discount_own_trace();
    let reasons = stay_reasons(&facts, opts.path);
    if !reasons.is_empty() {
        return Err(CkptError::Stay { pid, reasons });
    }
    let sys = |e: SysError| CkptError::sys(pid, e);

    let regs = stopped.program_regs().map_err(sys)?;
    let xsave = stopped.xstate().map_err(sys)?;
    let (areas, vdso, plans) = memory::plan(pid, &facts.areas)?;
    let (files, blobs) = files::describe(pid, &facts.fds, opts.path)?;
    let injected = state::read_by_injection(&mut stopped)?;
    let mut signals = injected.signals;
    signals.blocked = stopped.sigmask().map_err(sys)?;
    signals.pending = state::pending(&stopped)?;
    let rseq = stopped
        .rseq_config()
        .map_err(sys)?
        .map(|c| wend_image::model::Rseq {
            addr: c.addr,
            len: c.len,
            signature: c.signature,
        });
    let mm = state::mm(pid, injected.brk)?;

    let status = proc::status(pid).map_err(sys)?;
    let umask = proc::status_field(&status, "Umask")
        .and_then(|u| u32::from_str_radix(u, 8).ok())
        .unwrap_or(0o022);
    let image = ProcessImage {
        model_version: MODEL_VERSION,
        pid,
        comm: proc::read_string(pid, "comm")
            .map_err(sys)?
            .trim_end_matches('\n')
            .to_string(),
        exe: proc::readlink(pid, "exe")
            .map_err(sys)?
            .to_string_lossy()
            .into_owned(),
        cmdline: proc::read(pid, "cmdline").map_err(sys)?,
        cwd: proc::readlink(pid, "cwd")
            .map_err(sys)?
            .to_string_lossy()
            .into_owned(),
        umask,
        cpu: CpuState {
            gregs: regs.to_array().to_vec(),
            xsave,
        },
        mm,
        areas,
        vdso,
        files,
        signals,
        itimers: injected.itimers,
        rlimits: state::rlimits(pid)?,
        rseq,
        taken_at_ns: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0),
        hostname: std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_string())
            .unwrap_or_default(),
        nice: proc::stat::sched(pid).map_err(sys)?.nice,
    };
    tracing::debug!(elapsed = ?since.elapsed(), "state collected");
    writer.write_meta(&image)?;
    files::write_blobs(pid, &blobs, &mut writer)?;
    let (keep, snapshot, thawed) = if thaw_early {
        let snap = stopped.fork_snapshot().map_err(sys)?;
        stopped.detach().map_err(sys)?;
        let t = since.elapsed();
        tracing::debug!(elapsed = ?t, "snapshot taken, process thawed");
        (None, Some(snap), Some(t))
    } else {
        (Some(stopped), None, None)
    };
    if opts.lazy && (thaw_early || opts.leave_running) {
        return Err(CkptError::Rebuild {
            what: format!("process {pid}"),
            detail: "a post-copy (lazy) dump needs the process to stay frozen".into(),
        });
    }
    let mut lazy = opts.lazy.then(|| memory::LazyPlan {
        eager: image
            .rseq
            .iter()
            .map(|r| {
                let page = wend_sys::PAGE_SIZE;
                (
                    r.addr & !(page - 1),
                    (r.addr + u64::from(r.len)).next_multiple_of(page),
                )
            })
            .collect(),
        runs: Vec::new(),
    });
    let dumped = match snapshot {
        None => memory::write_pages(
            pid,
            &plans,
            &mut writer,
            &opts.progress,
            None,
            lazy.as_mut(),
        ),
        Some(snap) => {
            let child = snap.pid();
            // On failure the snapshot is dropped, which kills it.
            let r = wend_sys::snapshot::SnapshotReader::new(snap).map_err(sys);
            let d = r.and_then(|mut r| {
                let d = memory::write_pages(
                    child,
                    &plans,
                    &mut writer,
                    &opts.progress,
                    Some(&mut r),
                    None,
                );
                let _ = r.kill();
                d
            });
            reap_snapshot(pid, child);
            d
        }
    };
    let dumped_bytes = dumped?;
    tracing::debug!(elapsed = ?since.elapsed(), dumped_bytes, "pages handed to the writer");
    let (out, stats) = writer.finish()?;
    tracing::debug!(elapsed = ?since.elapsed(), "image finished");
    opts.progress.finish();
    let report = DumpReport {
        pid,
        mapped_bytes: image.mapped_bytes(),
        dumped_bytes,
        stats,
        frozen_so_far: thawed.unwrap_or_else(|| since.elapsed()),
        lazy: lazy.map(|l| l.runs).unwrap_or_default(),
    };
    Ok((
        Frozen {
            stopped: keep,
            pid,
            since,
            thawed,
        },
        out,
        report,
    ))
}

/// Have the original (running again) reap its killed snapshot child: a brief second freeze
/// to inject `wait4`.
fn reap_snapshot(parent: i32, child: i32) {
    let Ok(mut p) = Stopped::seize(parent) else {
        return;
    };
    for _ in 0..200 {
        match p.syscall(
            "wait4(snapshot)",
            libc::SYS_wait4,
            [
                child as u64,
                0,
                (libc::__WALL | libc::WNOHANG) as u64,
                0,
                0,
                0,
            ],
        ) {
            Ok(0) => std::thread::sleep(Duration::from_millis(1)),
            _ => break,
        }
    }
    let _ = p.detach();
}

/// `wend checkpoint`: dump `pid` into `path` (complete or absent), then kill the process or,
/// with `leave_running`, let it continue. If anything fails the process runs on unchanged.
pub fn checkpoint_to_file(
    pid: i32,
    path: &Path,
    opts: &CheckpointOptions,
) -> Result<CheckpointReport, CkptError> {
    let start = Instant::now();
    // Refuse (or fail on a missing pid) before creating anything.
    precheck(pid, opts.path)?;
    let file = AtomicFile::create(path)?;
    let writer = ImageWriter::spawn(file, &opts.write)?;
    let (frozen, file, dump) = dump_checked(
        pid,
        writer,
        opts,
        opts.leave_running && opts.snapshot,
        &mut || {},
    )?;
    // A failed commit drops `frozen`, which lets the process run on.
    file.commit()?;
    tracing::debug!(elapsed = ?frozen.since().elapsed(), "image committed");
    let image_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    let since = frozen.since();
    let frozen_for = if opts.leave_running {
        let t = frozen.thawed_after();
        frozen.resume()?;
        t.unwrap_or_else(|| since.elapsed())
    } else {
        // Frozen ends with SIGKILL; tearing down its memory afterwards is the kernel's time.
        frozen.kill_measured()?
    };
    tracing::debug!(elapsed = ?since.elapsed(), "process released");
    Ok(CheckpointReport {
        dump,
        frozen: frozen_for,
        total: start.elapsed(),
        image_bytes,
    })
}
