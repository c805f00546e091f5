//! Self-checks of the corpus harness (tests/support): the reaper adopts and records orphans,
//! output watching and kill-on-drop work, temporary directories vanish, every C guest builds
//! and passes its control run, the Rust guests build, and the `wend` command line offers the
//! exact interface the other corpus tests drive.

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use support::*;

#[test]
fn reaper_adopts_and_records_orphans() {
    let scene = Scene::new("harness-reaper");
    // The shell exits 3 at once, leaving a sleeping child that the reaper must adopt.
    let run = scene.reaped(
        Path::new("/bin/sh"),
        &["-c", "sleep 0.3 & echo orphan=$!; exit 3"],
        Stdio::null(),
    );
    let out = run.finish(T_WEND);
    assert_eq!(out.code, 3, "{out}");
    let orphan: u32 = out
        .stdout
        .trim()
        .strip_prefix("orphan=")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no orphan pid:\n{out}"));
    assert!(
        out.others().contains(&(orphan, End::Exit(0))),
        "the orphan was not reaped by the reaper:\n{out}"
    );
    assert!(!alive(orphan));
}

#[test]
fn reaper_mirrors_a_signal_death_as_128_plus_n() {
    let scene = Scene::new("harness-signal");
    let out = scene
        .reaped(
            Path::new("/bin/sh"),
            &["-c", "kill -TERM $$"],
            Stdio::null(),
        )
        .finish(T_WEND);
    assert_eq!(out.code, 143, "{out}");
}

#[test]
fn dropping_a_run_kills_everything_below_the_reaper() {
    let scene = Scene::new("harness-drop");
    let run = scene.reaped(
        Path::new("/bin/sh"),
        &["-c", "sleep 1000 & echo bg=$!; exec sleep 1000"],
        Stdio::null(),
    );
    run.proc.expect_stdout("bg=", T_GUEST);
    let bg: u32 = run.proc.stdout.text().trim()[3..].parse().unwrap();
    let sh = run.wend_pid();
    let reaper = run.proc.pid();
    assert!(alive(bg) && alive(sh));
    drop(run);
    assert!(!alive(bg) && !alive(sh) && !alive(reaper));
}

#[test]
fn proc_watches_output_and_kills_on_drop() {
    let p = Proc::spawn_piped(
        "sh",
        Command::new("/bin/sh").args(["-c", "echo one; echo two >&2; exec sleep 1000"]),
    );
    p.expect_stdout("one", T_GUEST);
    p.stderr.wait_for("two", T_GUEST).unwrap();
    assert!(p
        .stdout
        .wait_for("never", Duration::from_millis(50))
        .is_err());
    let pid = p.pid();
    assert!(wait_until(T_GUEST, || syscall_nr(pid).is_some()));
    drop(p);
    assert!(!alive(pid));
}

#[test]
fn temp_dirs_are_unique_and_removed() {
    let a = TempDir::new("harness-tmp");
    let b = TempDir::new("harness-tmp");
    assert_ne!(a.path(), b.path());
    std::fs::write(a.join("f"), b"x").unwrap();
    let pa = a.path().to_path_buf();
    drop(a);
    assert!(!pa.exists());
}

#[test]
fn every_c_guest_builds_and_passes_its_control_run() {
    let scene = Scene::new("harness-guests");
    let sub = scene.join("sub dir");
    std::fs::create_dir_all(&sub).unwrap();
    let fm = scene.join("filemap.bin");
    let bm = scene.join("bigmap.bin");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("regs", vec![]),
        ("tls", vec![]),
        ("xsave", vec![]),
        ("memory", vec![]),
        ("filemap", vec![fm.to_str().unwrap()]),
        ("bigmap", vec![bm.to_str().unwrap()]),
        ("brk", vec![]),
        ("vdso", vec![]),
        ("rseq", vec![]),
        ("signals", vec![]),
        ("sigaltstack", vec![]),
        ("itimer", vec![]),
        ("procstate", vec![sub.to_str().unwrap()]),
        ("files", vec![]),
        ("deleted", vec![]),
        ("devices", vec![]),
        ("pipe", vec![]),
        ("sleeper", vec!["nanosleep"]),
        ("refuse", vec!["thread+shm+sharedfile+socket+lock+pty"]),
    ];
    for (name, args) in cases {
        let exe = scene.guest_with(name, &["-mno-red-zone", "-pthread"]);
        control(&scene, &exe, &args);
    }
}

#[test]
fn rust_guests_build_and_pass_their_control_run() {
    let scene = Scene::new("harness-rust");
    let exe = rust_guest("wend-guest-state");
    control(&scene, &exe, &[scene.dir.path().to_str().unwrap()]);
    let mut sweep = Proc::spawn_piped(
        "sweep",
        Command::new(rust_guest("wend-guest-sweep")).arg("300"),
    );
    assert!(sweep.wait_exit(T_GUEST).success());
    sweep.stdout.wait_eof(T_GUEST);
    assert!(
        sweep.stdout.text().starts_with("result hash="),
        "{}",
        sweep.stdout.text()
    );
    assert!(sweep.stderr.text().contains("progress 99"));
}

fn help(args: &[&str]) -> String {
    let out = Command::new(support::wend::wend_exe())
        .args(args)
        .arg("--help")
        .output()
        .expect("running wend");
    assert!(out.status.success(), "wend {args:?} --help failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_cli_offers_the_interface_the_corpus_drives() {
    let ck = help(&["checkpoint"]);
    assert!(ck.contains("-o") && ck.contains("--leave-running"), "{ck}");
    let rs = help(&["restore"]);
    assert!(rs.contains("--detach"), "{rs}");
    let ins = help(&["image", "inspect"]);
    assert!(ins.contains("--json"), "{ins}");
}
