//! A traced process in a ptrace-stop, as a value.
//!
//! [`Stopped`] exists only while the tracee is stopped under our control. Registers, the xsave
//! area, the signal mask, pending signals and the rseq registration are read and written through
//! it; [`Stopped::detach`] and [`Stopped::kill`] consume it. Dropping it applies its
//! [`DropAction`]: a checkpointed process is let go unchanged, a half-built restored one is
//! killed.

use nix::sys::ptrace;
use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid as NixPid;

use crate::arch::{Regs, RestartMode, NT_X86_XSTATE};
use crate::{Pid, Result, SysError};

const PTRACE_GETSIGMASK: libc::c_uint = 0x420a;
const PTRACE_SETSIGMASK: libc::c_uint = 0x420b;
const PTRACE_PEEKSIGINFO: libc::c_uint = 0x4209;
const PTRACE_GET_RSEQ_CONFIGURATION: libc::c_uint = 0x420f;
const PTRACE_PEEKSIGINFO_SHARED: u32 = 1;

/// What happens to a [`Stopped`] that is dropped without `detach` or `kill`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropAction {
    /// Restore the registers saved before injection and detach: the process runs on unchanged.
    Detach,
    /// Kill the process (and reap it if it is our child): used for half-built restores.
    Kill,
}

/// The registration of restartable sequences of a thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RseqConfig {
    pub addr: u64,
    pub len: u32,
    pub signature: u32,
    pub flags: u32,
}

/// One pending signal, as the kernel's 128-byte `siginfo_t`.
#[derive(Clone)]
pub struct PendingSignal {
    pub signo: i32,
    pub shared: bool,
    pub siginfo: [u8; 128],
}

impl std::fmt::Debug for PendingSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PendingSignal({}, shared={})", self.signo, self.shared)
    }
}

/// A tracee in a ptrace-stop.
#[derive(Debug)]
pub struct Stopped {
    pid: Pid,
    on_drop: DropAction,
    is_child: bool,
    /// Registers before the first injected system call, put back on detach.
    saved: Option<Regs>,
    /// Address of a `syscall` instruction used for injection.
    pub(crate) syscall_insn: Option<u64>,
    /// A signal that was being delivered when we stopped it; passed on at detach.
    delivering: Option<i32>,
    /// Signals that arrived while we single-stepped injected calls: taken out of the way
    /// (suppressed) and given back at detach.
    deferred: Vec<PendingSignal>,
    /// The child an injected clone created (auto-attached through PTRACE_O_TRACECLONE).
    new_child: Option<Pid>,
    /// Stack pointer for injected calls, when not the process's own.
    pub(crate) inject_sp: Option<u64>,
    done: bool,
}

fn npid(pid: Pid) -> NixPid {
    NixPid::from_raw(pid)
}

impl Stopped {
    /// A handle on a process just stopped, with nothing injected or saved yet.
    fn fresh(pid: Pid, on_drop: DropAction, is_child: bool) -> Stopped {
        Stopped {
            pid,
            on_drop,
            is_child,
            saved: None,
            syscall_insn: None,
            delivering: None,
            deferred: Vec::new(),
            new_child: None,
            inject_sp: None,
            done: false,
        }
    }

    /// Attach to a running process with `PTRACE_SEIZE` and freeze it with `PTRACE_INTERRUPT`.
    /// The process is left running on failure; dropping the result lets it go unchanged.
    pub fn seize(pid: Pid) -> Result<Stopped> {
        Self::seize_then(pid, || {})
    }

    /// [`Stopped::seize`], calling `after_interrupt` between PTRACE_INTERRUPT and the wait for
    /// the stop: for a process that only stops once something else lets it (a system call
    /// waiting killably for a seccomp supervisor's answer: answer it there).
    pub fn seize_then(pid: Pid, after_interrupt: impl FnOnce()) -> Result<Stopped> {
        ptrace::seize(npid(pid), ptrace::Options::PTRACE_O_TRACESYSGOOD)
            .map_err(|e| SysError::from(("PTRACE_SEIZE", pid, e)))?;
        let mut st = Stopped::fresh(pid, DropAction::Detach, false);
        ptrace::interrupt(npid(pid)).map_err(|e| SysError::from(("PTRACE_INTERRUPT", pid, e)))?;
        after_interrupt();
        loop {
            let status = match waitpid(npid(pid), Some(WaitPidFlag::__WALL)) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => other.map_err(|e| SysError::from(("waitpid", pid, e)))?,
            };
            match status {
                WaitStatus::PtraceEvent(_, _, libc::PTRACE_EVENT_STOP) => break,
                WaitStatus::Stopped(_, sig) => {
                    // A signal was about to be delivered: keep it to pass on when we let go.
                    st.delivering = Some(sig as i32);
                    break;
                }
                WaitStatus::Exited(..) | WaitStatus::Signaled(..) => {
                    st.done = true;
                    return Err(SysError::Died { pid });
                }
                other => {
                    return Err(SysError::UnexpectedStop {
                        pid,
                        detail: format!("{other:?}"),
                    })
                }
            }
        }
        Ok(st)
    }

    /// Take over our own child that called `PTRACE_TRACEME` and stopped itself with SIGSTOP.
    /// Dropping the result kills the child.
    pub fn from_traceme_child(pid: Pid) -> Result<Stopped> {
        let mut st = Stopped::fresh(pid, DropAction::Kill, true);
        match waitpid(npid(pid), Some(WaitPidFlag::__WALL))
            .map_err(|e| SysError::from(("waitpid", pid, e)))?
        {
            WaitStatus::Stopped(_, Signal::SIGSTOP) => {}
            WaitStatus::Exited(_, code) => {
                st.done = true;
                return Err(SysError::UnexpectedStop {
                    pid,
                    detail: format!("restore stub exited with status {code} before stopping"),
                });
            }
            other => {
                return Err(SysError::UnexpectedStop {
                    pid,
                    detail: format!("{other:?}"),
                });
            }
        }
        ptrace::setoptions(npid(pid), ptrace::Options::PTRACE_O_EXITKILL)
            .map_err(|e| SysError::from(("PTRACE_SETOPTIONS", pid, e)))?;
        Ok(st)
    }

    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Change what dropping does.
    pub fn set_drop_action(&mut self, a: DropAction) {
        self.on_drop = a;
    }

    /// A signal that was being delivered when the process stopped.
    pub fn delivering_signal(&self) -> Option<i32> {
        self.delivering
    }

    /// Forget the signal that was being delivered when it was frozen, so detach does not pass
    /// it on: for a process whose whole state, its signals included, is replaced by an image.
    pub fn forget_delivering(&mut self) {
        self.delivering = None;
    }

    /// Signals that arrived while injected calls ran (they are pending for the program).
    pub fn deferred_signals(&self) -> &[PendingSignal] {
        &self.deferred
    }

    /// The general registers.
    pub fn regs(&self) -> Result<Regs> {
        ptrace::getregs(npid(self.pid))
            .map(Regs)
            .map_err(|e| SysError::from(("PTRACE_GETREGS", self.pid, e)))
    }

    /// The registers as they were before any injection (what the program itself sees).
    pub fn program_regs(&self) -> Result<Regs> {
        match self.saved {
            Some(r) => Ok(r),
            None => self.regs(),
        }
    }

    /// Set the general registers. This also becomes what detach leaves in place.
    pub fn set_regs(&mut self, r: &Regs) -> Result<()> {
        ptrace::setregs(npid(self.pid), r.0)
            .map_err(|e| SysError::from(("PTRACE_SETREGS", self.pid, e)))?;
        self.saved = None;
        Ok(())
    }

    pub(crate) fn set_regs_raw(&mut self, r: &Regs) -> Result<()> {
        ptrace::setregs(npid(self.pid), r.0)
            .map_err(|e| SysError::from(("PTRACE_SETREGS", self.pid, e)))
    }

    pub(crate) fn save_regs_once(&mut self) -> Result<Regs> {
        if let Some(r) = self.saved {
            return Ok(r);
        }
        let r = self.regs()?;
        self.saved = Some(r);
        Ok(r)
    }

    /// The xsave area (`NT_X86_XSTATE`): x87, SSE, AVX, AVX-512 state. Its size comes from the
    /// kernel's answer (2432 bytes on an AVX-512 machine).
    pub fn xstate(&self) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; 16 * 1024];
        let len = self.regset(libc::PTRACE_GETREGSET, &mut buf)?;
        buf.truncate(len);
        Ok(buf)
    }

    /// Set the xsave area from a buffer produced by [`Stopped::xstate`].
    pub fn set_xstate(&mut self, data: &[u8]) -> Result<()> {
        let mut copy = data.to_vec();
        self.regset(libc::PTRACE_SETREGSET, &mut copy).map(drop)
    }

    /// PTRACE_GETREGSET or PTRACE_SETREGSET of `NT_X86_XSTATE` through `buf`; returns the
    /// length the kernel used.
    fn regset(&self, request: libc::c_uint, buf: &mut [u8]) -> Result<usize> {
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: iov points at `buf`, which outlives the call; the kernel reads or writes at
        // most iov_len bytes there and updates iov_len.
        let r = unsafe {
            libc::ptrace(
                request,
                self.pid,
                NT_X86_XSTATE as usize as *mut libc::c_void,
                &mut iov as *mut libc::iovec,
            )
        };
        if r < 0 {
            let what = if request == libc::PTRACE_GETREGSET {
                "PTRACE_GETREGSET(NT_X86_XSTATE)"
            } else {
                "PTRACE_SETREGSET(NT_X86_XSTATE)"
            };
            return Err(SysError::last(what, self.pid));
        }
        Ok(iov.iov_len)
    }

    /// The blocked-signal mask (bit n-1 for signal n).
    pub fn sigmask(&self) -> Result<u64> {
        let mut mask: u64 = 0;
        // SAFETY: the kernel writes 8 bytes (the size we pass) into `mask`.
        let r = unsafe { libc::ptrace(PTRACE_GETSIGMASK, self.pid, 8usize, &mut mask as *mut u64) };
        if r < 0 {
            return Err(SysError::last("PTRACE_GETSIGMASK", self.pid));
        }
        Ok(mask)
    }

    /// Set the blocked-signal mask.
    pub fn set_sigmask(&mut self, mask: u64) -> Result<()> {
        // SAFETY: the kernel reads 8 bytes from `mask`.
        let r = unsafe { libc::ptrace(PTRACE_SETSIGMASK, self.pid, 8usize, &mask as *const u64) };
        if r < 0 {
            return Err(SysError::last("PTRACE_SETSIGMASK", self.pid));
        }
        Ok(())
    }

    /// Pending signals, thread-private and process-wide, without dequeuing them.
    pub fn pending_signals(&self) -> Result<Vec<PendingSignal>> {
        #[repr(C)]
        struct PeekArgs {
            off: u64,
            flags: u32,
            nr: i32,
        }
        let mut out = Vec::new();
        for shared in [false, true] {
            let mut off = 0u64;
            loop {
                let mut buf = [[0u8; 128]; 32];
                let args = PeekArgs {
                    off,
                    flags: if shared { PTRACE_PEEKSIGINFO_SHARED } else { 0 },
                    nr: buf.len() as i32,
                };
                // SAFETY: `args` is a valid ptrace_peeksiginfo_args; `buf` has room for `nr`
                // siginfo_t of 128 bytes each.
                let n = unsafe {
                    libc::ptrace(
                        PTRACE_PEEKSIGINFO,
                        self.pid,
                        &args as *const PeekArgs,
                        buf.as_mut_ptr(),
                    )
                };
                if n < 0 {
                    return Err(SysError::last("PTRACE_PEEKSIGINFO", self.pid));
                }
                for info in buf.iter().take(n as usize) {
                    let signo = i32::from_ne_bytes(info[0..4].try_into().expect("4 bytes"));
                    out.push(PendingSignal {
                        signo,
                        shared,
                        siginfo: *info,
                    });
                }
                if (n as usize) < buf.len() {
                    break;
                }
                off += n as u64;
            }
        }
        Ok(out)
    }

    /// The rseq registration, or None if the thread has none.
    pub fn rseq_config(&self) -> Result<Option<RseqConfig>> {
        let mut c = [0u8; 24];
        // SAFETY: the kernel writes at most `c.len()` bytes (the size we pass) into `c`.
        let r = unsafe {
            libc::ptrace(
                PTRACE_GET_RSEQ_CONFIGURATION,
                self.pid,
                c.len(),
                c.as_mut_ptr(),
            )
        };
        if r < 0 {
            return Err(SysError::last("PTRACE_GET_RSEQ_CONFIGURATION", self.pid));
        }
        let addr = u64::from_ne_bytes(c[0..8].try_into().expect("8"));
        let len = u32::from_ne_bytes(c[8..12].try_into().expect("4"));
        let signature = u32::from_ne_bytes(c[12..16].try_into().expect("4"));
        let flags = u32::from_ne_bytes(c[16..20].try_into().expect("4"));
        Ok((addr != 0).then_some(RseqConfig {
            addr,
            len,
            signature,
            flags,
        }))
    }

    /// Single-step one instruction and wait for the trap.
    pub(crate) fn step(&mut self) -> Result<()> {
        ptrace::step(npid(self.pid), None)
            .map_err(|e| SysError::from(("PTRACE_SINGLESTEP", self.pid, e)))?;
        loop {
            let status = match waitpid(npid(self.pid), Some(WaitPidFlag::__WALL)) {
                Err(nix::errno::Errno::EINTR) => continue,
                other => other.map_err(|e| SysError::from(("waitpid", self.pid, e)))?,
            };
            match status {
                WaitStatus::Stopped(_, Signal::SIGTRAP) => return Ok(()),
                WaitStatus::PtraceEvent(_, _, ev)
                    if ev == libc::PTRACE_EVENT_CLONE || ev == libc::PTRACE_EVENT_FORK =>
                {
                    // An injected clone reports its child first; then the step completes.
                    let msg = ptrace::getevent(npid(self.pid))
                        .map_err(|e| SysError::from(("PTRACE_GETEVENTMSG", self.pid, e)))?;
                    self.new_child = Some(msg as Pid);
                    ptrace::step(npid(self.pid), None)
                        .map_err(|e| SysError::from(("PTRACE_SINGLESTEP", self.pid, e)))?;
                }
                WaitStatus::PtraceEvent(_, _, libc::PTRACE_EVENT_STOP) => {
                    // A PTRACE_INTERRUPT that found the process already stopped (say, at a
                    // signal) stays pending and reports here, before the instruction ran:
                    // nothing happened, so step again.
                    ptrace::step(npid(self.pid), None)
                        .map_err(|e| SysError::from(("PTRACE_SINGLESTEP", self.pid, e)))?;
                }
                WaitStatus::Stopped(_, sig) => {
                    // A signal for the program arrived before the step: keep it for later,
                    // suppress it now, and step again.
                    let info = ptrace::getsiginfo(npid(self.pid))
                        .map_err(|e| SysError::from(("PTRACE_GETSIGINFO", self.pid, e)))?;
                    let raw = siginfo_bytes(&info);
                    self.deferred.push(PendingSignal {
                        signo: sig as i32,
                        shared: false,
                        siginfo: raw,
                    });
                    ptrace::step(npid(self.pid), None)
                        .map_err(|e| SysError::from(("PTRACE_SINGLESTEP", self.pid, e)))?;
                }
                WaitStatus::Exited(..) | WaitStatus::Signaled(..) => {
                    self.done = true;
                    return Err(SysError::Died { pid: self.pid });
                }
                other => {
                    return Err(SysError::UnexpectedStop {
                        pid: self.pid,
                        detail: format!("{other:?} while single-stepping an injected call"),
                    })
                }
            }
        }
    }

    /// Let the process run on. Registers saved before injection are put back first, with an
    /// interrupted sleeping system call set up to be made again.
    pub fn detach(mut self) -> Result<()> {
        self.detach_inner()
    }

    fn detach_inner(&mut self) -> Result<()> {
        if let Some(mut r) = self.saved.take() {
            r.fixup_restart(RestartMode::SameProcess);
            self.set_regs_raw(&r)?;
        }
        let sig = self.delivering.and_then(|s| Signal::try_from(s).ok());
        self.done = true;
        ptrace::detach(npid(self.pid), sig)
            .map_err(|e| SysError::from(("PTRACE_DETACH", self.pid, e)))
    }

    /// Kill the process; reap it when it is our child (else the tracer's notification).
    pub fn kill(mut self) -> Result<()> {
        self.kill_inner(|| {})
    }

    /// Like [`Stopped::kill`], calling `sent` right after SIGKILL is sent, before the wait.
    pub fn kill_then(mut self, sent: impl FnOnce()) -> Result<()> {
        self.kill_inner(sent)
    }

    fn kill_inner(&mut self, sent: impl FnOnce()) -> Result<()> {
        self.done = true;
        nix::sys::signal::kill(npid(self.pid), Signal::SIGKILL)
            .map_err(|e| SysError::from(("kill", self.pid, e)))?;
        sent();
        loop {
            match waitpid(npid(self.pid), Some(WaitPidFlag::__WALL)) {
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => return Ok(()),
                Ok(_) => continue,
                Err(nix::errno::Errno::ECHILD) => return Ok(()),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SysError::from(("waitpid", self.pid, e))),
            }
        }
    }

    /// Whether we forked this process.
    pub fn is_child(&self) -> bool {
        self.is_child
    }
}

impl Stopped {
    /// Snapshot the address space: inject a `clone` with no exit signal so the kernel makes a
    /// copy-on-write child that never runs (it starts stopped under our trace). Reading memory
    /// from the snapshot lets the original run on meanwhile. Dropping the snapshot kills it;
    /// its zombie then belongs to this process, which must reap it (an injected `wait4`).
    pub fn fork_snapshot(&mut self) -> Result<Stopped> {
        let pid = self.pid;
        let opts = ptrace::Options::PTRACE_O_TRACESYSGOOD;
        ptrace::setoptions(npid(pid), opts | ptrace::Options::PTRACE_O_TRACECLONE)
            .map_err(|e| SysError::from(("PTRACE_SETOPTIONS", pid, e)))?;
        self.new_child = None;
        let r = self.syscall_raw(libc::SYS_clone, [0; 6]);
        let _ = ptrace::setoptions(npid(pid), opts);
        let ret = r?;
        let child = match self.new_child.take() {
            Some(c) => c,
            None if ret > 0 => ret as Pid,
            None => return Err(SysError::os("clone(snapshot)", pid, (-ret) as i32)),
        };
        let mut snap = Stopped::fresh(child, DropAction::Kill, false);
        // The auto-attached child reports its first stop (an event stop, as we seized).
        loop {
            match waitpid(npid(child), Some(WaitPidFlag::__WALL)) {
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(SysError::from(("waitpid(snapshot)", child, e))),
                Ok(WaitStatus::PtraceEvent(..)) | Ok(WaitStatus::Stopped(..)) => break,
                Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..)) => {
                    snap.done = true;
                    return Err(SysError::Died { pid: child });
                }
                Ok(_) => continue,
            }
        }
        Ok(snap)
    }
}

const _: () = assert!(std::mem::size_of::<libc::siginfo_t>() == 128);

fn siginfo_bytes(info: &libc::siginfo_t) -> [u8; 128] {
    let mut out = [0u8; 128];
    // SAFETY: siginfo_t is a 128-byte plain-data C struct; we copy its bytes.
    let src =
        unsafe { std::slice::from_raw_parts((info as *const libc::siginfo_t).cast::<u8>(), 128) };
    out.copy_from_slice(src);
    out
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = match self.on_drop {
            DropAction::Detach => self.detach_inner(),
            DropAction::Kill => self.kill_inner(|| {}),
        };
    }
}
