//! The error type of this crate.

use crate::Pid;

/// Why a call into the kernel failed.
#[derive(Debug, thiserror::Error)]
pub enum SysError {
    /// The process vanished (ESRCH) or exited while we worked on it.
    #[error("process {pid} died while wend was working on it")]
    Died { pid: Pid },
    /// A system call made by wend itself failed.
    #[error("{op} failed for process {pid}: {cause}")]
    Os {
        op: &'static str,
        pid: Pid,
        cause: std::io::Error,
    },
    /// A system call injected into the tracee returned an error.
    #[error("{name} inside process {pid} failed: {cause}")]
    Remote {
        name: &'static str,
        pid: Pid,
        cause: std::io::Error,
    },
    /// A /proc file had an unexpected shape.
    #[error("cannot parse {what}: {detail}")]
    Parse { what: String, detail: String },
    /// The tracee stopped for a reason we did not cause.
    #[error("process {pid} stopped unexpectedly: {detail}")]
    UnexpectedStop { pid: Pid, detail: String },
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, SysError>;

impl SysError {
    /// An `Os` error from a raw errno, with ESRCH mapped to [`SysError::Died`].
    pub fn os(op: &'static str, pid: Pid, errno: i32) -> Self {
        if errno == libc::ESRCH {
            SysError::Died { pid }
        } else {
            SysError::Os {
                op,
                pid,
                cause: std::io::Error::from_raw_os_error(errno),
            }
        }
    }

    /// An `Os` error from an `std::io::Error`.
    pub fn io(op: &'static str, pid: Pid, e: std::io::Error) -> Self {
        match e.raw_os_error() {
            Some(n) => Self::os(op, pid, n),
            None => SysError::Os { op, pid, cause: e },
        }
    }

    /// The last OS error.
    pub fn last(op: &'static str, pid: Pid) -> Self {
        Self::io(op, pid, std::io::Error::last_os_error())
    }

    /// The errno of a failed call, if there is one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            SysError::Died { .. } => Some(libc::ESRCH),
            SysError::Os { cause, .. } | SysError::Remote { cause, .. } => cause.raw_os_error(),
            _ => None,
        }
    }
}

impl From<(&'static str, Pid, nix::errno::Errno)> for SysError {
    fn from((op, pid, e): (&'static str, Pid, nix::errno::Errno)) -> Self {
        SysError::os(op, pid, e as i32)
    }
}
