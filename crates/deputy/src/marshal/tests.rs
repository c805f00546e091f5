//! Marshalling against a guest memory held in a vector.

use std::cell::RefCell;

use super::*;
use crate::call::Outcome;

/// Guest memory `[BASE, BASE + 64 KiB)`; everything else faults.
struct Mem(RefCell<Vec<u8>>);

const BASE: u64 = 0x10_0000;
const SIZE: usize = 64 << 10;
const HOME: i32 = 4242;

fn fault() -> std::io::Error {
    std::io::Error::from_raw_os_error(libc::EFAULT)
}

impl Mem {
    fn new() -> Mem {
        Mem(RefCell::new(vec![0xee; SIZE]))
    }
    fn range(addr: u64, len: usize) -> std::io::Result<std::ops::Range<usize>> {
        let off = addr.checked_sub(BASE).ok_or_else(fault)? as usize;
        if off + len > SIZE {
            return Err(fault());
        }
        Ok(off..off + len)
    }
    fn put(&self, addr: u64, data: &[u8]) {
        self.write(addr, data).expect("inside");
    }
    fn get(&self, addr: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0; len];
        self.read(addr, &mut b).expect("inside");
        b
    }
}

impl GuestMem for Mem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let r = Mem::range(addr, buf.len())?;
        buf.copy_from_slice(&self.0.borrow()[r]);
        Ok(())
    }
    fn write(&self, addr: u64, data: &[u8]) -> std::io::Result<()> {
        let r = Mem::range(addr, data.len())?;
        self.0.borrow_mut()[r].copy_from_slice(data);
        Ok(())
    }
}

fn ctx() -> Context {
    Context { home_pid: HOME }
}

fn nr(n: i64) -> u32 {
    n as u32
}

fn forward(n: i64, args: [u64; 6], mem: &Mem) -> Prepared {
    match decide(nr(n), args, &ctx(), mem) {
        Decision::Forward(p) => p,
        d => panic!("system call {n}: expected a forward, got {d:?}"),
    }
}

#[test]
fn read_is_an_out_region_returned_up_to_the_result() {
    let mem = Mem::new();
    let buf = BASE + 0x100;
    let p = forward(libc::SYS_read, [3, buf, 100, 0, 0, 0], &mem);
    assert_eq!(p.call.nr, 0);
    assert_eq!(p.call.args[2], 100);
    assert_eq!(p.call.regions.len(), 1);
    let r = &p.call.regions[0];
    assert_eq!(
        (r.arg, r.dir, r.len, r.back),
        (1, Dir::Out, 100, Back::UpToRet)
    );
    assert!(r.data.is_empty());
    let out = Outcome {
        ret: 5,
        out: vec![b"hello".to_vec()],
    };
    assert_eq!(p.finish(&out, &mem).expect("finish"), 5);
    assert_eq!(mem.get(buf, 6), b"hello\xee");
}

#[test]
fn huge_reads_and_writes_are_clamped() {
    let mem = Mem::new();
    // The buffer is not read for an out region, so its size does not need to be mapped.
    let p = forward(libc::SYS_read, [3, BASE, 1 << 40, 0, 0, 0], &mem);
    assert_eq!(p.call.args[2], u64::from(MAX_REGION));
    assert_eq!(p.call.regions[0].len, MAX_REGION);
    // A write's data is read from the guest: 1 MiB past our 64 KiB faults.
    let d = decide(
        nr(libc::SYS_write),
        [1, BASE, 1 << 20, 0, 0, 0],
        &ctx(),
        &mem,
    );
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::EFAULT,
                ..
            }
        ),
        "{d:?}"
    );
    let p = forward(libc::SYS_write, [1, BASE, 4, 0, 0, 0], &mem);
    assert_eq!(p.call.regions[0].data, vec![0xee; 4]);
    assert_eq!(p.call.regions[0].dir, Dir::In);
}

#[test]
fn paths_are_read_up_to_their_nul_even_at_the_end_of_memory() {
    let mem = Mem::new();
    let at = BASE + SIZE as u64 - 6;
    mem.put(at, b"/etc\0");
    let p = forward(
        libc::SYS_openat,
        [libc::AT_FDCWD as u64, at, 0, 0, 0, 0],
        &mem,
    );
    assert_eq!(p.call.regions[0].data, b"/etc\0");
    assert_eq!(p.call.regions[0].arg, 1);
    // No NUL before the end: the kernel would fault.
    mem.put(BASE + SIZE as u64 - 3, b"abc");
    let d = decide(
        nr(libc::SYS_openat),
        [0, BASE + SIZE as u64 - 3, 0, 0, 0, 0],
        &ctx(),
        &mem,
    );
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::EFAULT,
                ..
            }
        ),
        "{d:?}"
    );
    // No NUL within PATH_MAX.
    mem.put(BASE, &[b'a'; 5000]);
    let d = decide(nr(libc::SYS_open), [BASE, 0, 0, 0, 0, 0], &ctx(), &mem);
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::ENAMETOOLONG,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn bad_pointers_fail_with_efault_and_null_stays_null() {
    let mem = Mem::new();
    let d = decide(nr(libc::SYS_stat), [8, BASE, 0, 0, 0, 0], &ctx(), &mem);
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::EFAULT,
                ..
            }
        ),
        "{d:?}"
    );
    let p = forward(libc::SYS_wait4, [u64::MAX, 0, 0, 0, 0, 0], &mem);
    assert!(p.call.regions.is_empty());
    assert_eq!(
        p.finish(
            &Outcome {
                ret: -10,
                out: vec![]
            },
            &mem
        )
        .expect("finish"),
        -10
    );
}

#[test]
fn identity_is_answered_here_and_self_signals_are_delivered_here() {
    let mem = Mem::new();
    let d = |n: i64, a: [u64; 6]| decide(nr(n), a, &ctx(), &mem);
    let home = HOME as u64;
    assert_eq!(
        d(libc::SYS_getpid, [0; 6]),
        Decision::Reply(i64::from(HOME))
    );
    assert_eq!(
        d(libc::SYS_gettid, [0; 6]),
        Decision::Reply(i64::from(HOME))
    );
    assert_eq!(
        d(libc::SYS_kill, [home, 10, 0, 0, 0, 0]),
        Decision::SignalSelf { sig: 10 }
    );
    assert_eq!(d(libc::SYS_kill, [home, 0, 0, 0, 0, 0]), Decision::Reply(0));
    assert_eq!(
        d(libc::SYS_tgkill, [home, home, 6, 0, 0, 0]),
        Decision::SignalSelf { sig: 6 }
    );
    assert_eq!(
        d(libc::SYS_tkill, [home, 15, 0, 0, 0, 0]),
        Decision::SignalSelf { sig: 15 }
    );
    // Another process, or an invalid signal: home decides.
    let p = forward(libc::SYS_kill, [77, 15, 0, 0, 0, 0], &mem);
    assert_eq!(p.call, Call::scalar(62, [77, 15, 0, 0, 0, 0]));
    assert!(matches!(
        d(libc::SYS_kill, [home, 99, 0, 0, 0, 0]),
        Decision::Forward(_)
    ));
    assert!(matches!(d(libc::SYS_getppid, [0; 6]), Decision::Forward(_)));
}

#[test]
fn pid_zero_scheduling_runs_here() {
    let mem = Mem::new();
    let d = |n: i64, a: [u64; 6]| decide(nr(n), a, &ctx(), &mem);
    assert_eq!(
        d(libc::SYS_sched_getaffinity, [0, 128, BASE, 0, 0, 0]),
        Decision::Continue
    );
    assert_eq!(
        d(libc::SYS_getpriority, [0, 0, 0, 0, 0, 0]),
        Decision::Continue
    );
    assert_eq!(
        d(libc::SYS_get_robust_list, [0, BASE, BASE, 0, 0, 0]),
        Decision::Continue
    );
    assert!(matches!(
        d(libc::SYS_get_robust_list, [5, BASE, BASE, 0, 0, 0]),
        Decision::Barrier(_)
    ));
    let p = forward(libc::SYS_sched_getaffinity, [77, 128, BASE, 0, 0, 0], &mem);
    assert_eq!(p.call.regions[0].len, 128);
    assert!(matches!(
        d(libc::SYS_sched_getattr, [7, BASE, 48, 0, 0, 0]),
        Decision::Barrier(_)
    ));
}

fn iovecs(mem: &Mem, at: u64, v: &[(u64, u64)]) {
    let mut b = Vec::new();
    for (base, len) in v {
        b.extend_from_slice(&base.to_ne_bytes());
        b.extend_from_slice(&len.to_ne_bytes());
    }
    mem.put(at, &b);
}

#[test]
fn writev_becomes_one_write() {
    let mem = Mem::new();
    mem.put(BASE + 0x1000, b"abc");
    mem.put(BASE + 0x2000, b"defg");
    iovecs(
        &mem,
        BASE,
        &[(BASE + 0x1000, 3), (0, 0), (BASE + 0x2000, 4)],
    );
    let p = forward(libc::SYS_writev, [1, BASE, 3, 0, 0, 0], &mem);
    assert_eq!(p.call.nr, libc::SYS_write as u32);
    assert_eq!(p.call.args[2], 7);
    assert_eq!(p.call.regions[0].data, b"abcdefg");
    let p = forward(libc::SYS_pwritev, [1, BASE, 3, 99, 0, 0], &mem);
    assert_eq!(p.call.nr, libc::SYS_pwrite64 as u32);
    assert_eq!(p.call.args[3], 99);
}

#[test]
fn readv_scatters_the_result_over_its_iovecs() {
    let mem = Mem::new();
    iovecs(&mem, BASE, &[(BASE + 0x1000, 3), (BASE + 0x2000, 4)]);
    let p = forward(libc::SYS_preadv2, [5, BASE, 2, u64::MAX, 0, 0], &mem);
    assert_eq!(p.call.nr, libc::SYS_read as u32);
    assert_eq!(
        p.back_pieces(),
        &[vec![(BASE + 0x1000, 3), (BASE + 0x2000, 4)]]
    );
    let out = Outcome {
        ret: 5,
        out: vec![b"12345".to_vec()],
    };
    assert_eq!(p.finish(&out, &mem).expect("finish"), 5);
    assert_eq!(mem.get(BASE + 0x1000, 4), b"123\xee");
    assert_eq!(mem.get(BASE + 0x2000, 3), b"45\xee");
    let d = decide(nr(libc::SYS_preadv2), [5, BASE, 2, 0, 0, 8], &ctx(), &mem);
    assert!(matches!(d, Decision::Barrier(_)), "{d:?}");
    let d = decide(nr(libc::SYS_readv), [5, BASE, 5000, 0, 0, 0], &ctx(), &mem);
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::EINVAL,
                ..
            }
        ),
        "{d:?}"
    );
}

#[test]
fn ioctls_are_sized_by_table_or_request_bits() {
    let mem = Mem::new();
    let io = |req: u64| decide(nr(libc::SYS_ioctl), [0, req, BASE, 0, 0, 0], &ctx(), &mem);
    let one = |req: u64| match io(req) {
        Decision::Forward(p) => p.call.regions.first().map(|r| (r.dir, r.len)),
        d => panic!("ioctl {req:#x}: {d:?}"),
    };
    assert_eq!(one(libc::TCGETS), Some((Dir::InOut, 36)));
    assert_eq!(one(libc::TCSETSW), Some((Dir::In, 36)));
    assert_eq!(one(libc::TIOCGWINSZ), Some((Dir::InOut, 8)));
    assert_eq!(one(libc::FIONREAD), Some((Dir::InOut, 4)));
    assert_eq!(one(libc::FIOCLEX), None);
    // _IOR('T', 0x2A, struct termios2): 44 bytes from the request number.
    assert_eq!(one(0x802c_542a), Some((Dir::InOut, 44)));
    // _IOW(0x12, 0x71, size_t)
    assert_eq!(one(0x4008_1271), Some((Dir::In, 8)));
    // A legacy request outside the table (KDSETMODE): home.
    assert!(matches!(io(0x4b3a), Decision::Barrier(_)));
}

#[test]
fn fcntl_and_prctl_are_decided_per_command() {
    let mem = Mem::new();
    let f = |cmd: i32| {
        decide(
            nr(libc::SYS_fcntl),
            [3, cmd as u64, BASE, 0, 0, 0],
            &ctx(),
            &mem,
        )
    };
    assert!(matches!(f(libc::F_GETFL), Decision::Forward(p) if p.call.regions.is_empty()));
    assert!(matches!(f(libc::F_SETLKW), Decision::Forward(p) if p.call.regions[0].len == 32));
    assert!(matches!(f(9999), Decision::Barrier(_)));
    mem.put(BASE, b"worker\0");
    let pr = |op: i32| {
        decide(
            nr(libc::SYS_prctl),
            [op as u64, BASE, 0, 0, 0, 0],
            &ctx(),
            &mem,
        )
    };
    assert!(
        matches!(pr(libc::PR_SET_NAME), Decision::Forward(p) if p.call.regions[0].data == b"worker\0")
    );
    assert_eq!(pr(libc::PR_SET_DUMPABLE), Decision::Continue);
    assert!(matches!(
        pr(libc::PR_GET_NO_NEW_PRIVS),
        Decision::Forward(_)
    ));
    assert!(matches!(pr(libc::PR_SET_SECCOMP), Decision::Barrier(_)));
    assert!(matches!(pr(libc::PR_SET_MM), Decision::Barrier(_)));
}

#[test]
fn socket_addresses_are_bounded_by_their_stored_length() {
    let mem = Mem::new();
    mem.put(BASE + 0x800, &200u32.to_ne_bytes());
    let p = forward(libc::SYS_accept4, [3, BASE, BASE + 0x800, 0, 0, 0], &mem);
    let addr = &p.call.regions[0];
    let len = &p.call.regions[1];
    assert_eq!((addr.arg, addr.dir, addr.len), (1, Dir::InOut, 128));
    assert_eq!((len.arg, len.len), (2, 4));
    assert_eq!(len.data, 128u32.to_ne_bytes());
    // An address without a length: the kernel faults.
    let d = decide(nr(libc::SYS_accept), [3, BASE, 0, 0, 0, 0], &ctx(), &mem);
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::EFAULT,
                ..
            }
        ),
        "{d:?}"
    );
    let p = forward(libc::SYS_accept, [3, 0, 0, 0, 0, 0], &mem);
    assert!(p.call.regions.is_empty());
}

#[test]
fn select_sizes_fd_sets_by_nfds() {
    let mem = Mem::new();
    let p = forward(
        libc::SYS_select,
        [65, BASE, 0, BASE + 64, BASE + 128, 0],
        &mem,
    );
    let lens: Vec<(u8, u32)> = p.call.regions.iter().map(|r| (r.arg, r.len)).collect();
    assert_eq!(lens, vec![(1, 16), (3, 16), (4, 16)]);
    let d = decide(
        nr(libc::SYS_pselect6),
        [1, BASE, 0, 0, 0, BASE],
        &ctx(),
        &mem,
    );
    assert!(matches!(d, Decision::Barrier(_)));
}

#[test]
fn classes_decide_the_rest() {
    let mem = Mem::new();
    let d = |n: i64| decide(nr(n), [0; 6], &ctx(), &mem);
    assert!(matches!(d(libc::SYS_mmap), Decision::Barrier(_)));
    assert!(matches!(d(libc::SYS_clone), Decision::Barrier(_)));
    assert!(matches!(d(libc::SYS_execve), Decision::Barrier(_)));
    assert_eq!(d(libc::SYS_futex), Decision::Continue);
    assert!(matches!(
        d(libc::SYS_uselib),
        Decision::Deny {
            errno: libc::ENOSYS,
            ..
        }
    ));
    assert!(matches!(
        d(400),
        Decision::Deny {
            errno: libc::ENOSYS,
            ..
        }
    ));
    // A clock id naming another process's CPU clock (pid 1234) is notified: home runs it.
    let foreign = ((!1234i32) << 3 | 2) as u32 as u64;
    let c = decide(
        nr(libc::SYS_clock_gettime),
        [foreign, BASE, 0, 0, 0, 0],
        &ctx(),
        &mem,
    );
    assert!(matches!(c, Decision::Barrier(_)), "{c:?}");
}

#[test]
fn epoll_events_are_clamped_and_negative_counts_left_to_the_kernel() {
    let mem = Mem::new();
    let p = forward(libc::SYS_epoll_wait, [4, BASE, 10, 100, 0, 0], &mem);
    assert_eq!(p.call.regions[0].len, 120);
    // More events than a region holds: the count is lowered (the guest's buffer must exist).
    let d = decide(
        nr(libc::SYS_epoll_wait),
        [4, BASE, 1 << 30, 100, 0, 0],
        &ctx(),
        &mem,
    );
    assert!(
        matches!(
            d,
            Decision::Deny {
                errno: libc::EFAULT,
                ..
            }
        ),
        "{d:?}"
    );
    let p = forward(
        libc::SYS_epoll_wait,
        [4, BASE, u64::from(u32::MAX), 100, 0, 0],
        &mem,
    );
    assert!(p.call.regions.is_empty());
    assert_eq!(p.call.args[2], u64::from(u32::MAX));
}

#[test]
fn every_forward_row_is_marshalled_and_never_runs_here_by_accident() {
    let mem = Mem::new();
    // Scheduling and niceness of pid 0, and process-local prctl options, may run here.
    let may_continue = [140, 141, 142, 143, 144, 145, 148, 203, 204, 314, 315];
    for row in crate::table::rows()
        .iter()
        .filter(|r| r.class == Class::Forward)
    {
        let d = decide(row.nr, [0; 6], &ctx(), &mem);
        assert_ne!(
            d,
            Decision::Barrier("no marshalling is described for this call"),
            "{} is a forward row without marshalling",
            row.name
        );
        if d == Decision::Continue {
            assert!(
                may_continue.contains(&row.nr),
                "{} would run on the remote",
                row.name
            );
        }
    }
}

#[test]
fn finish_checks_home_answer() {
    let mem = Mem::new();
    let p = forward(libc::SYS_fstat, [3, BASE, 0, 0, 0, 0], &mem);
    let bad = Outcome {
        ret: 0,
        out: vec![],
    };
    assert!(matches!(
        p.finish(&bad, &mem),
        Err(MarshalError::OutcomeShape { want: 1, got: 0 })
    ));
    let long = Outcome {
        ret: 0,
        out: vec![vec![0; 145]],
    };
    assert!(matches!(
        p.finish(&long, &mem),
        Err(MarshalError::RegionTooLong { .. })
    ));
    let ok = Outcome {
        ret: 0,
        out: vec![vec![1; 144]],
    };
    assert_eq!(p.finish(&ok, &mem).expect("finish"), 0);
    assert_eq!(mem.get(BASE, 145)[143..], [1, 0xee]);
    // The guest unmapped its buffer meanwhile: EFAULT, as the kernel would answer.
    let gone = Prepared {
        call: p.call.clone(),
        back: vec![vec![(BASE + SIZE as u64, 144)]],
    };
    assert_eq!(
        gone.finish(&ok, &mem).expect("finish"),
        -i64::from(libc::EFAULT)
    );
}

#[test]
fn sendmsg_without_control_data_is_a_sendto() {
    let mem = Mem::new();
    mem.put(BASE + 0x1000, b"ab");
    mem.put(BASE + 0x2000, b"cde");
    mem.put(BASE + 0x3000, &[1, 0, 0x1f, 0x90]);
    iovecs(
        &mem,
        BASE + 0x800,
        &[(BASE + 0x1000, 2), (BASE + 0x2000, 3)],
    );
    let mut h = Vec::new();
    for w in [BASE + 0x3000, 4, BASE + 0x800, 2, 0, 0, 0] {
        h.extend_from_slice(&w.to_ne_bytes());
    }
    mem.put(BASE, &h);
    let p = forward(
        libc::SYS_sendmsg,
        [7, BASE, libc::MSG_NOSIGNAL as u64, 0, 0, 0],
        &mem,
    );
    assert_eq!(p.call.nr, libc::SYS_sendto as u32);
    assert_eq!(p.call.args[0], 7);
    assert_eq!(p.call.args[2], 5);
    assert_eq!(p.call.args[3], libc::MSG_NOSIGNAL as u64);
    assert_eq!(p.call.args[5], 4);
    assert_eq!(p.call.regions[0].data, b"abcde");
    assert_eq!((p.call.regions[1].arg, p.call.regions[1].len), (4, 4));
    // Control data (an SCM_RIGHTS, say): home.
    h[40..48].copy_from_slice(&24u64.to_ne_bytes());
    mem.put(BASE, &h);
    let d = decide(nr(libc::SYS_sendmsg), [7, BASE, 0, 0, 0, 0], &ctx(), &mem);
    assert!(matches!(d, Decision::Barrier(_)), "{d:?}");
}

#[test]
fn kcmp_of_an_epoll_target_carries_its_slot() {
    let mem = Mem::new();
    let p = forward(libc::SYS_kcmp, [1, 2, 7, 3, BASE, 0], &mem);
    assert_eq!((p.call.regions[0].arg, p.call.regions[0].len), (4, 12));
    let p = forward(libc::SYS_kcmp, [1, 2, 0, 3, 4, 0], &mem);
    assert!(p.call.regions.is_empty());
}
