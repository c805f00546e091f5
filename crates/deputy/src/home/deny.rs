//! System calls that never run in a deputy, whatever the remote side sends.
//!
//! The policy table decides what the remote forwards; this is home's own defence against a
//! confused or hostile remote. A refused call returns `-ENOSYS` and is logged. Refused are the
//! calls that would make the deputy a second live copy (process creation, exec, exit through a
//! forwarded call), change its memory map (our scratch and code pages live there, and coming
//! home rebuilds the map), change its registers from memory (`rt_sigreturn`), block or wait on
//! signals at home (the deputy keeps no signal blocked so every signal reaches the guest), or
//! change how it is traced or filtered.

/// `map_shadow_stack` (not in every libc release).
const SYS_MAP_SHADOW_STACK: i64 = 453;

/// Why `nr` must not run in a deputy, or None if it may.
pub fn refused(nr: u32, args: &[u64; 6]) -> Option<&'static str> {
    let nr = i64::from(nr);
    let why = match nr {
        libc::SYS_clone | libc::SYS_clone3 | libc::SYS_fork | libc::SYS_vfork => {
            "creates a process or thread at home (a barrier call: the process comes home first)"
        }
        libc::SYS_execve | libc::SYS_execveat => {
            "replaces the program (a barrier call: the process comes home first)"
        }
        libc::SYS_exit | libc::SYS_exit_group => {
            "ends the deputy (home ends it on the guest's exit)"
        }
        libc::SYS_rt_sigreturn | libc::SYS_restart_syscall => {
            "loads registers from the deputy's stack"
        }
        libc::SYS_mmap
        | libc::SYS_munmap
        | libc::SYS_mremap
        | libc::SYS_mprotect
        | libc::SYS_pkey_mprotect
        | libc::SYS_brk
        | libc::SYS_madvise
        | libc::SYS_process_madvise
        | libc::SYS_remap_file_pages
        | libc::SYS_shmat
        | libc::SYS_shmdt
        | libc::SYS_userfaultfd
        | libc::SYS_mseal
        | SYS_MAP_SHADOW_STACK => "changes the deputy's memory map (memory is local to the guest)",
        libc::SYS_rt_sigprocmask
        | libc::SYS_rt_sigsuspend
        | libc::SYS_rt_sigtimedwait
        | libc::SYS_rt_sigaction
        | libc::SYS_sigaltstack
        | libc::SYS_signalfd
        | libc::SYS_signalfd4 => {
            "changes or consumes the deputy's signal state (signals are the guest's)"
        }
        libc::SYS_seccomp | libc::SYS_ptrace => "changes how the deputy is traced or filtered",
        libc::SYS_arch_prctl
        | libc::SYS_rseq
        | libc::SYS_set_tid_address
        | libc::SYS_set_robust_list => "changes per-thread state that belongs to the guest",
        libc::SYS_prctl if matches!(args[0] as i32, libc::PR_SET_MM | libc::PR_SET_SECCOMP) => {
            "changes the deputy's memory layout or filter"
        }
        _ => return None,
    };
    Some(why)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dangerous_calls_are_refused_and_file_calls_are_not() {
        for nr in [
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_fork,
            libc::SYS_vfork,
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_exit,
            libc::SYS_exit_group,
            libc::SYS_rt_sigreturn,
            libc::SYS_mmap,
            libc::SYS_munmap,
            libc::SYS_mremap,
            libc::SYS_brk,
            libc::SYS_seccomp,
            libc::SYS_ptrace,
        ] {
            assert!(refused(nr as u32, &[0; 6]).is_some(), "{nr}");
        }
        for nr in [
            libc::SYS_read,
            libc::SYS_write,
            libc::SYS_openat,
            libc::SYS_fstat,
            libc::SYS_getppid,
            libc::SYS_wait4,
            libc::SYS_kill,
        ] {
            assert_eq!(refused(nr as u32, &[0; 6]), None, "{nr}");
        }
        let mm = [libc::PR_SET_MM as u64, 0, 0, 0, 0, 0];
        assert!(refused(libc::SYS_prctl as u32, &mm).is_some());
        let name = [libc::PR_SET_NAME as u64, 0, 0, 0, 0, 0];
        assert_eq!(refused(libc::SYS_prctl as u32, &name), None);
    }
}
