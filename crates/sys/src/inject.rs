//! Running system calls inside a stopped tracee.
//!
//! The tracee's registers are saved (once), `rax` and the argument registers set, `orig_rax` set
//! to -1 and `rip` pointed at a `syscall` instruction; one `PTRACE_SINGLESTEP` runs it and `rax`
//! holds the result. [`Stopped::detach`] puts the saved registers back.

use crate::arch::{Regs, SYSCALL_INSN};
use crate::mem;
use crate::proc::maps;
use crate::ptrace::Stopped;
use crate::{Result, SysError};

/// How often an injected call cut short by a signal is made again before giving up.
const RESTARTS: usize = 64;

/// The kernel's restart codes (ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND,
/// ERESTART_RESTARTBLOCK), which a process never sees but an injected call can return.
fn is_restart(ret: i64) -> bool {
    matches!(ret, -512 | -513 | -514 | -516)
}

impl Stopped {
    /// Use the `syscall` instruction at `addr` for injection.
    pub fn set_syscall_insn(&mut self, addr: u64) {
        self.syscall_insn = Some(addr);
    }

    /// Find a `syscall` instruction in an executable mapping of the tracee and use it.
    pub fn find_syscall_insn(&mut self) -> Result<u64> {
        let pid = self.pid();
        let areas = maps::read(pid)?;
        let mut buf = vec![0u8; 64 * 1024];
        // The vDSO first: small and always there; then everything else executable.
        let mut order: Vec<&maps::MapEntry> = areas.iter().filter(|a| a.name == "[vdso]").collect();
        order.extend(
            areas
                .iter()
                .filter(|a| a.exec && a.read && a.name != "[vsyscall]"),
        );
        for a in order {
            let mut at = a.start;
            while at < a.end {
                let n = ((a.end - at) as usize).min(buf.len());
                let got = match mem::read_proc_mem(pid, at, &mut buf[..n]) {
                    Ok(g) => g,
                    Err(_) => break,
                };
                if let Some(i) = buf[..got].windows(2).position(|w| w == SYSCALL_INSN) {
                    let addr = at + i as u64;
                    self.syscall_insn = Some(addr);
                    return Ok(addr);
                }
                if got < 2 {
                    break;
                }
                at += got as u64 - 1;
            }
        }
        Err(SysError::Parse {
            what: format!("executable mappings of process {pid}"),
            detail: "no syscall instruction found".into(),
        })
    }

    /// Run injected calls with this stack pointer (None: the process's own). For calls the
    /// kernel judges by where the stack is (sigaltstack).
    pub fn set_injection_stack(&mut self, sp: Option<u64>) {
        self.inject_sp = sp;
    }

    /// Run system call `nr` with `args` inside the tracee; the raw return value (a negative
    /// errno on failure).
    pub fn syscall_raw(&mut self, nr: i64, args: [u64; 6]) -> Result<i64> {
        let insn = match self.syscall_insn {
            Some(a) => a,
            None => self.find_syscall_insn()?,
        };
        let base = self.save_regs_once()?;
        let mut r: Regs = base;
        r.set_syscall(insn, nr, args);
        if let Some(sp) = self.inject_sp {
            r.set_sp(sp);
        }
        // A signal that arrives while the call waits cuts it short with a restart code; the
        // step takes the signal out of the way (it is given back at detach), and nothing of
        // the call happened, so it is made again.
        for _ in 0..RESTARTS {
            self.set_regs_raw(&r)?;
            self.step()?;
            let ret = self.regs()?.ret() as i64;
            if !is_restart(ret) {
                return Ok(ret);
            }
        }
        Err(SysError::Remote {
            name: "injected call",
            pid: self.pid(),
            cause: std::io::Error::from_raw_os_error(libc::EINTR),
        })
    }

    /// Run a system call inside the tracee; a negative result becomes [`SysError::Remote`].
    pub fn syscall(&mut self, name: &'static str, nr: i64, args: [u64; 6]) -> Result<u64> {
        let r = self.syscall_raw(nr, args)?;
        if (-4095..0).contains(&r) {
            return Err(SysError::Remote {
                name,
                pid: self.pid(),
                cause: std::io::Error::from_raw_os_error(-r as i32),
            });
        }
        Ok(r as u64)
    }
}
