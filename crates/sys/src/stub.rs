//! The restore stub: a forked child that arranges its descriptors, cwd and umask, then stops
//! itself under `PTRACE_TRACEME` for the engine to rebuild by injection.

use std::ffi::CString;
use std::os::fd::RawFd;

use crate::ptrace::Stopped;
use crate::{Result, SysError};

/// One descriptor the stub installs: our `src` becomes the child's `target`.
#[derive(Debug, Clone, Copy)]
pub struct StubFd {
    pub src: RawFd,
    pub target: RawFd,
    pub cloexec: bool,
}

/// What the stub does before stopping. Every `src` must be above every `target`.
#[derive(Debug)]
pub struct StubPlan {
    pub fds: Vec<StubFd>,
    pub cwd: CString,
    pub umask: u32,
}

/// Fork the stub and wait until it stops. Dropping the result kills it.
pub fn spawn(plan: &StubPlan) -> Result<Stopped> {
    let max_target = plan.fds.iter().map(|f| f.target).max().unwrap_or(-1);
    if let Some(f) = plan.fds.iter().find(|f| f.src <= max_target) {
        return Err(SysError::Parse {
            what: "restore stub plan".into(),
            detail: format!("source fd {} is not above every target fd", f.src),
        });
    }
    // Which low descriptors to keep, computed before fork: the child must not allocate.
    let mut keep = vec![false; (max_target + 1) as usize];
    for f in &plan.fds {
        keep[f.target as usize] = true;
    }
    // SAFETY: after fork the child only makes async-signal-safe raw system calls on data
    // prepared before the fork (no allocation, no locks), then stops or exits with _exit.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(SysError::last("fork", 0));
    }
    if pid == 0 {
        // SAFETY: see above; every call here is a plain system call.
        unsafe { stub_child(plan, &keep, max_target) }
    }
    Stopped::from_traceme_child(pid)
}

/// The child side. Never returns.
///
/// # Safety
/// Must only run in a freshly forked child.
unsafe fn stub_child(plan: &StubPlan, keep: &[bool], max_target: RawFd) -> ! {
    // SAFETY: raw system calls on plain integers and pointers into memory prepared before fork.
    unsafe {
        for f in &plan.fds {
            let flags = if f.cloexec { libc::O_CLOEXEC } else { 0 };
            if f.src != f.target && libc::dup3(f.src, f.target, flags) < 0 {
                libc::_exit(120);
            }
        }
        for (fd, k) in keep.iter().enumerate() {
            if !k {
                libc::close(fd as RawFd);
            }
        }
        libc::syscall(
            libc::SYS_close_range,
            (max_target + 1) as libc::c_uint,
            u32::MAX,
            0u32,
        );
        if libc::chdir(plan.cwd.as_ptr()) < 0 {
            libc::_exit(121);
        }
        libc::umask(plan.umask as libc::mode_t);
        libc::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0);
        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0) < 0 {
            libc::_exit(122);
        }
        libc::kill(libc::getpid(), libc::SIGSTOP);
        // The engine replaces the whole process before letting it run; reaching this is a bug.
        libc::_exit(123)
    }
}
