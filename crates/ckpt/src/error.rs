//! The error type of the engine.

use wend_image::ImageError;
use wend_sys::SysError;

use crate::stay::StayReason;

/// Why a checkpoint or restore failed. Messages name the problem and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CkptError {
    #[error("no process with pid {pid}: check the pid (ps -p {pid})")]
    NoSuchProcess { pid: i32 },
    #[error("cannot trace process {pid}: {why}")]
    NotTraceable { pid: i32, why: String },
    #[error("process {pid} cannot be checkpointed ({}): {}", names(.reasons), texts(.reasons))]
    Stay { pid: i32, reasons: Vec<StayReason> },
    #[error("process {pid} exited during the checkpoint; nothing was written")]
    Died { pid: i32 },
    #[error(
        "the image needs {path}, which is missing ({what}): put the file back, then restore again"
    )]
    MissingFile { path: String, what: &'static str },
    #[error("{path} changed since the checkpoint ({detail}): restore needs the same file as at checkpoint time")]
    ChangedFile { path: String, detail: String },
    #[error("cannot rebuild {what}: {detail}")]
    Rebuild { what: String, detail: String },
    #[error(transparent)]
    Image(#[from] ImageError),
    #[error("image does not fit this restorer: {0}")]
    Incompatible(String),
    #[error(transparent)]
    Sys(#[from] SysError),
    #[error("{what}: {cause}")]
    Io { what: String, cause: std::io::Error },
}

fn names(r: &[StayReason]) -> String {
    r.iter().map(|x| x.name()).collect::<Vec<_>>().join(", ")
}

fn texts(r: &[StayReason]) -> String {
    r.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join("; ")
}

impl CkptError {
    /// A system error seen while working on `pid`, with a vanished process made explicit.
    pub(crate) fn sys(pid: i32, e: SysError) -> Self {
        match e {
            SysError::Died { .. } => CkptError::Died { pid },
            other => CkptError::Sys(other),
        }
    }

    /// Whether this is a refusal by stay reasons.
    pub fn stay_reasons(&self) -> Option<&[StayReason]> {
        match self {
            CkptError::Stay { reasons, .. } => Some(reasons),
            _ => None,
        }
    }

    pub(crate) fn io(what: impl Into<String>, cause: std::io::Error) -> Self {
        CkptError::Io {
            what: what.into(),
            cause,
        }
    }
}
