//! Helpers shared by the lab tests (real namespaces, bridges and cgroups; run as root).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use wend_lab::{LabName, LabState, SystemHost};

pub const WEND: &str = env!("CARGO_BIN_EXE_wend");

/// Makes the test process the subreaper of everything the labs leave behind.
pub fn init() {
    wend_lab::become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
}

/// Runs `wend ARGS...` and returns its output.
pub fn wend(args: &[&str]) -> Output {
    Command::new(WEND).args(args).output().expect("run wend")
}

pub fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A fake daemon (a shell script) that logs what it was given and then sleeps: it lets the
/// lab's own tests check how daemons are started without depending on `wend daemon`.
pub fn fake_daemon() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(write_fake_daemon).clone()
}

fn write_fake_daemon() -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("lab-fake-daemon.sh");
    let script = "#!/bin/sh\n\
        echo \"args: $*\"\n\
        echo \"api: $WEND_API\"\n\
        echo \"host: $(hostname)\"\n\
        grep -E 'cpu' /proc/self/cgroup\n\
        exec sleep 600\n";
    // Written once per test process; other test binaries write the same bytes.
    let tmp = path.with_extension(format!("{}", std::process::id()));
    std::fs::write(&tmp, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    path
}

/// Polls `f` until it returns true or `timeout` passes.
pub fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// True if `pid` runs (a zombie does not count; it is reaped if it is ours).
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(s) => {
            let state = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            if state == 'Z' {
                wend_lab::reap(pid);
                false
            } else {
                true
            }
        }
    }
}

/// The lab's state as recorded on disk.
pub fn load_state(name: &LabName) -> LabState {
    wend_lab::status::load(
        &mut SystemHost::new(),
        name,
        Path::new(wend_lab::STATE_ROOT),
    )
    .expect("lab state")
}

/// Asserts that nothing of lab `name` is left on the host: namespaces, interfaces, cgroup
/// directories, the given processes and the state directory.
pub fn assert_nothing_left(name: &LabName, pids: &[u32]) {
    let prefix = format!("wl-{name}-");
    let netns = String::from_utf8(
        Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        netns.lines().all(|l| !l.starts_with(&prefix)),
        "namespaces left: {netns}"
    );
    let links = String::from_utf8(
        Command::new("ip")
            .args(["-o", "link"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(!links.contains(&prefix), "links left: {links}");
    for root in [
        "/sys/fs/cgroup/cpu",
        "/sys/fs/cgroup/cpuset",
        "/sys/fs/cgroup",
    ] {
        let dir = Path::new(root).join(format!("wend-lab-{name}"));
        assert!(!dir.exists(), "cgroup left: {}", dir.display());
    }
    let state = Path::new(wend_lab::STATE_ROOT).join(name.as_str());
    assert!(!state.exists(), "state left: {}", state.display());
    for &pid in pids {
        wait_for(
            &format!("process {pid} to go"),
            Duration::from_secs(10),
            || !alive(pid),
        );
    }
}

/// Runs `wend lab down --name NAME` when dropped (for labs built through the CLI).
pub struct DownGuard(pub LabName);

impl Drop for DownGuard {
    fn drop(&mut self) {
        let _ = wend(&["lab", "down", "--name", self.0.as_str()]);
    }
}
