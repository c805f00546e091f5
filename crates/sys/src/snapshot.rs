//! Reading the memory of a copy-on-write snapshot (see [`Stopped::fork_snapshot`]) without
//! pinning its pages.
//!
//! `process_vm_readv` pins the pages it reads, and pinning an anonymous page shared with the
//! original makes the kernel copy it first (FAULT_FLAG_UNSHARE): reading a snapshot that way
//! copies the whole address space. `/proc/PID/mem` does not pin, but works a page at a time.
//! Instead the snapshot copies its own memory into ours: an injected
//! `process_vm_writev(wend, [its range], [our buffer])` reads its side with plain user copies
//! and pins only our (exclusive) buffer.

use crate::ptrace::Stopped;
use crate::{mem, Pid, Result, SysError};

/// A stopped snapshot that copies its memory into our buffers.
#[derive(Debug)]
pub struct SnapshotReader {
    snap: Stopped,
    scratch: u64,
    me: Pid,
}

impl SnapshotReader {
    /// Prepare `snap` (a stopped snapshot): a scratch page for the iovecs.
    pub fn new(mut snap: Stopped) -> Result<SnapshotReader> {
        snap.find_syscall_insn()?;
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let scratch = snap.syscall(
            "mmap(snapshot scratch)",
            libc::SYS_mmap,
            [0, 4096, prot, flags, u64::MAX, 0],
        )?;
        Ok(SnapshotReader {
            snap,
            scratch,
            me: std::process::id() as Pid,
        })
    }

    pub fn pid(&self) -> Pid {
        self.snap.pid()
    }

    /// Fill `buf` from `addr` of the snapshot; the bytes copied (short at an unreadable page).
    pub fn read(&mut self, addr: u64, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len() as u64;
        // struct iovec local = {addr, len}; struct iovec remote = {buf, len};
        let iov: Vec<u8> = [addr, len, buf.as_mut_ptr() as u64, len]
            .iter()
            .flat_map(|w| w.to_ne_bytes())
            .collect();
        mem::write_vm(self.snap.pid(), self.scratch, &iov)?;
        // The kernel writes into `buf` (ours, borrowed mutably for this call) on the snapshot's
        // behalf while we wait for the single-step: like a read(2) into `buf`.
        let r = self.snap.syscall_raw(
            libc::SYS_process_vm_writev,
            [self.me as u64, self.scratch, 1, self.scratch + 16, 1, 0],
        )?;
        if r < 0 {
            return Err(SysError::Remote {
                name: "process_vm_writev(snapshot)",
                pid: self.snap.pid(),
                cause: std::io::Error::from_raw_os_error(-r as i32),
            });
        }
        Ok(r as usize)
    }

    /// Kill the snapshot (it never ran); its zombie is left to its parent.
    pub fn kill(self) -> Result<()> {
        self.snap.kill()
    }
}
