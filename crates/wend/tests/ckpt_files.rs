//! Descriptors and sleeping system calls: regular files (offsets, flags, close-on-exec,
//! shared offsets, append), a deleted-but-open file, devices, pipes inside the process, a
//! process asleep in read(), nanosleep() or pause(), and a file the image needs that has
//! gone missing.

mod support;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use support::*;

#[test]
fn regular_files_keep_offsets_flags_and_shared_offsets() {
    let scene = Scene::new("files");
    roundtrip(&scene, &scene.guest("files"), &[]);
}

#[test]
fn a_deleted_but_open_file_keeps_its_content() {
    let scene = Scene::new("deleted");
    roundtrip(&scene, &scene.guest("deleted"), &[]);
    assert!(
        !scene.join("deleted-file.bin").exists(),
        "restoring a deleted file left it at its old path"
    );
}

#[test]
fn device_files_are_reopened() {
    let scene = Scene::new("devices");
    roundtrip(&scene, &scene.guest("devices"), &[]);
}

#[test]
fn pipes_inside_the_process_keep_their_buffered_data() {
    let scene = Scene::new("pipe");
    roundtrip(&scene, &scene.guest("pipe"), &[]);
}

/// Starts the sleeper guest in MODE and waits until it sleeps in one of `syscalls`.
fn asleep(scene: &Scene, mode: &str, syscalls: &[i64], stdin: Stdio) -> Proc {
    let exe = scene.guest("sleeper");
    let go = scene.join("go-unused");
    let mut cmd = scene.guest_cmd(&exe, &go, &[mode]);
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let g = Proc::spawn(&format!("sleeper {mode}"), &mut cmd);
    g.expect_stdout("ready", T_GUEST);
    let pid = g.pid();
    assert!(
        wait_until(T_GUEST, || {
            syscall_nr(pid).is_some_and(|n| syscalls.contains(&n)) && state(pid) == Some('S')
        }),
        "the guest never slept in {syscalls:?} (now {:?})",
        syscall_nr(pid)
    );
    g
}

#[test]
fn a_process_asleep_in_read_resumes_the_read() {
    let scene = Scene::new("sleep-read");
    let mut g = asleep(&scene, "read", &[0], Stdio::piped());
    let image = scene.join("image.wend");
    let out = scene.checkpoint(g.pid(), &image, false);
    out.assert_ok();
    g.wait_exit(T_GUEST);
    let mut run = scene.restore_with(&image, false, Stdio::piped());
    // The read may only return what is written to wend restore's stdin, after the restore.
    let mut stdin = run.proc.stdin.take().expect("piped stdin");
    stdin.write_all(b"wake\n").unwrap();
    drop(stdin);
    run.finish(T_WEND).assert_verdict_ok();
}

#[test]
fn a_process_asleep_in_nanosleep_sleeps_its_full_time() {
    let scene = Scene::new("sleep-nanosleep");
    // glibc's nanosleep is clock_nanosleep (230); 35 is the old call.
    let mut g = asleep(&scene, "nanosleep", &[35, 230], Stdio::null());
    let image = scene.join("image.wend");
    scene.checkpoint(g.pid(), &image, false).assert_ok();
    g.wait_exit(T_GUEST);
    scene
        .restore(&image, false)
        .finish(T_WEND)
        .assert_verdict_ok();
}

#[test]
fn a_process_asleep_in_pause_wakes_on_a_signal() {
    let scene = Scene::new("sleep-pause");
    let mut g = asleep(&scene, "pause", &[34], Stdio::null());
    let image = scene.join("image.wend");
    scene.checkpoint(g.pid(), &image, false).assert_ok();
    g.wait_exit(T_GUEST);
    let run = scene.restore(&image, false);
    // Once the restored process sleeps in pause() again, untraced, wake it with SIGUSR1.
    let mut target = None;
    let ok = wait_until(T_WEND, || {
        target = run.others_alive().into_iter().find(|p| {
            syscall_nr(*p) == Some(34)
                && state(*p) == Some('S')
                && fs::read_to_string(format!("/proc/{p}/status"))
                    .is_ok_and(|s| s.contains("TracerPid:\t0"))
        });
        target.is_some()
    });
    if ok {
        assert!(signal(target.unwrap(), "USR1"));
    }
    let out = run.finish(T_WEND);
    assert!(ok, "the restored process never slept in pause():\n{out}");
    out.assert_verdict_ok();
}

/// A regular file the process has open is gone at restore time: a clear error naming it,
/// nothing restored; once the file is back, the same image restores.
#[test]
fn a_missing_file_refuses_the_restore_and_names_it() {
    let scene = Scene::new("missing-file");
    let exe = scene.guest("files");
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &[]);
    checkpoint_ready(&scene, &mut g, &image);
    let data = scene.join("files-data.bin");
    let aside = scene.join("aside.bin");
    fs::rename(&data, &aside).unwrap();
    fs::write(&go, b"go").unwrap();
    let out = scene.restore(&image, false).finish(T_WEND);
    assert_ne!(
        out.code, 0,
        "restore without a needed file succeeded:\n{out}"
    );
    assert!(
        out.stderr.contains("files-data.bin"),
        "the error does not name the missing file:\n{out}"
    );
    assert!(!out.stdout.contains("verdict"), "the guest ran:\n{out}");
    fs::rename(&aside, &data).unwrap();
    scene
        .restore(&image, false)
        .finish(T_WEND)
        .assert_verdict_ok();
}

/// `wend restore`'s own stdout is where the restored process writes when its stdout was a
/// pipe: shown with a shell pipeline the test reads through.
#[test]
fn stdout_that_was_a_pipe_becomes_wend_restores_own() {
    let scene = Scene::new("stdio-pipe");
    let exe = scene.guest("exitcode");
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &["0"]);
    checkpoint_ready(&scene, &mut g, &image);
    fs::write(&go, b"go").unwrap();
    let cmd = format!(
        "{} restore {} | tr a-z A-Z",
        support::wend::wend_exe().display(),
        image.display()
    );
    let out = scene
        .reaped(Path::new("/bin/sh"), &["-c", &cmd], Stdio::null())
        .finish(T_WEND);
    assert_eq!(out.code, 0, "{out}");
    assert_eq!(out.stdout, "RESUMED\n", "{out}");
}

/// stdin/stdout/stderr on a terminal: the guest runs under `script` (a pseudo-terminal), is
/// checkpointed, and restored under another `script`; its output reaches the new terminal.
#[test]
fn stdio_that_was_a_terminal_becomes_wend_restores_own() {
    let scene = Scene::new("stdio-tty");
    let exe = scene.guest("exitcode");
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let inner = format!(
        "exec {} {} {} 5",
        scene.join("clean-exec").display(),
        exe.display(),
        go.display()
    );
    let mut term = Proc::spawn_piped(
        "script",
        scene
            .command(Path::new("script"))
            .args(["-qfec", &inner, "/dev/null"]),
    );
    term.expect_stdout("ready", T_GUEST);
    let guest = descendants(term.pid())
        .into_iter()
        .find(|p| fs::read_link(format!("/proc/{p}/exe")).is_ok_and(|e| e.ends_with("exitcode")))
        .expect("the guest below script");
    let tty = fs::read_link(format!("/proc/{guest}/fd/1")).unwrap();
    assert!(
        tty.starts_with("/dev/pts"),
        "the guest's stdout is {}",
        tty.display()
    );
    scene.checkpoint(guest, &image, false).assert_ok();
    term.wait_exit(T_GUEST);
    let cmd = format!(
        "exec {} restore {}",
        support::wend::wend_exe().display(),
        image.display()
    );
    let run = scene.reaped(
        Path::new("script"),
        &["-qfec", &cmd, "/dev/null"],
        Stdio::null(),
    );
    fs::write(&go, b"go").unwrap();
    let out = run.finish(T_WEND);
    assert!(
        out.stdout.contains("resumed"),
        "the restored guest did not write to the new terminal:\n{out}"
    );
    assert_eq!(
        out.code, 5,
        "script did not pass on the restored exit status 5:\n{out}"
    );
}
