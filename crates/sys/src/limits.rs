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
        let err = SysError::last("prlimit64(get)", pid);
        // Reading another user's limits needs CAP_SYS_RESOURCE, which a daemon may lack;
        // /proc/PID/limits shows the same numbers to whoever may trace the process.
        return from_proc(pid, resource).ok_or(err);
    }
    Ok((old.rlim_cur, old.rlim_max))
}

/// Limit `resource` from /proc/PID/limits (one line per resource, in RLIMIT order after a
/// header; "unlimited" is RLIM_INFINITY).
fn from_proc(pid: Pid, resource: u32) -> Option<(u64, u64)> {
    let text = crate::proc::read_string(pid, "limits").ok()?;
    parse_proc_line(text.lines().nth(1 + resource as usize)?)
}

fn parse_proc_line(line: &str) -> Option<(u64, u64)> {
    // Columns: a 26-character name, then the soft and hard values, 21 characters each.
    let value = |v: &str| match v.trim() {
        "unlimited" => Some(u64::MAX),
        n => n.parse().ok(),
    };
    Some((value(line.get(26..47)?)?, value(line.get(47..68)?)?))
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

#[cfg(test)]
mod tests {
    #[test]
    fn proc_limits_lines_parse() {
        let l = "Max open files            1024                 524288               files     ";
        assert_eq!(super::parse_proc_line(l), Some((1024, 524288)));
        let l = "Max cpu time              unlimited            unlimited            seconds   ";
        assert_eq!(super::parse_proc_line(l), Some((u64::MAX, u64::MAX)));
        assert_eq!(super::parse_proc_line("short"), None);
    }

    #[test]
    fn proc_limits_match_prlimit() {
        let me = std::process::id() as i32;
        for r in 0..super::NLIMITS {
            assert_eq!(
                super::from_proc(me, r),
                super::get(me, r).ok(),
                "resource {r}"
            );
        }
    }
}
