//! Reads, writes and seeks on the deputy's regular files, done by the daemon itself.
//!
//! Injecting a call costs a ptrace round trip and a copy of its bytes through the scratch
//! area (about 20 us, and 0.3 ms more for a 256 KiB write). For a regular file of a local file
//! system the same call made on a copy of the descriptor (`pidfd_getfd`, which shares the open
//! file description: its offset, `O_APPEND`, its locks) does exactly the same to the file and
//! the offset, and needs neither. [`Direct`] takes that path when every condition holds and
//! otherwise says "inject" (`None`), which is always correct:
//!
//! - the process has no seccomp filter and no LSM label of its own (a filter or a profile would
//!   judge the call by the caller: the deputy must then make it itself); checked once, at
//!   setup (a filter can be added only by the process, and `seccomp` brings it home);
//! - the descriptor is a regular file on a local disk or memory file system (FUSE, NFS and
//!   the like see the caller's pid and credentials on every request), not opened `O_DIRECT`
//!   (our buffers are not aligned for it);
//! - for a write, the deputy's `RLIMIT_FSIZE` is unlimited (the kernel checks the writer's
//!   limit and signals the writer);
//! - `lseek` only with `SEEK_SET`, `SEEK_CUR`, `SEEK_END`, `SEEK_DATA`, `SEEK_HOLE`, which the
//!   kernel does on the description alone.
//!
//! Copies of descriptors are kept between calls (checked with `kcmp` before each use), and
//! all of them are closed before any other call runs: a copy must never keep a file open the
//! process has closed (an `flock` lock, the file's last-close events, an unlinked file's space).

use std::collections::HashMap;
use std::os::fd::OwnedFd;

use wend_sys::{fd, limits, pidfd, proc};

use crate::call::{Back, Call, Dir, Outcome};

/// File systems whose reads and writes do not depend on who makes them (`f_type` magics):
/// ext2/3/4, xfs, btrfs, f2fs, tmpfs, ramfs, overlayfs.
const LOCAL_FS: [i64; 7] = [
    0xEF53,
    0x5846_5342,
    0x9123_683E,
    0xF2F5_2010,
    0x0102_1994,
    0x8584_58F6,
    0x794C_7630,
];
const RLIMIT_FSIZE: u32 = 1;
/// The most bytes of writes to one file the remote may have on their way (written behind).
const BEHIND_MAX: u64 = 4 << 20;
/// ... and at most this share of the file system's free space (1/16).
const BEHIND_FREE_SHIFT: u32 = 4;

/// The calls [`Direct::run`] may make: `read`, `pread64`, `write`, `pwrite64`, `lseek`, calls
/// on one open file that never change the descriptor table.
pub fn is_file_call(nr: u32) -> bool {
    [
        libc::SYS_read,
        libc::SYS_pread64,
        libc::SYS_write,
        libc::SYS_pwrite64,
        libc::SYS_lseek,
    ]
    .contains(&i64::from(nr))
}

/// Counts of what took which path, for the log.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DirectStats {
    /// Calls made by the daemon on a copy of the descriptor.
    pub direct: u64,
    /// Bytes they read or wrote.
    pub bytes: u64,
}

#[derive(Debug)]
pub(super) struct Direct {
    pid: i32,
    me: i32,
    pidfd: OwnedFd,
    /// Copies of the deputy's regular files, by descriptor number.
    files: HashMap<i32, OwnedFd>,
    /// Numbers seen not to qualify (a pipe, a terminal, a FUSE file), until the next forget.
    others: Vec<i32>,
    stats: DirectStats,
}

impl Direct {
    /// The direct path for process `pid`, or None (with the reason) where it must not be taken.
    pub(super) fn new(pid: i32) -> Result<Direct, String> {
        let status = proc::status(pid).map_err(|e| e.to_string())?;
        let filtered = proc::status_field(&status, "Seccomp").map(str::trim);
        if filtered != Some("0") {
            return Err(format!("seccomp mode {filtered:?}"));
        }
        match proc::read_string(pid, "attr/current") {
            Ok(label) if !matches!(label.trim_end_matches(['\n', '\0']), "" | "unconfined") => {
                return Err(format!("LSM label {label:?}"));
            }
            // EINVAL: no LSM that labels processes.
            _ => {}
        }
        let pidfd = pidfd::open(pid).map_err(|e| e.to_string())?;
        Ok(Direct {
            pid,
            me: std::process::id() as i32,
            pidfd,
            files: HashMap::new(),
            others: Vec::new(),
            stats: DirectStats::default(),
        })
    }

    pub(super) fn stats(&self) -> DirectStats {
        self.stats
    }

    /// Close every copy: the next call may change the descriptor table.
    pub(super) fn forget(&mut self) {
        self.files.clear();
        self.others.clear();
    }

    /// Make `call` on a copy of its descriptor, or None: inject it.
    pub(super) fn run(&mut self, call: &Call) -> Option<Outcome> {
        let nr = i64::from(call.nr);
        let fd = i32::try_from(call.args[0]).ok().filter(|&fd| fd >= 0)?;
        let at = |i: usize| Some(call.args[i] as i64);
        let (ret, out) = match nr {
            libc::SYS_lseek => {
                let whence = call.args[2] as i32;
                if !call.regions.is_empty() || !(0..=4).contains(&whence) {
                    return None;
                }
                let file = self.file(fd, false)?;
                (fd::raw_lseek(file, call.args[1] as i64, whence), Vec::new())
            }
            libc::SYS_read | libc::SYS_pread64 => {
                let [r] = &call.regions[..] else { return None };
                if r.arg != 1 || r.dir != Dir::Out || r.back != Back::UpToRet {
                    return None;
                }
                if call.args[2] != u64::from(r.len) {
                    return None;
                }
                let file = self.file(fd, false)?;
                let mut buf = vec![0u8; r.len as usize];
                let off = if nr == libc::SYS_pread64 { at(3) } else { None };
                let ret = fd::raw_read(file, &mut buf, off);
                buf.truncate(Outcome::back_len(r, ret));
                (ret, vec![buf])
            }
            libc::SYS_write | libc::SYS_pwrite64 => {
                let [r] = &call.regions[..] else { return None };
                if r.arg != 1 || r.dir != Dir::In || call.args[2] != r.data.len() as u64 {
                    return None;
                }
                let file = self.file(fd, true)?;
                let off = if nr == libc::SYS_pwrite64 {
                    at(3)
                } else {
                    None
                };
                (fd::raw_write(file, &r.data, off), Vec::new())
            }
            _ => return None,
        };
        self.stats.direct += 1;
        if nr != libc::SYS_lseek && ret > 0 {
            self.stats.bytes += ret as u64;
        }
        Some(Outcome { ret, out })
    }

    /// How many bytes of writes to `fd` the remote may answer at once and send behind (see
    /// [`crate::home::Deputy::behind_credit`]): 0 unless writes to it are made directly and
    /// are not synchronous (`O_SYNC`, `O_DSYNC`); at most [`BEHIND_MAX`] and 1/16 of the free
    /// space of its file system, so a write behind finds room unless another process fills
    /// the disk meanwhile.
    pub(super) fn behind_credit(&mut self, fd: i32) -> u64 {
        let Some(file) = self.file(fd, true) else {
            return 0;
        };
        let flags = fd::status_flags(file).unwrap_or(libc::O_SYNC);
        if flags & (libc::O_SYNC | libc::O_DSYNC) != 0 || flags & libc::O_ACCMODE == libc::O_RDONLY
        {
            return 0;
        }
        match fd::fs_info(file) {
            Ok((_, free)) => (free >> BEHIND_FREE_SHIFT).min(BEHIND_MAX),
            Err(_) => 0,
        }
    }

    /// A copy of descriptor `fd` if it qualifies now (see the module docs).
    fn file(&mut self, fd: i32, write: bool) -> Option<&OwnedFd> {
        if self.others.contains(&fd) {
            return None;
        }
        let known = self.files.get(&fd).is_some_and(|f| {
            use std::os::fd::AsRawFd;
            fd::same_file(self.me, f.as_raw_fd(), self.pid, fd).unwrap_or(false)
        });
        if !known {
            self.files.remove(&fd);
            // EBADF and the like: the injected call gives the process's own error.
            let copy = pidfd::get_fd(&self.pidfd, self.pid, fd).ok()?;
            let local = fd::is_regular(&copy).unwrap_or(false)
                && fd::fs_info(&copy).is_ok_and(|(m, _)| LOCAL_FS.contains(&m));
            if !local {
                self.others.push(fd);
                return None;
            }
            self.files.insert(fd, copy);
        }
        let file = self.files.get(&fd)?;
        if fd::status_flags(file).ok()? & libc::O_DIRECT != 0 {
            return None;
        }
        if write && limits::get(self.pid, RLIMIT_FSIZE).ok()?.0 != u64::MAX {
            return None;
        }
        Some(file)
    }
}
