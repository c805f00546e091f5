//! Waiting for a restored process while forwarding SIGINT, SIGTERM and SIGHUP to it.

pub use wend_sys::signals::ChildExit;

use crate::error::CkptError;

/// Block SIGINT/SIGTERM/SIGHUP in the calling thread so they can be forwarded. Call before
/// any thread is started.
pub fn block_forwarded() -> Result<(), CkptError> {
    Ok(wend_sys::signals::block_forwarded()?)
}

/// Wait for our child `pid` to end, forwarding the blocked signals to it.
pub fn wait_forwarding(pid: i32) -> Result<ChildExit, CkptError> {
    wend_sys::signals::wait_forwarding(pid).map_err(|e| CkptError::sys(pid, e))
}
