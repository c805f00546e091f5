//! The pointer arguments of every forwarded system call, declared. Calls not listed here are
//! either handled in [`super::special`] or go home.

use super::Len::{Arg, ArgPlus, Clamp, ClampCount, Count, FdSet, Fixed, PtrU32};
use super::{Spec, A};
use A::{In, InOut, Out, Str};

/// `struct stat`.
const STAT: A = InOut(Fixed(144));
/// `struct statfs`.
const STATFS: A = InOut(Fixed(120));
/// `struct timespec`, `struct timeval`.
const TS_IN: A = In(Fixed(16));
const TS_INOUT: A = InOut(Fixed(16));
/// `struct rusage`.
const RUSAGE: A = InOut(Fixed(144));
/// `struct rlimit`.
const RLIMIT: A = InOut(Fixed(16));
/// A kernel `sockaddr` never exceeds `sockaddr_storage`.
const SOCKADDR_MAX: u32 = 128;
/// Socket options are small; more goes home.
const SOCKOPT_MAX: u32 = 64 << 10;
/// `socklen_t`, `int`.
const U32: A = InOut(Fixed(4));
const U64: A = InOut(Fixed(8));
/// `struct timex`.
const TIMEX: A = InOut(Fixed(208));
/// `struct itimerspec`.
const ITIMERSPEC: A = InOut(Fixed(32));
/// `siginfo_t`.
const SIGINFO: A = In(Fixed(128));
/// `struct mq_attr`.
const MQ_ATTR: A = In(Fixed(64));
/// `struct sigevent`.
const SIGEVENT: A = In(Fixed(64));

const NONE: Spec = &[];
const PATH0: Spec = &[(0, Str)];
const PATH1: Spec = &[(1, Str)];
const PATHS01: Spec = &[(0, Str), (1, Str)];
const READ_LIKE: Spec = &[(1, Out(Clamp(2)))];
const WRITE_LIKE: Spec = &[(1, In(Clamp(2)))];
const SOCKNAME: Spec = &[(1, InOut(PtrU32(2, SOCKADDR_MAX))), (2, U32)];

/// The declared pointer arguments of forwarded call `nr`.
pub(crate) fn spec(nr: u32) -> Option<Spec> {
    Some(match i64::from(nr) {
        libc::SYS_read | libc::SYS_pread64 | libc::SYS_getdents | libc::SYS_getdents64 => READ_LIKE,
        libc::SYS_write | libc::SYS_pwrite64 => WRITE_LIKE,
        libc::SYS_open
        | libc::SYS_creat
        | libc::SYS_access
        | libc::SYS_chdir
        | libc::SYS_mkdir
        | libc::SYS_rmdir
        | libc::SYS_unlink
        | libc::SYS_chmod
        | libc::SYS_chown
        | libc::SYS_lchown
        | libc::SYS_truncate
        | libc::SYS_chroot
        | libc::SYS_acct
        | libc::SYS_swapon
        | libc::SYS_swapoff
        | libc::SYS_mknod
        | libc::SYS_umount2
        | libc::SYS_delete_module
        | libc::SYS_mq_unlink
        | libc::SYS_inotify_init => PATH0,
        libc::SYS_stat | libc::SYS_lstat => &[(0, Str), (1, STAT)],
        libc::SYS_fstat => &[(1, STAT)],
        libc::SYS_newfstatat => &[(1, Str), (2, STAT)],
        libc::SYS_statx => &[(1, Str), (4, InOut(Fixed(256)))],
        libc::SYS_statfs => &[(0, Str), (1, STATFS)],
        libc::SYS_fstatfs => &[(1, STATFS)],
        libc::SYS_ustat => &[(1, InOut(Fixed(32)))],
        libc::SYS_openat
        | libc::SYS_mkdirat
        | libc::SYS_mknodat
        | libc::SYS_fchownat
        | libc::SYS_unlinkat
        | libc::SYS_fchmodat
        | libc::SYS_fchmodat2
        | libc::SYS_faccessat
        | libc::SYS_faccessat2
        | libc::SYS_open_tree
        | libc::SYS_fspick
        | libc::SYS_inotify_add_watch => PATH1,
        libc::SYS_openat2 => &[(1, Str), (2, In(Arg(3)))],
        libc::SYS_rename | libc::SYS_link | libc::SYS_symlink | libc::SYS_pivot_root => PATHS01,
        libc::SYS_renameat | libc::SYS_renameat2 | libc::SYS_linkat | libc::SYS_move_mount => {
            &[(1, Str), (3, Str)]
        }
        libc::SYS_symlinkat => &[(0, Str), (2, Str)],
        libc::SYS_readlink => &[(0, Str), (1, Out(Clamp(2)))],
        libc::SYS_readlinkat => &[(1, Str), (2, Out(Clamp(3)))],
        libc::SYS_getcwd => &[(0, Out(Clamp(1)))],
        libc::SYS_utime => &[(0, Str), (1, In(Fixed(16)))],
        libc::SYS_utimes => &[(0, Str), (1, In(Fixed(32)))],
        libc::SYS_futimesat | libc::SYS_utimensat => &[(1, Str), (2, In(Fixed(32)))],
        libc::SYS_setxattr | libc::SYS_lsetxattr => &[(0, Str), (1, Str), (2, In(Arg(3)))],
        libc::SYS_fsetxattr => &[(1, Str), (2, In(Arg(3)))],
        libc::SYS_getxattr | libc::SYS_lgetxattr => &[(0, Str), (1, Str), (2, Out(Clamp(3)))],
        libc::SYS_fgetxattr => &[(1, Str), (2, Out(Clamp(3)))],
        libc::SYS_listxattr | libc::SYS_llistxattr => &[(0, Str), (1, Out(Clamp(2)))],
        libc::SYS_flistxattr => &[(1, Out(Clamp(2)))],
        libc::SYS_removexattr | libc::SYS_lremovexattr => PATHS01,
        libc::SYS_fremovexattr => PATH1,
        // listxattrat, removexattrat
        465 => &[(1, Str), (3, Out(Clamp(4)))],
        466 => &[(1, Str), (3, Str)],
        // open_tree_attr, file_getattr, file_setattr
        467 => &[(1, Str), (3, In(Arg(4)))],
        468 => &[(1, Str), (2, InOut(Arg(3)))],
        469 => &[(1, Str), (2, In(Arg(3)))],
        libc::SYS_mount => &[(0, Str), (1, Str), (2, Str), (4, Str)],
        libc::SYS_mount_setattr => &[(1, Str), (3, In(Arg(4)))],
        libc::SYS_fsopen => PATH0,
        libc::SYS_close
        | libc::SYS_lseek
        | libc::SYS_dup
        | libc::SYS_dup2
        | libc::SYS_dup3
        | libc::SYS_flock
        | libc::SYS_fsync
        | libc::SYS_fdatasync
        | libc::SYS_ftruncate
        | libc::SYS_fchdir
        | libc::SYS_fchmod
        | libc::SYS_fchown
        | libc::SYS_umask
        | libc::SYS_sync
        | libc::SYS_syncfs
        | libc::SYS_readahead
        | libc::SYS_fadvise64
        | libc::SYS_fallocate
        | libc::SYS_sync_file_range
        | libc::SYS_tee
        | libc::SYS_close_range
        | libc::SYS_inotify_init1
        | libc::SYS_inotify_rm_watch
        | libc::SYS_eventfd
        | libc::SYS_eventfd2
        | libc::SYS_timerfd_create
        | libc::SYS_epoll_create
        | libc::SYS_epoll_create1
        | libc::SYS_fanotify_init
        | libc::SYS_fsmount
        | libc::SYS_socket
        | libc::SYS_shutdown
        | libc::SYS_listen
        | libc::SYS_getuid
        | libc::SYS_getgid
        | libc::SYS_geteuid
        | libc::SYS_getegid
        | libc::SYS_setuid
        | libc::SYS_setgid
        | libc::SYS_setreuid
        | libc::SYS_setregid
        | libc::SYS_setresuid
        | libc::SYS_setresgid
        | libc::SYS_setfsuid
        | libc::SYS_setfsgid
        | libc::SYS_setpgid
        | libc::SYS_getpgid
        | libc::SYS_getpgrp
        | libc::SYS_getppid
        | libc::SYS_setsid
        | libc::SYS_getsid
        | libc::SYS_vhangup
        | libc::SYS_ioprio_set
        | libc::SYS_ioprio_get
        | libc::SYS_kcmp
        | libc::SYS_pidfd_open
        | libc::SYS_pidfd_getfd
        | libc::SYS_process_mrelease
        | libc::SYS_semget
        | libc::SYS_msgget
        | libc::SYS_kill
        | libc::SYS_tkill
        | libc::SYS_tgkill
        | libc::SYS_getpriority
        | libc::SYS_setpriority
        | libc::SYS_sched_getscheduler => NONE,
        libc::SYS_fanotify_mark => &[(4, Str)],
        libc::SYS_memfd_create => PATH0,
        libc::SYS_pipe | libc::SYS_pipe2 => &[(0, U64)],
        libc::SYS_sendfile => &[(2, U64)],
        libc::SYS_splice | libc::SYS_copy_file_range => &[(1, U64), (3, U64)],
        // cachestat
        451 => &[(1, In(Fixed(16))), (2, InOut(Fixed(40)))],
        libc::SYS_poll => &[(0, InOut(Count(1, 8)))],
        libc::SYS_ppoll => &[(0, InOut(Count(1, 8))), (2, TS_INOUT)],
        libc::SYS_select => &[
            (1, InOut(FdSet(0))),
            (2, InOut(FdSet(0))),
            (3, InOut(FdSet(0))),
            (4, TS_INOUT),
        ],
        libc::SYS_pselect6 => &[
            (1, InOut(FdSet(0))),
            (2, InOut(FdSet(0))),
            (3, InOut(FdSet(0))),
            (4, TS_INOUT),
        ],
        libc::SYS_epoll_wait | libc::SYS_epoll_pwait => &[(1, InOut(ClampCount(2, 12)))],
        libc::SYS_epoll_pwait2 => &[(1, InOut(ClampCount(2, 12))), (3, TS_IN)],
        libc::SYS_epoll_ctl => &[(3, In(Fixed(12)))],
        libc::SYS_timerfd_settime => &[(2, In(Fixed(32))), (3, ITIMERSPEC)],
        libc::SYS_timerfd_gettime => &[(1, ITIMERSPEC)],
        libc::SYS_connect | libc::SYS_bind => &[(1, In(Arg(2)))],
        libc::SYS_accept | libc::SYS_accept4 | libc::SYS_getsockname | libc::SYS_getpeername => {
            SOCKNAME
        }
        libc::SYS_socketpair => &[(3, U64)],
        libc::SYS_sendto => &[(1, In(Clamp(2))), (4, In(Arg(5)))],
        libc::SYS_recvfrom => &[
            (1, Out(Clamp(2))),
            (4, InOut(PtrU32(5, SOCKADDR_MAX))),
            (5, U32),
        ],
        libc::SYS_setsockopt => &[(3, In(Arg(4)))],
        libc::SYS_getsockopt => &[(3, InOut(PtrU32(4, SOCKOPT_MAX))), (4, U32)],
        libc::SYS_wait4 => &[(1, U32), (3, RUSAGE)],
        libc::SYS_waitid => &[(2, InOut(Fixed(128))), (4, RUSAGE)],
        libc::SYS_uname => &[(0, InOut(Fixed(390)))],
        libc::SYS_sysinfo => &[(0, InOut(Fixed(112)))],
        libc::SYS_getrlimit => &[(1, RLIMIT)],
        libc::SYS_setrlimit => &[(1, In(Fixed(16)))],
        libc::SYS_prlimit64 => &[(2, In(Fixed(16))), (3, RLIMIT)],
        libc::SYS_getgroups => &[(1, InOut(Count(0, 4)))],
        libc::SYS_setgroups => &[(1, In(Count(0, 4)))],
        libc::SYS_getresuid | libc::SYS_getresgid => &[(0, U32), (1, U32), (2, U32)],
        libc::SYS_capget => &[(0, InOut(Fixed(8))), (1, InOut(Fixed(24)))],
        libc::SYS_capset => &[(0, In(Fixed(8))), (1, In(Fixed(24)))],
        libc::SYS_sethostname | libc::SYS_setdomainname => &[(0, In(Arg(1)))],
        libc::SYS_adjtimex => &[(0, TIMEX)],
        libc::SYS_clock_adjtime => &[(1, TIMEX)],
        libc::SYS_settimeofday => &[(0, TS_IN), (1, In(Fixed(8)))],
        libc::SYS_clock_settime => &[(1, TS_IN)],
        libc::SYS_init_module => &[(0, In(Arg(1))), (2, Str)],
        libc::SYS_finit_module => &[(1, Str)],
        libc::SYS_kexec_file_load => &[(3, In(Arg(2)))],
        libc::SYS_mq_open => &[(0, Str), (3, MQ_ATTR)],
        libc::SYS_mq_timedsend => &[(1, In(Arg(2))), (4, TS_IN)],
        libc::SYS_mq_timedreceive => &[(1, Out(Arg(2))), (3, U32), (4, TS_IN)],
        libc::SYS_mq_notify => &[(1, SIGEVENT)],
        libc::SYS_mq_getsetattr => &[(1, MQ_ATTR), (2, InOut(Fixed(64)))],
        libc::SYS_semop => &[(1, In(Count(2, 6)))],
        libc::SYS_semtimedop => &[(1, In(Count(2, 6))), (3, TS_IN)],
        libc::SYS_msgsnd => &[(1, In(ArgPlus(2, 8)))],
        libc::SYS_msgrcv => &[(1, InOut(ArgPlus(2, 8)))],
        libc::SYS_add_key => &[(0, Str), (1, Str), (2, In(Arg(3)))],
        libc::SYS_request_key => &[(0, Str), (1, Str), (2, Str)],
        libc::SYS_pidfd_send_signal => &[(2, SIGINFO)],
        libc::SYS_rt_sigqueueinfo => &[(2, SIGINFO)],
        libc::SYS_rt_tgsigqueueinfo => &[(3, SIGINFO)],
        libc::SYS_sched_setparam => &[(1, In(Fixed(4)))],
        libc::SYS_sched_getparam => &[(1, U32)],
        libc::SYS_sched_setscheduler => &[(2, In(Fixed(4)))],
        libc::SYS_sched_rr_get_interval => &[(1, TS_INOUT)],
        libc::SYS_sched_setaffinity => &[(2, In(Arg(1)))],
        libc::SYS_sched_getaffinity => &[(2, Out(Arg(1)))],
        _ => return None,
    })
}
