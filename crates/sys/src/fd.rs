//! Descriptor helpers: kcmp, peeking into pipes, pipe sizes, anonymous files.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::{Pid, Result, SysError};

const KCMP_FILE: libc::c_int = 0;

/// Whether descriptor `fd1` of `pid1` and `fd2` of `pid2` share one open file description.
pub fn same_file(pid1: Pid, fd1: i32, pid2: Pid, fd2: i32) -> Result<bool> {
    // SAFETY: kcmp takes only integers; no memory is passed.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, pid1, pid2, KCMP_FILE, fd1, fd2) };
    if r < 0 {
        return Err(SysError::last("kcmp", pid1));
    }
    Ok(r == 0)
}

/// A new pipe (read end, write end), both close-on-exec.
pub fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| SysError::from(("pipe2", 0, e)))
}

/// The capacity of a pipe (F_GETPIPE_SZ).
pub fn pipe_size(fd: &impl AsRawFd) -> Result<usize> {
    // SAFETY: F_GETPIPE_SZ takes no pointer argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETPIPE_SZ) };
    if r < 0 {
        return Err(SysError::last("fcntl(F_GETPIPE_SZ)", 0));
    }
    Ok(r as usize)
}

/// Set the capacity of a pipe (F_SETPIPE_SZ); the kernel may round up.
pub fn set_pipe_size(fd: &impl AsRawFd, size: usize) -> Result<()> {
    // SAFETY: F_SETPIPE_SZ takes an integer argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, size as libc::c_int) };
    if r < 0 {
        return Err(SysError::last("fcntl(F_SETPIPE_SZ)", 0));
    }
    Ok(())
}

/// Number of bytes waiting in a pipe (FIONREAD).
pub fn pipe_pending(fd: &impl AsRawFd) -> Result<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one c_int into `n`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n as *mut libc::c_int) };
    if r < 0 {
        return Err(SysError::last("ioctl(FIONREAD)", 0));
    }
    Ok(n as usize)
}

/// Copy the bytes buffered in the pipe `fd` (any end opened for reading through
/// /proc/PID/fd/N) without consuming them: tee(2) into a pipe of our own, then read that.
pub fn peek_pipe(fd: &impl AsRawFd) -> Result<Vec<u8>> {
    let pending = pipe_pending(fd)?;
    if pending == 0 {
        return Ok(Vec::new());
    }
    let (r, w) = pipe()?;
    let cap = pipe_size(fd)?.max(pending);
    set_pipe_size(&w, cap)?;
    // SAFETY: tee takes two descriptors we hold open and integers.
    let n = unsafe {
        libc::tee(
            fd.as_raw_fd(),
            w.as_raw_fd(),
            pending,
            libc::SPLICE_F_NONBLOCK,
        )
    };
    if n < 0 {
        return Err(SysError::last("tee", 0));
    }
    drop(w);
    let mut out = Vec::with_capacity(n as usize);
    std::io::Read::read_to_end(&mut File::from(r), &mut out)
        .map_err(|e| SysError::io("read pipe copy", 0, e))?;
    Ok(out)
}

/// An unnamed regular file in directory `dir` (O_TMPFILE), read-write.
pub fn tmpfile_in(dir: &std::path::Path) -> Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
        .map_err(|e| SysError::io("open(O_TMPFILE)", 0, e))
}

use std::os::unix::fs::OpenOptionsExt;

/// Duplicate `fd` to the lowest free number at or above `min`, close-on-exec.
pub fn dup_above(fd: RawFd, min: RawFd) -> Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an integer; on success the result is a new descriptor we own.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) };
    if r < 0 {
        return Err(SysError::last("fcntl(F_DUPFD_CLOEXEC)", 0));
    }
    // SAFETY: `r` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Open `path` with raw `flags` (O_CLOEXEC added) and `mode`.
pub fn open_raw(path: &std::path::Path, flags: i32, mode: u32) -> std::io::Result<OwnedFd> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let r = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `r` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

/// Set the file-status flags (F_SETFL: O_APPEND, O_NONBLOCK, ...).
pub fn set_status_flags(fd: &impl AsRawFd, flags: i32) -> Result<()> {
    // SAFETY: F_SETFL takes an integer argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags) };
    if r < 0 {
        return Err(SysError::last("fcntl(F_SETFL)", 0));
    }
    Ok(())
}

/// Whether `fd` is a terminal.
pub fn is_tty(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor number.
    unsafe { libc::isatty(fd) == 1 }
}

/// The file-status flags and access mode of `fd` (F_GETFL).
pub fn status_flags(fd: &impl AsRawFd) -> Result<i32> {
    // SAFETY: F_GETFL takes no argument.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if r < 0 {
        return Err(SysError::last("fcntl(F_GETFL)", 0));
    }
    Ok(r)
}

/// The file system `fd` lies on: its magic number (`f_type`) and the bytes free to
/// unprivileged users (`f_bavail * f_bsize`), from fstatfs.
pub fn fs_info(fd: &impl AsRawFd) -> Result<(i64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::statfs64>::zeroed();
    // SAFETY: `st` is a writable statfs64 the kernel fills.
    let r = unsafe { libc::fstatfs64(fd.as_raw_fd(), st.as_mut_ptr()) };
    if r < 0 {
        return Err(SysError::last("fstatfs", 0));
    }
    // SAFETY: the call succeeded, so the kernel filled the struct (and it started zeroed).
    let st = unsafe { st.assume_init() };
    let free = st.f_bavail.saturating_mul(st.f_bsize.max(0) as u64);
    Ok((st.f_type, free))
}

/// A raw result: the value, or the negative errno (as a system call returns it).
fn raw(r: isize) -> i64 {
    if r < 0 {
        -i64::from(
            std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO),
        )
    } else {
        r as i64
    }
}

/// One `read(2)` (`at` None) or `pread64(2)` into `buf`: the byte count or the negative errno,
/// exactly as the system call returns them (no retry on EINTR, no short-count loop).
pub fn raw_read(fd: &impl AsRawFd, buf: &mut [u8], at: Option<i64>) -> i64 {
    let (p, n) = (buf.as_mut_ptr().cast::<libc::c_void>(), buf.len());
    // SAFETY: `p` points at `n` writable bytes owned by `buf` for the duration of the call.
    raw(unsafe {
        match at {
            None => libc::read(fd.as_raw_fd(), p, n),
            Some(off) => libc::pread64(fd.as_raw_fd(), p, n, off),
        }
    })
}

/// One `write(2)` (`at` None) or `pwrite64(2)` of `buf`: the byte count or the negative errno.
pub fn raw_write(fd: &impl AsRawFd, buf: &[u8], at: Option<i64>) -> i64 {
    let (p, n) = (buf.as_ptr().cast::<libc::c_void>(), buf.len());
    // SAFETY: `p` points at `n` readable bytes owned by `buf` for the duration of the call.
    raw(unsafe {
        match at {
            None => libc::write(fd.as_raw_fd(), p, n),
            Some(off) => libc::pwrite64(fd.as_raw_fd(), p, n, off),
        }
    })
}

/// One `lseek(2)`: the new offset or the negative errno.
pub fn raw_lseek(fd: &impl AsRawFd, off: i64, whence: i32) -> i64 {
    // SAFETY: lseek takes only integers.
    let r = unsafe { libc::lseek64(fd.as_raw_fd(), off, whence) };
    if r < 0 {
        raw(-1)
    } else {
        r
    }
}

/// Whether `fd` is a regular file (fstat).
pub fn is_regular(fd: &impl AsRawFd) -> Result<bool> {
    let mut st = std::mem::MaybeUninit::<libc::stat64>::zeroed();
    // SAFETY: `st` is a writable stat64 the kernel fills.
    let r = unsafe { libc::fstat64(fd.as_raw_fd(), st.as_mut_ptr()) };
    if r < 0 {
        return Err(SysError::last("fstat", 0));
    }
    // SAFETY: the call succeeded, so the kernel filled the struct (and it started zeroed).
    Ok(unsafe { st.assume_init() }.st_mode & libc::S_IFMT == libc::S_IFREG)
}
