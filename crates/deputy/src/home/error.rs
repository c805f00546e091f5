//! Errors of the home executor, and how a deputy ended.

use wend_sys::SysError;

use crate::call::CallError;

/// How a home process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It exited with this status.
    Exited(i32),
    /// It was killed by this signal.
    Killed(i32),
}

impl std::fmt::Display for Fate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fate::Exited(c) => write!(f, "exited with status {c}"),
            Fate::Killed(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Why the home executor failed.
#[derive(Debug, thiserror::Error)]
pub enum DeputyError {
    /// The forwarded call is malformed (untrusted input); the deputy is unchanged.
    #[error("forwarded call is malformed: {0}; the remote side must split or correct the call")]
    BadCall(#[from] CallError),
    /// The home process ended (SIGKILL from outside, or it was told to).
    #[error("home process {pid} is gone ({fate}); end its guest with the same status")]
    Gone { pid: i32, fate: Fate },
    /// `kill_by` with a signal whose default action does not end a process.
    #[error(
        "signal {sig} does not end a process by default; pass a terminating signal to kill_by"
    )]
    NotFatal { sig: i32 },
    /// A call needs more scratch memory than the home process could map.
    #[error("cannot map {bytes} bytes of scratch memory in home process {pid} (errno {errno}); free memory at home or send smaller calls")]
    NoScratch { pid: i32, bytes: u64, errno: i32 },
    /// Controlling the home process failed.
    #[error("controlling home process {pid} failed: {source}; the process may be left traced, kill it if it does not answer")]
    Sys {
        pid: i32,
        #[source]
        source: SysError,
    },
    /// The process stopped in a way the executor does not expect.
    #[error(
        "home process {pid} stopped unexpectedly ({detail}); it must not be traced by anyone else"
    )]
    Unexpected { pid: i32, detail: String },
}

impl DeputyError {
    pub(crate) fn sys(pid: i32, source: SysError) -> DeputyError {
        DeputyError::Sys { pid, source }
    }
}
