//! How a restored process ends and what `wend restore` reports: its exit status, 128+N for
//! a signal, SIGINT/SIGTERM/SIGHUP forwarded, `--detach` printing the pid, and
//! `--leave-running` leaving an original that completes exactly like the restored copy.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use support::*;

/// Checkpoints the exitcode guest with `mode` ("7", "wait", ...) and starts its restore.
fn restored(scene: &Scene, mode: &str, detach: bool) -> WendRun {
    let exe = scene.guest("exitcode");
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &[mode]);
    checkpoint_ready(scene, &mut g, &image);
    let run = scene.restore(&image, detach);
    fs::write(&go, b"go").unwrap();
    run
}

#[test]
fn the_restored_exit_status_is_wend_restores_own() {
    let scene = Scene::new("exit7");
    let out = restored(&scene, "7", false).finish(T_WEND);
    assert_eq!(out.code, 7, "{out}");
    assert!(out.stdout.contains("resumed"), "{out}");
}

/// Sends SIG to `wend restore` once the restored guest runs (printed "resumed"), and expects
/// it forwarded: the guest dies of it and wend restore exits 128+N.
fn forwarded(tag: &str, sig: &str, code: i32) {
    let scene = Scene::new(tag);
    let run = restored(&scene, "wait", false);
    run.proc.expect_stdout("resumed", T_WEND);
    let wend = run.wend_pid();
    // "resumed" is printed just before pause(); wait until the guest sleeps there.
    wait_until(T_GUEST, || {
        run.others_alive()
            .iter()
            .any(|p| syscall_nr(*p) == Some(34))
    });
    assert!(signal(wend, sig), "could not signal wend restore");
    let out = run.finish(T_WEND);
    assert_eq!(
        out.code, code,
        "SIG{sig} was not forwarded as expected:\n{out}"
    );
    // wend itself must exit with the code, not die of the signal; the guest is gone (else
    // the reaper would still be waiting for it).
    assert!(
        out.reaped.contains(&(wend, End::Exit(code))),
        "wend restore did not exit normally with {code}:\n{out}"
    );
}

#[test]
fn sigterm_is_forwarded_and_reported_as_143() {
    forwarded("fwd-term", "TERM", 143);
}

#[test]
fn sigint_is_forwarded_and_reported_as_130() {
    forwarded("fwd-int", "INT", 130);
}

#[test]
fn sighup_is_forwarded_and_reported_as_129() {
    forwarded("fwd-hup", "HUP", 129);
}

#[test]
fn a_restored_process_killed_directly_is_reported_as_137() {
    let scene = Scene::new("kill9");
    let run = restored(&scene, "wait", false);
    run.proc.expect_stdout("resumed", T_WEND);
    let mut victim = None;
    wait_until(T_GUEST, || {
        victim = run
            .others_alive()
            .into_iter()
            .find(|p| syscall_nr(*p) == Some(34));
        victim.is_some()
    });
    let victim = victim.expect("the restored process never slept in pause()");
    assert!(signal(victim, "KILL"));
    let out = run.finish(T_WEND);
    assert_eq!(out.code, 137, "{out}");
}

#[test]
fn detach_prints_the_pid_and_returns_while_the_process_runs() {
    let scene = Scene::new("detach");
    let run = restored(&scene, "wait", true);
    let wend = run.wend_pid();
    // wend restore --detach returns; the restored process runs on under the reaper.
    assert!(
        wait_until(T_WEND, || !alive(wend)),
        "wend restore --detach did not return"
    );
    run.proc.expect_stdout("resumed", T_WEND);
    let pid = run.detached_pid(T_WEND);
    assert!(alive(pid), "the printed pid {pid} does not run");
    let exe = fs::read_link(format!("/proc/{pid}/exe")).unwrap();
    assert!(
        exe.ends_with("exitcode"),
        "pid {pid} runs {}",
        exe.display()
    );
    assert!(signal(pid, "TERM"));
    let out = run.finish(T_WEND);
    assert_eq!(out.code, 0, "wend restore --detach itself failed:\n{out}");
    assert!(out.others().contains(&(pid, End::Signal(15))), "{out}");
}

/// With --leave-running the original goes on; it and the restored copy produce the same
/// output, each on its own stdout.
#[test]
fn leave_running_original_and_restored_copy_complete_identically() {
    let scene = Scene::new("leave-running");
    let exe = rust_guest("wend-guest-sweep");
    let reference = Command::new(&exe).arg("3000").output().unwrap();
    assert!(reference.status.success());
    // The gate holds the original at 31% at the latest: it runs on during the checkpoint but
    // cannot end before the test has seen whether --leave-running left it alive.
    let gate = Gate::new(&scene, "gate");
    gate.open_to(30);
    let mut g = Proc::spawn_piped("sweep", scene.command(&exe).arg("3000").arg(gate.path()));
    g.stderr
        .wait_for("progress 30", T_GUEST)
        .expect("the sweep guest made no progress");
    let image = scene.join("image.wend");
    let out = scene.checkpoint(g.pid(), &image, true);
    out.assert_ok();
    assert!(alive(g.pid()), "--leave-running killed the original");
    gate.open_to(100);
    let restored = scene.restore(&image, false).finish(T_WEND);
    let st = g.wait_exit(T_WEND);
    g.stdout.wait_eof(T_GUEST);
    assert!(st.success());
    assert_eq!(
        g.stdout.bytes(),
        reference.stdout,
        "the original's output changed"
    );
    assert_eq!(restored.code, 0, "{restored}");
    assert_eq!(
        restored.stdout.as_bytes(),
        &reference.stdout[..],
        "the restored copy's output differs:\n{restored}"
    );
}

/// `wend image inspect` summarises an image: format version, command line, pid, memory and
/// files; `--json` gives the same as one JSON object.
#[test]
fn image_inspect_summarises_the_image() {
    let scene = Scene::new("inspect");
    let exe = scene.guest("exitcode");
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &["inspect-me"]);
    let pid = g.pid();
    checkpoint_ready(&scene, &mut g, &image);
    let text = scene.inspect(&image, false);
    text.assert_ok();
    let lower = text.stdout.to_lowercase();
    for want in ["version", "inspect-me", &pid.to_string(), "exitcode"] {
        assert!(
            lower.contains(want),
            "inspect does not show {want:?}:\n{text}"
        );
    }
    let json = scene.inspect(&image, true);
    json.assert_ok();
    let j = json.stdout.trim();
    assert!(
        j.starts_with('{')
            && j.ends_with('}')
            && j.contains("inspect-me")
            && j.contains(&pid.to_string()),
        "inspect --json is not one JSON object naming the command and pid:\n{json}"
    );
    // The image is still good after being inspected.
    let run = scene.restore(&image, false);
    fs::write(&go, b"go").unwrap();
    let out = run.finish(T_WEND);
    assert!(out.stdout.contains("resumed"), "{out}");
}

/// Progress is for terminals: with stderr on a pipe, checkpointing and restoring a 64 MiB
/// process prints no progress bar (no carriage returns, no escape sequences).
#[test]
fn no_progress_bar_on_a_pipe() {
    let scene = Scene::new("no-progress");
    let exe = rust_guest("wend-guest-fill");
    let g = Proc::spawn_piped("fill", scene.command(&exe).arg("64"));
    g.expect_stdout("ready", T_GUEST);
    let image = scene.join("image.wend");
    let out = scene.checkpoint(g.pid(), &image, false);
    out.assert_ok();
    let run = scene.restore(&image, true);
    let wend = run.wend_pid();
    assert!(
        wait_until(T_WEND, || !alive(wend)),
        "restore --detach did not return"
    );
    let running = run.others_alive();
    assert!(!running.is_empty(), "nothing runs after restore --detach");
    for p in running {
        signal(p, "KILL");
    }
    let restored = run.finish(T_WEND);
    assert_eq!(restored.code, 0, "{restored}");
    for text in [&out.stderr, &out.stdout, &restored.stderr] {
        assert!(
            !text.contains('\r') && !text.contains('\x1b'),
            "progress output on a pipe:\n{text:?}"
        );
    }
}

/// On a terminal, a checkpoint shows a progress bar (and clears it). Not a matter of how long
/// it takes: indicatif draws at once when wend sets the total (its rate limiter starts with a
/// full burst), and every draw is flushed. It hides the bar when TERM is unset or "dumb", so
/// TERM is set here rather than taken from whoever runs the tests.
#[test]
fn a_progress_bar_on_a_terminal() {
    let scene = Scene::new("progress-tty");
    let exe = rust_guest("wend-guest-fill");
    let g = Proc::spawn_piped("fill", scene.command(&exe).arg("128"));
    g.expect_stdout("ready", T_GUEST);
    let image = scene.join("image.wend");
    let cmd = format!(
        "exec env TERM=xterm {} checkpoint {} -o {}",
        support::wend::wend_exe().display(),
        g.pid(),
        image.display()
    );
    let out = scene
        .reaped(
            Path::new("script"),
            &["-qfec", &cmd, "/dev/null"],
            Stdio::null(),
        )
        .finish(T_WEND);
    assert_eq!(out.code, 0, "{out}");
    assert!(image.exists());
    assert!(
        out.stdout.contains("checkpoint ["),
        "no progress bar on the terminal:\n{out}"
    );
}
