//! Rebuilding into an existing stopped process (a deputy coming home) and hooks that inject
//! into a restored process before it runs.

mod common;

use std::process::{Command, Stdio};

use common::*;
use wend_ckpt::{ProcessImage, RestoreOptions};

#[test]
fn restore_into_an_existing_process_replaces_its_memory_and_state() {
    let dir = TempDir::new("into");
    let bin = compile(&dir, "counter", &[]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &["25", "20"], &out, &dir.0);
    wait_for("3 lines", || lines(&out).len() >= 3);
    let img = dir.path("img");
    checkpoint_kill(&mut g, &img);
    let done = lines(&out).len();

    // A different program becomes the host; its stdout is a fresh file.
    subreaper();
    let host_out = dir.path("host.txt");
    let mut cmd = Command::new("sleep");
    wend_sys::process::close_other_fds(&mut cmd);
    // Owned: killed and reaped even if an assertion below fails (it sleeps 1000 s).
    let mut host = Owned(
        cmd.arg("1000")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&host_out).unwrap())
            .spawn()
            .unwrap(),
    );
    let hpid = host.0.id() as i32;
    let stopped = wend_ckpt::Stopped::seize(hpid).unwrap();
    let mut reader = wend_ckpt::open_image(&img).unwrap();
    let image: ProcessImage = reader.read_meta().unwrap();
    let rebuilt =
        wend_ckpt::restore_into(stopped, &image, &mut reader, &RestoreOptions::default()).unwrap();
    rebuilt.detach().unwrap();
    let st = host.0.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(7),
        "the host now runs the counter to its end"
    );
    let l = lines(&host_out);
    assert_eq!(
        l.first().map(|s| s.split(' ').next().unwrap().to_string()),
        Some((done + 1).to_string()),
        "{l:?}"
    );
    assert_eq!(l.len(), 25 - done);
    let comm = image.comm.clone();
    assert_eq!(comm, "counter");
}

#[test]
fn a_hook_can_inject_before_the_process_runs() {
    let dir = TempDir::new("hook");
    let bin = compile(&dir, "counter", &[]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &["8", "20"], &out, &dir.0);
    wait_for("2 lines", || lines(&out).len() >= 2);
    let img = dir.path("img");
    checkpoint_kill(&mut g, &img);
    let mut r = wend_ckpt::restore_file(&img, &RestoreOptions::default()).unwrap();
    let pid = r.pid();
    // What a seccomp installer does: run system calls inside it before it runs.
    let got = r
        .stopped_mut()
        .syscall("getpid", libc::SYS_getpid, [0; 6])
        .unwrap();
    assert_eq!(got as i32, pid);
    let nnp = r.stopped_mut().syscall(
        "prctl",
        libc::SYS_prctl,
        [libc::PR_SET_NO_NEW_PRIVS as u64, 1, 0, 0, 0, 0],
    );
    assert!(nnp.is_ok(), "{nnp:?}");
    let mut p = RestoredPid(r.resume().unwrap());
    assert_eq!(p.wait(), (Some(7), None));
    assert_eq!(lines(&out).len(), 8);
}
