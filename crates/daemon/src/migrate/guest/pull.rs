//! Waiting for pages from home on the guest's own thread: before it reads or writes guest
//! memory for a forwarded call (a missing page there would block the very thread that must
//! serve it), and before the guest is dumped again (going home, on, or for a barrier).
//!
//! While it waits, the thread keeps serving the userfaultfd, answers nothing else, and keeps
//! every other message from home in order for the main loop.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use wend_deputy::marshal::GuestMem;
use wend_link::Link;

use super::lazy::Lazy;
use super::Vm;
use crate::migrate::wire::{readable2, recv_msg, send, Msg};
use crate::migrate::{LINK_SILENCE, PING_EVERY};

/// Bytes asked for at once when the rest of the memory is wanted.
const PULL_CHUNK: u64 = 1 << 20;
/// How long a full pull waits on home's background push before asking for the rest itself.
const PUSH_PATIENCE: Duration = Duration::from_secs(1);

/// What a wait needs besides the post-copy state.
pub struct Io<'a> {
    pub link: &'a mut Link,
    /// Messages from home read while waiting, for the main loop.
    pub early: &'a mut VecDeque<Msg>,
    /// When we last sent something (pings keep home from declaring us lost).
    pub said: &'a mut Instant,
}

impl Io<'_> {
    fn send(&mut self, m: &Msg) -> Result<(), String> {
        *self.said = Instant::now();
        send(self.link, m)
    }

    fn ask(&mut self, want: &mut Vec<(u64, u64)>) -> Result<(), String> {
        for (addr, len) in want.drain(..) {
            self.send(&Msg::PageWant { addr, len })?;
        }
        Ok(())
    }

    /// One round: serve faults, read one message if there is one. Whether pages came.
    fn step(&mut self, lazy: &mut Lazy, wait: Duration) -> Result<bool, String> {
        let mut want = Vec::new();
        let held = self.link.buffered();
        let wait = if held { Duration::ZERO } else { wait };
        let [fault, msg] = readable2(lazy.fd(), self.link.as_fd(), wait);
        let msg = msg || held;
        if fault {
            lazy.serve_events(&mut want)?;
        }
        let mut got = false;
        if msg {
            match recv_msg(self.link)? {
                Msg::Pages { addr, data } => {
                    lazy.place(addr, &data, &mut want)?;
                    got = true;
                }
                m => self.early.push_back(m),
            }
        }
        self.ask(&mut want)?;
        if self.said.elapsed() >= PING_EVERY {
            self.send(&Msg::Ping { cpu_ns: 0 })?;
        }
        Ok(got)
    }
}

/// Make target `[addr, addr+len)` present: fetch what is wanted, zero-map the rest.
pub fn fetch_range(io: &mut Io<'_>, lazy: &mut Lazy, addr: u64, len: u64) -> Result<(), String> {
    if len == 0 {
        return Ok(());
    }
    let mut want = lazy.wanted.parts_for_target(addr, len);
    io.ask(&mut want)?;
    let mut heard = Instant::now();
    while !lazy.wanted.parts_for_target(addr, len).is_empty() {
        if io.step(lazy, Duration::from_millis(50))? {
            heard = Instant::now();
        }
        if heard.elapsed() > LINK_SILENCE {
            return Err(format!("home sent no page for {LINK_SILENCE:?}"));
        }
    }
    lazy.zero_unwanted(addr, len)
}

/// Wait until every page is present (home pushes them; what does not come soon is asked for).
pub fn pull_all(io: &mut Io<'_>, lazy: &mut Lazy) -> Result<(), String> {
    let mut heard = Instant::now();
    let mut asked = false;
    while !lazy.done() {
        if io.step(lazy, Duration::from_millis(50))? {
            heard = Instant::now();
        }
        if !asked && heard.elapsed() > PUSH_PATIENCE {
            let mut want = lazy.wanted.all(PULL_CHUNK);
            io.ask(&mut want)?;
            asked = true;
            heard = Instant::now();
        }
        if heard.elapsed() > LINK_SILENCE {
            return Err(format!("home sent no page for {LINK_SILENCE:?}"));
        }
    }
    Ok(())
}

/// Guest memory for marshalling calls during post-copy: every access first makes its pages
/// present. A broken link fails the access and is kept for the caller ([`LazyVm::broken`]).
pub struct LazyVm<'a> {
    pid: i32,
    state: RefCell<(Io<'a>, Option<&'a mut Lazy>, Option<String>)>,
}

impl<'a> LazyVm<'a> {
    pub fn new(pid: i32, io: Io<'a>, lazy: Option<&'a mut Lazy>) -> LazyVm<'a> {
        LazyVm {
            pid,
            state: RefCell::new((io, lazy, None)),
        }
    }

    /// Why the link to home broke while an access waited, if it did.
    pub fn broken(self) -> Option<String> {
        self.state.into_inner().2
    }

    fn prepare(&self, addr: u64, len: usize) -> std::io::Result<()> {
        let mut st = self.state.borrow_mut();
        let (io, lazy, broke) = &mut *st;
        if broke.is_some() {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        let Some(lazy) = lazy.as_deref_mut() else {
            return Ok(());
        };
        if let Err(e) = fetch_range(io, lazy, addr, len as u64) {
            *broke = Some(e);
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        Ok(())
    }
}

impl GuestMem for LazyVm<'_> {
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.prepare(addr, buf.len())?;
        Vm(self.pid).read(addr, buf)
    }
    fn write(&self, addr: u64, data: &[u8]) -> std::io::Result<()> {
        self.prepare(addr, data.len())?;
        Vm(self.pid).write(addr, data)
    }
}
