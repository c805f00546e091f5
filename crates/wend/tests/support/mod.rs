//! The harness shared by the checkpoint/restore corpus tests (`tests/ckpt_*.rs`).
//!
//! Every test builds a [`Scene`]: a unique temporary directory (removed on drop) holding the
//! guests it compiles, its images and its files, and a compiled reaper under which every
//! `wend` command runs, so whatever a restore leaves behind is reaped and recorded. Guests
//! follow the protocol of tests/guests/guest.h: set up, print "ready", wait for a go file,
//! check themselves, print a verdict.
#![allow(dead_code)]

pub mod build;
pub mod proc;
pub mod text;
pub mod throttle;
pub mod wend;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

#[allow(unused_imports)]
pub use build::{compile_c, rust_guest, TempDir};
#[allow(unused_imports)]
pub use proc::{
    alive, assert_untouched, cpu_ticks, descendants, fd_pos, signal, state, syscall_nr, wait_until,
    Proc, Watch,
};
#[allow(unused_imports)]
pub use throttle::Throttle;
#[allow(unused_imports)]
pub use wend::{End, Outcome, WendRun};

/// How long a guest may take to get ready or to finish a check.
pub const T_GUEST: Duration = Duration::from_secs(30);
/// How long one `wend` command may take (generous: CI machines are slow and shared).
pub const T_WEND: Duration = Duration::from_secs(60);

pub struct Scene {
    pub dir: TempDir,
    reaper: PathBuf,
    clean_exec: PathBuf,
}

impl Scene {
    pub fn new(tag: &str) -> Scene {
        let dir = TempDir::new(tag);
        let reaper = compile_c(dir.path(), "reaper", &[]);
        let clean_exec = compile_c(dir.path(), "clean-exec", &[]);
        Scene {
            dir,
            reaper,
            clean_exec,
        }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Compiles tests/guests/NAME.c into this scene.
    pub fn guest(&self, name: &str) -> PathBuf {
        compile_c(self.dir.path(), name, &[])
    }

    pub fn guest_with(&self, name: &str, flags: &[&str]) -> PathBuf {
        compile_c(self.dir.path(), name, flags)
    }

    /// Starts a guest in the scene directory: argv[1] is `go`, stdin /dev/null, stdout and
    /// stderr piped to the test.
    pub fn spawn_guest(&self, exe: &Path, go: &Path, args: &[&str]) -> Proc {
        let name = exe.file_name().unwrap().to_string_lossy().into_owned();
        Proc::spawn_piped(&name, &mut self.guest_cmd(exe, go, args))
    }

    /// The command [`Scene::spawn_guest`] runs, for tests that add environment or stdin.
    pub fn guest_cmd(&self, exe: &Path, go: &Path, args: &[&str]) -> Command {
        let mut cmd = self.command(exe);
        cmd.arg(go).args(args);
        cmd
    }

    /// A command running PROGRAM in the scene directory with only descriptors 0-2 open
    /// (through clean-exec, which keeps the pid): every process a test checkpoints.
    pub fn command(&self, program: &Path) -> Command {
        let mut cmd = Command::new(&self.clean_exec);
        cmd.arg(program).current_dir(self.dir.path());
        cmd
    }

    pub fn wend(&self, args: &[&str], stdin: Stdio) -> WendRun {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        WendRun::start(&self.reaper, self.dir.path(), &args, stdin)
    }

    /// Runs any program under this scene's reaper.
    pub fn reaped(&self, program: &Path, args: &[&str], stdin: Stdio) -> WendRun {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        WendRun::start_program(&self.reaper, self.dir.path(), program, &args, stdin)
    }

    /// `wend checkpoint PID -o IMAGE [--leave-running]`, waited for.
    pub fn checkpoint(&self, pid: u32, image: &Path, leave_running: bool) -> Outcome {
        let pid = pid.to_string();
        let image = image.to_string_lossy().into_owned();
        let mut args = vec!["checkpoint", pid.as_str(), "-o", image.as_str()];
        if leave_running {
            args.push("--leave-running");
        }
        self.wend(&args, Stdio::null()).finish(T_WEND)
    }

    /// Starts `wend restore IMAGE [--detach]` with stdin from /dev/null.
    pub fn restore(&self, image: &Path, detach: bool) -> WendRun {
        self.restore_with(image, detach, Stdio::null())
    }

    pub fn restore_with(&self, image: &Path, detach: bool, stdin: Stdio) -> WendRun {
        let image = image.to_string_lossy().into_owned();
        let mut args = vec!["restore", image.as_str()];
        if detach {
            args.push("--detach");
        }
        self.wend(&args, stdin)
    }

    /// `wend image inspect IMAGE [--json]`, waited for.
    pub fn inspect(&self, image: &Path, json: bool) -> Outcome {
        let image = image.to_string_lossy().into_owned();
        let mut args = vec!["image", "inspect", image.as_str()];
        if json {
            args.push("--json");
        }
        self.wend(&args, Stdio::null()).finish(T_WEND)
    }
}

/// The gate of a progress-reporting guest (busy.c, wend-guest-sweep): a file whose size is
/// the last percent the guest may report; it waits before a later one. The test opens the
/// gate point by point, so the run cannot end before every checkpoint is taken, however long
/// a --leave-running checkpoint takes while the guest keeps running. Created closed.
pub struct Gate {
    path: PathBuf,
}

impl Gate {
    pub fn new(scene: &Scene, name: &str) -> Gate {
        let path = scene.join(name);
        fs::File::create(&path).unwrap();
        Gate { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Lets the guest report up to percent `p` (100: run to the end).
    pub fn open_to(&self, p: u64) {
        fs::OpenOptions::new()
            .write(true)
            .open(&self.path)
            .and_then(|f| f.set_len(p))
            .unwrap_or_else(|e| panic!("opening the gate {} to {p}: {e}", self.path.display()));
    }
}

/// Runs the guest with its go file present from the start: it must pass without any
/// checkpoint, else the guest (not wend) is broken.
pub fn control(scene: &Scene, exe: &Path, args: &[&str]) {
    let go = scene.join("go-control");
    control_cmd(&go, &mut scene.guest_cmd(exe, &go, args));
}

/// [`control`] for a prepared command whose argv[1] is `go`.
pub fn control_cmd(go: &Path, cmd: &mut Command) {
    fs::write(go, b"go").unwrap();
    let mut g = Proc::spawn_piped("control run", cmd);
    let st = g.wait_exit(T_GUEST);
    g.stdout.wait_eof(Duration::from_secs(5));
    let out = g.stdout.text();
    assert!(
        st.success() && out.contains("verdict: ok") && !out.contains("FAIL"),
        "control run of {} (no checkpoint) failed: {st}\nstdout:\n{out}\nstderr:\n{}",
        g.name,
        g.stderr.text()
    );
    fs::remove_file(go).unwrap();
}

/// Waits for the guest's "ready", checkpoints it (killing it) into `image`, and checks the
/// checkpoint succeeded, the image exists and the original is gone.
pub fn checkpoint_ready(scene: &Scene, guest: &mut Proc, image: &Path) -> Outcome {
    guest.expect_stdout("ready", T_GUEST);
    let out = scene.checkpoint(guest.pid(), image, false);
    out.assert_ok();
    assert!(
        image.exists(),
        "checkpoint succeeded but {} is absent",
        image.display()
    );
    let st = guest.wait_timeout(T_GUEST);
    assert!(
        st.is_some(),
        "the original (pid {}) still runs after `wend checkpoint` without --leave-running",
        guest.pid()
    );
    out
}

/// What a round trip saw: the original's stdout up to the checkpoint, and the restore.
pub struct RoundTrip {
    pub original: String,
    pub restored: Outcome,
}

/// The whole round trip for a self-checking guest: control run, start, checkpoint at
/// "ready", restore, go, and the restored guest's verdict must be ok.
pub fn roundtrip(scene: &Scene, exe: &Path, args: &[&str]) -> RoundTrip {
    control(scene, exe, args);
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(exe, &go, args);
    checkpoint_ready(scene, &mut g, &image);
    let run = scene.restore(&image, false);
    fs::write(&go, b"go").unwrap();
    let restored = run.finish(T_WEND);
    restored.assert_verdict_ok();
    g.stdout.wait_eof(Duration::from_secs(5));
    RoundTrip {
        original: g.stdout.text(),
        restored,
    }
}
