//! Injected system calls that may block: started without waiting, polled, interrupted.
//!
//! [`Stopped::syscall_raw`] waits until the injected call returns, which suits the checkpoint
//! engine's short calls. A deputy runs calls that may block for hours (a `read` from a
//! terminal, a `wait4`), so here the call is launched ([`Stopped::launch_syscall`]), its stop
//! collected without blocking ([`Stopped::try_report`]) or through a [`StopWaiter`] thread, and
//! a call that blocks too long is interrupted ([`Stopped::interrupt`]). Between a launch and
//! its report the process runs: only `try_report`, `wait_report` and `interrupt` make sense
//! then.

use std::sync::mpsc::{self, Sender};
use std::time::Duration;

use nix::sys::ptrace;
use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag, WaitStatus};
use nix::unistd::Pid as NixPid;

use crate::ptrace::Stopped;
use crate::{Pid, Result, SysError};

/// What a resumed tracee reported when it stopped or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// A signal-delivery-stop for this signal (the trap after a single-step is SIGTRAP).
    Signal(i32),
    /// `PTRACE_EVENT_STOP`: our `PTRACE_INTERRUPT`, or a group-stop.
    EventStop,
    /// Another ptrace event stop (`PTRACE_EVENT_*`).
    Event(i32),
    /// The process exited with this status; its notification is consumed.
    Exited(i32),
    /// The process was killed by this signal; its notification is consumed.
    Killed(i32),
}

fn npid(pid: Pid) -> NixPid {
    NixPid::from_raw(pid)
}

fn report_of(pid: Pid, status: WaitStatus) -> Result<Option<Report>> {
    Ok(Some(match status {
        WaitStatus::StillAlive => return Ok(None),
        WaitStatus::Stopped(_, sig) => Report::Signal(sig as i32),
        WaitStatus::PtraceEvent(_, _, libc::PTRACE_EVENT_STOP) => Report::EventStop,
        WaitStatus::PtraceEvent(_, _, ev) => Report::Event(ev),
        WaitStatus::Exited(_, code) => Report::Exited(code),
        WaitStatus::Signaled(_, sig, _) => Report::Killed(sig as i32),
        other => {
            return Err(SysError::UnexpectedStop {
                pid,
                detail: format!("{other:?} while an injected call ran"),
            })
        }
    }))
}

impl Stopped {
    /// Trace with `PTRACE_O_EXITKILL`: if the tracing thread ends, the kernel kills the tracee.
    pub fn enable_exit_kill(&mut self) -> Result<()> {
        let o = ptrace::Options::PTRACE_O_TRACESYSGOOD | ptrace::Options::PTRACE_O_EXITKILL;
        ptrace::setoptions(npid(self.pid()), o)
            .map_err(|e| SysError::from(("PTRACE_SETOPTIONS", self.pid(), e)))
    }

    /// The `syscall` instruction used for injection, if one is chosen.
    pub fn injection_insn(&self) -> Option<u64> {
        self.syscall_insn
    }

    /// Choose (or forget, with None) the `syscall` instruction used for injection.
    pub fn set_injection_insn(&mut self, addr: Option<u64>) {
        self.syscall_insn = addr;
    }

    /// Set up system call `nr(args)` at the injection instruction and single-step it without
    /// waiting. The registers the program had are saved first (once), as for
    /// [`Stopped::syscall_raw`].
    pub fn launch_syscall(&mut self, nr: i64, args: [u64; 6]) -> Result<()> {
        let insn = match self.syscall_insn {
            Some(a) => a,
            None => self.find_syscall_insn()?,
        };
        let mut r = self.save_regs_once()?;
        r.set_syscall(insn, nr, args);
        self.set_regs_raw(&r)?;
        self.resume_step(0)
    }

    /// Resume with `PTRACE_SINGLESTEP`, delivering `sig` (0: none) if the process sits at a
    /// signal-delivery-stop.
    pub fn resume_step(&mut self, sig: i32) -> Result<()> {
        // SAFETY: PTRACE_SINGLESTEP takes no memory: addr is ignored and data is the signal.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_SINGLESTEP,
                self.pid(),
                std::ptr::null_mut::<libc::c_void>(),
                sig as usize as *mut libc::c_void,
            )
        };
        if r < 0 {
            return Err(SysError::last("PTRACE_SINGLESTEP", self.pid()));
        }
        Ok(())
    }

    /// The next stop or the end of the resumed process, if there is one yet.
    pub fn try_report(&mut self) -> Result<Option<Report>> {
        let pid = self.pid();
        loop {
            match waitpid(npid(pid), Some(WaitPidFlag::__WALL | WaitPidFlag::WNOHANG)) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SysError::from(("waitpid", pid, e))),
                Ok(s) => return report_of(pid, s),
            }
        }
    }

    /// Wait for the next stop or the end of the resumed process.
    pub fn wait_report(&mut self) -> Result<Report> {
        let pid = self.pid();
        loop {
            match waitpid(npid(pid), Some(WaitPidFlag::__WALL)) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SysError::from(("waitpid", pid, e))),
                Ok(s) => {
                    if let Some(r) = report_of(pid, s)? {
                        return Ok(r);
                    }
                }
            }
        }
    }

    /// `PTRACE_INTERRUPT`: stop the running process; a sleeping system call returns early
    /// (the kernel's restart codes) and an [`Report::EventStop`] follows.
    pub fn interrupt(&self) -> Result<()> {
        ptrace::interrupt(npid(self.pid()))
            .map_err(|e| SysError::from(("PTRACE_INTERRUPT", self.pid(), e)))
    }

    /// The `siginfo_t` (128 bytes) of the signal-delivery-stop the process sits at.
    pub fn stop_siginfo(&self) -> Result<[u8; 128]> {
        let mut buf = [0u8; 128];
        // SAFETY: the kernel writes one siginfo_t (128 bytes on x86-64) into `buf`.
        let r = unsafe {
            libc::ptrace(
                libc::PTRACE_GETSIGINFO,
                self.pid(),
                std::ptr::null_mut::<libc::c_void>(),
                buf.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(SysError::last("PTRACE_GETSIGINFO", self.pid()));
        }
        Ok(buf)
    }
}

/// A thread that waits (without consuming anything) until a tracee has a stop or exit to
/// report, and says so on a pipe, so the tracing thread can sleep in poll(2) with a timeout,
/// on that pipe and on another descriptor it serves meanwhile (a link to a remote node),
/// instead of in a `waitpid` that nothing but the tracee can end.
///
/// Waiting works from any thread of the tracer's process; ptrace requests do not, so the
/// tracing thread still collects the report itself with [`Stopped::try_report`].
#[derive(Debug)]
pub struct StopWaiter {
    arm: Sender<()>,
    /// One byte per report the thread saw.
    ready: std::os::fd::OwnedFd,
    armed: bool,
}

/// What [`StopWaiter::wait`] saw first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Woken {
    /// The tracee has a report (or the waiting thread is gone: `try_report` tells).
    Report,
    /// The other descriptor became readable.
    Other,
    /// Neither, within the time.
    Timeout,
}

impl StopWaiter {
    /// Start the waiting thread for `pid`. It ends when the waiter is dropped while idle.
    pub fn spawn(pid: Pid) -> Result<StopWaiter> {
        let (arm, armed_rx) = mpsc::channel::<()>();
        let (ready, ready_tx) = crate::fd::pipe()?;
        std::thread::Builder::new()
            .name(format!("wend-wait-{pid}"))
            .spawn(move || {
                let flags = WaitPidFlag::WEXITED
                    | WaitPidFlag::WSTOPPED
                    | WaitPidFlag::WNOWAIT
                    | WaitPidFlag::__WALL;
                while armed_rx.recv().is_ok() {
                    // Errors (the process is no longer ours) also end the wait: the tracing
                    // thread learns the details from its own waitpid.
                    while let Err(nix::errno::Errno::EINTR) = waitid(Id::Pid(npid(pid)), flags) {}
                    if nix::unistd::write(&ready_tx, &[1]).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| SysError::io("spawn waiting thread", pid, e))?;
        Ok(StopWaiter {
            arm,
            ready,
            armed: false,
        })
    }

    /// Start waiting for the next report (once per report; arming twice does nothing).
    pub fn arm(&mut self) {
        if !self.armed {
            self.armed = self.arm.send(()).is_ok();
        }
    }

    /// Wait up to `d` for a report or for `other` to become readable (or hung up). A report is
    /// also what a gone thread gives (the caller's `try_report` then tells what happened).
    pub fn wait(&mut self, d: Duration, other: Option<std::os::fd::BorrowedFd<'_>>) -> Woken {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        if !self.armed {
            return Woken::Report;
        }
        let ms = d.as_millis().clamp(u128::from(d > Duration::ZERO), 60_000);
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        let mut fds = vec![PollFd::new(self.ready.as_fd(), PollFlags::POLLIN)];
        if let Some(o) = other {
            fds.push(PollFd::new(o, PollFlags::POLLIN));
        }
        if poll(&mut fds, timeout).unwrap_or(0) == 0 {
            return Woken::Timeout;
        }
        let seen = |f: &PollFd<'_>| f.revents().is_some_and(|r| !r.is_empty());
        if seen(&fds[0]) {
            let mut b = [0u8; 1];
            // 0 bytes: the thread is gone; the caller's try_report tells what happened.
            let _ = nix::unistd::read(&self.ready, &mut b);
            self.armed = false;
            return Woken::Report;
        }
        Woken::Other
    }
}
