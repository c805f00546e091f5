//! Calls decided per argument: identity answered here, signals to itself, calls on pid 0,
//! `prctl` options, `fcntl` commands, ioctl requests, and the vectored reads and writes that
//! travel as one flat buffer.

use super::Len::Fixed;
use super::{read_bytes, Builder, Context, Decision, GuestMem, Stop, A};
use crate::call::{Dir, MAX_REGION};

/// Decisions that do not follow from the declared spec alone; `None`: use the spec.
pub(super) fn decide(
    nr: u32,
    args: [u64; 6],
    ctx: &Context,
    mem: &dyn GuestMem,
) -> Option<Decision> {
    let home = i64::from(ctx.home_pid);
    let a = |i: usize| args[i] as i64 as i32;
    Some(match i64::from(nr) {
        libc::SYS_getpid | libc::SYS_gettid => Decision::Reply(home),
        libc::SYS_kill if i64::from(a(0)) == home => to_self(a(1))?,
        libc::SYS_tkill if i64::from(a(0)) == home => to_self(a(1))?,
        libc::SYS_tgkill if i64::from(a(0)) == home && i64::from(a(1)) == home => to_self(a(2))?,
        libc::SYS_rt_sigqueueinfo if i64::from(a(0)) == home => to_self(a(1))?,
        libc::SYS_rt_tgsigqueueinfo if i64::from(a(0)) == home && i64::from(a(1)) == home => {
            to_self(a(2))?
        }
        // PRIO_PROCESS of itself: its niceness on the node it runs on.
        libc::SYS_getpriority | libc::SYS_setpriority
            if a(0) == libc::PRIO_PROCESS as i32 && a(1) == 0 =>
        {
            Decision::Continue
        }
        libc::SYS_sched_setparam
        | libc::SYS_sched_getparam
        | libc::SYS_sched_setscheduler
        | libc::SYS_sched_getscheduler
        | libc::SYS_sched_rr_get_interval
        | libc::SYS_sched_setaffinity
        | libc::SYS_sched_getaffinity
        | libc::SYS_sched_setattr
        | libc::SYS_sched_getattr
            if a(0) == 0 =>
        {
            Decision::Continue
        }
        libc::SYS_sched_setattr | libc::SYS_sched_getattr => {
            Decision::Barrier("scheduling attributes of another process")
        }
        libc::SYS_pselect6 if args[5] != 0 => Decision::Barrier("a wait with a signal mask"),
        libc::SYS_ppoll if args[3] != 0 => Decision::Barrier("a wait with a signal mask"),
        libc::SYS_epoll_pwait | libc::SYS_epoll_pwait2 if args[4] != 0 => {
            Decision::Barrier("a wait with a signal mask")
        }
        libc::SYS_prctl => return prctl_option(args, mem),
        libc::SYS_fcntl => build(nr, args, mem, fcntl_arg(args[1] as i32), 2),
        libc::SYS_ioctl => build(nr, args, mem, ioctl_arg(args[1] as u32), 2),
        libc::SYS_readv
        | libc::SYS_writev
        | libc::SYS_preadv
        | libc::SYS_pwritev
        | libc::SYS_preadv2
        | libc::SYS_pwritev2 => vectored(nr, args, mem),
        // KCMP_EPOLL_TFD: its last argument points at a `struct kcmp_epoll_slot`.
        libc::SYS_kcmp if args[2] == 7 => build(nr, args, mem, Ok(Some(A::In(Fixed(12)))), 4),
        libc::SYS_sendmsg => match sendmsg(args, mem) {
            Ok(p) => Decision::Forward(p),
            Err(s) => s.into(),
        },
        _ => return None,
    })
}

/// Decisions on calls whose row is a barrier; `None`: the barrier.
pub(super) fn barrier(nr: u32, args: [u64; 6]) -> Option<Decision> {
    (i64::from(nr) == libc::SYS_get_robust_list && args[0] as i32 == 0)
        .then_some(Decision::Continue)
}

/// A signal the process sends itself; `None` (forward as usual) for an invalid signal number,
/// which home's kernel refuses as ours would.
fn to_self(sig: i32) -> Option<Decision> {
    match sig {
        0 => Some(Decision::Reply(0)),
        1..=64 => Some(Decision::SignalSelf { sig }),
        _ => None,
    }
}

/// Forward with at most one pointer argument, `(index, kind)`; `None`: scalar.
fn build(
    nr: u32,
    args: [u64; 6],
    mem: &dyn GuestMem,
    ptr: Result<Option<A>, Stop>,
    at: u8,
) -> Decision {
    let spec = ptr.map(|p| p.map(|a| [(at, a)]));
    let built = spec
        .and_then(|s| Builder::new(nr, args, mem).build(s.as_ref().map_or(&[][..], |a| &a[..])));
    match built {
        Ok(p) => Decision::Forward(p),
        Err(s) => s.into(),
    }
}

/// `struct flock`.
const FLOCK: A = A::InOut(Fixed(32));

fn fcntl_arg(cmd: i32) -> Result<Option<A>, Stop> {
    // libc::F_GET/SET_RW_HINT, libc::F_GET/SET_FILE_RW_HINT (a u64 through a pointer).
    const RW_HINTS: [i32; 4] = [1035, 1036, 1037, 1038];
    // libc::F_SETSIG, libc::F_GETSIG, libc::F_DUPFD_QUERY, libc::F_CREATED_QUERY, libc::F_CANCELLK
    const SCALAR_MORE: [i32; 5] = [10, 11, 1027, 1028, 1029];
    Ok(match cmd {
        libc::F_DUPFD
        | libc::F_DUPFD_CLOEXEC
        | libc::F_GETFD
        | libc::F_SETFD
        | libc::F_GETFL
        | libc::F_SETFL
        | libc::F_SETOWN
        | libc::F_GETOWN
        | libc::F_SETLEASE
        | libc::F_GETLEASE
        | libc::F_NOTIFY
        | libc::F_SETPIPE_SZ
        | libc::F_GETPIPE_SZ
        | libc::F_ADD_SEALS
        | libc::F_GET_SEALS => None,
        c if SCALAR_MORE.contains(&c) => None,
        libc::F_GETLK
        | libc::F_SETLK
        | libc::F_SETLKW
        | libc::F_OFD_GETLK
        | libc::F_OFD_SETLK
        | libc::F_OFD_SETLKW => Some(FLOCK),
        // libc::F_SETOWN_EX, libc::F_GETOWN_EX
        15 => Some(A::In(Fixed(8))),
        16 => Some(A::InOut(Fixed(8))),
        c if RW_HINTS.contains(&c) => Some(A::InOut(Fixed(8))),
        _ => return Err(Stop::Home("an fcntl command without a described argument")),
    })
}

/// The classic terminal requests, whose numbers carry no size: `Some(None)` for a scalar.
fn tty_ioctl(req: u32) -> Option<Option<A>> {
    const TERMIOS: u32 = 36;
    let int_in = Some(A::In(Fixed(4)));
    let int_out = Some(A::InOut(Fixed(4)));
    Some(match req {
        // TCGETS
        0x5401 => Some(A::InOut(Fixed(TERMIOS))),
        // TCSETS, TCSETSW, TCSETSF
        0x5402..=0x5404 => Some(A::In(Fixed(TERMIOS))),
        // TCSBRK, TCXONC, TCFLSH, TIOCEXCL, TIOCNXCL, TIOCSCTTY
        0x5409..=0x540e => None,
        // TIOCGPGRP, TIOCOUTQ, TIOCMGET, FIONREAD, TIOCGETD, TIOCGSID
        0x540f | 0x5411 | 0x5415 | 0x541b | 0x5424 | 0x5429 => int_out,
        // TIOCSPGRP, TIOCMBIS, TIOCMBIC, TIOCMSET, FIONBIO, TIOCSETD, FIOASYNC
        0x5410 | 0x5416..=0x5418 | 0x5421 | 0x5423 | 0x5452 => int_in,
        // TIOCSTI
        0x5412 => Some(A::In(Fixed(1))),
        // TIOCGWINSZ
        0x5413 => Some(A::InOut(Fixed(8))),
        // TIOCSWINSZ
        0x5414 => Some(A::In(Fixed(8))),
        // TIOCCONS, TIOCNOTTY, TCSBRKP, TIOCSBRK, TIOCCBRK, TIOCVHANGUP, TIOCGPTPEER,
        // FIONCLEX, FIOCLEX
        0x541d | 0x5422 | 0x5425 | 0x5427 | 0x5428 | 0x5437 | 0x5441 | 0x5450 | 0x5451 => None,
        // FIOQSIZE
        0x5460 => Some(A::InOut(Fixed(8))),
        _ => return None,
    })
}

/// An ioctl's argument: the terminal table, else `_IOC_DIR` and `_IOC_SIZE` of the request.
fn ioctl_arg(req: u32) -> Result<Option<A>, Stop> {
    if let Some(a) = tty_ioctl(req) {
        return Ok(a);
    }
    let dir = req >> 30;
    let size = (req >> 16) & 0x3fff;
    match (dir, size) {
        // _IOC_WRITE: the kernel reads the argument.
        (1, s) if s > 0 => Ok(Some(A::In(Fixed(s)))),
        // _IOC_READ (and both): it writes it; in-out keeps the bytes it leaves alone.
        (2 | 3, s) if s > 0 => Ok(Some(A::InOut(Fixed(s)))),
        _ => Err(Stop::Home(
            "an ioctl request whose argument cannot be sized",
        )),
    }
}

fn prctl_option(args: [u64; 6], mem: &dyn GuestMem) -> Option<Decision> {
    let op = args[0] as i32;
    // State of the running process (or options x86 refuses): native.
    const HERE: &[i32] = &[
        3,
        4,
        5,
        6,
        9,
        10,
        11,
        12,
        13,
        14,
        19,
        20,
        21,
        25,
        29,
        30,
        31,
        32,
        33,
        34,
        40,
        41,
        42,
        43,
        44,
        45,
        46,
        50,
        51,
        52,
        53,
        54,
        55,
        56,
        60,
        61,
        63,
        64,
        65,
        66,
        67,
        68,
        69,
        70,
        71,
        72,
        73,
        74,
        77,
        78,
        0x4155_5856,
        0x5356_4d41,
    ];
    // Identity kept at home (credentials, parent death signal, subreaper, no_new_privs, which
    // the remote always has since the filter needs it): scalar, forwarded.
    const HOME: &[i32] = &[1, 7, 8, 23, 24, 27, 28, 36, 38, 39, 47, 57, 58, 0x5961_6d61];
    let ptr = match op {
        o if HERE.contains(&o) => return Some(Decision::Continue),
        o if HOME.contains(&o) => None,
        // PR_GET_PDEATHSIG, PR_GET_CHILD_SUBREAPER: an int through a pointer.
        2 | 37 => Some(A::InOut(Fixed(4))),
        // PR_SET_NAME, PR_GET_NAME: the name `ps` shows at home.
        15 => Some(A::Str),
        16 => Some(A::InOut(Fixed(16))),
        _ => return Some(Decision::Barrier("a prctl option that runs at home")),
    };
    Some(build(libc::SYS_prctl as u32, args, mem, Ok(ptr), 1))
}

/// `readv`/`writev` and their positioned forms: one flat buffer, `nr` rewritten.
fn vectored(nr: u32, args: [u64; 6], mem: &dyn GuestMem) -> Decision {
    let n = i64::from(nr);
    let reads = matches!(n, libc::SYS_readv | libc::SYS_preadv | libc::SYS_preadv2);
    let (flat, pos) = match n {
        libc::SYS_readv => (libc::SYS_read, None),
        libc::SYS_writev => (libc::SYS_write, None),
        libc::SYS_preadv | libc::SYS_pwritev | libc::SYS_preadv2 | libc::SYS_pwritev2 => {
            if matches!(n, libc::SYS_preadv2 | libc::SYS_pwritev2) && args[5] != 0 {
                return Decision::Barrier("vectored I/O with RWF_ flags");
            }
            let pos = args[3];
            let current = matches!(n, libc::SYS_preadv2 | libc::SYS_pwritev2) && pos as i64 == -1;
            match (reads, current) {
                (true, true) => (libc::SYS_read, None),
                (false, true) => (libc::SYS_write, None),
                (true, false) => (libc::SYS_pread64, Some(pos)),
                (false, false) => (libc::SYS_pwrite64, Some(pos)),
            }
        }
        _ => unreachable!("vectored() is only called for vectored calls"),
    };
    match flatten(reads, flat as u32, args, pos, mem) {
        Ok(p) => Decision::Forward(p),
        Err(s) => s.into(),
    }
}

/// The iovecs at `iov`: (base, length) pieces up to [`MAX_REGION`] bytes in all (a short
/// read or write is legal), and that total.
fn gather(mem: &dyn GuestMem, iov: u64, cnt: u64) -> Result<(Vec<(u64, u32)>, u32), Stop> {
    if cnt > libc::UIO_MAXIOV as u64 {
        return Err(Stop::Errno(libc::EINVAL, "iovec count out of range"));
    }
    let raw = read_bytes(mem, iov, cnt as usize * 16)?;
    let mut pieces: Vec<(u64, u32)> = Vec::new();
    let mut total = 0u32;
    for v in raw.chunks_exact(16) {
        let base = u64::from_ne_bytes(v[0..8].try_into().expect("8 bytes"));
        let len = u64::from_ne_bytes(v[8..16].try_into().expect("8 bytes"));
        if (len as i64) < 0 {
            return Err(Stop::Errno(libc::EINVAL, "an iovec length is too large"));
        }
        let take = len.min(u64::from(MAX_REGION - total)) as u32;
        if take > 0 {
            pieces.push((base, take));
            total += take;
        }
        if total == MAX_REGION {
            break;
        }
    }
    Ok((pieces, total))
}

/// The bytes of `pieces`, one after the other.
fn gather_data(mem: &dyn GuestMem, pieces: &[(u64, u32)], total: u32) -> Result<Vec<u8>, Stop> {
    let mut data = Vec::with_capacity(total as usize);
    for &(base, len) in pieces {
        data.extend(read_bytes(mem, base, len as usize)?);
    }
    Ok(data)
}

fn flatten(
    reads: bool,
    flat: u32,
    args: [u64; 6],
    pos: Option<u64>,
    mem: &dyn GuestMem,
) -> Result<super::Prepared, Stop> {
    let cnt = args[2] as i32;
    if cnt < 0 {
        return Err(Stop::Errno(libc::EINVAL, "iovec count out of range"));
    }
    let (pieces, total) = gather(mem, args[1], cnt as u64)?;
    let mut out_args = [args[0], 0, u64::from(total), 0, 0, 0];
    if let Some(p) = pos {
        out_args[3] = p;
    }
    let mut b = Builder::new(flat, out_args, mem);
    if reads {
        b.add_flat(1, Dir::Out, total, Vec::new(), pieces);
    } else {
        let data = gather_data(mem, &pieces, total)?;
        b.add_flat(1, Dir::In, total, data, Vec::new());
    }
    b.finish()
}

/// `sendmsg` without control data is `sendto` of its flattened iovecs to its name.
fn sendmsg(args: [u64; 6], mem: &dyn GuestMem) -> Result<super::Prepared, Stop> {
    // struct msghdr: name, namelen (+pad), iov, iovlen, control, controllen, flags (+pad).
    let h = read_bytes(mem, args[1], 56)?;
    let word = |o: usize| u64::from_ne_bytes(h[o..o + 8].try_into().expect("8 bytes"));
    let (name, namelen) = (word(0), u64::from(word(8) as u32));
    let (iov, iovlen, controllen) = (word(16), word(24), word(40));
    if controllen != 0 {
        return Err(Stop::Home(
            "sendmsg with control data (descriptors, credentials)",
        ));
    }
    if iovlen > libc::UIO_MAXIOV as u64 {
        return Err(Stop::Errno(libc::EMSGSIZE, "too many iovecs"));
    }
    let (pieces, total) = gather(mem, iov, iovlen)?;
    let data = gather_data(mem, &pieces, total)?;
    let sendto = libc::SYS_sendto as u32;
    let call_args = [args[0], 0, u64::from(total), args[2], name, namelen];
    let mut b = Builder::new(sendto, call_args, mem);
    b.add_flat(1, Dir::In, total, data, Vec::new());
    b.add(4, A::In(super::Len::Arg(5)))?;
    b.finish()
}
