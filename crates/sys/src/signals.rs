//! Blocking SIGINT/SIGTERM/SIGHUP and forwarding them to a child while waiting for it.

use nix::sys::signal::{SigSet, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid as NixPid;

use crate::{Pid, Result, SysError};

const FORWARDED: [Signal; 3] = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP];

fn set() -> SigSet {
    let mut s = SigSet::empty();
    for sig in FORWARDED {
        s.add(sig);
    }
    s
}

/// Block the forwarded signals in the calling thread (threads created later inherit this).
/// Call it before starting any thread.
pub fn block_forwarded() -> Result<()> {
    set()
        .thread_block()
        .map_err(|e| SysError::from(("pthread_sigmask", 0, e)))
}

/// How a child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildExit {
    Code(i32),
    Signal(i32),
}

/// Wait for our child `pid`, forwarding SIGINT/SIGTERM/SIGHUP to it (they must be blocked with
/// [`block_forwarded`]).
pub fn wait_forwarding(pid: Pid) -> Result<ChildExit> {
    let s = set();
    let ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 50_000_000,
    };
    loop {
        match waitpid(NixPid::from_raw(pid), Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(_, c)) => return Ok(ChildExit::Code(c)),
            Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(ChildExit::Signal(sig as i32)),
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(SysError::from(("waitpid", pid, e))),
        }
        // SAFETY: `s` is a valid sigset_t, `ts` a valid timespec; no siginfo is requested.
        let sig = unsafe { libc::sigtimedwait(s.as_ref(), std::ptr::null_mut(), &ts) };
        if sig > 0 {
            // SAFETY: kill takes integers only.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// Queue signal `sig` to process `pid` with the kernel `siginfo` given (rt_sigqueueinfo). The
/// kernel accepts this from another process only for codes below zero other than SI_TKILL
/// (sigqueue, timers, ...): the caller uses kill(2) for the rest.
pub fn queue_info(pid: Pid, sig: i32, siginfo: &[u8; 128]) -> Result<()> {
    // SAFETY: the kernel reads 128 bytes of siginfo from a valid buffer of exactly that size.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigqueueinfo, pid, sig, siginfo.as_ptr()) };
    if r < 0 {
        return Err(SysError::last("rt_sigqueueinfo", pid));
    }
    Ok(())
}
