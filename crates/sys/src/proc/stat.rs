//! The mm fields of /proc/PID/stat.

use crate::{Pid, Result, SysError};

/// Address-space layout fields the kernel keeps in `mm_struct` (see proc(5), fields 26-51).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MmFields {
    pub start_code: u64,
    pub end_code: u64,
    pub start_stack: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
}

/// Parse the mm fields out of /proc/PID/stat.
pub fn mm_fields(pid: Pid) -> Result<MmFields> {
    let s = super::read_string(pid, "stat")?;
    parse_mm_fields(pid, &s)
}

/// Parse the stat line; exposed for tests.
pub fn parse_mm_fields(pid: Pid, s: &str) -> Result<MmFields> {
    let bad = |d: &str| SysError::Parse {
        what: format!("/proc/{pid}/stat"),
        detail: d.into(),
    };
    // Fields after "(comm)": field 3 (state) is index 0 here.
    let rest = &s[s.rfind(')').ok_or_else(|| bad("no ')'"))? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| -> Result<u64> {
        f.get(n - 3)
            .ok_or_else(|| bad("too few fields"))?
            .parse()
            .map_err(|_| bad("bad number"))
    };
    Ok(MmFields {
        start_code: get(26)?,
        end_code: get(27)?,
        start_stack: get(28)?,
        start_data: get(45)?,
        end_data: get(46)?,
        start_brk: get(47)?,
        arg_start: get(48)?,
        arg_end: get(49)?,
        env_start: get(50)?,
        env_end: get(51)?,
    })
}

/// The process state letter (R, S, D, T, t, Z, ...).
pub fn state(pid: Pid) -> Result<char> {
    let s = super::read_string(pid, "stat")?;
    let rest = &s[s.rfind(')').map(|i| i + 1).unwrap_or(0)..];
    rest.split_whitespace()
        .next()
        .and_then(|w| w.chars().next())
        .ok_or_else(|| SysError::Parse {
            what: format!("/proc/{pid}/stat"),
            detail: "no state field".into(),
        })
}

/// Scheduling fields of /proc/PID/stat: nice (field 19) and policy (field 41).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sched {
    pub nice: i32,
    pub policy: u32,
}

/// Read nice and scheduling policy.
pub fn sched(pid: Pid) -> Result<Sched> {
    let s = super::read_string(pid, "stat")?;
    let bad = |d: &str| SysError::Parse {
        what: format!("/proc/{pid}/stat"),
        detail: d.into(),
    };
    let rest = &s[s.rfind(')').ok_or_else(|| bad("no ')'"))? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |n: usize| -> Result<i64> {
        f.get(n - 3)
            .ok_or_else(|| bad("too few fields"))?
            .parse()
            .map_err(|_| bad("bad number"))
    };
    Ok(Sched {
        nice: get(19)? as i32,
        policy: get(41)? as u32,
    })
}
