//! Process state set back by injected system calls.

use wend_image::model::ProcessImage;
use wend_sys::arch::{RestartMode, NREGS};
use wend_sys::{Regs, Stopped};

use super::memory::{poke, remote_open, SMALL};
use crate::error::CkptError;

const PR_SET_MM: u64 = 35;
const PR_SET_MM_MAP: u64 = 14;
const SS_ONSTACK: i32 = 1;
const ALL_BLOCKABLE: u64 = !((1u64 << (libc::SIGKILL - 1)) | (1u64 << (libc::SIGSTOP - 1)));

fn words(w: &[u64]) -> Vec<u8> {
    w.iter().flat_map(|x| x.to_ne_bytes()).collect()
}

/// Block every signal while the process is rebuilt (the final mask is set last).
pub(crate) fn block_all(st: &mut Stopped) -> Result<(), CkptError> {
    let pid = st.pid();
    st.set_sigmask(ALL_BLOCKABLE)
        .map_err(|e| CkptError::sys(pid, e))
}

/// mm fields, auxv and the executable link (PR_SET_MM_MAP).
pub(crate) fn set_mm(
    st: &mut Stopped,
    image: &ProcessImage,
    scratch: u64,
) -> Result<(), CkptError> {
    let pid = st.pid();
    let sys = |e| CkptError::sys(pid, e);
    let m = &image.mm;
    let auxv_addr = scratch + SMALL + 256;
    let auxv = words(&m.auxv);
    if auxv.len() > 2048 {
        return Err(CkptError::Rebuild {
            what: "auxv".into(),
            detail: "too large".into(),
        });
    }
    poke(st, auxv_addr, &auxv)?;
    // A process rebuilt into itself (a deputy coming home) keeps its executable link: the
    // kernel refuses to replace it while that file is mapped again (EBUSY), and -1 keeps it.
    let same_exe = wend_sys::proc::readlink(pid, "exe")
        .is_ok_and(|p| p.as_os_str() == std::ffi::OsStr::new(&image.exe));
    let exe_fd = if same_exe {
        u64::from(u32::MAX)
    } else {
        remote_open(st, scratch, &image.exe, libc::O_RDONLY).map_err(|_| {
            CkptError::MissingFile {
                path: image.exe.clone(),
                what: "the executable",
            }
        })?
    };
    let mut map = words(&[
        m.start_code,
        m.end_code,
        m.start_data,
        m.end_data,
        m.start_brk,
        m.brk,
        m.start_stack,
        m.arg_start,
        m.arg_end,
        m.env_start,
        m.env_end,
        auxv_addr,
    ]);
    map.extend_from_slice(&(auxv.len() as u32).to_ne_bytes());
    map.extend_from_slice(&(exe_fd as u32).to_ne_bytes());
    poke(st, scratch + SMALL, &map)?;
    let r = st.syscall(
        "prctl(PR_SET_MM_MAP)",
        libc::SYS_prctl,
        [
            PR_SET_MM,
            PR_SET_MM_MAP,
            scratch + SMALL,
            map.len() as u64,
            0,
            0,
        ],
    );
    if !same_exe {
        st.syscall("close", libc::SYS_close, [exe_fd, 0, 0, 0, 0, 0])
            .map_err(sys)?;
    }
    r.map_err(sys)?;
    Ok(())
}

/// Dispositions, altstack, interval timers, rlimits, rseq and name.
pub(crate) fn set_misc(
    st: &mut Stopped,
    image: &ProcessImage,
    scratch: u64,
) -> Result<(), CkptError> {
    let pid = st.pid();
    let sys = |e| CkptError::sys(pid, e);
    let buf = scratch + SMALL;
    for (i, a) in image.signals.actions.iter().enumerate() {
        let sig = i as i32 + 1;
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        poke(st, buf, &words(&[a.handler, a.flags, a.restorer, a.mask]))?;
        st.syscall(
            "rt_sigaction(set)",
            libc::SYS_rt_sigaction,
            [sig as u64, buf, 0, 8, 0, 0],
        )
        .map_err(sys)?;
    }
    let s = &image.signals.altstack;
    let mut ss = s.sp.to_ne_bytes().to_vec();
    ss.extend_from_slice(&((s.flags & !SS_ONSTACK) as u32 as u64).to_ne_bytes());
    ss.extend_from_slice(&s.size.to_ne_bytes());
    poke(st, buf, &ss)?;
    // The kernel refuses to change the alternate stack while the thread's stack pointer is on
    // the current one (EPERM): a process rebuilt into itself may have been frozen inside an
    // SA_ONSTACK handler. The call runs with its stack pointer in the scratch page instead.
    st.set_injection_stack(Some(scratch));
    let set = st.syscall(
        "sigaltstack(set)",
        libc::SYS_sigaltstack,
        [buf, 0, 0, 0, 0, 0],
    );
    st.set_injection_stack(None);
    set.map_err(sys)?;
    for (which, t) in image.itimers.iter().enumerate() {
        if t.value_us == 0 {
            continue;
        }
        let v = [
            t.interval_us / 1_000_000,
            t.interval_us % 1_000_000,
            t.value_us / 1_000_000,
            t.value_us % 1_000_000,
        ];
        poke(st, buf, &words(&v))?;
        st.syscall(
            "setitimer",
            libc::SYS_setitimer,
            [which as u64, buf, 0, 0, 0, 0],
        )
        .map_err(sys)?;
    }
    for (r, l) in image.rlimits.iter().enumerate() {
        let now = wend_sys::limits::get(pid, r as u32).map_err(sys)?;
        if now != (l.soft, l.hard) {
            wend_sys::limits::set(pid, r as u32, l.soft, l.hard).map_err(|e| {
                CkptError::Rebuild {
                    what: format!("resource limit {r}"),
                    detail: format!("{e} (raising a hard limit needs CAP_SYS_RESOURCE)"),
                }
            })?;
        }
    }
    if wend_sys::proc::stat::sched(pid).map_err(sys)?.nice != image.nice {
        wend_sys::limits::set_nice(pid, image.nice).map_err(|e| CkptError::Rebuild {
            what: format!("nice value {}", image.nice),
            detail: format!("{e} (lowering nice needs CAP_SYS_NICE)"),
        })?;
    }
    if let Some(r) = &image.rseq {
        st.syscall(
            "rseq(register)",
            libc::SYS_rseq,
            [r.addr, r.len as u64, 0, r.signature as u64, 0, 0],
        )
        .map_err(sys)?;
    }
    let mut name = image.comm.as_bytes().to_vec();
    name.truncate(15);
    name.push(0);
    poke(st, buf, &name)?;
    st.syscall(
        "prctl(PR_SET_NAME)",
        libc::SYS_prctl,
        [libc::PR_SET_NAME as u64, buf, 0, 0, 0, 0],
    )
    .map_err(sys)?;
    Ok(())
}

/// Queue the pending signals again (all signals are blocked, so none is delivered yet).
pub(crate) fn queue_pending(
    st: &mut Stopped,
    image: &ProcessImage,
    scratch: u64,
) -> Result<(), CkptError> {
    let pid = st.pid();
    let buf = scratch + SMALL;
    for p in &image.signals.pending {
        if p.siginfo.len() != 128 {
            return Err(CkptError::Rebuild {
                what: "pending signal".into(),
                detail: "bad siginfo".into(),
            });
        }
        poke(st, buf, &p.siginfo)?;
        let r = if p.shared {
            st.syscall(
                "rt_sigqueueinfo",
                libc::SYS_rt_sigqueueinfo,
                [pid as u64, p.signo as u64, buf, 0, 0, 0],
            )
        } else {
            st.syscall(
                "rt_tgsigqueueinfo",
                libc::SYS_rt_tgsigqueueinfo,
                [pid as u64, pid as u64, p.signo as u64, buf, 0, 0],
            )
        };
        r.map_err(|e| CkptError::sys(pid, e))?;
    }
    Ok(())
}

/// Drop the scratch area (through a `syscall` of the restored program), then set the final
/// mask, xsave area and registers.
pub(crate) fn finish(
    st: &mut Stopped,
    image: &ProcessImage,
    scratch: u64,
) -> Result<(), CkptError> {
    let pid = st.pid();
    let sys = |e| CkptError::sys(pid, e);
    st.find_syscall_insn().map_err(sys)?;
    st.syscall(
        "munmap(scratch)",
        libc::SYS_munmap,
        [scratch, super::memory::SCRATCH_LEN, 0, 0, 0, 0],
    )
    .map_err(sys)?;
    st.set_sigmask(image.signals.blocked).map_err(sys)?;
    st.set_xstate(&image.cpu.xsave).map_err(sys)?;
    let g: [u64; NREGS] =
        image
            .cpu
            .gregs
            .as_slice()
            .try_into()
            .map_err(|_| CkptError::Rebuild {
                what: "registers".into(),
                detail: format!("{} words instead of {NREGS}", image.cpu.gregs.len()),
            })?;
    let mut regs = Regs::from_array(&g);
    regs.fixup_restart(RestartMode::Rebuilt);
    st.set_regs(&regs).map_err(sys)?;
    Ok(())
}
