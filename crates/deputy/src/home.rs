//! The home executor: forwarded system calls run inside the frozen original process.
//!
//! A migrated process leaves its original at home, frozen under ptrace: the [`Deputy`]. Its
//! descriptors, cwd, credentials, pid and parent stay there, so the guest's forwarded calls
//! ([`Call`]) run in its context by injection: the call's memory regions are placed in a
//! scratch area mapped into the deputy, the argument registers pointed at them, the `syscall`
//! instruction of our own code page single-stepped, and the regions the call wrote read back.
//!
//! Invariants:
//! - The deputy never runs its own code: between calls it sits in a ptrace-stop, and a call is
//!   one single-step of one `syscall` instruction (followed by `ud2` in our code page).
//! - Nothing is delivered at home. The deputy blocks no signal, so each one sent to the home pid
//!   shows up as a signal-delivery-stop; it is taken, suppressed, and handed to the caller for
//!   the guest ([`Executed::Interrupted`], [`Deputy::take_signals`]).
//! - It is traced with `PTRACE_O_EXITKILL`: if the tracing thread ends, the kernel kills the
//!   deputy. So a `Deputy` must stay on the thread that seized the process (ptrace requests
//!   work only from the tracing thread) and that thread must outlive it.
//! - Dropping a `Deputy` kills the process (a hollow deputy must never run on); give it back
//!   with [`Deputy::into_stopped`].

mod deny;
mod direct;
mod error;
mod flight;

use std::time::{Duration, Instant};

use wend_sys::arch::TASK_SIZE;
use wend_sys::flight::{Report, StopWaiter};
use wend_sys::ptrace::PendingSignal;
use wend_sys::{mem, pidfd, proc, DropAction, Stopped, PAGE_SIZE};

pub use self::deny::refused;
pub use self::direct::{is_file_call, DirectStats};
pub use self::error::{DeputyError, Fate};
use crate::call::{Call, Dir, Outcome, Region};

/// Bytes of scratch memory mapped at start; grown to a power of two on demand.
const SCRATCH_MIN: u64 = 64 << 10;
/// Our code page: `syscall` then `ud2`, so a stray resume can never run on.
const CODE: [u8; 4] = [0x0f, 0x05, 0x0f, 0x0b];
/// `rseq(2)` flag that removes a registration.
const RSEQ_FLAG_UNREGISTER: u64 = 1;
/// Every how many `take_signals` the pending bits are read from `/proc/PID/status`.
const STATUS_EVERY: u32 = 16;
/// The kernel's "restart this call" results: the call was interrupted and had no effect.
const RESTART: [i64; 4] = [-512, -513, -514, -516];

/// A signal sent to the home pid, taken from the deputy for the guest.
#[derive(Clone, PartialEq, Eq)]
pub struct Signal {
    pub signo: i32,
    /// The kernel's `siginfo_t` (sender, code, value).
    pub siginfo: [u8; 128],
}

impl std::fmt::Debug for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let code = i32::from_ne_bytes(self.siginfo[8..12].try_into().expect("4 bytes"));
        write!(f, "Signal({}, code {code})", self.signo)
    }
}

impl From<&PendingSignal> for Signal {
    fn from(p: &PendingSignal) -> Signal {
        Signal {
            signo: p.signo,
            siginfo: p.siginfo,
        }
    }
}

/// What [`Deputy::execute`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// The call ran (perhaps to an error such as `-ENOSYS` for a refused call).
    Done(Outcome),
    /// Signals came to the home pid before the call could finish: it had no effect at home
    /// and may be sent again as it is. Forward the signals to the guest.
    Interrupted(Vec<Signal>),
    /// `stop()` said so and the call was interrupted without effect.
    Cancelled,
}

/// The original of a migrated process, frozen at home, running forwarded calls.
#[derive(Debug)]
pub struct Deputy {
    /// None once the process ended or was given back.
    st: Option<Stopped>,
    pid: i32,
    /// Our code page (the `syscall` instruction is at its start).
    code: u64,
    /// The injection instruction the `Stopped` had before, given back with it.
    prior_insn: Option<u64>,
    scratch: u64,
    scratch_len: u64,
    /// The blocked-signal mask at the freeze, put back by `into_stopped`.
    mask: u64,
    /// Signals taken from the deputy, not yet handed out.
    signals: Vec<Signal>,
    /// Signals the guest already has (from the image); dropped once when met.
    known: Vec<Signal>,
    waiter: Option<StopWaiter>,
    fate: Option<Fate>,
    /// How often `take_signals` looked (see `kernel_has_pending`).
    peeks: u32,
    /// Regular-file calls made without injection; None where that is not allowed.
    direct: Option<direct::Direct>,
}

impl Deputy {
    /// Take a frozen home process (from `ckpt::Frozen::into_stopped` or `Stopped::seize`): trace
    /// it with `PTRACE_O_EXITKILL`, unblock every signal, and map a code page and a scratch
    /// area by injection. On failure what was changed is undone as far as possible and the
    /// `Stopped` is dropped with its own drop action.
    pub fn new(st: Stopped) -> Result<Deputy, DeputyError> {
        let pid = st.pid();
        let mut d = Deputy {
            prior_insn: st.injection_insn(),
            st: Some(st),
            pid,
            code: 0,
            scratch: 0,
            scratch_len: 0,
            mask: 0,
            signals: Vec::new(),
            known: Vec::new(),
            waiter: None,
            fate: None,
            peeks: 0,
            direct: None,
        };
        match d.setup() {
            Ok(()) => Ok(d),
            Err(e) => {
                if d.fate.is_none() {
                    let _ = d.teardown();
                }
                if let Some(st) = d.st.take() {
                    drop(st);
                }
                Err(e)
            }
        }
    }

    fn setup(&mut self) -> Result<(), DeputyError> {
        let pid = self.pid;
        let sys = |e| DeputyError::sys(pid, e);
        let st = self.stopped()?;
        st.enable_exit_kill().map_err(sys)?;
        let mask = st.sigmask().map_err(sys)?;
        self.mask = mask;
        let st = self.stopped()?;
        st.set_sigmask(0).map_err(sys)?;
        if st.injection_insn().is_none() {
            st.find_syscall_insn().map_err(sys)?;
        }
        let code = self.map(PAGE_SIZE)?;
        mem::write_vm(pid, code, &CODE).map_err(sys)?;
        let rx = (libc::PROT_READ | libc::PROT_EXEC) as u64;
        let r = self.inject(libc::SYS_mprotect, [code, PAGE_SIZE, rx, 0, 0, 0])?;
        if r < 0 {
            return Err(DeputyError::NoScratch {
                pid,
                bytes: PAGE_SIZE,
                errno: -r as i32,
            });
        }
        self.code = code;
        self.stopped()?.set_injection_insn(Some(code));
        self.scratch = self.map(SCRATCH_MIN)?;
        self.scratch_len = SCRATCH_MIN;
        self.direct = direct::Direct::new(pid)
            .inspect_err(|why| tracing::debug!(pid, why, "every forwarded call is injected"))
            .ok();
        Ok(())
    }

    /// Map `len` bytes of private read-write memory in the deputy.
    fn map(&mut self, len: u64) -> Result<u64, DeputyError> {
        let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
        let r = self.inject(libc::SYS_mmap, [0, len, prot, flags, u64::MAX, 0])?;
        if (-4095..0).contains(&r) {
            return Err(DeputyError::NoScratch {
                pid: self.pid,
                bytes: len,
                errno: -r as i32,
            });
        }
        Ok(r as u64)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// How many bytes of writes to descriptor `fd` the remote may answer itself and send home
    /// behind (to run here in order, before any later call): 0 unless `fd` is a regular file
    /// the daemon writes directly (see `home/direct.rs`), opened without `O_SYNC`/`O_DSYNC`,
    /// and its file system has 16 times that much free space. A write behind that fails
    /// anyway (another process filled the disk, a quota) is the caller's to report.
    pub fn behind_credit(&mut self, fd: i32) -> u64 {
        self.direct.as_mut().map_or(0, |d| d.behind_credit(fd))
    }

    /// How many forwarded calls ran on copies of the deputy's regular files (see
    /// `home/direct.rs`), not by injection.
    pub fn direct_stats(&self) -> DirectStats {
        self.direct.as_ref().map(|d| d.stats()).unwrap_or_default()
    }

    /// Signals the guest already holds (the pending signals recorded in its image): when the
    /// deputy meets one of them (same number and siginfo) it is dropped once instead of being
    /// forwarded a second time.
    ///
    /// Those already taken (while the deputy was set up) are dropped at once.
    pub fn set_known_signals(&mut self, known: Vec<Signal>) {
        self.known = known;
        let taken = std::mem::take(&mut self.signals);
        for s in taken {
            self.note(s.signo, s.siginfo);
        }
    }

    /// Run a forwarded call in the deputy. See the module docs; `stop` is asked every 10 ms
    /// while the call blocks and, when it returns true, the call is interrupted.
    ///
    /// A call with a malformed shape is refused with [`DeputyError::BadCall`] (the deputy is
    /// unchanged); a call that must never run at home gets `-ENOSYS`. Signals met after a call
    /// completed stay for the next `execute` (which then returns them first, without running
    /// its call) or [`Deputy::take_signals`].
    pub fn execute(
        &mut self,
        call: &Call,
        stop: &mut dyn FnMut() -> bool,
    ) -> Result<Executed, DeputyError> {
        self.execute_waking(call, stop, None)
    }

    /// [`Deputy::execute`] that also asks `stop` at once whenever `wake` becomes readable
    /// while the call blocks (a link whose peer waits for an answer, say), not only every
    /// 10 ms.
    pub fn execute_waking(
        &mut self,
        call: &Call,
        stop: &mut dyn FnMut() -> bool,
        wake: Option<std::os::fd::BorrowedFd<'_>>,
    ) -> Result<Executed, DeputyError> {
        call.validate()?;
        self.stopped()?;
        if let Some(why) = refused(call.nr, &call.args) {
            tracing::warn!(
                pid = self.pid,
                nr = call.nr,
                why,
                "forwarded call refused at home"
            );
            return Ok(Executed::Done(unrun(call, -i64::from(libc::ENOSYS))));
        }
        if !self.signals.is_empty() {
            return Ok(Executed::Interrupted(std::mem::take(&mut self.signals)));
        }
        if let Some(d) = &mut self.direct {
            if !direct::is_file_call(call.nr) {
                d.forget();
            } else if let Some(out) = d.run(call) {
                return Ok(Executed::Done(out));
            }
        }
        let (args, places) = self.place(call)?;
        loop {
            let ran = self.flight(i64::from(call.nr), args, Some(&mut *stop), true, wake)?;
            let ret = ran.ret;
            let stopped_early =
                ret.is_none_or(|r| RESTART.contains(&r) || r == -i64::from(libc::EINTR));
            if !ran.clean || stopped_early {
                self.settle()?;
            }
            let Some(r) = ret else {
                if !self.signals.is_empty() {
                    return Ok(Executed::Interrupted(std::mem::take(&mut self.signals)));
                }
                continue; // the signal was one the guest already has: run the call now
            };
            if stopped_early {
                if !self.signals.is_empty() {
                    return Ok(Executed::Interrupted(std::mem::take(&mut self.signals)));
                }
                if ran.interrupted {
                    return Ok(Executed::Cancelled);
                }
                if RESTART.contains(&r) {
                    continue; // woken without a signal (a freezer): the kernel would restart it
                }
            }
            return Ok(Executed::Done(self.collect(call, &places, r)?));
        }
    }

    /// Put the call's regions into scratch memory; the arguments pointing at them and where
    /// each region lies.
    fn place(&mut self, call: &Call) -> Result<([u64; 6], Vec<u64>), DeputyError> {
        self.ensure_scratch(call.scratch_bytes())?;
        let pid = self.pid;
        let mut args = call.args;
        let mut places = Vec::with_capacity(call.regions.len());
        let mut off = 0u64;
        for r in &call.regions {
            let at = self.scratch + off;
            args[usize::from(r.arg)] = at;
            places.push(at);
            off += u64::from(r.len).next_multiple_of(16);
            let res = match (r.dir, r.back) {
                (Dir::In | Dir::InOut, _) if !r.data.is_empty() => mem::write_vm(pid, at, &r.data),
                // A struct the call fills: start from zeros, never from an earlier call's bytes.
                (Dir::Out, crate::call::Back::All) if r.len > 0 => {
                    mem::write_vm(pid, at, &vec![0u8; r.len as usize])
                }
                _ => Ok(()),
            };
            res.map_err(|e| DeputyError::sys(pid, e))?;
        }
        Ok((args, places))
    }

    /// Read back what the call wrote.
    fn collect(&self, call: &Call, places: &[u64], ret: i64) -> Result<Outcome, DeputyError> {
        let mut out = Vec::new();
        for (r, &at) in call.regions.iter().zip(places) {
            if r.dir == Dir::In {
                continue;
            }
            let n = Outcome::back_len(r, ret);
            let mut buf = vec![0u8; n];
            if n > 0 {
                let got = mem::read_vm(self.pid, &mut buf, &[(at, n)])
                    .map_err(|e| DeputyError::sys(self.pid, e))?;
                if got != n {
                    return Err(DeputyError::Unexpected {
                        pid: self.pid,
                        detail: format!("scratch memory at {at:#x} gave {got} of {n} bytes"),
                    });
                }
            }
            out.push(buf);
        }
        Ok(Outcome { ret, out })
    }

    /// Grow the scratch area to hold `need` bytes.
    fn ensure_scratch(&mut self, need: u64) -> Result<(), DeputyError> {
        if need <= self.scratch_len {
            return Ok(());
        }
        let len = need.next_power_of_two().max(SCRATCH_MIN);
        let old = (self.scratch, self.scratch_len);
        let new = self.map(len)?;
        self.scratch = new;
        self.scratch_len = len;
        self.inject(libc::SYS_munmap, [old.0, old.1, 0, 0, 0, 0])?;
        Ok(())
    }

    /// Release the deputy's own memory: every mapping but our code page, our scratch area and
    /// the vDSO block is unmapped (the rseq registration, which the kernel reads on every
    /// return to user space, is dropped first). The deputy keeps working: forwarded calls,
    /// signals, `exit` and `kill_by` need none of it. Call it only once the remote holds every
    /// page (after post-copy finished); afterwards the process can come home only by a rebuild
    /// (restore into it), never by detaching it as it is. Returns the bytes released.
    pub fn release_memory(&mut self) -> Result<u64, DeputyError> {
        let pid = self.pid;
        let sys = |e| DeputyError::sys(pid, e);
        if let Some(r) = self.stopped()?.rseq_config().map_err(sys)? {
            let a = [
                r.addr,
                u64::from(r.len),
                RSEQ_FLAG_UNREGISTER,
                u64::from(r.signature),
                0,
                0,
            ];
            let ret = self.inject(libc::SYS_rseq, a)?;
            if ret < 0 {
                return Err(DeputyError::Unexpected {
                    pid,
                    detail: format!("rseq unregister returned {ret}"),
                });
            }
        }
        let areas = wend_sys::proc::maps::read(pid).map_err(sys)?;
        let keep_name = |n: &str| matches!(n, "[vdso]" | "[vvar]" | "[vvar_vclock]" | "[vsyscall]");
        let mut keep: Vec<(u64, u64)> = areas
            .iter()
            .filter(|a| keep_name(&a.name))
            .map(|a| (a.start, a.end))
            .collect();
        keep.push((self.code, self.code + PAGE_SIZE));
        keep.push((self.scratch, self.scratch + self.scratch_len));
        keep.sort();
        let released: u64 = areas
            .iter()
            .filter(|a| !keep.iter().any(|k| a.start < k.1 && k.0 < a.end))
            .map(|a| a.end - a.start)
            .sum();
        // munmap of a range with holes is fine: one call per gap between kept areas.
        let mut from = 0u64;
        for (start, end) in keep.into_iter().chain([(TASK_SIZE, TASK_SIZE)]) {
            let to = start.min(TASK_SIZE);
            if to > from {
                let r = self.inject(libc::SYS_munmap, [from, to - from, 0, 0, 0, 0])?;
                if r < 0 {
                    return Err(DeputyError::Unexpected {
                        pid,
                        detail: format!("munmap({from:#x}, {:#x}) returned {r}", to - from),
                    });
                }
            }
            from = from.max(end);
        }
        tracing::debug!(pid, released, "deputy memory released");
        Ok(released)
    }

    /// Signals sent to the home pid while the process is away, taken from the deputy so they
    /// are never delivered at home; blocked and ignored ones too. Cheap when there are none
    /// (two ptrace calls; now and then a read of `/proc/PID/status`). SIGKILL cannot be taken: the deputy dies of it, see
    /// [`Deputy::gone`].
    pub fn take_signals(&mut self) -> Result<Vec<Signal>, DeputyError> {
        self.stopped()?;
        if self.kernel_has_pending()? {
            self.settle()?;
        }
        Ok(std::mem::take(&mut self.signals))
    }

    /// Whether the kernel holds signals for the deputy. Usually asked with
    /// `PTRACE_PEEKSIGINFO` (two ptrace calls); every [`STATUS_EVERY`]th time from the pending
    /// bits in `/proc/PID/status`, which also show a signal queued without its `siginfo`
    /// (the kernel's fallback when it cannot allocate one).
    fn kernel_has_pending(&mut self) -> Result<bool, DeputyError> {
        self.peeks = self.peeks.wrapping_add(1);
        let res = if !self.peeks.is_multiple_of(STATUS_EVERY) {
            self.stopped()?.pending_signals().map(|p| !p.is_empty())
        } else {
            proc::status(self.pid).map(|status| {
                let set = |key| {
                    proc::status_field(&status, key)
                        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                        .unwrap_or(0)
                };
                set("SigPnd") | set("ShdPnd") != 0
            })
        };
        // The process may have died: say so if it did.
        res.map_err(|e| match self.gone() {
            Some(fate) => DeputyError::Gone {
                pid: self.pid,
                fate,
            },
            None => DeputyError::sys(self.pid, e),
        })
    }

    /// End the home process with exit status `code`: the parent's wait sees it exit normally.
    pub fn exit(mut self, code: i32) -> Result<(), DeputyError> {
        let pid = self.pid;
        let sys = |e| DeputyError::sys(pid, e);
        let st = self.stopped()?;
        st.launch_syscall(libc::SYS_exit_group, [code as u64, 0, 0, 0, 0, 0])
            .map_err(sys)?;
        match self.wait_end()? {
            Fate::Exited(c) if c == code & 0xff => Ok(()),
            fate => Err(DeputyError::Gone { pid, fate }),
        }
    }

    /// End the home process as killed by `sig`: the parent's wait sees it killed by that
    /// signal. No core file is written at home (the process is made non-dumpable first).
    pub fn kill_by(mut self, sig: i32) -> Result<(), DeputyError> {
        let pid = self.pid;
        let sys = |e| DeputyError::sys(pid, e);
        let not_fatal = [
            libc::SIGSTOP,
            libc::SIGTSTP,
            libc::SIGTTIN,
            libc::SIGTTOU,
            libc::SIGCONT,
            libc::SIGCHLD,
            libc::SIGURG,
            libc::SIGWINCH,
        ];
        if !(1..=64).contains(&sig) || not_fatal.contains(&sig) {
            return Err(DeputyError::NotFatal { sig });
        }
        self.stopped()?;
        if sig == libc::SIGKILL {
            let fd = pidfd::open(pid).map_err(sys)?;
            pidfd::send_signal(&fd, pid, sig).map_err(sys)?;
        } else {
            self.inject(
                libc::SYS_prctl,
                [libc::PR_SET_DUMPABLE as u64, 0, 0, 0, 0, 0],
            )?;
            // struct kernel_sigaction of zeros: SIG_DFL, no flags, empty mask.
            mem::write_vm(pid, self.scratch, &[0u8; 32]).map_err(sys)?;
            let r = self.inject(
                libc::SYS_rt_sigaction,
                [sig as u64, self.scratch, 0, 8, 0, 0],
            )?;
            if r < 0 {
                return Err(DeputyError::NotFatal { sig });
            }
            // At the clean stop (the step trap, a signal-delivery-stop) deliver `sig` instead.
            self.inject(libc::SYS_getpid, [0; 6])?;
            self.stopped()?.resume_step(sig).map_err(sys)?;
        }
        match self.wait_end()? {
            Fate::Killed(s) if s == sig => Ok(()),
            fate => Err(DeputyError::Gone { pid, fate }),
        }
    }

    /// Wait until the resumed deputy ends; stops on the way (signals that came first) are
    /// suppressed and it is resumed again. A deputy that does not end within 10 s is killed.
    fn wait_end(&mut self) -> Result<Fate, DeputyError> {
        let pid = self.pid;
        let sys = |e| DeputyError::sys(pid, e);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut killed = false;
        loop {
            let st = self.stopped()?;
            let report = match st.try_report().map_err(sys)? {
                Some(r) => r,
                None => {
                    if Instant::now() > deadline && !killed {
                        tracing::warn!(pid, "home process did not end as told; killing it");
                        let fd = pidfd::open(pid).map_err(sys)?;
                        pidfd::send_signal(&fd, pid, libc::SIGKILL).map_err(sys)?;
                        killed = true;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                    continue;
                }
            };
            match report {
                Report::Exited(c) => {
                    self.ended(Fate::Exited(c));
                    return Ok(Fate::Exited(c));
                }
                Report::Killed(s) => {
                    self.ended(Fate::Killed(s));
                    return Ok(Fate::Killed(s));
                }
                _ => st.resume_step(0).map_err(sys)?,
            }
        }
    }

    /// Whether the deputy died (SIGKILL from outside), without blocking; how it ended if so.
    /// Its exit notification is consumed here, so the real parent's wait sees it.
    pub fn gone(&mut self) -> Option<Fate> {
        if self.fate.is_some() {
            return self.fate;
        }
        let st = self.st.as_mut()?;
        match st.try_report() {
            Ok(Some(Report::Exited(c))) => self.ended(Fate::Exited(c)),
            Ok(Some(Report::Killed(s))) => self.ended(Fate::Killed(s)),
            Ok(Some(other)) => {
                tracing::warn!(pid = self.pid, ?other, "idle home process reported a stop");
            }
            Ok(None) | Err(_) => {}
        }
        self.fate
    }

    /// Give the process back: taken signals not yet handed out are queued again, the scratch
    /// area and code page unmapped, the signal mask and injection instruction put back; its
    /// registers are those of the freeze (detaching puts them in place). For coming home, or
    /// a failed migration (then drop or detach the result and the process runs on unchanged).
    pub fn into_stopped(mut self) -> Result<Stopped, DeputyError> {
        self.stopped()?;
        self.teardown()?;
        Ok(self.st.take().expect("checked above"))
    }

    fn teardown(&mut self) -> Result<(), DeputyError> {
        self.direct = None;
        let pid = self.pid;
        let sys = |e| DeputyError::sys(pid, e);
        // Taken signals go back to the process, queued while every signal is blocked so the
        // injections below do not take them again. SIGSTOP cannot be blocked: sent last.
        self.stopped()?.set_sigmask(!0).map_err(sys)?;
        let signals = std::mem::take(&mut self.signals);
        let mut stop_again = false;
        if self.scratch != 0 {
            for s in &signals {
                if s.signo == libc::SIGSTOP {
                    stop_again = true;
                    continue;
                }
                mem::write_vm(pid, self.scratch, &s.siginfo).map_err(sys)?;
                let a = [pid as u64, pid as u64, s.signo as u64, self.scratch, 0, 0];
                let r = self.inject(libc::SYS_rt_tgsigqueueinfo, a)?;
                if r < 0 {
                    tracing::warn!(
                        pid,
                        signo = s.signo,
                        r,
                        "could not queue a signal again at home"
                    );
                }
            }
            self.inject(
                libc::SYS_munmap,
                [self.scratch, self.scratch_len, 0, 0, 0, 0],
            )?;
            self.scratch = 0;
        }
        if self.code != 0 {
            // Unmapped by its own `syscall`: the step trap comes before the next fetch.
            self.inject(libc::SYS_munmap, [self.code, PAGE_SIZE, 0, 0, 0, 0])?;
            self.code = 0;
        }
        let prior = self.prior_insn;
        self.stopped()?.set_injection_insn(prior);
        if stop_again {
            if prior.is_some() {
                self.inject(
                    libc::SYS_kill,
                    [pid as u64, libc::SIGSTOP as u64, 0, 0, 0, 0],
                )?;
            } else {
                tracing::warn!(
                    pid,
                    "a SIGSTOP for the process is lost: no syscall instruction"
                );
            }
        }
        let mask = self.mask;
        self.stopped()?.set_sigmask(mask).map_err(sys)?;
        Ok(())
    }

    /// The traced process, or Gone if it ended.
    fn stopped(&mut self) -> Result<&mut Stopped, DeputyError> {
        match (&mut self.st, self.fate) {
            (Some(st), None) => Ok(st),
            (_, Some(fate)) => Err(DeputyError::Gone {
                pid: self.pid,
                fate,
            }),
            (None, None) => Err(DeputyError::Unexpected {
                pid: self.pid,
                detail: "the deputy was already given back".into(),
            }),
        }
    }

    /// The process ended (its notification consumed): forget the ptrace handle without
    /// touching the pid again, which may soon belong to another process.
    fn ended(&mut self, fate: Fate) {
        self.fate = Some(fate);
        if let Some(st) = self.st.take() {
            std::mem::forget(st);
        }
    }
}

impl Drop for Deputy {
    fn drop(&mut self) {
        if let Some(mut st) = self.st.take() {
            tracing::warn!(
                pid = self.pid,
                "deputy dropped without being given back: killing it"
            );
            st.set_drop_action(DropAction::Kill);
        }
    }
}

/// The outcome of a call that did not run: what each region holds unchanged.
fn unrun(call: &Call, ret: i64) -> Outcome {
    let out = call
        .regions
        .iter()
        .filter(|r| r.dir != Dir::In)
        .map(|r: &Region| {
            let n = Outcome::back_len(r, ret);
            match r.dir {
                Dir::InOut => r.data[..n].to_vec(),
                _ => vec![0u8; n],
            }
        })
        .collect();
    Outcome { ret, out }
}
