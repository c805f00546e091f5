//! Process state read by injected system calls and from /proc.

use wend_image::model::{AltStack, ITimer, MmState, PendingSignal, Rlimit, SigAction, SignalState};
use wend_sys::{proc, Stopped, SysError};

use crate::error::CkptError;

/// Signals 1..=64.
pub(crate) const NSIG: i32 = 64;
const SCRATCH_LEN: u64 = 4096;

/// What only the process itself can tell.
pub(crate) struct Injected {
    pub signals: SignalState,
    pub brk: u64,
    pub itimers: [ITimer; 3],
}

/// Read signal dispositions, the altstack, interval timers and brk by injection, through a
/// scratch page mapped for the purpose and unmapped again.
pub(crate) fn read_by_injection(st: &mut Stopped) -> Result<Injected, CkptError> {
    let pid = st.pid();
    let sys = |e: SysError| CkptError::sys(pid, e);
    let scratch = st
        .syscall(
            "mmap(scratch)",
            libc::SYS_mmap,
            [
                0,
                SCRATCH_LEN,
                (libc::PROT_READ | libc::PROT_WRITE) as u64,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
        )
        .map_err(sys)?;
    let result = read_with_scratch(st, scratch);
    let unmap = st.syscall(
        "munmap(scratch)",
        libc::SYS_munmap,
        [scratch, SCRATCH_LEN, 0, 0, 0, 0],
    );
    let out = result?;
    unmap.map_err(sys)?;
    Ok(out)
}

fn read_mem(pid: i32, addr: u64, len: usize) -> Result<Vec<u8>, CkptError> {
    let mut buf = vec![0u8; len];
    let n = wend_sys::mem::read_vm(pid, &mut buf, &[(addr, len)])
        .map_err(|e| CkptError::sys(pid, e))?;
    if n != len {
        return Err(CkptError::Rebuild {
            what: "scratch page".into(),
            detail: "short read".into(),
        });
    }
    Ok(buf)
}

fn word(b: &[u8], i: usize) -> u64 {
    u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

fn read_with_scratch(st: &mut Stopped, scratch: u64) -> Result<Injected, CkptError> {
    let pid = st.pid();
    let sys = |e: SysError| CkptError::sys(pid, e);
    let mut actions = Vec::with_capacity(NSIG as usize);
    for sig in 1..=NSIG {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            actions.push(SigAction {
                handler: 0,
                flags: 0,
                restorer: 0,
                mask: 0,
            });
            continue;
        }
        st.syscall(
            "rt_sigaction(get)",
            libc::SYS_rt_sigaction,
            [sig as u64, 0, scratch, 8, 0, 0],
        )
        .map_err(sys)?;
        let b = read_mem(pid, scratch, 32)?;
        actions.push(SigAction {
            handler: word(&b, 0),
            flags: word(&b, 1),
            restorer: word(&b, 2),
            mask: word(&b, 3),
        });
    }
    st.syscall(
        "sigaltstack(get)",
        libc::SYS_sigaltstack,
        [0, scratch, 0, 0, 0, 0],
    )
    .map_err(sys)?;
    let b = read_mem(pid, scratch, 24)?;
    let altstack = AltStack {
        sp: word(&b, 0),
        flags: word(&b, 1) as u32 as i32,
        size: word(&b, 2),
    };
    let mut itimers = [ITimer::default(); 3];
    for (which, t) in itimers.iter_mut().enumerate() {
        st.syscall(
            "getitimer",
            libc::SYS_getitimer,
            [which as u64, scratch, 0, 0, 0, 0],
        )
        .map_err(sys)?;
        let b = read_mem(pid, scratch, 32)?;
        *t = ITimer {
            interval_us: word(&b, 0) * 1_000_000 + word(&b, 1),
            value_us: word(&b, 2) * 1_000_000 + word(&b, 3),
        };
    }
    let brk = st.syscall("brk(0)", libc::SYS_brk, [0; 6]).map_err(sys)?;
    Ok(Injected {
        signals: SignalState {
            actions,
            blocked: 0,
            pending: Vec::new(),
            altstack,
        },
        brk,
        itimers,
    })
}

/// Pending signals (thread-private and process-wide), plus one caught mid-delivery.
pub(crate) fn pending(st: &Stopped) -> Result<Vec<PendingSignal>, CkptError> {
    let pid = st.pid();
    let mut out: Vec<PendingSignal> = st
        .pending_signals()
        .map_err(|e| CkptError::sys(pid, e))?
        .into_iter()
        .map(|p| PendingSignal {
            signo: p.signo,
            shared: p.shared,
            siginfo: p.siginfo.to_vec(),
        })
        .collect();
    for p in st.deferred_signals() {
        out.push(PendingSignal {
            signo: p.signo,
            shared: p.shared,
            siginfo: p.siginfo.to_vec(),
        });
    }
    if let Some(sig) = st.delivering_signal() {
        let mut info = vec![0u8; 128];
        info[0..4].copy_from_slice(&sig.to_ne_bytes());
        // si_code SI_USER (0); the sender is unknown.
        out.push(PendingSignal {
            signo: sig,
            shared: false,
            siginfo: info,
        });
    }
    Ok(out)
}

/// mm fields from /proc/PID/stat, brk from the process, auxv from /proc/PID/auxv.
pub(crate) fn mm(pid: i32, brk: u64) -> Result<MmState, CkptError> {
    let sys = |e: SysError| CkptError::sys(pid, e);
    let f = proc::stat::mm_fields(pid).map_err(sys)?;
    Ok(MmState {
        start_code: f.start_code,
        end_code: f.end_code,
        start_data: f.start_data,
        end_data: f.end_data,
        start_brk: f.start_brk,
        brk,
        start_stack: f.start_stack,
        arg_start: f.arg_start,
        arg_end: f.arg_end,
        env_start: f.env_start,
        env_end: f.env_end,
        auxv: proc::auxv(pid).map_err(sys)?,
    })
}

/// All resource limits.
pub(crate) fn rlimits(pid: i32) -> Result<Vec<Rlimit>, CkptError> {
    (0..wend_sys::limits::NLIMITS)
        .map(|r| {
            wend_sys::limits::get(pid, r)
                .map(|(soft, hard)| Rlimit { soft, hard })
                .map_err(|e| CkptError::sys(pid, e))
        })
        .collect()
}
