//! /proc/PID/fd and /proc/PID/fdinfo.

use std::path::PathBuf;

use crate::{Pid, Result, SysError};

/// What /proc/PID/fdinfo/N says about one descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub pos: u64,
    /// Open flags in octal in the file, O_CLOEXEC included.
    pub flags: i32,
    pub mnt_id: u64,
    pub ino: u64,
    /// Lines starting with "lock:" (a file lock held through this descriptor).
    pub locks: usize,
    /// Other `key: value` lines (eventfd-count, tfd, inotify, ...), kept for diagnostics.
    pub extra: Vec<(String, String)>,
}

/// One open descriptor of a process.
#[derive(Debug, Clone)]
pub struct OpenFd {
    pub fd: i32,
    /// The /proc/PID/fd/N link: a path, or `pipe:[ino]`, `socket:[ino]`, `anon_inode:[kind]`.
    pub target: PathBuf,
    pub info: FdInfo,
}

/// Parse an fdinfo file.
pub fn parse(s: &str) -> FdInfo {
    let mut i = FdInfo::default();
    for l in s.lines() {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let v = v.trim();
        match k {
            "pos" => i.pos = v.parse().unwrap_or(0),
            "flags" => i.flags = i32::from_str_radix(v, 8).unwrap_or(0),
            "mnt_id" => i.mnt_id = v.parse().unwrap_or(0),
            "ino" => i.ino = v.parse().unwrap_or(0),
            "lock" => i.locks += 1,
            _ => i.extra.push((k.to_string(), v.to_string())),
        }
    }
    i
}

/// All open descriptors of `pid`, sorted by number.
pub fn list(pid: Pid) -> Result<Vec<OpenFd>> {
    let rd = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| SysError::io("read /proc/PID/fd", pid, e))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| SysError::io("read /proc/PID/fd", pid, e))?;
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        // A descriptor closed meanwhile is simply skipped.
        let Ok(target) = std::fs::read_link(e.path()) else {
            continue;
        };
        let Ok(info) = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")) else {
            continue;
        };
        out.push(OpenFd {
            fd,
            target,
            info: parse(&info),
        });
    }
    out.sort_by_key(|f| f.fd);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_fdinfo() {
        let i =
            super::parse("pos:\t12\nflags:\t02100002\nmnt_id:\t30\nino:\t99\nlock:\t1: FLOCK\n");
        assert_eq!(i.pos, 12);
        assert_eq!(i.flags, 0o2100002);
        assert_eq!(i.flags & libc::O_CLOEXEC, libc::O_CLOEXEC);
        assert_eq!((i.mnt_id, i.ino, i.locks), (30, 99, 1));
    }
}
