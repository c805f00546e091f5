//! The guest filter in real processes: a process blocked in `read(0)` is seized, the filter
//! from the table is installed into it, and the test serves its notifications with
//! [`decide`]: a file the test hides fails with ENOENT, private anonymous mappings are never
//! notified, `getpid` is answered with the home pid, calls answered CONTINUE run natively, and
//! a guest frozen while its call is held (a barrier) makes the call again. There is no home
//! here: forwarded calls the test does not answer itself run natively (CONTINUE), as do
//! barriers.

use std::io::{Read, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wend_deputy::marshal::{decide, Context, Decision, GuestMem, Prepared};
use wend_deputy::{filter, Dir};
use wend_sys::seccomp::{self, Notif, Wait};
use wend_sys::{mem, proc, Stopped};

const HOME_PID: i32 = 4242;
const CTX: Context = Context { home_pid: HOME_PID };

/// The guest's memory through process_vm_readv/writev.
struct Vm(i32);

impl GuestMem for Vm {
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let n = buf.len();
        match mem::read_vm(self.0, buf, &[(addr, n)]) {
            Ok(got) if got == n => Ok(()),
            _ => Err(std::io::Error::from_raw_os_error(libc::EFAULT)),
        }
    }
    fn write(&self, addr: u64, data: &[u8]) -> std::io::Result<()> {
        mem::write_vm(self.0, addr, data)
            .map_err(|_| std::io::Error::from_raw_os_error(libc::EFAULT))
    }
}

/// A scratch directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("wend-filter-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child killed and reaped on drop, unless it was waited for.
struct Guest(Child);

impl Drop for Guest {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

impl Guest {
    fn start(cmd: &mut Command) -> Guest {
        wend_sys::process::set_child_subreaper().expect("PR_SET_CHILD_SUBREAPER");
        wend_sys::process::close_other_fds(cmd);
        let child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start guest");
        Guest(child)
    }

    fn pid(&self) -> i32 {
        self.0.id() as i32
    }

    /// Wait until the guest sleeps in `read` (system call 0).
    fn wait_in_read(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let sc = proc::read_string(self.pid(), "syscall").unwrap_or_default();
            if sc.starts_with("0 ") {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "guest never blocked in read: {sc}"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Let it go on past its `read`.
    fn go(&mut self) {
        if let Some(mut stdin) = self.0.stdin.take() {
            stdin.write_all(b"g\n").expect("write go");
        }
    }

    /// Let it go on, collect its output, reap it within a generous timeout.
    fn finish(&mut self) -> (i32, String, String) {
        self.go();
        let mut out = self.0.stdout.take().expect("stdout");
        let mut err = self.0.stderr.take().expect("stderr");
        let t_out = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = out.read_to_string(&mut s);
            s
        });
        let t_err = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = err.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.0.try_wait().expect("try_wait") {
                break st;
            }
            if Instant::now() > deadline {
                let _ = self.0.kill();
                panic!("guest did not finish in 30 s");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let out = t_out.join().expect("stdout reader");
        let err = t_err.join().expect("stderr reader");
        (status.code().unwrap_or(-1), out, err)
    }
}

/// One served notification.
#[derive(Debug, Clone)]
struct Seen {
    nr: u32,
    args: [u64; 6],
    decision: Decision,
}

/// Answer one notification as the test's stand-in for home: decisions from `decide`; a
/// forwarded call naming a path in `hidden` fails with ENOENT, other forwarded calls and
/// barriers run natively (CONTINUE).
fn answer(fd: BorrowedFd<'_>, n: &Notif, d: &Decision, hidden: &[Vec<u8>]) {
    let _ = match d {
        Decision::Reply(v) => seccomp::reply(fd, n.id, *v, 0),
        Decision::Deny { errno, .. } => seccomp::reply(fd, n.id, 0, *errno),
        Decision::Forward(p) if names(p, hidden) => seccomp::reply(fd, n.id, 0, libc::ENOENT),
        _ => seccomp::reply_continue(fd, n.id),
    };
}

fn names(p: &Prepared, paths: &[Vec<u8>]) -> bool {
    p.call
        .regions
        .iter()
        .any(|r| r.dir == Dir::In && paths.contains(&r.data))
}

/// Serve the listener until the guest is gone (see [`answer`]); what was served.
fn serve(listener: OwnedFd, hidden: Vec<Vec<u8>>) -> std::thread::JoinHandle<Vec<Seen>> {
    std::thread::spawn(move || {
        let fd = listener.as_fd();
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let n = match seccomp::recv_timeout(fd, Some(Duration::from_millis(100))) {
                Ok(Wait::Notif(n)) => n,
                Ok(Wait::Timeout) => continue,
                Ok(Wait::Gone) | Err(_) => break,
            };
            let d = decide(n.nr, n.args, &CTX, &Vm(n.pid));
            answer(fd, &n, &d, &hidden);
            seen.push(Seen {
                nr: n.nr,
                args: n.args,
                decision: d,
            });
        }
        seen
    })
}

/// Seize the guest blocked in read, install the filter, check that nothing visible changed,
/// detach; the listener.
fn install(g: &Guest, wait_killable_recv: bool) -> OwnedFd {
    g.wait_in_read();
    let fds_before = fds(g.pid());
    let mut st = Stopped::seize(g.pid()).expect("seize");
    let regs = st.regs().expect("regs").to_array();
    let listener = seccomp::install_with(&mut st, &filter::program(), wait_killable_recv)
        .expect("install filter");
    assert_eq!(
        st.regs().expect("regs").to_array(),
        regs,
        "registers are left as found"
    );
    st.detach().expect("detach");
    assert_eq!(
        fds(g.pid()),
        fds_before,
        "the guest keeps no listener descriptor"
    );
    let status = proc::read_string(g.pid(), "status").expect("status");
    assert!(
        status.contains("Seccomp:\t2"),
        "filter mode in /proc status"
    );
    listener
}

fn fds(pid: i32) -> Vec<(String, PathBuf)> {
    let mut v: Vec<(String, PathBuf)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list fds")
        .map(|e| {
            let e = e.expect("fd entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let target = std::fs::read_link(e.path()).unwrap_or_default();
            (name, target)
        })
        .collect();
    v.sort();
    v
}

const GUEST_C: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv) {
    char go;
    if (argc < 3 || read(0, &go, 1) != 1) return 10; /* the filter arrives while we wait */
    for (int i = 0; i < 4; i++) {
        char *p = mmap(0, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) return 11;
        memset(p, 1, 4096);
        munmap(p, 1 << 20);
    }
    char *s = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (s == MAP_FAILED) return 12;
    int fd = open(argv[1], O_RDONLY);
    printf("hidden %d %s\n", fd, fd < 0 ? strerror(errno) : "opened");
    fd = open(argv[2], O_RDONLY);
    char buf[64];
    printf("visible %d %zd\n", fd >= 0, fd >= 0 ? read(fd, buf, sizeof buf) : -1);
    printf("pid %d\n", (int)getpid());
    return 0;
}
"#;

#[test]
fn a_filtered_guest_is_served_by_decide() {
    let dir = TempDir::new("guest");
    let src = dir.0.join("guest.c");
    let bin = dir.0.join("guest");
    std::fs::write(&src, GUEST_C).expect("write guest source");
    let st = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .status()
        .expect("run gcc");
    assert!(st.success(), "gcc failed");
    let hidden = dir.0.join("hidden");
    let visible = dir.0.join("visible");
    std::fs::write(&hidden, "secret of the remote node\n").expect("write hidden");
    std::fs::write(&visible, "twelve bytes").expect("write visible");

    let mut g = Guest::start(Command::new(&bin).arg(&hidden).arg(&visible));
    let listener = install(&g, false);
    let mut hidden_path = hidden.as_os_str().as_encoded_bytes().to_vec();
    hidden_path.push(0);
    let server = serve(listener, vec![hidden_path.clone()]);
    let (code, out, err) = g.finish();
    let seen = server.join().expect("server");

    assert_eq!(code, 0, "guest failed: {err}\n{out}");
    assert!(out.contains("hidden -1 No such file or directory"), "{out}");
    assert!(out.contains("visible 1 12"), "{out}");
    assert!(out.contains(&format!("pid {HOME_PID}")), "{out}");

    let mmaps: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.nr == libc::SYS_mmap as u32)
        .collect();
    assert_eq!(
        mmaps.len(),
        1,
        "only the shared mapping is notified: {mmaps:?}"
    );
    assert_ne!(mmaps[0].args[3] & libc::MAP_SHARED as u64, 0);
    assert!(matches!(mmaps[0].decision, Decision::Barrier(_)));
    assert!(
        !seen.iter().any(|s| s.nr == libc::SYS_munmap as u32),
        "munmap runs natively"
    );
    let open_hidden = seen
        .iter()
        .find(|s| {
            matches!(&s.decision, Decision::Forward(p)
                if p.call.regions.iter().any(|r| r.data == hidden_path))
        })
        .expect("the hidden open was notified and forwarded");
    assert_eq!(open_hidden.nr, libc::SYS_openat as u32);
    assert!(seen
        .iter()
        .any(|s| s.nr == libc::SYS_getpid as u32
            && s.decision == Decision::Reply(i64::from(HOME_PID))));
    // The blocked read restarted under the filter and was notified.
    assert!(seen.iter().any(|s| s.nr == 0 && s.args[0] == 0));
}

#[test]
fn cat_of_a_remote_file_finds_nothing() {
    // sh waits in `read`; then it execs cat, which inherits the filter.
    let mut g =
        Guest::start(Command::new("/bin/sh").args(["-c", "read x; exec cat /etc/hostname"]));
    let listener = install(&g, true);
    let server = serve(listener, vec![b"/etc/hostname\0".to_vec()]);
    let (code, out, err) = g.finish();
    let seen = server.join().expect("server");
    assert_eq!(code, 1, "cat must fail: {out}{err}");
    assert!(out.is_empty(), "nothing of the file leaks: {out}");
    assert!(
        err.contains("/etc/hostname: No such file or directory"),
        "{err}"
    );
    assert!(seen
        .iter()
        .any(|s| s.nr == libc::SYS_execve as u32 && matches!(s.decision, Decision::Barrier(_))));
}

#[test]
fn a_guest_frozen_in_a_notified_call_makes_it_again() {
    // What a barrier does: the remote holds a notification and freezes the guest; the call
    // shows as interrupted (-ERESTARTSYS) and is made again when the process runs on.
    let mut g =
        Guest::start(Command::new("/bin/sh").args(["-c", "read x; exec cat /etc/hostname"]));
    let listener = install(&g, false);
    let fd = listener.as_fd();
    let path = b"/etc/hostname\0".to_vec();
    g.go();
    let deadline = Instant::now() + Duration::from_secs(30);
    let held = loop {
        assert!(
            Instant::now() < deadline,
            "the open of /etc/hostname never came"
        );
        let n = match seccomp::recv_timeout(fd, Some(Duration::from_millis(100))) {
            Ok(Wait::Notif(n)) => n,
            Ok(Wait::Timeout) => continue,
            other => panic!("listener: {other:?}"),
        };
        let d = decide(n.nr, n.args, &CTX, &Vm(n.pid));
        match &d {
            Decision::Forward(p) if names(p, std::slice::from_ref(&path)) => break n,
            _ => answer(fd, &n, &d, &[]),
        }
    };
    assert!(seccomp::id_valid(fd, held.id));
    let st = Stopped::seize(g.pid()).expect("seize the guest in its notified call");
    let regs = st.regs().expect("regs");
    assert_eq!(regs.ret() as i64, -(seccomp::ERESTARTSYS as i64));
    assert_eq!(regs.orig_syscall(), u64::from(held.nr));
    assert!(!seccomp::id_valid(fd, held.id), "the notification is gone");
    assert!(!seccomp::reply(fd, held.id, 0, libc::ENOENT).expect("reply"));
    st.detach().expect("detach");
    let server = serve(listener, vec![path.clone()]);
    let (code, _out, err) = g.finish();
    let seen = server.join().expect("server");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("No such file or directory"), "{err}");
    assert!(
        seen.iter().any(
            |s| matches!(&s.decision, Decision::Forward(p) if names(p, std::slice::from_ref(&path)))
        ),
        "the open was made again"
    );
}
