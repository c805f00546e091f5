//! Post-copy at home: the frozen original's memory, read for the target (process_vm_readv;
//! the deputy never writes it while the process is away: forwarded calls use their own
//! scratch area), on demand ([`read_pages`]) and in background chunks ([`Push`]).

use std::time::Instant;

use crate::migrate::wire::Msg;

/// Bytes per background chunk: a call result waits for at most one of them.
const CHUNK: u64 = 512 << 10;
/// Largest request served (a confused peer cannot make home allocate more).
const MAX_WANT: u64 = 4 << 20;

/// `[addr, addr+len)` of process `pid` as a [`Msg::Pages`].
pub fn read_pages(pid: i32, addr: u64, len: u64) -> Result<Msg, String> {
    if len > MAX_WANT {
        return Err(format!(
            "the target asked for {len} bytes at once (at most {MAX_WANT})"
        ));
    }
    let mut data = vec![0u8; len as usize];
    let n = wend_sys::mem::read_vm(pid, &mut data, &[(addr, len as usize)])
        .map_err(|e| format!("reading its memory at {addr:#x} failed: {e}"))?;
    if n < data.len() {
        return Err(format!(
            "its memory at {:#x} is unreadable",
            addr + n as u64
        ));
    }
    Ok(Msg::Pages { addr, data })
}

/// The runs of memory the image left out, sent in address order while home is idle.
#[derive(Debug)]
pub struct Push {
    pid: i32,
    runs: Vec<(u64, u64)>,
    next: usize,
    off: u64,
    /// Bytes pushed so far.
    pub sent: u64,
    pub since: Instant,
    /// Bytes in all runs.
    pub total: u64,
}

impl Push {
    pub fn new(pid: i32, runs: Vec<(u64, u64)>) -> Push {
        let total = runs.iter().map(|r| r.1).sum();
        Push {
            pid,
            runs,
            next: 0,
            off: 0,
            sent: 0,
            since: Instant::now(),
            total,
        }
    }

    /// Whether every chunk was sent once.
    pub fn finished(&self) -> bool {
        self.next >= self.runs.len()
    }

    /// The next chunk, or None when all were sent.
    pub fn next_chunk(&mut self) -> Option<Result<Msg, String>> {
        let &(addr, len) = self.runs.get(self.next)?;
        let n = (len - self.off).min(CHUNK);
        let at = addr + self.off;
        self.off += n;
        if self.off >= len {
            self.next += 1;
            self.off = 0;
        }
        self.sent += n;
        Some(read_pages(self.pid, at, n))
    }
}
