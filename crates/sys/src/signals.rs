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
