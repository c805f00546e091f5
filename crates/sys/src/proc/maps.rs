//! /proc/PID/maps and the VmFlags of /proc/PID/smaps.

use crate::{Pid, Result, SysError};

/// One line of /proc/PID/maps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub offset: u64,
    pub dev_major: u32,
    pub dev_minor: u32,
    pub inode: u64,
    /// Path or pseudo name (`[heap]`, `[stack]`, `[vdso]`), empty for anonymous memory. A
    /// trailing " (deleted)" is kept.
    pub name: String,
    /// Two-letter VmFlags from smaps (filled by [`read_with_flags`]).
    pub vm_flags: Vec<String>,
}

impl MapEntry {
    pub fn len(&self) -> u64 {
        self.end - self.start
    }
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
    pub fn has_flag(&self, f: &str) -> bool {
        self.vm_flags.iter().any(|x| x == f)
    }
    /// `PROT_*` bits.
    pub fn prot(&self) -> i32 {
        (if self.read { libc::PROT_READ } else { 0 })
            | (if self.write { libc::PROT_WRITE } else { 0 })
            | (if self.exec { libc::PROT_EXEC } else { 0 })
    }
    /// `makedev(major, minor)` as `st_dev` reports it.
    pub fn dev(&self) -> u64 {
        libc::makedev(self.dev_major, self.dev_minor)
    }
}

fn perr(pid: Pid, line: &str) -> SysError {
    SysError::Parse {
        what: format!("/proc/{pid}/maps"),
        detail: format!("bad line {line:?}"),
    }
}

/// Parse one maps line.
pub fn parse_line(pid: Pid, line: &str) -> Result<MapEntry> {
    let mut it = line.splitn(6, ' ');
    let range = it.next().ok_or_else(|| perr(pid, line))?;
    let perms = it.next().ok_or_else(|| perr(pid, line))?.as_bytes();
    let offset = it.next().ok_or_else(|| perr(pid, line))?;
    let dev = it.next().ok_or_else(|| perr(pid, line))?;
    let inode = it.next().ok_or_else(|| perr(pid, line))?;
    let name = it.next().unwrap_or("").trim_start().to_string();
    let (s, e) = range.split_once('-').ok_or_else(|| perr(pid, line))?;
    let (ma, mi) = dev.split_once(':').ok_or_else(|| perr(pid, line))?;
    let hex = |x: &str| u64::from_str_radix(x, 16).map_err(|_| perr(pid, line));
    if perms.len() < 4 {
        return Err(perr(pid, line));
    }
    Ok(MapEntry {
        start: hex(s)?,
        end: hex(e)?,
        read: perms[0] == b'r',
        write: perms[1] == b'w',
        exec: perms[2] == b'x',
        shared: perms[3] == b's',
        offset: hex(offset)?,
        dev_major: hex(ma)? as u32,
        dev_minor: hex(mi)? as u32,
        inode: inode.parse().map_err(|_| perr(pid, line))?,
        name,
        vm_flags: Vec::new(),
    })
}

/// All areas of `pid` (without VmFlags).
pub fn read(pid: Pid) -> Result<Vec<MapEntry>> {
    let s = super::read_string(pid, "maps")?;
    s.lines()
        .filter(|l| !l.is_empty())
        .map(|l| parse_line(pid, l))
        .collect()
}

/// All areas of `pid` with their VmFlags, from /proc/PID/smaps.
pub fn read_with_flags(pid: Pid) -> Result<Vec<MapEntry>> {
    let s = super::read_string(pid, "smaps")?;
    let mut out: Vec<MapEntry> = Vec::new();
    for l in s.lines() {
        if let Some(f) = l.strip_prefix("VmFlags:") {
            if let Some(last) = out.last_mut() {
                last.vm_flags = f.split_whitespace().map(str::to_string).collect();
            }
            continue;
        }
        // Header lines start with a hex range "start-end "; field lines with "Name:".
        let first = l.split(' ').next().unwrap_or("");
        if first.contains('-') && !first.ends_with(':') {
            out.push(parse_line(pid, l)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_file_and_anon_lines() {
        let e = parse_line(
            1,
            "7f00-7f10 r-xp 00001000 fd:01 1234       /usr/lib/libc.so.6",
        )
        .unwrap();
        assert_eq!(
            (e.start, e.end, e.offset, e.inode),
            (0x7f00, 0x7f10, 0x1000, 1234)
        );
        assert!(e.read && e.exec && !e.write && !e.shared);
        assert_eq!(e.name, "/usr/lib/libc.so.6");
        assert_eq!((e.dev_major, e.dev_minor), (0xfd, 1));
        let a = parse_line(1, "1000-2000 rw-s 00000000 00:00 0 ").unwrap();
        assert!(a.shared && a.write && a.name.is_empty());
        let d = parse_line(1, "1000-2000 rw-p 00000000 00:01 7 /tmp/a b (deleted)").unwrap();
        assert_eq!(d.name, "/tmp/a b (deleted)");
    }
}
