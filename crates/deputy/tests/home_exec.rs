//! The home executor against real processes: a `cat` whose stdin and stdout are pipes to the
//! test is seized and made a deputy; forwarded calls run in it, signals to it are taken, and it
//! ends or is given back as told.

use std::io::{Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use wend_deputy::home::{Deputy, DeputyError, Executed, Fate, Signal};
use wend_deputy::{Back, Call, Dir, Outcome, Region};
use wend_sys::{pidfd, proc, Stopped};

/// A `cat` under the test, started by a small parent (perl) that reports cat's pid and then
/// the raw status its `waitpid` sees: the deputy is not the tracer's child, as in real use.
/// cat's stdin is written by the test, its stdout read by a thread.
struct Cat {
    parent: Child,
    pid: i32,
    stdin: Option<ChildStdin>,
    out: Receiver<Vec<u8>>,
    status: Receiver<i32>,
}

const PARENT: &str = "my $p = fork; if (!$p) { exec 'cat' or exit 127 } print STDERR \"$p\\n\"; \
     waitpid($p, 0); print STDERR \"$?\\n\";";

impl Cat {
    fn start() -> Cat {
        Cat::start_opts(false)
    }

    /// With `cores`, cat may dump core (RLIMIT_CORE raised): a test can prove none is written.
    fn start_opts(cores: bool) -> Cat {
        wend_sys::process::set_child_subreaper().unwrap();
        let limit = if cores { "ulimit -c unlimited && " } else { "" };
        let mut cmd = Command::new("sh");
        wend_sys::process::close_other_fds(&mut cmd);
        let mut parent = cmd
            .args(["-c", &format!("{limit}exec perl -e \"$1\""), "sh", PARENT])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start perl");
        let out = lines_of(parent.stdout.take().unwrap());
        let (tx, status) = mpsc::channel();
        let err = parent.stderr.take().unwrap();
        std::thread::spawn(move || {
            let mut r = std::io::BufReader::new(err);
            let mut line = String::new();
            while std::io::BufRead::read_line(&mut r, &mut line).unwrap_or(0) > 0 {
                if tx.send(line.trim().parse::<i32>().unwrap_or(-1)).is_err() {
                    break;
                }
                line.clear();
            }
        });
        let pid = status
            .recv_timeout(Duration::from_secs(10))
            .expect("cat's pid");
        let stdin = parent.stdin.take();
        let cat = Cat {
            parent,
            pid,
            stdin,
            out,
            status,
        };
        cat.wait_state(&['S']);
        cat
    }

    /// The raw wait status cat's parent saw.
    fn parent_saw(&self) -> i32 {
        self.status
            .recv_timeout(Duration::from_secs(10))
            .expect("cat's parent reports its wait status")
    }

    fn parent_pid(&self) -> i64 {
        i64::from(self.parent.id())
    }

    fn pid(&self) -> i32 {
        self.pid
    }

    fn wait_state(&self, want: &[char]) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if want.contains(&proc::stat::state(self.pid()).unwrap()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("process {} never reached state {want:?}", self.pid());
    }

    fn feed(&mut self, bytes: &[u8]) {
        let w = self.stdin.as_mut().unwrap();
        w.write_all(bytes).unwrap();
        w.flush().unwrap();
    }

    /// Exactly `n` bytes from cat's stdout, waiting up to 10 s.
    fn expect_out(&self, n: usize) -> Vec<u8> {
        let mut got = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while got.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.out.recv_timeout(left) {
                Ok(b) => got.extend(b),
                Err(e) => panic!("only {got:?} of {n} bytes on stdout: {e}"),
            }
        }
        got
    }

    fn signal(&self, sig: i32) {
        let fd = pidfd::open(self.pid()).unwrap();
        pidfd::send_signal(&fd, self.pid(), sig).unwrap();
    }

    fn deputy(&self) -> Deputy {
        let st = Stopped::seize(self.pid()).expect("seize cat");
        Deputy::new(st).expect("make cat a deputy")
    }
}

impl Drop for Cat {
    fn drop(&mut self) {
        // cat first (its parent reaps it), then the parent.
        if let Ok(fd) = pidfd::open(self.pid) {
            let _ = pidfd::send_signal(&fd, self.pid, libc::SIGKILL);
        }
        let _ = self.parent.wait();
    }
}

/// Chunks read from `r` until its end, on a channel.
fn lines_of(mut r: impl Read + Send + 'static) -> Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    rx
}

/// A file under /tmp, removed at the end.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(tag: &str, data: &[u8]) -> TempFile {
        let p = std::env::temp_dir().join(format!("wend-home-{}-{tag}", std::process::id()));
        std::fs::write(&p, data).unwrap();
        TempFile(p)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Pending signal bits of `pid` (thread and process).
fn st_pending(pid: i32) -> String {
    let s = proc::status(pid).unwrap();
    let a = u64::from_str_radix(proc::status_field(&s, "SigPnd").unwrap(), 16).unwrap();
    let b = u64::from_str_radix(proc::status_field(&s, "ShdPnd").unwrap(), 16).unwrap();
    if a | b == 0 {
        String::new()
    } else {
        format!("{:x}", a | b)
    }
}

fn never() -> impl FnMut() -> bool {
    || false
}

fn done(e: Executed) -> Outcome {
    match e {
        Executed::Done(o) => o,
        other => panic!("call did not complete: {other:?}"),
    }
}

fn read_call(fd: u64, len: u32) -> Call {
    Call {
        nr: libc::SYS_read as u32,
        args: [fd, 0, u64::from(len), 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::Out,
            len,
            data: Vec::new(),
            back: Back::UpToRet,
        }],
    }
}

fn scalar(nr: i64) -> Call {
    Call::scalar(nr as u32, [0; 6])
}

#[test]
fn getppid_write_and_read_run_in_the_deputy() {
    let mut cat = Cat::start();
    let mut d = cat.deputy();
    let o = done(d.execute(&scalar(libc::SYS_getppid), &mut never()).unwrap());
    assert_eq!(o.ret, cat.parent_pid(), "cat's parent is perl");
    let o = done(d.execute(&scalar(libc::SYS_getpid), &mut never()).unwrap());
    assert_eq!(o.ret, i64::from(cat.pid()));

    let write = Call {
        nr: libc::SYS_write as u32,
        args: [1, 0, 5, 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: 5,
            data: b"hello".to_vec(),
            back: Back::All,
        }],
    };
    let o = done(d.execute(&write, &mut never()).unwrap());
    assert_eq!(o.ret, 5);
    assert!(o.out.is_empty());
    assert_eq!(cat.expect_out(5), b"hello");

    cat.feed(b"abc");
    let o = done(d.execute(&read_call(0, 64), &mut never()).unwrap());
    assert_eq!(o.ret, 3);
    assert_eq!(o.out, vec![b"abc".to_vec()]);

    // A region larger than the first scratch area grows it.
    let big = vec![0x5a; 300_000];
    let write_big = Call {
        nr: libc::SYS_write as u32,
        args: [1, 0, big.len() as u64, 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: big.len() as u32,
            data: big.clone(),
            back: Back::All,
        }],
    };
    // A blocking write into a pipe the test drains: the slow path of the wait.
    let o = done(d.execute(&write_big, &mut never()).unwrap());
    assert_eq!(o.ret, big.len() as i64);
    let written = big.len();
    assert_eq!(cat.expect_out(written), big[..written]);
}

#[test]
fn openat_then_fstat_fill_out_regions() {
    let cat = Cat::start();
    let data = b"wend deputy fstat test\n";
    let f = TempFile::new("fstat", data);
    let mut d = cat.deputy();
    let mut path = f.0.as_os_str().as_encoded_bytes().to_vec();
    path.push(0);
    let open = Call {
        nr: libc::SYS_openat as u32,
        args: [libc::AT_FDCWD as u64, 0, libc::O_RDONLY as u64, 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: path.len() as u32,
            data: path,
            back: Back::All,
        }],
    };
    let fd = done(d.execute(&open, &mut never()).unwrap()).ret;
    assert!(fd >= 3, "openat gave {fd}");
    assert!(proc::readlink(cat.pid(), &format!("fd/{fd}")).unwrap() == f.0);
    let fstat = Call {
        nr: libc::SYS_fstat as u32,
        args: [fd as u64, 0, 0, 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::Out,
            len: 144,
            data: Vec::new(),
            back: Back::All,
        }],
    };
    let o = done(d.execute(&fstat, &mut never()).unwrap());
    assert_eq!(o.ret, 0);
    assert_eq!(o.out[0].len(), 144);
    // struct stat on x86-64: st_ino at 8, st_size at 48.
    let ino = u64::from_ne_bytes(o.out[0][8..16].try_into().unwrap());
    let size = i64::from_ne_bytes(o.out[0][48..56].try_into().unwrap());
    let meta = std::fs::metadata(&f.0).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((ino, size), (meta.ino(), data.len() as i64));
    let close = Call::scalar(libc::SYS_close as u32, [fd as u64, 0, 0, 0, 0, 0]);
    assert_eq!(done(d.execute(&close, &mut never()).unwrap()).ret, 0);
    let o = done(d.execute(&close, &mut never()).unwrap());
    assert_eq!(o.ret, -i64::from(libc::EBADF));
}

#[test]
fn a_blocked_read_is_cancelled_and_the_deputy_keeps_working() {
    let mut cat = Cat::start();
    let mut d = cat.deputy();
    let t0 = Instant::now();
    let mut stop = move || t0.elapsed() > Duration::from_millis(50);
    let r = d.execute(&read_call(0, 16), &mut stop).unwrap();
    assert_eq!(r, Executed::Cancelled);
    assert!(t0.elapsed() >= Duration::from_millis(50));
    cat.wait_state(&['t']);
    cat.feed(b"x");
    let o = done(d.execute(&read_call(0, 16), &mut never()).unwrap());
    assert_eq!((o.ret, o.out), (1, vec![b"x".to_vec()]));
    let o = done(d.execute(&scalar(libc::SYS_getppid), &mut never()).unwrap());
    assert_eq!(o.ret, cat.parent_pid());
}

#[test]
fn a_signal_during_a_blocked_read_interrupts_it_and_stays_away_from_home() {
    let cat = Cat::start();
    let mut d = cat.deputy();
    let pid = cat.pid();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let fd = pidfd::open(pid).unwrap();
        pidfd::send_signal(&fd, pid, libc::SIGUSR1).unwrap();
    });
    let r = d.execute(&read_call(0, 16), &mut never()).unwrap();
    sender.join().unwrap();
    match r {
        Executed::Interrupted(sigs) => {
            let nos: Vec<i32> = sigs.iter().map(|s| s.signo).collect();
            assert_eq!(nos, vec![libc::SIGUSR1]);
            let sender = i32::from_ne_bytes(sigs[0].siginfo[16..20].try_into().unwrap());
            assert_eq!(
                sender as u32,
                std::process::id(),
                "siginfo names the sender"
            );
        }
        other => panic!("expected Interrupted, got {other:?}"),
    }
    // SIGUSR1 would have killed cat at home.
    assert_eq!(proc::stat::state(pid).unwrap(), 't');
    assert!(d.take_signals().unwrap().is_empty());
    let o = done(d.execute(&scalar(libc::SYS_getppid), &mut never()).unwrap());
    assert_eq!(o.ret, cat.parent_pid());
}

#[test]
fn signals_sent_while_idle_are_taken_not_delivered() {
    let cat = Cat::start();
    let mut d = cat.deputy();
    assert!(d.take_signals().unwrap().is_empty());
    cat.signal(libc::SIGTERM);
    // Blocked at home and ignored at home alike.
    cat.signal(libc::SIGWINCH);
    // A stop signal does not stop the deputy: the guest's kernel stops the guest.
    cat.signal(libc::SIGSTOP);
    let sigs = d.take_signals().unwrap();
    let mut nos: Vec<i32> = sigs.iter().map(|s| s.signo).collect();
    nos.sort();
    assert_eq!(nos, vec![libc::SIGTERM, libc::SIGSTOP, libc::SIGWINCH]);
    assert!(d.take_signals().unwrap().is_empty());
    assert_eq!(proc::stat::state(cat.pid()).unwrap(), 't');
    assert_eq!(d.gone(), None);
    // A signal that arrives between calls makes the next call return it first, unrun.
    cat.signal(libc::SIGHUP);
    match d.execute(&scalar(libc::SYS_getppid), &mut never()).unwrap() {
        Executed::Interrupted(s) => assert_eq!(s[0].signo, libc::SIGHUP),
        other => panic!("expected Interrupted, got {other:?}"),
    }
    let o = done(d.execute(&scalar(libc::SYS_getppid), &mut never()).unwrap());
    assert_eq!(o.ret, cat.parent_pid());
}

#[test]
fn calls_that_must_not_run_at_home_get_enosys_and_bad_shapes_an_error() {
    let cat = Cat::start();
    let mut d = cat.deputy();
    for nr in [
        libc::SYS_fork,
        libc::SYS_exit_group,
        libc::SYS_mmap,
        libc::SYS_brk,
    ] {
        let o = done(d.execute(&scalar(nr), &mut never()).unwrap());
        assert_eq!(o.ret, -i64::from(libc::ENOSYS), "{nr}");
    }
    let mut bad = read_call(0, 16);
    bad.regions[0].arg = 9;
    assert!(matches!(
        d.execute(&bad, &mut never()),
        Err(DeputyError::BadCall(_))
    ));
    assert_eq!(proc::stat::state(cat.pid()).unwrap(), 't');
}

#[test]
fn exit_ends_the_process_with_that_status() {
    let cat = Cat::start();
    let d = cat.deputy();
    d.exit(7).unwrap();
    assert_eq!(cat.parent_saw(), 7 << 8, "WIFEXITED with status 7");
}

#[test]
fn kill_by_ends_the_process_as_killed_by_that_signal() {
    let cat = Cat::start_opts(true);
    let limits = proc::read_string(cat.pid(), "limits").unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max core file size") && l.contains("unlimited")),
        "{limits}"
    );
    let d = cat.deputy();
    // SIGQUIT would dump core by default: the parent must see no core.
    let pid = cat.pid();
    d.kill_by(libc::SIGQUIT).unwrap();
    assert_eq!(
        cat.parent_saw(),
        libc::SIGQUIT,
        "WIFSIGNALED SIGQUIT, no core"
    );
    // With core_pattern "core" a dump would land in cat's cwd, which is ours.
    for name in ["core".to_string(), format!("core.{pid}")] {
        assert!(!std::path::Path::new(&name).exists(), "{name} was written");
    }

    let cat = Cat::start();
    let d = cat.deputy();
    d.kill_by(libc::SIGTERM).unwrap();
    assert_eq!(cat.parent_saw(), libc::SIGTERM, "WIFSIGNALED SIGTERM");

    // Also once its memory is gone; SIGSEGV would dump core by default.
    let cat = Cat::start();
    let mut d = cat.deputy();
    d.release_memory().unwrap();
    d.kill_by(libc::SIGSEGV).unwrap();
    assert_eq!(
        cat.parent_saw(),
        libc::SIGSEGV,
        "WIFSIGNALED SIGSEGV, no core"
    );

    let cat = Cat::start();
    let d = cat.deputy();
    assert!(matches!(
        d.kill_by(libc::SIGCHLD),
        Err(DeputyError::NotFatal { sig: libc::SIGCHLD })
    ));
}

#[test]
fn a_deputy_killed_from_outside_is_gone_and_its_parent_sees_it() {
    let cat = Cat::start();
    let mut d = cat.deputy();
    cat.signal(libc::SIGKILL);
    let deadline = Instant::now() + Duration::from_secs(10);
    let fate = loop {
        if let Some(f) = d.gone() {
            break f;
        }
        assert!(Instant::now() < deadline, "deputy never reported its death");
        std::thread::sleep(Duration::from_millis(2));
    };
    assert_eq!(fate, Fate::Killed(libc::SIGKILL));
    assert!(matches!(
        d.execute(&scalar(libc::SYS_getppid), &mut never()),
        Err(DeputyError::Gone { .. })
    ));
    assert_eq!(cat.parent_saw(), libc::SIGKILL);
}

#[test]
fn into_stopped_gives_the_process_back_unchanged() {
    let mut cat = Cat::start();
    let maps_before = proc::read_string(cat.pid(), "maps").unwrap();
    let blocked = |pid| {
        let s = proc::status(pid).unwrap();
        proc::status_field(&s, "SigBlk").unwrap().to_string()
    };
    let blk_before = blocked(cat.pid());
    let st = Stopped::seize(cat.pid()).unwrap();
    let regs_before = st.regs().unwrap().to_array();
    // A signal taken by the deputy but not handed out goes back to the process.
    cat.signal(libc::SIGWINCH);
    let d = Deputy::new(st).unwrap();
    assert_ne!(proc::read_string(cat.pid(), "maps").unwrap(), maps_before);
    assert!(st_pending(cat.pid()).is_empty(), "the deputy took SIGWINCH");
    let st = d.into_stopped().unwrap();
    assert_eq!(st.program_regs().unwrap().to_array(), regs_before);
    assert_eq!(proc::read_string(cat.pid(), "maps").unwrap(), maps_before);
    assert_eq!(blocked(cat.pid()), blk_before);
    let pending = st.pending_signals().unwrap();
    assert!(
        pending.iter().any(|p| p.signo == libc::SIGWINCH),
        "{pending:?}"
    );
    st.detach().unwrap();
    cat.feed(b"ping\n");
    assert_eq!(cat.expect_out(5), b"ping\n");
    cat.stdin = None;
    assert_eq!(
        cat.parent_saw(),
        0,
        "cat ends normally at the end of its input"
    );
}

#[test]
fn signals_the_guest_already_has_are_not_forwarded_twice() {
    let cat = Cat::start();
    let st = Stopped::seize(cat.pid()).unwrap();
    // Pending at the freeze: recorded in the image, so the guest has them.
    cat.signal(libc::SIGUSR2);
    let deadline = Instant::now() + Duration::from_secs(10);
    let pending = loop {
        let p = st.pending_signals().unwrap();
        if !p.is_empty() || Instant::now() > deadline {
            break p;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    assert_eq!(pending.len(), 1, "{pending:?}");
    let mut d = Deputy::new(st).unwrap();
    d.set_known_signals(pending.iter().map(Signal::from).collect());
    // Sent after: forwarded.
    cat.signal(libc::SIGUSR2);
    let sigs = d.take_signals().unwrap();
    assert_eq!(sigs.len(), 1, "{sigs:?}");
    assert_eq!(sigs[0].signo, libc::SIGUSR2);
    assert!(d.take_signals().unwrap().is_empty());
}

#[test]
fn sigkill_during_a_blocked_call_ends_it_with_gone() {
    let cat = Cat::start();
    let mut d = cat.deputy();
    let pid = cat.pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        let fd = pidfd::open(pid).unwrap();
        pidfd::send_signal(&fd, pid, libc::SIGKILL).unwrap();
    });
    let r = d.execute(&read_call(0, 16), &mut never());
    killer.join().unwrap();
    assert!(
        matches!(
            r,
            Err(DeputyError::Gone {
                fate: Fate::Killed(libc::SIGKILL),
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(d.gone(), Some(Fate::Killed(libc::SIGKILL)));
    assert_eq!(cat.parent_saw(), libc::SIGKILL);
}

#[test]
fn a_dropped_deputy_is_killed_never_left_running() {
    let cat = Cat::start();
    let d = cat.deputy();
    drop(d);
    assert_eq!(cat.parent_saw(), libc::SIGKILL);
}

#[test]
fn with_its_memory_released_the_deputy_still_works_and_ends() {
    let cat = Cat::start();
    let mut d = cat.deputy();
    let released = d.release_memory().unwrap();
    assert!(released > 100 << 10, "released only {released} bytes");
    let maps = proc::maps::read(cat.pid()).unwrap();
    assert!(
        maps.iter()
            .all(|a| a.name.is_empty() || a.name.starts_with("[v")),
        "{maps:?}"
    );
    assert!(maps.len() <= 6, "{maps:?}");
    let o = done(d.execute(&scalar(libc::SYS_getppid), &mut never()).unwrap());
    assert_eq!(o.ret, cat.parent_pid());
    let write = Call {
        nr: libc::SYS_write as u32,
        args: [1, 0, 3, 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: 3,
            data: b"hey".to_vec(),
            back: Back::All,
        }],
    };
    assert_eq!(done(d.execute(&write, &mut never()).unwrap()).ret, 3);
    assert_eq!(cat.expect_out(3), b"hey");
    cat.signal(libc::SIGINT);
    assert_eq!(d.take_signals().unwrap()[0].signo, libc::SIGINT);
    d.exit(3).unwrap();
    assert_eq!(cat.parent_saw(), 3 << 8);
}

/// Runs `call` in the deputy, which must complete it.
fn ran(d: &mut Deputy, call: &Call) -> Outcome {
    done(d.execute(call, &mut never()).unwrap())
}

fn path_call(nr: i64, path: &std::path::Path, flags: i32) -> Call {
    let mut p = path.as_os_str().as_encoded_bytes().to_vec();
    p.push(0);
    Call {
        nr: nr as u32,
        args: [libc::AT_FDCWD as u64, 0, flags as u64, 0o600, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: p.len() as u32,
            data: p,
            back: Back::All,
        }],
    }
}

fn write_call(nr: i64, fd: i64, data: &[u8], off: u64) -> Call {
    Call {
        nr: nr as u32,
        args: [fd as u64, 0, data.len() as u64, off, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: data.len() as u32,
            data: data.to_vec(),
            back: Back::All,
        }],
    }
}

/// The file offset of descriptor `fd` of `pid` (/proc/PID/fdinfo).
fn pos_of(pid: i32, fd: i64) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}")).unwrap();
    let line = text.lines().find(|l| l.starts_with("pos:")).unwrap();
    line[4..].trim().parse().unwrap()
}

/// Whether this test process holds a descriptor of `path`.
fn we_hold(path: &std::path::Path) -> bool {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .any(|l| l == path)
}

#[test]
fn regular_file_calls_are_made_on_a_copy_that_shares_the_offset_and_goes_with_close() {
    let mut cat = Cat::start();
    let f = TempFile::new("direct", b"");
    let mut d = cat.deputy();
    let fd = ran(&mut d, &path_call(libc::SYS_openat, &f.0, libc::O_RDWR)).ret;
    assert!(fd >= 3, "openat gave {fd}");

    let o = ran(&mut d, &write_call(libc::SYS_write, fd, b"hello world", 0));
    assert_eq!(o.ret, 11);
    assert_eq!(
        pos_of(cat.pid(), fd),
        11,
        "the write moved the process's own offset"
    );
    assert!(we_hold(&f.0), "the daemon keeps its copy between calls");
    let seek = Call::scalar(
        libc::SYS_lseek as u32,
        [fd as u64, 6, libc::SEEK_SET as u64, 0, 0, 0],
    );
    assert_eq!(ran(&mut d, &seek).ret, 6);
    assert_eq!(pos_of(cat.pid(), fd), 6);
    let o = ran(&mut d, &read_call(fd as u64, 64));
    assert_eq!((o.ret, &o.out[..]), (5, &[b"world".to_vec()][..]));
    let o = ran(&mut d, &Call::pread(fd as i32, 4, 1));
    assert_eq!((o.ret, &o.out[..]), (4, &[b"ello".to_vec()][..]));
    let o = ran(&mut d, &write_call(libc::SYS_pwrite64, fd, b"J", 0));
    assert_eq!(o.ret, 1);
    assert_eq!(
        pos_of(cat.pid(), fd),
        11,
        "pread and pwrite leave the offset alone"
    );
    assert_eq!(std::fs::read(&f.0).unwrap(), b"Jello world");
    let st = d.direct_stats();
    assert_eq!((st.direct, st.bytes), (5, 11 + 5 + 4 + 1));

    // A pipe is written by injection, as before.
    let o = ran(&mut d, &write_call(libc::SYS_write, 1, b"pipe", 0));
    assert_eq!(o.ret, 4);
    assert_eq!(cat.expect_out(4), b"pipe");
    assert_eq!(d.direct_stats().direct, 5);

    // Closing the file at home closes our copy too: nothing keeps it open behind the process.
    let close = Call::scalar(libc::SYS_close as u32, [fd as u64, 0, 0, 0, 0, 0]);
    assert_eq!(ran(&mut d, &close).ret, 0);
    assert!(!we_hold(&f.0), "the copy outlived the process's close");

    // A number reused for another file is never served from an old copy.
    let g = TempFile::new("direct-other", b"other");
    let fd2 = ran(&mut d, &path_call(libc::SYS_openat, &g.0, libc::O_RDONLY)).ret;
    assert_eq!(fd2, fd, "the lowest free number again");
    let o = ran(&mut d, &read_call(fd2 as u64, 64));
    assert_eq!(o.out, vec![b"other".to_vec()]);
    drop(d);
    cat.feed(b"");
}

#[test]
fn a_write_past_the_processs_file_size_limit_is_its_own_and_signals_it_not_the_daemon() {
    let cat = Cat::start();
    let f = TempFile::new("fsize", b"");
    let mut d = cat.deputy();
    let flags = libc::O_WRONLY | libc::O_TRUNC;
    let fd = ran(&mut d, &path_call(libc::SYS_openat, &f.0, flags)).ret;
    wend_sys::limits::set(cat.pid(), libc::RLIMIT_FSIZE, 3, 3).unwrap();
    let o = ran(&mut d, &write_call(libc::SYS_write, fd, b"hello", 0));
    assert_eq!(o.ret, 3, "cut at the limit of 3 bytes");
    let o = ran(&mut d, &write_call(libc::SYS_write, fd, b"lo", 0));
    assert_eq!(o.ret, -i64::from(libc::EFBIG));
    let signals = d.take_signals().unwrap();
    assert!(
        signals.iter().any(|s| s.signo == libc::SIGXFSZ),
        "the process is signalled: {signals:?}"
    );
    assert_eq!(d.direct_stats().direct, 0, "limited writes are injected");
    assert_eq!(std::fs::read(&f.0).unwrap(), b"hel");
}
