//! Resource limits of another process (prlimit64).

use crate::{Pid, Result, SysError};

/// Number of RLIMIT_* resources (RLIMIT_NLIMITS).
pub const NLIMITS: u32 = 16;

/// (soft, hard) limit `resource` of `pid`.
pub fn get(pid: Pid, resource: u32) -> Result<(u64, u64)> {
    let mut old = libc::rlimit64 {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a null new limit reads only; `old` is a valid rlimit64 the kernel fills.
    let r = unsafe {
        libc::prlimit64(
            pid,
            resource as libc::__rlimit_resource_t,
            std::ptr::null(),
            &mut old,
        )
    };
    if r < 0 {
        return Err(SysError::last("prlimit64(get)", pid));
    }
    Ok((old.rlim_cur, old.rlim_max))
}

/// Set limit `resource` of `pid`.
pub fn set(pid: Pid, resource: u32, soft: u64, hard: u64) -> Result<()> {
    let new = libc::rlimit64 {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `new` is a valid rlimit64 the kernel reads; no old value is requested.
    let r = unsafe {
        libc::prlimit64(
            pid,
            resource as libc::__rlimit_resource_t,
            &new,
            std::ptr::null_mut(),
        )
    };
    if r < 0 {
        return Err(SysError::last("prlimit64(set)", pid));
    }
    Ok(())
}

/// Set the nice value of process `pid` (setpriority).
pub fn set_nice(pid: Pid, nice: i32) -> Result<()> {
    // SAFETY: setpriority takes integers only.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, pid as libc::id_t, nice) };
    if r < 0 {
        return Err(SysError::last("setpriority", pid));
    }
    Ok(())
}
