//! Helpers for engine tests: compile a guest, run it under a subreaper, wait for output,
//! clean up by pid.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wend_ckpt::{CheckpointOptions, RestoreOptions};

/// A scratch directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("wend-ckpt-test-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("create temp dir");
        TempDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Become a child subreaper so orphans of the test come back to us.
pub fn subreaper() {
    wend_sys::process::set_child_subreaper().expect("PR_SET_CHILD_SUBREAPER");
}

/// Compile `guests/<name>.c` into `dir`; the binary's path.
pub fn compile(dir: &TempDir, name: &str, extra: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/guests")
        .join(format!("{name}.c"));
    let out = dir.path(name);
    let st = Command::new("gcc")
        .args(["-O1", "-g", "-o"])
        .arg(&out)
        .arg(&src)
        .args(extra)
        .status()
        .expect("run gcc");
    assert!(st.success(), "gcc failed for {name}");
    out
}

/// A guest process killed and reaped on drop.
pub struct Guest(pub Child);

impl Guest {
    /// Start `bin` with stdout and stderr appended to `out`.
    pub fn start(bin: &Path, args: &[&str], out: &Path, cwd: &Path) -> Guest {
        let f = std::fs::File::create(out).expect("create output file");
        subreaper();
        let mut cmd = Command::new(bin);
        wend_sys::process::close_other_fds(&mut cmd);
        let child = cmd
            .args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(f.try_clone().expect("dup"))
            .stderr(f)
            .spawn()
            .expect("start guest");
        Guest(child)
    }
    pub fn pid(&self) -> i32 {
        self.0.id() as i32
    }
}

/// Children of `pid` (all threads), read from /proc.
pub fn children_of(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in rd.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|w| w.parse::<i32>().ok()));
            }
        }
    }
    out
}

/// Every process below `pid`, children before grandchildren.
pub fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut queue = vec![pid];
    while let Some(p) = queue.pop() {
        for c in children_of(p) {
            if !out.contains(&c) {
                out.push(c);
                queue.push(c);
            }
        }
    }
    out
}

/// The parent pid from /proc/PID/stat; None once the pid is gone.
fn parent_of(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Kills `child` and every process below it, and reaps them all: orphans come back to this
/// process (a child subreaper, see [`Guest::start`]), so none is left to pid 1.
pub fn end_tree(child: &mut Child) {
    // Once reaped (here, or by wend as its tracer), its pid may name an unrelated process:
    // nothing to look below then. While it runs its pid stays ours.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    let below = descendants(child.id() as i32);
    for k in &below {
        let _ = Command::new("kill").args(["-9", &k.to_string()]).status();
    }
    let _ = child.kill();
    let _ = child.wait();
    let me = std::process::id() as i32;
    for k in below {
        // Reparented to us once its own parent has exited; reap it then.
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(10) {
            match parent_of(k) {
                None => break,
                Some(p) if p == me => {
                    let _ = wend_ckpt::forward::wait_forwarding(k);
                    break;
                }
                Some(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }
}

/// A process the test started itself (not a guest), killed and reaped with everything below
/// it on drop, also when the test fails half-way.
pub struct Owned(pub Child);

impl Drop for Owned {
    fn drop(&mut self) {
        end_tree(&mut self.0);
    }
}

impl Drop for Guest {
    fn drop(&mut self) {
        // The guest's own children come back to us (we are a subreaper): end and reap them too.
        end_tree(&mut self.0);
    }
}

/// Wait until `cond` holds, up to 20 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t = Instant::now();
    while !cond() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Lines in a file.
pub fn lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Checkpoint `guest` into `img` (killing it) and reap it.
pub fn checkpoint_kill(guest: &mut Guest, img: &Path) {
    let opts = CheckpointOptions::default();
    wend_ckpt::checkpoint_to_file(guest.pid(), img, &opts).expect("checkpoint");
    // wend reaps its tracee when it is also the parent (as here): either way it must be gone.
    if let Ok(st) = guest.0.wait() {
        assert!(!st.success(), "the original must have been killed");
    }
    assert!(
        !Path::new(&format!("/proc/{}", guest.pid())).exists(),
        "original still there"
    );
}

/// A restored process killed (if still there) on drop.
pub struct RestoredPid(pub i32);

impl RestoredPid {
    /// Wait for it; (exit code, signal).
    pub fn wait(&mut self) -> (Option<i32>, Option<i32>) {
        let r = wait_child(self.0);
        self.0 = 0;
        r
    }
}

impl Drop for RestoredPid {
    fn drop(&mut self) {
        if self.0 > 0 {
            let _ = Command::new("kill")
                .args(["-9", &self.0.to_string()])
                .status();
            let _ = wait_child(self.0);
        }
    }
}

fn wait_child(pid: i32) -> (Option<i32>, Option<i32>) {
    match wend_ckpt::forward::wait_forwarding(pid).expect("wait") {
        wend_ckpt::forward::ChildExit::Code(c) => (Some(c), None),
        wend_ckpt::forward::ChildExit::Signal(s) => (None, Some(s)),
    }
}

/// Restore `img` and let it run.
pub fn restore_run(img: &Path) -> RestoredPid {
    let r = wend_ckpt::restore_file(img, &RestoreOptions::default()).expect("restore");
    RestoredPid(r.resume().expect("resume"))
}
