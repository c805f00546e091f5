//! Read-ahead for sequential `read(2)` of regular files: the remote side asks home for more
//! than the guest asked, keeps the rest, and answers the following reads from it without a
//! round trip home.
//!
//! [`ReadAhead`] sits between [`crate::decide`] and the link in the remote daemon's guest loop.
//! Each forwarded call goes through [`ReadAhead::begin`], which answers it at once from a window
//! ([`Step::Reply`]) or says which call to send home ([`Step::Send`]); every answer from home
//! goes through [`ReadAhead::answer`], which says the same for what comes next. A guest call
//! may take several calls home (a probe, an offset sync, then the call itself); all of them run
//! under the guest's notification, one at a time.
//!
//! # How it works
//!
//! - A descriptor becomes a candidate after [`Config::sequential`] forwarded `read`s in a row
//!   that each returned all the bytes asked for. Then home is asked once for its file type
//!   (`fstat`) and offset (`lseek(fd, 0, SEEK_CUR)`); only a regular file qualifies.
//! - A window is filled by `pread64(fd, Config::window bytes, offset)` at the guest's offset.
//!   `pread64` leaves home's file offset where it was, so home's offset lags behind the
//!   guest's by what the guest consumed from windows. The lag is made good by an
//!   `lseek(fd, offset, SEEK_SET)` sent before any call that could see it (below) and by
//!   [`ReadAhead::flush`] before the guest ends or leaves the node.
//! - While the guest reads a window, the next one is prefetched ([`ReadAhead::prefetch`],
//!   see `ahead.rs`): a steady reader finds it there and waits for no fill after the first.
//! - A failed fill (`O_DIRECT` alignment, an I/O error) disables read-ahead for the descriptor
//!   and the guest's own `read` is sent as it was, so the guest sees what the kernel would say.
//!
//! # When it is safe (what keeps the answers right)
//!
//! Bytes from a window are what `read` would return if nothing changed the file since the
//! window was filled, and home's offset is right whenever someone could look at it. So the
//! module answers from a window only while all of these hold, and otherwise syncs and drops:
//!
//! 1. **Only this process's own view changes the file, and it does not.** Every forwarded call
//!    other than the *quiet* ones below makes the module sync every lagging offset first, then
//!    drop every window and everything it learnt about descriptors. Quiet are: reads of a
//!    windowed descriptor; `write`/`pwrite64` to a descriptor that home said (by `fstat`) is a
//!    regular file other than every windowed or lagging file (device and inode differ); and
//!    `getuid`, `geteuid`, `getgid`, `getegid`, `getpgrp` (not `getppid`: a parent's death
//!    shows in it). A write to a descriptor not yet known is preceded by one `fstat` of it.
//! 2. **Nothing told the process that another one changed the file.** Any call that can bring
//!    news from another process (a read of anything but the windowed descriptor, `wait4`,
//!    `poll`, a lock, a message, ...) is not quiet, so windows are dropped before it runs; and
//!    the guest loop calls [`ReadAhead::signal`] when it delivers a signal to the guest, which
//!    drops every window. A writer that synchronises with the guest only by time (it writes,
//!    the guest sleeps a while and reads) is covered by [`Config::max_age`]: a window older
//!    than that is never used (default 50 ms; it bounds how stale an answer can be, as the
//!    attribute cache of an NFS client does, about 60 times tighter than its default).
//! 3. **Nobody uses the open file description at home meanwhile.** Home's offset lags while a
//!    window is in use. It is synced before every call on the descriptor (`lseek`, `close`,
//!    `dup2`, `fcntl`, ...), before every call that is not quiet, before a `write` to a
//!    non-regular file (a pipe, a socket, a terminal: the way the guest tells another process
//!    something), and by [`ReadAhead::flush`] before the guest exits, is killed, goes home or
//!    moves on. What remains is another process at home that reads or seeks the *same* open
//!    file description (inherited across fork) *at the same time* as the guest reads it,
//!    without waiting for anything the guest does: it sees the offset up to one window behind.
//!    Two processes reading one description concurrently without synchronisation get an
//!    unspecified interleaving from the kernel too; only its offset arithmetic differs here.
//!
//! Not read ahead: `pread64`/`preadv` (no offset to follow), `readv` (the flattened form of
//! [`crate::marshal`] is a `read`, so it is), anything but regular files. Nothing is written
//! behind: every write, and every error, is the home kernel's own answer to the guest's call.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::call::{Back, Call, Dir, Outcome, Region};
use crate::marshal::{GuestMem, MarshalError, Prepared};
use ahead::Served;

/// Tunables of [`ReadAhead`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Bytes asked of home per fill.
    pub window: u32,
    /// A window older than this is not used (a fresh fill is made instead).
    pub max_age: Duration,
    /// Full reads in a row on a descriptor before it is read ahead.
    pub sequential: u32,
    /// Whether [`ReadAhead::prefetch`] asks for the next window while the guest consumes one.
    pub prefetch: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            window: 256 << 10,
            max_age: Duration::from_millis(50),
            sequential: 2,
            prefetch: true,
        }
    }
}

/// What to do with the guest's call now.
#[derive(Debug)]
pub enum Step {
    /// Answer the guest's call with this value (its out bytes are written already).
    Reply(i64),
    /// Send this call home (under the guest's notification id) and give its outcome to
    /// [`ReadAhead::answer`]. Sent again as it is if home says it was interrupted.
    Send(Call),
    /// Nothing to send: the answer comes with the prefetch on its way
    /// ([`ReadAhead::prefetched`] or [`ReadAhead::prefetch_lost`] says what to do then).
    Wait,
}

/// Counters, for logs and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Guest reads answered from a window.
    pub served: u64,
    /// Fills sent home.
    pub fills: u64,
    /// Offset syncs sent home.
    pub syncs: u64,
    /// `fstat`/`lseek` probes sent home.
    pub probes: u64,
    /// Prefetches sent home (fills made while the guest used the window before).
    pub prefetches: u64,
}

/// Device and inode of a file.
type Ident = (u64, u64);

#[derive(Debug, Default)]
struct Fd {
    /// Full forwarded reads in a row.
    full_reads: u32,
    /// From `fstat` at home: identity and whether it is a regular file.
    ident: Option<(Ident, bool)>,
    /// Home's offset and the guest's (they differ while a window is in use).
    off: Option<(u64, u64)>,
    window: Option<Window>,
    /// The window after `window`, prefetched.
    next: Option<Window>,
    /// Not for read-ahead (not a regular file, or a fill failed): until the number is closed.
    disabled: bool,
    /// Home could not `fstat` it: a write to it is not known to be harmless.
    stat_failed: bool,
}

#[derive(Debug)]
struct Window {
    /// The file offset of `data[0]`.
    start: u64,
    data: Vec<u8>,
    used: usize,
    filled: Instant,
    /// The fill came back short: the file ends where the window does.
    eof: bool,
}

/// One call sent home on the guest's behalf, and what to do with its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// `fstat(fd)`.
    Probe(i32),
    /// `lseek(fd, 0, SEEK_CUR)`.
    Tell(i32),
    /// `lseek(fd, off, SEEK_SET)`.
    Sync(i32, u64),
    /// `pread64(fd, window, off)` for a guest read of `want` bytes.
    Fill(i32, u64),
    /// The guest's own call.
    Original,
    /// Nothing: the guest's read waits for the prefetch on its way.
    Await,
}

#[derive(Debug)]
struct Pending {
    guest: Prepared,
    doing: Action,
}

/// The read-ahead state of one guest (see the module docs).
#[derive(Debug, Default)]
pub struct ReadAhead {
    cfg: Config,
    fds: HashMap<i32, Fd>,
    pending: Option<Pending>,
    /// The prefetch on its way (at most one), until its answer comes.
    ahead: Option<Ahead>,
    /// Counts the times everything learnt was dropped: a prefetch sent before is stale.
    generation: u64,
    /// The descriptor of the last read answered from a window.
    last_read: Option<i32>,
    stats: Stats,
}

/// A prefetch sent home: `pread64(fd, window, off)`.
#[derive(Debug, Clone, Copy)]
struct Ahead {
    fd: i32,
    off: u64,
    generation: u64,
}

const SYS_READ: u32 = libc::SYS_read as u32;
const SYS_WRITE: u32 = libc::SYS_write as u32;
const SYS_PWRITE64: u32 = libc::SYS_pwrite64 as u32;
/// Calls that neither change a file nor bring news from another process (`getppid` is not
/// one: a parent's death shows in it).
const QUIET: [i64; 5] = [
    libc::SYS_getuid,
    libc::SYS_geteuid,
    libc::SYS_getgid,
    libc::SYS_getegid,
    libc::SYS_getpgrp,
];
/// `struct stat` on x86-64, and where its fields lie.
const STAT_LEN: u32 = 144;
const ST_MODE: usize = 24;

fn fd_of(arg: u64) -> i32 {
    arg as i64 as i32
}

impl ReadAhead {
    pub fn new(cfg: Config) -> ReadAhead {
        ReadAhead {
            cfg,
            ..ReadAhead::default()
        }
    }

    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// A forwarded guest call (from [`crate::Decision::Forward`]); forgets a call left
    /// unanswered before (one the guest gave up: it makes it again).
    pub fn begin(&mut self, guest: Prepared, mem: &dyn GuestMem, now: Instant) -> Step {
        self.pending = None;
        let call = &guest.call;
        if call.nr == SYS_READ {
            let fd = fd_of(call.args[0]);
            match self.serve(fd, &guest, mem, now) {
                Served::Bytes(n) => return Step::Reply(n),
                Served::Wait => {
                    self.pending = Some(Pending {
                        guest,
                        doing: Action::Await,
                    });
                    return Step::Wait;
                }
                Served::No => {}
            }
        }
        self.plan(guest, now)
    }

    /// Whether the call the last [`Step::Send`] carries is the guest's own (not a probe, a
    /// sync or a fill), so the caller could answer the guest itself (a write sent behind; then
    /// it says so with [`ReadAhead::answered_by_caller`]).
    pub fn sends_guest_call(&self) -> bool {
        matches!(
            self.pending,
            Some(Pending {
                doing: Action::Original,
                ..
            })
        )
    }

    /// The caller answered the guest's call itself: no [`ReadAhead::answer`] follows.
    pub fn answered_by_caller(&mut self) {
        self.pending = None;
    }

    /// Home's answer to the call [`Step::Send`] asked for (taken: a fill's bytes become the
    /// window without a copy).
    pub fn answer(
        &mut self,
        out: Outcome,
        mem: &dyn GuestMem,
        now: Instant,
    ) -> Result<Step, MarshalError> {
        let Some(Pending { guest, doing }) = self.pending.take() else {
            return Err(MarshalError::NoCall);
        };
        match doing {
            Action::Await => {
                self.pending = Some(Pending { guest, doing });
                return Err(MarshalError::NoCall);
            }
            Action::Original => {
                self.note_original(&guest.call, out.ret);
                return guest.finish(&out, mem).map(Step::Reply);
            }
            Action::Probe(fd) => {
                let e = self.fds.entry(fd).or_default();
                match out.out.first() {
                    Some(st) if out.ret == 0 && st.len() >= ST_MODE + 4 => {
                        let word = |at: usize| {
                            u64::from_ne_bytes(st[at..at + 8].try_into().expect("8 bytes"))
                        };
                        let mode =
                            u32::from_ne_bytes(st[ST_MODE..ST_MODE + 4].try_into().expect("4"));
                        let regular = mode & libc::S_IFMT == libc::S_IFREG;
                        e.ident = Some(((word(0), word(8)), regular));
                        e.disabled |= !regular;
                    }
                    _ => {
                        e.disabled = true;
                        e.stat_failed = true;
                    }
                }
            }
            Action::Tell(fd) => {
                let e = self.fds.entry(fd).or_default();
                if out.ret >= 0 {
                    e.off = Some((out.ret as u64, out.ret as u64));
                } else {
                    e.disabled = true;
                }
            }
            Action::Sync(fd, off) => {
                if out.ret == off as i64 {
                    if let Some(e) = self.fds.get_mut(&fd) {
                        if let Some((home, _)) = e.off.as_mut() {
                            *home = off;
                        }
                    }
                } else {
                    // Cannot happen for a regular file; do not try again.
                    tracing::warn!(fd, off, ret = out.ret, "read-ahead offset sync failed");
                    self.fds.remove(&fd);
                }
            }
            Action::Fill(fd, off) => {
                if let Some(n) = self.filled(fd, off, out, &guest, mem, now) {
                    return Ok(Step::Reply(n));
                }
            }
        }
        Ok(self.plan(guest, now))
    }

    /// A signal was delivered to the guest (news from outside): windows are dropped.
    pub fn signal(&mut self) {
        for f in self.fds.values_mut() {
            f.window = None;
            f.next = None;
        }
        self.generation += 1;
    }

    /// The offset syncs to run at home (in order, waiting for each) before the guest ends or
    /// leaves this node; everything is forgotten.
    pub fn flush(&mut self) -> Vec<Call> {
        self.pending = None;
        self.generation += 1;
        let mut v: Vec<(i32, u64)> = self
            .fds
            .iter()
            .filter_map(|(&fd, f)| f.off.filter(|(h, g)| h != g).map(|(_, g)| (fd, g)))
            .collect();
        v.sort_unstable();
        self.fds.clear();
        v.into_iter().map(|(fd, off)| seek_set(fd, off)).collect()
    }

    /// Answer a read from the descriptor's window, if it has one fit to use (bringing in the
    /// prefetched next window when this one cannot answer), or say that the prefetch on its
    /// way will.
    fn serve(&mut self, fd: i32, guest: &Prepared, mem: &dyn GuestMem, now: Instant) -> Served {
        let max_age = self.cfg.max_age;
        let generation = self.generation;
        let ahead = self.ahead;
        let Some(f) = self.fds.get_mut(&fd) else {
            return Served::No;
        };
        let want = guest.call.args[2] as usize;
        if f.window.as_ref().is_some_and(|w| w.short_of(want)) {
            match (f.next.take(), ahead) {
                (Some(next), _) => f.window = f.window.take().and_then(|w| w.join(next)),
                (None, Some(a))
                    if a.fd == fd
                        && a.generation == generation
                        && f.window.as_ref().is_some_and(|w| w.end() == a.off) =>
                {
                    return Served::Wait;
                }
                (None, _) => {}
            }
        }
        let Some(w) = f.window.as_mut() else {
            return Served::No;
        };
        // Never a short read before the end of the file (some programs take one for it).
        if w.short_of(want) || now.duration_since(w.filled) >= max_age {
            f.window = None;
            f.next = None;
            return Served::No;
        }
        let n = want.min(w.data.len() - w.used);
        let Some(pieces) = guest.back.first() else {
            return Served::No;
        };
        if scatter(mem, pieces, &w.data[w.used..w.used + n]).is_err() {
            // The kernel fails such a read with EFAULT; let home's kernel say it.
            f.window = None;
            f.next = None;
            return Served::No;
        }
        w.used += n;
        if let Some((_, g)) = f.off.as_mut() {
            *g += n as u64;
        }
        self.stats.served += 1;
        self.last_read = Some(fd);
        Served::Bytes(n as i64)
    }

    /// A fill came back: keep it and answer the guest's read from it.
    fn filled(
        &mut self,
        fd: i32,
        off: u64,
        out: Outcome,
        guest: &Prepared,
        mem: &dyn GuestMem,
        now: Instant,
    ) -> Option<i64> {
        let f = self.fds.entry(fd).or_default();
        let asked = self.cfg.window;
        let ok = out.ret >= 0 && f.off.is_some_and(|(_, g)| g == off);
        let data = match out.out.into_iter().next() {
            Some(d) if ok => d,
            _ => {
                f.disabled = true;
                f.window = None;
                return None;
            }
        };
        let eof = data.len() < (asked as usize).max(guest.call.args[2] as usize);
        f.window = Some(Window {
            start: off,
            data,
            used: 0,
            filled: now,
            eof,
        });
        f.next = None;
        match self.serve(fd, guest, mem, now) {
            Served::Bytes(n) => Some(n),
            // End of file (or a zero-length read): what read would say there.
            Served::Wait | Served::No => {
                if let Some(f) = self.fds.get_mut(&fd) {
                    f.window = None;
                }
                Some(0)
            }
        }
    }

    /// After a forwarded read: count full reads in a row.
    fn note_original(&mut self, call: &Call, ret: i64) {
        if call.nr != SYS_READ {
            return;
        }
        let f = self.fds.entry(fd_of(call.args[0])).or_default();
        if ret > 0 && ret as u64 == call.args[2] {
            f.full_reads = f.full_reads.saturating_add(1);
        } else {
            f.full_reads = 0;
        }
    }

    /// Files a sync or drop protects: windowed or lagging.
    fn guarded(&self) -> impl Iterator<Item = (i32, &Fd)> {
        self.fds
            .iter()
            .filter(|(_, f)| f.window.is_some() || f.off.is_some_and(|(h, g)| h != g))
            .map(|(&fd, f)| (fd, f))
    }

    /// The next call to send for `guest`.
    fn plan(&mut self, guest: Prepared, now: Instant) -> Step {
        let call = &guest.call;
        let nr = call.nr;
        let fd = fd_of(call.args[0]);
        let named = names(call);
        let doing = if nr == SYS_READ && self.wants_window(fd) {
            self.read_ahead_step(fd)
        } else if QUIET.contains(&i64::from(nr)) {
            Action::Original
        } else if (nr == SYS_WRITE || nr == SYS_PWRITE64) && self.guarded().next().is_some() {
            match self.fds.get(&fd).map(|f| (f.ident, f.stat_failed)) {
                None | Some((None, false)) => Action::Probe(fd),
                Some((Some((ident, true)), _)) if !self.guarded_ident(ident) => Action::Original,
                Some((Some((_, false)), _)) => self.sync_or(Action::Original, None),
                _ => self.sync_or(Action::Original, Some(&named)),
            }
        } else {
            self.sync_or(Action::Original, Some(&named))
        };
        let _ = now;
        self.send(guest, doing)
    }

    /// Whether a read of `fd` should go through a window now.
    fn wants_window(&self, fd: i32) -> bool {
        let Some(f) = self.fds.get(&fd) else {
            return false;
        };
        !f.disabled
            && f.ident.is_none_or(|(_, regular)| regular)
            && (f.off.is_some() || f.full_reads >= self.cfg.sequential)
    }

    /// Probe, tell, then fill at the guest's offset.
    fn read_ahead_step(&self, fd: i32) -> Action {
        let f = &self.fds[&fd];
        match (f.ident, f.off) {
            (None, _) => Action::Probe(fd),
            (Some(_), None) => Action::Tell(fd),
            (Some(_), Some((_, g))) => Action::Fill(fd, g),
        }
    }

    fn guarded_ident(&self, ident: Ident) -> bool {
        self.guarded()
            .any(|(_, f)| f.ident.is_some_and(|(i, _)| i == ident))
    }

    /// The first lagging offset's sync, else `then`. With `forget` (the descriptors the call
    /// names, None: all of them): before a `then` of [`Action::Original`], every window and
    /// all that was learnt from home is dropped; the counts of full reads and the verdicts
    /// "not for read-ahead" stay, except for the descriptors named, whose number may soon
    /// stand for another file.
    fn sync_or(&mut self, then: Action, forget: Option<&[i32]>) -> Action {
        let mut lag: Vec<(i32, u64)> = self
            .fds
            .iter()
            .filter_map(|(&fd, f)| f.off.filter(|(h, g)| h != g).map(|(_, g)| (fd, g)))
            .collect();
        lag.sort_unstable();
        if let Some(&(fd, off)) = lag.first() {
            return Action::Sync(fd, off);
        }
        if let (Some(named), Action::Original) = (forget, then) {
            self.generation += 1;
            self.fds
                .retain(|fd, _| !named.contains(fd) && !named.contains(&ALL));
            for f in self.fds.values_mut() {
                *f = Fd {
                    full_reads: f.full_reads,
                    disabled: f.disabled,
                    stat_failed: f.stat_failed,
                    ..Fd::default()
                };
            }
        }
        then
    }

    fn send(&mut self, mut guest: Prepared, doing: Action) -> Step {
        let call = match doing {
            // The guest's bytes go with the call (a write's may be megabytes); what stays for
            // the answer needs only the shape of its regions.
            Action::Original => {
                let shape = guest.call.shape();
                std::mem::replace(&mut guest.call, shape)
            }
            Action::Probe(fd) => {
                self.stats.probes += 1;
                Call {
                    nr: libc::SYS_fstat as u32,
                    args: [fd as u64, 0, 0, 0, 0, 0],
                    regions: vec![Region {
                        arg: 1,
                        dir: Dir::Out,
                        len: STAT_LEN,
                        data: Vec::new(),
                        back: Back::All,
                    }],
                }
            }
            Action::Tell(fd) => {
                self.stats.probes += 1;
                Call::scalar(
                    libc::SYS_lseek as u32,
                    [fd as u64, 0, libc::SEEK_CUR as u64, 0, 0, 0],
                )
            }
            Action::Sync(fd, off) => {
                self.stats.syncs += 1;
                seek_set(fd, off)
            }
            Action::Fill(fd, off) => {
                self.stats.fills += 1;
                Call::pread(fd, u64::from(self.cfg.window).max(guest.call.args[2]), off)
            }
            Action::Await => return Step::Wait,
        };
        self.pending = Some(Pending { guest, doing });
        Step::Send(call)
    }
}

fn seek_set(fd: i32, off: u64) -> Call {
    Call::scalar(
        libc::SYS_lseek as u32,
        [fd as u64, off, libc::SEEK_SET as u64, 0, 0, 0],
    )
}

/// Stands for "every descriptor" in [`names`].
const ALL: i32 = -1;

/// The descriptors a call may close or replace: `close`'s, the target of `dup2`/`dup3`, and
/// all of them for `close_range`. (A number can only come back for another
/// file after one of these; the guest holds no descriptors of its own.)
fn names(call: &Call) -> Vec<i32> {
    let a = |i: usize| fd_of(call.args[i]);
    match i64::from(call.nr) {
        libc::SYS_close => vec![a(0)],
        libc::SYS_dup2 | libc::SYS_dup3 => vec![a(1)],
        libc::SYS_close_range => vec![ALL],
        _ => Vec::new(),
    }
}

/// Write `bytes` over the guest pieces, in order.
fn scatter(mem: &dyn GuestMem, pieces: &[(u64, u32)], bytes: &[u8]) -> std::io::Result<()> {
    let mut rest = bytes;
    for &(addr, len) in pieces {
        if rest.is_empty() {
            break;
        }
        let n = rest.len().min(len as usize);
        mem.write(addr, &rest[..n])?;
        rest = &rest[n..];
    }
    Ok(())
}

mod ahead;
#[cfg(test)]
mod tests;
