//! /proc/PID/pagemap: which pages are present, swapped, or still the file's own.

use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::{Pid, Result, SysError, PAGE_SIZE};

const PRESENT: u64 = 1 << 63;
const SWAPPED: u64 = 1 << 62;
const FILE_OR_SHARED: u64 = 1 << 61;

/// The pagemap of one process, open for repeated range queries.
#[derive(Debug)]
pub struct Pagemap {
    pid: Pid,
    file: File,
}

/// What one page holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageState {
    /// Never touched: reads as zero (anonymous) or as the file (file-backed).
    Absent,
    /// Still the page-cache page of the mapped file (or shared memory).
    File,
    /// Private content of the process (present or swapped out).
    Private,
}

impl Pagemap {
    pub fn open(pid: Pid) -> Result<Pagemap> {
        let file = File::open(format!("/proc/{pid}/pagemap"))
            .map_err(|e| SysError::io("open /proc/PID/pagemap", pid, e))?;
        Ok(Pagemap { pid, file })
    }

    /// The state of each page in `[start, end)`.
    pub fn states(&self, start: u64, end: u64) -> Result<Vec<PageState>> {
        let n = ((end - start) / PAGE_SIZE) as usize;
        let mut raw = vec![0u8; n * 8];
        let mut done = 0;
        while done < raw.len() {
            let got = self
                .file
                .read_at(&mut raw[done..], (start / PAGE_SIZE) * 8 + done as u64)
                .map_err(|e| SysError::io("read /proc/PID/pagemap", self.pid, e))?;
            if got == 0 {
                break;
            }
            done += got;
        }
        Ok(raw
            .chunks_exact(8)
            .map(|c| {
                let v = u64::from_ne_bytes(c.try_into().expect("8 bytes"));
                if v & (PRESENT | SWAPPED) == 0 {
                    PageState::Absent
                } else if v & FILE_OR_SHARED != 0 && v & SWAPPED == 0 {
                    PageState::File
                } else {
                    PageState::Private
                }
            })
            .collect())
    }
}
