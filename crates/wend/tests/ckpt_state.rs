//! The process state a checkpoint must carry, one self-checking guest each (tests/guests):
//! registers, TLS, the xsave area, memory of every kind, brk, what `ps` shows, the vDSO,
//! rseq, signals, timers and per-process settings. Each test runs the guest once without a
//! checkpoint (control), then checkpoints it while it waits, restores it, and asserts the
//! restored guest's own verdict.

mod support;

use std::fs;
use std::process::Command;

use support::*;

/// Compiles NAME with the flags every state guest may need.
fn guest(scene: &Scene, name: &str) -> std::path::PathBuf {
    scene.guest_with(name, &["-mno-red-zone"])
}

#[test]
fn general_registers_survive() {
    let scene = Scene::new("regs");
    roundtrip(&scene, &guest(&scene, "regs"), &[]);
}

#[test]
fn fs_base_and_thread_local_storage_survive() {
    let scene = Scene::new("tls");
    roundtrip(&scene, &guest(&scene, "tls"), &[]);
}

#[test]
fn sse_avx_and_avx512_registers_survive() {
    let scene = Scene::new("xsave");
    let rt = roundtrip(&scene, &guest(&scene, "xsave"), &[]);
    let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap();
    if cpuinfo.contains(" avx512f") {
        assert!(rt.original.contains("level: avx512"), "{}", rt.original);
    } else if cpuinfo.contains(" avx ") {
        assert!(rt.original.contains("level: avx"), "{}", rt.original);
    }
}

#[test]
fn private_anonymous_memory_survives_at_its_addresses() {
    let scene = Scene::new("memory");
    roundtrip(&scene, &guest(&scene, "memory"), &[]);
}

#[test]
fn file_backed_private_mappings_survive() {
    let scene = Scene::new("filemap");
    let file = scene.join("mapped.bin");
    roundtrip(&scene, &guest(&scene, "filemap"), &[file.to_str().unwrap()]);
}

/// The mapped file is rewritten between checkpoint and restore: wend must either refuse,
/// naming the file, or restore the pages the process saw (stored in the image).
#[test]
fn a_mapped_file_changed_after_checkpoint_is_detected() {
    let scene = Scene::new("filemap-changed");
    let exe = guest(&scene, "filemap");
    let file = scene.join("mapped-changed.bin");
    let args = [file.to_str().unwrap()];
    control(&scene, &exe, &args);
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &args);
    checkpoint_ready(&scene, &mut g, &image);
    let len = fs::metadata(&file).unwrap().len() as usize;
    fs::write(&file, vec![0x5au8; len]).unwrap();
    let run = scene.restore(&image, false);
    fs::write(&go, b"go").unwrap();
    let out = run.finish(T_WEND);
    if out.code == 0 {
        out.assert_verdict_ok();
    } else {
        assert!(
            out.stderr.contains("mapped-changed.bin") && !out.stdout.contains("verdict"),
            "a refusal must name the changed file and restore nothing:\n{out}"
        );
    }
}

#[test]
fn the_brk_heap_survives_and_still_moves() {
    let scene = Scene::new("brk");
    roundtrip(&scene, &guest(&scene, "brk"), &[]);
}

fn ps(pid: u32, fields: &str) -> String {
    let out = Command::new("ps")
        .args(["-o", fields, "-p", &pid.to_string()])
        .output()
        .expect("running ps");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// cmdline, environ and auxv, byte for byte inside the guest, and as `ps` and /proc show
/// them from outside.
#[test]
fn auxv_cmdline_and_environment_survive_as_ps_shows_them() {
    let scene = Scene::new("procinfo");
    let exe = guest(&scene, "procinfo");
    let mark = format!("mark-{}", std::process::id());
    let args = ["x", "an argument with spaces", "last"];
    let go = scene.join("go-control");
    control_cmd(
        &go,
        scene
            .guest_cmd(&exe, &go, &args)
            .env("WEND_GUEST_MARK", &mark),
    );
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = Proc::spawn_piped(
        "procinfo",
        scene
            .guest_cmd(&exe, &go, &args)
            .env("WEND_GUEST_MARK", &mark),
    );
    g.expect_stdout("ready", T_GUEST);
    let pid = g.pid();
    let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let environ = fs::read(format!("/proc/{pid}/environ")).unwrap();
    let ps_before = ps(pid, "args=,comm=");
    checkpoint_ready(&scene, &mut g, &image);
    let run = scene.restore(&image, false);
    // Find the restored process once it runs as itself (cmdline and environment in place).
    let mut restored = None;
    let found = wait_until(T_WEND, || {
        restored = run.others_alive().into_iter().find(|p| {
            fs::read(format!("/proc/{p}/cmdline")).ok().as_ref() == Some(&cmdline)
                && matches!(state(*p), Some('S' | 'R'))
        });
        restored.is_some()
    });
    if found {
        let r = restored.unwrap();
        assert_eq!(
            fs::read(format!("/proc/{r}/environ")).unwrap_or_default(),
            environ,
            "/proc/PID/environ of the restored process differs"
        );
        assert_eq!(
            ps(r, "args=,comm="),
            ps_before,
            "ps shows the restored process differently"
        );
    }
    fs::write(&go, b"go").unwrap();
    let out = run.finish(T_WEND);
    out.assert_verdict_ok();
    assert!(
        found,
        "no restored process with the original command line was seen:\n{out}"
    );
}

#[test]
fn the_vdso_keeps_working_and_time_stays_monotonic() {
    let scene = Scene::new("vdso");
    roundtrip(&scene, &guest(&scene, "vdso"), &[]);
}

#[test]
fn rseq_is_registered_again_so_sched_getcpu_follows() {
    let scene = Scene::new("rseq");
    roundtrip(&scene, &guest(&scene, "rseq"), &[]);
}

#[test]
fn signal_dispositions_mask_and_pending_signals_survive() {
    let scene = Scene::new("signals");
    roundtrip(&scene, &guest(&scene, "signals"), &[]);
}

#[test]
fn sigaltstack_and_a_checkpoint_inside_a_handler_survive() {
    let scene = Scene::new("sigaltstack");
    roundtrip(&scene, &guest(&scene, "sigaltstack"), &[]);
}

#[test]
fn interval_timers_keep_firing() {
    let scene = Scene::new("itimer");
    roundtrip(&scene, &guest(&scene, "itimer"), &[]);
}

/// rlimits, umask, cwd, name (also as `ps -o comm` shows it), no parent-death signal, the
/// descriptor set.
#[test]
fn rlimits_umask_cwd_and_name_survive() {
    let scene = Scene::new("procstate");
    let exe = guest(&scene, "procstate");
    let sub = scene.join("a dir with space");
    fs::create_dir_all(&sub).unwrap();
    let args = [sub.to_str().unwrap()];
    control(&scene, &exe, &args);
    let go = scene.join("go");
    let image = scene.join("image.wend");
    let mut g = scene.spawn_guest(&exe, &go, &args);
    checkpoint_ready(&scene, &mut g, &image);
    let run = scene.restore(&image, false);
    let mut comm_seen = false;
    wait_until(T_WEND, || {
        comm_seen = run
            .others_alive()
            .into_iter()
            .any(|p| ps(p, "comm=") == "wg-procstate" && matches!(state(p), Some('S' | 'R')));
        comm_seen
    });
    fs::write(&go, b"go").unwrap();
    let out = run.finish(T_WEND);
    out.assert_verdict_ok();
    assert!(
        comm_seen,
        "`ps -o comm` never showed wg-procstate for the restored process:\n{out}"
    );
}

/// A Rust program (std only): heap structures, std files mid-read and mid-write, arguments.
#[test]
fn a_rust_guest_survives() {
    let scene = Scene::new("rust-state");
    let exe = rust_guest("wend-guest-state");
    roundtrip(&scene, &exe, &[scene.dir.path().to_str().unwrap()]);
}

/// Only touched pages of a file mapping are stored: 64 MiB of incompressible file data with
/// 4 pages written and 1/16 read makes an image far below 64 MiB, and restores intact.
#[test]
fn clean_file_pages_are_not_stored() {
    let scene = Scene::new("bigmap");
    let file = scene.join("big.bin");
    roundtrip(&scene, &guest(&scene, "bigmap"), &[file.to_str().unwrap()]);
    let size = fs::metadata(scene.join("image.wend")).unwrap().len();
    assert!(
        size < 16 << 20,
        "the image is {size} bytes for a 64 MiB file mapping with 4 dirty pages"
    );
}
