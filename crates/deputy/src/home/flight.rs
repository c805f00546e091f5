//! One injected call from launch to its stop, with the signals met on the way.
//!
//! The deputy keeps no signal blocked, so every signal sent to the home pid shows up as a
//! signal-delivery-stop when the deputy is resumed. Each is taken (its `siginfo` read) and
//! suppressed: nothing is ever delivered at home. A call is recognised as done by the
//! single-step trap after the `syscall` instruction (rip = instruction + 2); a stop with rip
//! still at the instruction means the call has not run yet.

use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

use wend_sys::flight::{Report, StopWaiter, Woken};

use super::{Deputy, DeputyError, Fate, Signal};

/// How long a launched call is polled with `waitpid(WNOHANG)` before the tracer sleeps on the
/// waiting thread: most calls (getppid, a read of a cached file) finish well within it.
const SPIN: Duration = Duration::from_micros(60);
/// How often `stop()` is asked while a call blocks.
const POLL: Duration = Duration::from_millis(10);

/// How one launched call ended.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ran {
    /// The call's return value, or None if a signal came before it ran.
    pub ret: Option<i64>,
    /// Whether we sent PTRACE_INTERRUPT because `stop()` said so.
    pub interrupted: bool,
    /// Whether the deputy sits at the call's own single-step trap, with nothing left queued.
    pub clean: bool,
}

fn si_code(info: &[u8; 128]) -> i32 {
    i32::from_ne_bytes(info[8..12].try_into().expect("4 bytes"))
}

impl Deputy {
    /// Launch `nr(args)` and follow it to its end. With `abort_on_signal`, a signal that shows
    /// up before the call ran leaves it unrun (`ret` None); otherwise the signal is taken and the
    /// call runs anyway. `stop` is asked while the call blocks; when it says so, the call is
    /// interrupted.
    pub(super) fn flight<'s>(
        &mut self,
        nr: i64,
        args: [u64; 6],
        mut stop: Option<&mut (dyn FnMut() -> bool + 's)>,
        abort_on_signal: bool,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Ran, DeputyError> {
        let pid = self.pid;
        let st = self.stopped()?;
        st.launch_syscall(nr, args)
            .map_err(|e| DeputyError::sys(pid, e))?;
        // Read after the launch, which picks an instruction if none was chosen yet.
        let insn = st.injection_insn().unwrap_or(0);
        let mut interrupted = false;
        loop {
            let report = self.await_report(stop.as_deref_mut(), &mut interrupted, wake)?;
            let st = self.stopped()?;
            let regs = st.regs().map_err(|e| DeputyError::sys(pid, e))?;
            let before = regs.ip() == insn;
            let after = regs.ip() == insn + 2;
            let ret = regs.ret() as i64;
            match report {
                Report::Signal(libc::SIGTRAP) if after => {
                    return Ok(Ran {
                        ret: Some(ret),
                        interrupted,
                        clean: true,
                    })
                }
                Report::Signal(sig) if before => {
                    let info = st.stop_siginfo().map_err(|e| DeputyError::sys(pid, e))?;
                    // A kernel SIGTRAP here is a step trap left queued by an earlier call that
                    // ended at another stop: drop it.
                    if !(sig == libc::SIGTRAP && si_code(&info) > 0) {
                        self.note(sig, info);
                        if abort_on_signal {
                            return Ok(Ran {
                                ret: None,
                                interrupted,
                                clean: false,
                            });
                        }
                    }
                    let st = self.stopped()?;
                    st.resume_step(0).map_err(|e| DeputyError::sys(pid, e))?;
                }
                Report::EventStop if before => {
                    // A PTRACE_INTERRUPT that found the deputy stopped reports at the next
                    // resume, before anything ran.
                    st.resume_step(0).map_err(|e| DeputyError::sys(pid, e))?;
                }
                Report::EventStop | Report::Signal(_) if after => {
                    if let Report::Signal(sig) = report {
                        let info = st.stop_siginfo().map_err(|e| DeputyError::sys(pid, e))?;
                        self.note(sig, info);
                    }
                    // The call ran; its step trap is still queued.
                    return Ok(Ran {
                        ret: Some(ret),
                        interrupted,
                        clean: false,
                    });
                }
                other => {
                    return Err(DeputyError::Unexpected {
                        pid,
                        detail: format!(
                            "{other:?} at {:#x}, injected call at {insn:#x}",
                            regs.ip()
                        ),
                    })
                }
            }
        }
    }

    /// Run a call that does not block to its end; signals met are taken, never abort it.
    /// Leaves the deputy at a clean stop.
    pub(super) fn inject(&mut self, nr: i64, args: [u64; 6]) -> Result<i64, DeputyError> {
        let ran = self.flight(nr, args, None, false, None)?;
        if !ran.clean {
            self.settle()?;
        }
        Ok(ran.ret.unwrap_or(-i64::from(libc::EINTR)))
    }

    /// Bring the deputy to a clean stop: run getpid, taking every pending signal on the way and
    /// the step trap an interrupted call left queued.
    pub(super) fn settle(&mut self) -> Result<(), DeputyError> {
        for _ in 0..16 {
            if self
                .flight(libc::SYS_getpid, [0; 6], None, false, None)?
                .clean
            {
                return Ok(());
            }
        }
        Err(DeputyError::Unexpected {
            pid: self.pid,
            detail: "it never reached a clean stop after 16 injected getpid calls".into(),
        })
    }

    /// Keep a signal taken from the deputy, unless it is one the guest already holds.
    pub(super) fn note(&mut self, signo: i32, siginfo: [u8; 128]) {
        let s = Signal { signo, siginfo };
        if let Some(i) = self.known.iter().position(|k| *k == s) {
            self.known.remove(i);
            return;
        }
        tracing::debug!(
            pid = self.pid,
            signo,
            "signal to the home pid taken for the guest"
        );
        self.signals.push(s);
    }

    /// Wait for the launched call's next report: spin briefly, then sleep on the waiting
    /// thread, asking `stop` every [`POLL`] and whenever `wake` becomes readable.
    fn await_report<'s>(
        &mut self,
        mut stop: Option<&mut (dyn FnMut() -> bool + 's)>,
        interrupted: &mut bool,
        wake: Option<BorrowedFd<'_>>,
    ) -> Result<Report, DeputyError> {
        let pid = self.pid;
        let t0 = Instant::now();
        loop {
            // Yield first: the deputy was just resumed and cannot have stopped yet; if it waits
            // for this CPU, it runs now and has stopped when we look.
            std::thread::yield_now();
            let st = self.stopped()?;
            if let Some(r) = st.try_report().map_err(|e| DeputyError::sys(pid, e))? {
                return self.seen(r);
            }
            if t0.elapsed() >= SPIN {
                break;
            }
        }
        if self.waiter.is_none() {
            self.waiter = Some(StopWaiter::spawn(pid).map_err(|e| DeputyError::sys(pid, e))?);
        }
        loop {
            let w = self.waiter.as_mut().expect("waiter spawned above");
            w.arm();
            // Once interrupted, only the report matters (a hung-up `wake` would spin).
            let wake = wake.filter(|_| !*interrupted && stop.is_some());
            if w.wait(POLL, wake) == Woken::Report {
                let st = self.stopped()?;
                if let Some(r) = st.try_report().map_err(|e| DeputyError::sys(pid, e))? {
                    return self.seen(r);
                }
                continue;
            }
            if *interrupted {
                continue;
            }
            if let Some(f) = stop.as_deref_mut() {
                if f() {
                    let st = self.stopped()?;
                    st.interrupt().map_err(|e| DeputyError::sys(pid, e))?;
                    *interrupted = true;
                }
            }
        }
    }

    /// A report that ends the deputy becomes [`DeputyError::Gone`].
    fn seen(&mut self, r: Report) -> Result<Report, DeputyError> {
        let fate = match r {
            Report::Exited(c) => Fate::Exited(c),
            Report::Killed(s) => Fate::Killed(s),
            other => return Ok(other),
        };
        self.ended(fate);
        Err(DeputyError::Gone {
            pid: self.pid,
            fate,
        })
    }
}
