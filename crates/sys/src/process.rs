//! Small process-level helpers for wend and its tests.

use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::{Result, SysError};

/// Make the calling process a child subreaper: orphaned descendants are reparented to it.
pub fn set_child_subreaper() -> Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER takes an integer flag; no memory is passed.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    if r < 0 {
        return Err(SysError::last("prctl(PR_SET_CHILD_SUBREAPER)", 0));
    }
    Ok(())
}

/// Make `cmd` close every descriptor above 2 in the child before exec, so the started
/// program holds only stdin, stdout and stderr (no inherited jobserver pipes and the like).
pub fn close_other_fds(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs between fork and exec and only makes the async-signal-safe
    // close_range system call.
    unsafe {
        cmd.pre_exec(|| {
            libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32);
            Ok(())
        })
    }
}
