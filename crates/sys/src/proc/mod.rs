//! Parsers for the /proc files the engine reads. Reading them changes nothing.

pub mod fdinfo;
pub mod maps;
pub mod pagemap;
pub mod stat;

use std::path::PathBuf;

use crate::{Pid, Result, SysError};

/// Read a /proc file of `pid` as bytes.
pub fn read(pid: Pid, name: &str) -> Result<Vec<u8>> {
    let path = format!("/proc/{pid}/{name}");
    std::fs::read(&path).map_err(|e| SysError::io(io_op(name), pid, e))
}

/// Read a /proc file of `pid` as text.
pub fn read_string(pid: Pid, name: &str) -> Result<String> {
    let b = read(pid, name)?;
    String::from_utf8(b).map_err(|e| SysError::Parse {
        what: format!("/proc/{pid}/{name}"),
        detail: e.to_string(),
    })
}

/// Read a symbolic link under /proc/PID.
pub fn readlink(pid: Pid, name: &str) -> Result<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/{name}")).map_err(|e| SysError::io(io_op(name), pid, e))
}

fn io_op(name: &str) -> &'static str {
    match name {
        "maps" => "read /proc/PID/maps",
        "smaps" => "read /proc/PID/smaps",
        "status" => "read /proc/PID/status",
        "stat" => "read /proc/PID/stat",
        "auxv" => "read /proc/PID/auxv",
        "cmdline" => "read /proc/PID/cmdline",
        "exe" => "readlink /proc/PID/exe",
        "cwd" => "readlink /proc/PID/cwd",
        _ => "read /proc/PID file",
    }
}

/// The threads of a process (entries of /proc/PID/task).
pub fn threads(pid: Pid) -> Result<Vec<Pid>> {
    let rd = std::fs::read_dir(format!("/proc/{pid}/task"))
        .map_err(|e| SysError::io("read /proc/PID/task", pid, e))?;
    let mut v: Vec<Pid> = rd
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    v.sort_unstable();
    Ok(v)
}

/// Children of a process: /proc/PID/task/*/children.
pub fn children(pid: Pid) -> Result<Vec<Pid>> {
    let mut out = Vec::new();
    for t in threads(pid)? {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/task/{t}/children")) {
            out.extend(s.split_whitespace().filter_map(|w| w.parse::<Pid>().ok()));
        }
    }
    Ok(out)
}

/// `key: value` lines of /proc/PID/status.
pub fn status(pid: Pid) -> Result<Vec<(String, String)>> {
    let s = read_string(pid, "status")?;
    Ok(s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), v.trim().to_string()))
        })
        .collect())
}

/// One field of /proc/PID/status.
pub fn status_field<'a>(st: &'a [(String, String)], key: &str) -> Option<&'a str> {
    st.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// The auxiliary vector as (type, value) words, up to and including AT_NULL.
pub fn auxv(pid: Pid) -> Result<Vec<u64>> {
    let b = read(pid, "auxv")?;
    Ok(b.chunks_exact(8)
        .map(|c| u64::from_ne_bytes(c.try_into().expect("8 bytes")))
        .collect())
}

/// The inode of one of the process's namespaces (`kind`: "pid", "mnt", ...).
pub fn namespace(pid: Pid, kind: &str) -> Result<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/{kind}"))
        .map(|m| m.ino())
        .map_err(|e| SysError::io("stat /proc/PID/ns", pid, e))
}

/// Pids owning a POSIX (fcntl) lock in /proc/locks.
///
/// Only POSIX entries count: for FLOCK and OFD locks the pid column is whoever took the lock,
/// which may be dead and its pid reused; those locks show exactly in /proc/PID/fdinfo instead.
pub fn lock_holders() -> Result<Vec<Pid>> {
    let s = std::fs::read_to_string("/proc/locks")
        .map_err(|e| SysError::io("read /proc/locks", 0, e))?;
    Ok(s.lines().filter_map(posix_lock_owner).collect())
}

/// The owner of a POSIX lock line ("1: POSIX  ADVISORY  WRITE 1234 08:01:1234 0 EOF"; waiters
/// have "->" after the number), None for other lines.
fn posix_lock_owner(line: &str) -> Option<Pid> {
    let mut w = line.split_whitespace().skip(1);
    let mut kind = w.next()?;
    if kind == "->" {
        kind = w.next()?;
    }
    if kind != "POSIX" {
        return None;
    }
    w.nth(2)?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_posix_locks_name_their_owner() {
        use super::posix_lock_owner as o;
        assert_eq!(
            o("1: POSIX  ADVISORY  WRITE 1234 08:01:99 0 EOF"),
            Some(1234)
        );
        assert_eq!(
            o("2: FLOCK  ADVISORY  WRITE 777 fe:00:10035224 0 EOF"),
            None
        );
        assert_eq!(o("3: OFDLCK ADVISORY  READ  -1 00:05:1 0 EOF"), None);
        assert_eq!(
            o("4: -> POSIX  ADVISORY  WRITE 55 08:01:99 0 EOF"),
            Some(55)
        );
    }
}
