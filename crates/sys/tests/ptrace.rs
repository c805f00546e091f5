//! Typed ptrace and injection against a real child process.

use std::process::{Child, Command, Stdio};

use wend_sys::{mem, proc, Stopped, SysError};

struct Sleeper(Child);

impl Sleeper {
    fn start() -> Sleeper {
        wend_sys::process::set_child_subreaper().unwrap();
        let mut cmd = Command::new("sleep");
        wend_sys::process::close_other_fds(&mut cmd);
        Sleeper(
            cmd.arg("1000")
                .stdin(Stdio::null())
                .spawn()
                .expect("start sleep"),
        )
    }
    fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_sleeping(pid: i32) {
    for _ in 0..2000 {
        if proc::stat::state(pid).unwrap() == 'S' {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("process {pid} never went to sleep");
}

#[test]
fn seize_inject_and_detach_leave_the_process_unchanged() {
    let s = Sleeper::start();
    wait_sleeping(s.pid());
    let mut st = Stopped::seize(s.pid()).unwrap();
    let before = st.regs().unwrap();
    // Frozen inside nanosleep/clock_nanosleep: the kernel will restart it.
    assert!(before.in_restartable_syscall(), "{before:?}");
    assert!(before.fs_base() != 0, "glibc sets up TLS through fs");
    let x = st.xstate().unwrap();
    assert!(x.len() >= 576, "xsave area is {} bytes", x.len());
    let pid = st.syscall("getpid", libc::SYS_getpid, [0; 6]).unwrap();
    assert_eq!(pid as i32, s.pid());
    let e = st
        .syscall("close", libc::SYS_close, [9999, 0, 0, 0, 0, 0])
        .unwrap_err();
    assert_eq!(e.errno(), Some(libc::EBADF), "{e}");
    assert_eq!(
        st.program_regs().unwrap().ip(),
        before.ip(),
        "injection keeps the program's registers"
    );
    let mask = st.sigmask().unwrap();
    st.set_sigmask(mask | 1 << (libc::SIGUSR1 - 1)).unwrap();
    assert_eq!(st.sigmask().unwrap(), mask | 1 << (libc::SIGUSR1 - 1));
    st.set_sigmask(mask).unwrap();
    st.detach().unwrap();
    // It sleeps on, untraced.
    wait_sleeping(s.pid());
    let status = proc::status(s.pid()).unwrap();
    assert_eq!(proc::status_field(&status, "TracerPid"), Some("0"));
}

#[test]
fn remote_memory_round_trip_and_pagemap() {
    let s = Sleeper::start();
    wait_sleeping(s.pid());
    let mut st = Stopped::seize(s.pid()).unwrap();
    let prot = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64;
    let a = st
        .syscall(
            "mmap",
            libc::SYS_mmap,
            [0, 3 * 4096, prot, flags, u64::MAX, 0],
        )
        .unwrap();
    let pm = proc::pagemap::Pagemap::open(s.pid()).unwrap();
    assert!(pm
        .states(a, a + 3 * 4096)
        .unwrap()
        .iter()
        .all(|p| *p == proc::pagemap::PageState::Absent));
    mem::write_vm(s.pid(), a + 4096, b"hello").unwrap();
    let states = pm.states(a, a + 3 * 4096).unwrap();
    assert_eq!(states[1], proc::pagemap::PageState::Private);
    assert_eq!(states[0], proc::pagemap::PageState::Absent);
    let mut buf = [0u8; 5];
    assert_eq!(
        mem::read_vm(s.pid(), &mut buf, &[(a + 4096, 5)]).unwrap(),
        5
    );
    assert_eq!(&buf, b"hello");
    // PROT_NONE: process_vm_readv refuses, /proc/PID/mem works.
    st.syscall("mprotect", libc::SYS_mprotect, [a, 3 * 4096, 0, 0, 0, 0])
        .unwrap();
    assert!(mem::read_vm(s.pid(), &mut buf, &[(a + 4096, 5)]).is_err());
    let mut buf2 = [0u8; 5];
    assert_eq!(mem::read_proc_mem(s.pid(), a + 4096, &mut buf2).unwrap(), 5);
    assert_eq!(&buf2, b"hello");
    st.syscall("munmap", libc::SYS_munmap, [a, 3 * 4096, 0, 0, 0, 0])
        .unwrap();
    st.detach().unwrap();
}

#[test]
fn a_missing_process_is_died_not_a_generic_error() {
    let e = Stopped::seize(4_000_000).unwrap_err();
    assert!(matches!(e, SysError::Died { pid: 4_000_000 }), "{e:?}");
    assert!(proc::status(4_000_000).is_err());
}

#[test]
fn pidfd_takes_a_descriptor_out_of_another_process() {
    let s = Sleeper::start();
    let pfd = wend_sys::pidfd::open(s.pid()).unwrap();
    // fd 1 of `sleep` is our stdout (inherited): a copy must refer to the same file.
    let theirs = wend_sys::pidfd::get_fd(&pfd, s.pid(), 1).unwrap();
    let me = std::process::id() as i32;
    use std::os::fd::AsRawFd;
    assert!(wend_sys::fd::same_file(me, theirs.as_raw_fd(), s.pid(), 1).unwrap());
    wend_sys::pidfd::send_signal(&pfd, s.pid(), libc::SIGKILL).unwrap();
}
