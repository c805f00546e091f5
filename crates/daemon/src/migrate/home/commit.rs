//! When a post-copy move becomes final.
//!
//! During post-copy the original is still whole at home, and nothing the guest did left a
//! mark there as long as every call it forwarded only looked (stat, getpid, ...). Until the
//! first call that changes something at home (or a signal passed on to it), losing the
//! target loses nothing: the original runs on at home, as after a failed stop-and-copy move.
//! After that point the move is committed: losing the target loses the process, as for any
//! process away. `wend migrate` answers when every page has arrived.

/// Whether forwarded call `nr` only reads state at home, so that running it again after a
/// rollback changes nothing (its result may differ, which the guest never acted on at home).
pub fn looks_only(nr: u32) -> bool {
    const LOOKS: &[i64] = &[
        libc::SYS_stat,
        libc::SYS_lstat,
        libc::SYS_fstat,
        libc::SYS_newfstatat,
        libc::SYS_statx,
        libc::SYS_access,
        libc::SYS_faccessat,
        libc::SYS_faccessat2,
        libc::SYS_readlink,
        libc::SYS_readlinkat,
        libc::SYS_getcwd,
        libc::SYS_statfs,
        libc::SYS_fstatfs,
        libc::SYS_getpid,
        libc::SYS_getppid,
        libc::SYS_getpgrp,
        libc::SYS_getpgid,
        libc::SYS_getsid,
        libc::SYS_getuid,
        libc::SYS_geteuid,
        libc::SYS_getgid,
        libc::SYS_getegid,
        libc::SYS_getresuid,
        libc::SYS_getresgid,
        libc::SYS_getgroups,
        libc::SYS_uname,
        libc::SYS_sysinfo,
        libc::SYS_times,
        libc::SYS_getrusage,
        libc::SYS_getpriority,
    ];
    LOOKS.contains(&i64::from(nr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn looking_calls_are_told_from_changing_ones() {
        assert!(looks_only(libc::SYS_newfstatat as u32));
        assert!(looks_only(libc::SYS_getppid as u32));
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_close,
            libc::SYS_lseek,
            libc::SYS_kill,
            libc::SYS_getdents64,
        ] {
            assert!(!looks_only(nr as u32), "{nr}");
        }
    }
}
