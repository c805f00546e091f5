//! seccomp filters with user notification, installed into a stopped tracee.
//!
//! [`install`] writes a classic-BPF program into the tracee (a scratch mapping made by
//! injection), injects `prctl(PR_SET_NO_NEW_PRIVS)` and
//! `seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER)`, takes the listener
//! with `pidfd_getfd` and closes the tracee's copy. Once the filter is in place, the injected
//! calls that follow (the `munmap` of the scratch page, the `close`) may be notified
//! themselves; a responder thread answers those with `SECCOMP_USER_NOTIF_FLAG_CONTINUE` while
//! the tracer thread single-steps them.
//!
//! [`recv`], [`recv_timeout`], [`reply`], [`reply_continue`] and [`id_valid`] serve the
//! listener.
//!
//! A listener from [`install_with`] asks for synchronous wake-ups ([`set_sync_wakeup`]): the
//! kernel wakes the supervisor, and on the answer the caller, on the CPU of the thread that
//! wakes them (a hand-off between two threads that each sleep right after), instead of on
//! another CPU through an inter-processor interrupt, which is dear on a virtual machine
//! (docs/perf/syscall-path.md).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use crate::ptrace::Stopped;
use crate::{mem, pidfd, Pid, Result, SysError, PAGE_SIZE};

/// Classic-BPF opcodes a seccomp program uses (`code` of an [`Insn`]).
pub mod bpf {
    /// `A = *(u32 *)(seccomp_data + k)`.
    pub const LD_W_ABS: u16 = 0x20;
    /// `if A == k` goto jt else jf.
    pub const JEQ_K: u16 = 0x15;
    /// `if A >= k` goto jt else jf.
    pub const JGE_K: u16 = 0x35;
    /// `if A & k` goto jt else jf.
    pub const JSET_K: u16 = 0x45;
    /// goto +k.
    pub const JA: u16 = 0x05;
    /// return k.
    pub const RET_K: u16 = 0x06;
}

/// Return values of a seccomp program.
pub mod ret {
    pub const KILL_PROCESS: u32 = 0x8000_0000;
    /// `ERRNO | errno`: the call fails with that errno without running.
    pub const ERRNO: u32 = 0x0005_0000;
    pub const USER_NOTIF: u32 = 0x7fc0_0000;
    pub const ALLOW: u32 = 0x7fff_0000;
}

/// Offsets into `struct seccomp_data`, for [`bpf::LD_W_ABS`].
pub mod data {
    pub const NR: u32 = 0;
    pub const ARCH: u32 = 4;
    /// Low 32 bits of argument `i` (x86-64 is little-endian).
    pub const fn arg_lo(i: u32) -> u32 {
        16 + 8 * i
    }
}

/// `AUDIT_ARCH_X86_64`: the `arch` of a native 64-bit system call.
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// Most instructions the kernel accepts in one program.
pub const MAX_INSNS: usize = 4096;

/// One classic-BPF instruction (`struct sock_filter`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl Insn {
    /// An instruction without jumps.
    pub const fn stmt(code: u16, k: u32) -> Insn {
        Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }
    }

    /// A conditional jump.
    pub const fn jump(code: u16, k: u32, jt: u8, jf: u8) -> Insn {
        Insn { code, jt, jf, k }
    }

    /// The 8 bytes of `struct sock_filter`.
    pub fn to_bytes(self) -> [u8; 8] {
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&self.code.to_ne_bytes());
        b[2] = self.jt;
        b[3] = self.jf;
        b[4..8].copy_from_slice(&self.k.to_ne_bytes());
        b
    }
}

/// A system call waiting for our answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notif {
    /// Names the notification in [`reply`]; valid until answered or the caller is interrupted.
    pub id: u64,
    /// The calling thread, in our pid namespace.
    pub pid: Pid,
    pub nr: u32,
    pub arch: u32,
    /// Address of the instruction after the `syscall`.
    pub ip: u64,
    pub args: [u64; 6],
}

/// What [`recv_timeout`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    Notif(Notif),
    /// Nothing within the timeout.
    Timeout,
    /// No process uses the filter any more (all exited): no notification will come.
    Gone,
}

fn listener_err(op: &'static str) -> SysError {
    SysError::last(op, 0)
}

/// Wait for one notification (blocking). A notification that vanished before we could take it
/// (its caller was killed) is skipped.
pub fn recv(fd: BorrowedFd<'_>) -> Result<Notif> {
    loop {
        // SAFETY: seccomp_notif is plain data; all-zero is a valid value (the kernel requires
        // the buffer zeroed).
        let mut n: libc::seccomp_notif = unsafe { std::mem::zeroed() };
        // SAFETY: the request writes one `struct seccomp_notif` into `n`, which we own.
        let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_RECV, &mut n) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EINTR) | Some(libc::ENOENT) => continue,
                _ => return Err(SysError::io("SECCOMP_IOCTL_NOTIF_RECV", 0, e)),
            }
        }
        return Ok(Notif {
            id: n.id,
            pid: n.pid as Pid,
            nr: n.data.nr as u32,
            arch: n.data.arch,
            ip: n.data.instruction_pointer,
            args: n.data.args,
        });
    }
}

/// Wait up to `timeout` (forever with `None`) for a notification.
pub fn recv_timeout(fd: BorrowedFd<'_>, timeout: Option<Duration>) -> Result<Wait> {
    let ms = match timeout {
        None => -1,
        Some(t) => i32::try_from(t.as_millis()).unwrap_or(i32::MAX),
    };
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd, which we own, for the duration of the call.
        let r = unsafe { libc::poll(&mut p, 1, ms) };
        if r < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(listener_err("poll(seccomp listener)"));
        }
        if r == 0 {
            return Ok(Wait::Timeout);
        }
        if p.revents & libc::POLLIN != 0 {
            return recv(fd).map(Wait::Notif);
        }
        if p.revents & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0 {
            return Ok(Wait::Gone);
        }
    }
}

fn send(fd: BorrowedFd<'_>, id: u64, val: i64, error: i32, flags: u32) -> Result<bool> {
    let mut resp = libc::seccomp_notif_resp {
        id,
        val,
        error,
        flags,
    };
    // SAFETY: the request reads one `struct seccomp_notif_resp` from `resp`, which we own.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_SEND, &mut resp) };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(false);
        }
        return Err(SysError::io("SECCOMP_IOCTL_NOTIF_SEND", 0, e));
    }
    Ok(true)
}

/// Answer notification `id`: the call returns `val`, or fails with `error` when it is not 0
/// (an errno; its sign is ignored). `Ok(false)`: the notification is gone (the caller was
/// interrupted by a signal, and will restart or fail the call itself, or it died).
pub fn reply(fd: BorrowedFd<'_>, id: u64, val: i64, error: i32) -> Result<bool> {
    let error = -(error.saturating_abs());
    send(fd, id, if error != 0 { 0 } else { val }, error, 0)
}

/// Let notification `id` run natively in the caller (`SECCOMP_USER_NOTIF_FLAG_CONTINUE`).
/// `Ok(false)` as for [`reply`].
pub fn reply_continue(fd: BorrowedFd<'_>, id: u64) -> Result<bool> {
    send(fd, id, 0, 0, libc::SECCOMP_USER_NOTIF_FLAG_CONTINUE as u32)
}

/// Whether notification `id` still waits for an answer (its caller was not interrupted).
pub fn id_valid(fd: BorrowedFd<'_>, id: u64) -> bool {
    let mut id = id;
    // SAFETY: the request reads one u64 from `id`, which we own.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::SECCOMP_IOCTL_NOTIF_ID_VALID, &mut id) };
    r == 0
}

/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP` (Linux 6.6): for [`set_sync_wakeup`].
const SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP: u64 = 1;

/// Ask for synchronous wake-ups on a listener (`SECCOMP_IOCTL_NOTIF_SET_FLAGS` with
/// `SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP`): a notification wakes the supervisor, and an answer
/// wakes the caller, on the waker's CPU, for a supervisor that handles calls one at a time and
/// sleeps in between. Only an optimisation: `Ok(false)` on a kernel without it (before 6.6).
pub fn set_sync_wakeup(fd: BorrowedFd<'_>) -> Result<bool> {
    // SAFETY: the request takes its argument (the flags) by value; no memory is passed.
    let r = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::SECCOMP_IOCTL_NOTIF_SET_FLAGS,
            SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
        )
    };
    if r < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EINVAL) || e.raw_os_error() == Some(libc::ENOTTY) {
            return Ok(false);
        }
        return Err(SysError::io("SECCOMP_IOCTL_NOTIF_SET_FLAGS", 0, e));
    }
    Ok(true)
}

/// Install `prog` as a seccomp filter with a user-notification listener into the stopped
/// tracee and return the listener; the tracee keeps no copy of it. The tracee's registers are
/// left as they were found. Calls that `prog` notifies fail with ENOSYS once nobody holds the
/// listener, so keep it until the tracee is gone. An error after the filter went in (taking the
/// listener failed) leaves a tracee whose notified calls would wait forever: kill it.
pub fn install(st: &mut Stopped, prog: &[Insn]) -> Result<OwnedFd> {
    install_with(st, prog, false)
}

/// The kernel's "restart this call" code: answered (as `reply(fd, id, 0, ERESTARTSYS)`) to a
/// notification whose caller has a ptrace interrupt pending, the call is made again when the
/// process runs on (after a barrier: at home).
pub const ERESTARTSYS: i32 = 512;

/// [`install`], optionally with `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV`: once a notification
/// is received, only a fatal signal interrupts the caller, so a forwarded call is never cut
/// short by a signal (say SIGALRM) after home started it, and never made twice. A process
/// waiting on a received notification then cannot be stopped by `PTRACE_INTERRUPT` until the
/// notification is answered: interrupt it first, then answer [`ERESTARTSYS`].
pub fn install_with(st: &mut Stopped, prog: &[Insn], wait_killable_recv: bool) -> Result<OwnedFd> {
    let pid = st.pid();
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(SysError::Os {
            op: "seccomp(SECCOMP_SET_MODE_FILTER)",
            pid,
            cause: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a filter has 1 to {MAX_INSNS} instructions, this one {}",
                    prog.len()
                ),
            ),
        });
    }
    let found = st.regs()?;
    let mut flags = libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
    if wait_killable_recv {
        flags |= libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    let res = install_inner(st, prog, flags);
    let put_back = st.set_regs_raw(&found);
    let fd = res?;
    put_back?;
    // Only an optimisation: a listener without it works the same, a little slower.
    let _ = set_sync_wakeup(fd.as_fd());
    Ok(fd)
}

fn install_inner(st: &mut Stopped, prog: &[Insn], flags: u64) -> Result<OwnedFd> {
    let pid = st.pid();
    // struct sock_fprog { u16 len; (pad) ; struct sock_filter *filter; } then the program.
    let size = (16 + 8 * prog.len() as u64).next_multiple_of(PAGE_SIZE);
    let scratch = st.syscall(
        "mmap(seccomp scratch)",
        libc::SYS_mmap,
        [
            0,
            size,
            (libc::PROT_READ | libc::PROT_WRITE) as u64,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
            u64::MAX,
            0,
        ],
    )?;
    let mut bytes = Vec::with_capacity(16 + 8 * prog.len());
    bytes.extend_from_slice(&(prog.len() as u16).to_ne_bytes());
    bytes.extend_from_slice(&[0u8; 6]);
    bytes.extend_from_slice(&(scratch + 16).to_ne_bytes());
    for i in prog {
        bytes.extend_from_slice(&i.to_bytes());
    }
    let unmap = [scratch, size, 0, 0, 0, 0];
    let prepared = mem::write_vm(pid, scratch, &bytes).and_then(|()| {
        st.syscall(
            "prctl(PR_SET_NO_NEW_PRIVS)",
            libc::SYS_prctl,
            [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0],
        )
    });
    let rfd = prepared.and_then(|_| {
        st.syscall(
            "seccomp(SECCOMP_SET_MODE_FILTER)",
            libc::SYS_seccomp,
            [
                u64::from(libc::SECCOMP_SET_MODE_FILTER),
                flags,
                scratch,
                0,
                0,
                0,
            ],
        )
    });
    let rfd = match rfd {
        Ok(fd) => fd,
        Err(e) => {
            // No filter: the scratch page goes as any injected call would.
            let _ = st.syscall("munmap(seccomp scratch)", libc::SYS_munmap, unmap);
            return Err(e);
        }
    };
    // The filter is in place: from here on the injected calls may be notified to the
    // listener, which only the tracee holds until we take it.
    let taken = pidfd::open(pid).and_then(|p| pidfd::get_fd(&p, pid, rfd as i32))?;
    let listener = taken.as_fd();
    with_continue(listener, pid, libc::SYS_munmap, || {
        st.syscall("munmap(seccomp scratch)", libc::SYS_munmap, unmap)
    })?;
    with_continue(listener, pid, libc::SYS_close, || {
        st.syscall(
            "close(seccomp listener)",
            libc::SYS_close,
            [rfd, 0, 0, 0, 0, 0],
        )
    })?;
    Ok(taken)
}

/// Run `f` (which single-steps one injected call `nr` in `pid`) while a second thread answers
/// that call's notification, if the filter makes one, with CONTINUE. Any other notification
/// (there should be none: the tracee is stopped) fails with ENOSYS. An eventfd wakes the
/// second thread as soon as `f` is done, so a call the filter lets pass costs no waiting.
fn with_continue<T>(
    listener: BorrowedFd<'_>,
    pid: Pid,
    nr: i64,
    f: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let wake = eventfd()?;
    let wake_fd = wake.as_fd();
    std::thread::scope(|s| {
        let responder = s.spawn(move || -> Result<()> {
            loop {
                let (notif, woken) = poll_two(listener, wake_fd)?;
                if notif & libc::POLLIN != 0 {
                    let n = recv(listener)?;
                    if n.pid == pid && i64::from(n.nr) == nr {
                        reply_continue(listener, n.id)?;
                    } else {
                        reply(listener, n.id, 0, libc::ENOSYS)?;
                    }
                } else if notif & (libc::POLLHUP | libc::POLLERR | libc::POLLNVAL) != 0
                    || woken != 0
                {
                    return Ok(());
                }
            }
        });
        let r = f();
        let woke = wake_up(wake_fd);
        let answered = responder
            .join()
            .unwrap_or_else(|_| Err(SysError::os("seccomp responder thread", pid, libc::EIO)));
        let v = r?;
        woke?;
        answered?;
        Ok(v)
    })
}

fn eventfd() -> Result<OwnedFd> {
    // SAFETY: eventfd takes integers; on success it returns a new descriptor.
    let r = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if r < 0 {
        return Err(listener_err("eventfd"));
    }
    // SAFETY: `r` is a freshly created descriptor owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

fn wake_up(fd: BorrowedFd<'_>) -> Result<()> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writes 8 bytes from `one`, which lives across the call.
    let r = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    if r < 0 {
        return Err(listener_err("write(eventfd)"));
    }
    Ok(())
}

/// Wait until `a` or `b` is readable (or hung up); their `revents`.
fn poll_two(a: BorrowedFd<'_>, b: BorrowedFd<'_>) -> Result<(i16, i16)> {
    let mut p = [
        libc::pollfd {
            fd: a.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: b.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    loop {
        // SAFETY: two valid pollfds, which we own, for the duration of the call.
        let r = unsafe { libc::poll(p.as_mut_ptr(), 2, -1) };
        if r >= 0 {
            return Ok((p[0].revents, p[1].revents));
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(listener_err("poll(seccomp listener)"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insn_bytes_follow_sock_filter() {
        let i = Insn::jump(bpf::JEQ_K, 0x0102_0304, 5, 7);
        assert_eq!(i.to_bytes(), [0x15, 0, 5, 7, 4, 3, 2, 1]);
        assert_eq!(
            Insn::stmt(bpf::RET_K, ret::ALLOW).to_bytes()[4..],
            [0, 0, 0xff, 0x7f]
        );
    }

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<libc::seccomp_notif>(), 80);
        assert_eq!(std::mem::size_of::<libc::seccomp_notif_resp>(), 24);
        assert_eq!(ret::USER_NOTIF, libc::SECCOMP_RET_USER_NOTIF);
        assert_eq!(ret::KILL_PROCESS, libc::SECCOMP_RET_KILL_PROCESS);
        assert_eq!(data::arg_lo(3), 40);
    }
}
