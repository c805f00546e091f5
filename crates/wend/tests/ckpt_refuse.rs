//! What wend must refuse, clearly and without harm. A checkpoint refusal (stay reason) exits
//! non-zero, names every reason, writes no image and leaves the process running untouched
//! (not stopped, not traced, and it completes normally afterwards). A restore refusal (bad
//! image) exits non-zero with a message naming the problem and runs nothing of the guest.

mod support;

use std::fs;
use std::path::{Path, PathBuf};

use support::*;

/// Starts refuse.c holding `what`, asks for a checkpoint, and checks the refusal names each
/// of `reasons` and harmed nothing.
fn refused(tag: &str, what: &str, reasons: &[&[&str]]) {
    let scene = Scene::new(tag);
    let exe = scene.guest_with("refuse", &["-pthread"]);
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &[what]);
    g.expect_stdout("ready", T_GUEST);
    let out = scene.checkpoint(g.pid(), &image, false);
    out.assert_refused(reasons);
    assert!(
        !image.exists(),
        "a refused checkpoint left an image:\n{out}"
    );
    let leftovers: Vec<_> = fs::read_dir(scene.dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("image"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary image files left: {leftovers:?}"
    );
    assert_untouched(g.pid(), &format!("after refusing {what}"));
    fs::write(&go, b"go").unwrap();
    let st = g.wait_exit(T_GUEST);
    g.stdout.wait_eof(T_GUEST);
    assert!(
        st.success() && g.stdout.text().contains("verdict: ok"),
        "the refused process did not complete normally ({st}):\n{}\n{}",
        g.stdout.text(),
        g.stderr.text()
    );
}

#[test]
fn threads_are_refused() {
    refused("refuse-thread", "thread", &[&["thread"]]);
}

#[test]
fn shared_writable_anonymous_memory_is_refused() {
    refused("refuse-shm", "shm", &[&["shared"]]);
}

#[test]
fn shared_writable_file_mappings_are_refused() {
    refused("refuse-sharedfile", "sharedfile", &[&["shared"]]);
}

#[test]
fn sockets_are_refused() {
    refused("refuse-socket", "socket", &[&["socket"]]);
}

#[test]
fn posix_file_locks_are_refused() {
    refused("refuse-lock", "lock", &[&["lock"]]);
}

#[test]
fn flock_locks_are_refused() {
    refused("refuse-flock", "flock", &[&["lock"]]);
}

#[test]
fn a_terminal_other_than_stdio_is_refused() {
    refused("refuse-pty", "pty", &[&["terminal", "tty", "pty"]]);
}

#[test]
fn every_reason_is_named_at_once() {
    refused(
        "refuse-many",
        "thread+socket+shm",
        &[&["thread"], &["socket"], &["shared"]],
    );
}

#[test]
fn a_pid_that_does_not_exist_is_refused() {
    let scene = Scene::new("refuse-nopid");
    // A child that has exited and been reaped: its pid names no process.
    let mut p = Proc::spawn_piped("true", &mut std::process::Command::new("true"));
    p.wait_exit(T_GUEST);
    let pid = p.pid();
    assert!(state(pid).is_none());
    let image = scene.join("image.wend");
    let out = scene.checkpoint(pid, &image, false);
    assert_ne!(out.code, 0, "{out}");
    assert!(
        out.stderr.contains(&pid.to_string()),
        "the error does not name the pid:\n{out}"
    );
    assert!(!image.exists());
    // And a pid above any pid_max.
    let out = scene.checkpoint(99_999_999, &image, false);
    assert_ne!(out.code, 0, "{out}");
    assert!(!image.exists());
}

/// A valid image of the exitcode guest (which prints "resumed" once it runs).
fn valid_image(scene: &Scene) -> PathBuf {
    let exe = scene.guest("exitcode");
    let go = scene.join("go");
    let image = scene.join("valid.wend");
    let mut g = scene.spawn_guest(&exe, &go, &["0"]);
    checkpoint_ready(scene, &mut g, &image);
    fs::write(&go, b"go").unwrap();
    image
}

/// Restoring `bad` must fail naming one of `words`, and run nothing of the guest.
fn bad_image(scene: &Scene, bad: &Path, words: &[&str]) {
    let out = scene.restore(bad, false).finish(T_WEND);
    out.assert_refused(&[words]);
    assert!(
        !out.stdout.contains("resumed"),
        "the guest ran from a bad image:\n{out}"
    );
    let ran: Vec<_> = out
        .others()
        .into_iter()
        .filter(|(_, e)| *e == End::Exit(0))
        .collect();
    assert!(
        ran.is_empty(),
        "a process from a bad image exited normally:\n{out}"
    );
}

#[test]
fn bad_images_are_refused_by_name() {
    let scene = Scene::new("bad-images");
    let image = valid_image(&scene);
    let bytes = fs::read(&image).unwrap();
    assert!(
        bytes.len() > 256,
        "image suspiciously small: {} bytes",
        bytes.len()
    );

    let cut = scene.join("truncated.wend");
    fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    bad_image(&scene, &cut, &["truncat"]);
    fs::write(&cut, &bytes[..bytes.len() - 8]).unwrap();
    bad_image(&scene, &cut, &["truncat", "corrupt"]);
    fs::write(&cut, &bytes[..100]).unwrap();
    bad_image(&scene, &cut, &["truncat"]);

    let corrupt = scene.join("corrupt.wend");
    let mut c = bytes.clone();
    let mid = c.len() / 2;
    c[mid] ^= 0x55;
    fs::write(&corrupt, &c).unwrap();
    bad_image(&scene, &corrupt, &["corrupt", "checksum"]);
    let mut c = bytes.clone();
    c[40] ^= 0x01; // inside the checksummed header
    fs::write(&corrupt, &c).unwrap();
    bad_image(&scene, &corrupt, &["corrupt", "checksum"]);

    let foreign = scene.join("foreign.wend");
    let mut f = bytes.clone();
    f[7] = 2; // the aarch64 tag of the per-architecture magic
    fs::write(&foreign, &f).unwrap();
    bad_image(&scene, &foreign, &["aarch64", "architecture"]);
    fs::copy(scene.join("exitcode"), &foreign).unwrap();
    bad_image(&scene, &foreign, &["not a wend image"]);
    fs::write(&foreign, b"").unwrap();
    bad_image(&scene, &foreign, &["not a wend image", "empty"]);

    let newer = scene.join("newer.wend");
    let mut n = bytes.clone();
    n[8..12].copy_from_slice(&99u32.to_le_bytes());
    fs::write(&newer, &n).unwrap();
    bad_image(&scene, &newer, &["newer", "version 99"]);

    let absent = scene.join("absent.wend");
    bad_image(&scene, &absent, &["absent.wend"]);

    // The untouched original still restores.
    scene.restore(&image, false).finish(T_WEND).assert_ok();
}

/// A process another tracer holds cannot be traced: a clear error, and the process stays
/// as it was (still traced by its tracer, running, completing normally).
#[test]
fn a_process_traced_by_another_tracer_is_refused() {
    let scene = Scene::new("refuse-traced");
    let exe = scene.guest_with("refuse", &["-pthread"]);
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &["traced"]);
    g.expect_stdout("ready", T_GUEST);
    let tracer: u32 = g
        .stdout
        .text()
        .lines()
        .find_map(|l| l.strip_prefix("tracer ")?.parse().ok())
        .expect("the guest names its tracer");
    let pid = g.pid();
    let out = scene.checkpoint(pid, &image, false);
    out.assert_refused(&[&["trace"]]);
    assert!(!image.exists(), "{out}");
    assert!(
        matches!(state(pid), Some('R' | 'S')),
        "state {:?}",
        state(pid)
    );
    assert_eq!(
        support::proc::status_field(pid, "TracerPid"),
        Some(tracer.to_string()),
        "the original tracer lost the process"
    );
    fs::write(&go, b"go").unwrap();
    let st = g.wait_exit(T_GUEST);
    g.stdout.wait_eof(T_GUEST);
    assert!(
        st.success() && g.stdout.text().contains("verdict: ok"),
        "{}",
        g.stdout.text()
    );
}
