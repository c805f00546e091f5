//! pidfds: stable handles on processes, and taking descriptors out of them.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::{Pid, Result, SysError};

/// `pidfd_open(pid)`: a descriptor that refers to this very process, not a reused pid.
pub fn open(pid: Pid) -> Result<OwnedFd> {
    // SAFETY: pidfd_open takes integers; on success it returns a new descriptor.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(SysError::last("pidfd_open", pid));
    }
    // SAFETY: `r` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// `pidfd_getfd`: a copy of descriptor `fd` of the process behind `pidfd` (close-on-exec).
pub fn get_fd(pidfd: &impl AsRawFd, pid: Pid, fd: i32) -> Result<OwnedFd> {
    // SAFETY: pidfd_getfd takes integers; on success it returns a new descriptor.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return Err(SysError::last("pidfd_getfd", pid));
    }
    // SAFETY: `r` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// `pidfd_send_signal`: signal the process behind `pidfd`, never a pid reused meanwhile.
pub fn send_signal(pidfd: &impl AsRawFd, pid: Pid, sig: i32) -> Result<()> {
    // SAFETY: no siginfo is passed (null); the other arguments are integers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    };
    if r < 0 {
        return Err(SysError::last("pidfd_send_signal", pid));
    }
    Ok(())
}
