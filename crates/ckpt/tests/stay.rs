//! Stay reasons: refused by name, all of them, with the process left running untouched.

mod common;

use common::*;
use wend_ckpt::{CheckpointOptions, CkptError, StayPath};

fn ticks(out: &std::path::Path) -> usize {
    lines(out).iter().filter(|l| l.starts_with("tick")).count()
}

#[test]
fn every_reason_is_named_and_the_process_runs_on() {
    let dir = TempDir::new("stay");
    let bin = compile(&dir, "stay", &["-pthread"]);
    let out = dir.path("out.txt");
    let g = Guest::start(&bin, &["all"], &out, &dir.0);
    wait_for("READY", || lines(&out).iter().any(|l| l == "READY"));
    let img = dir.path("img");
    let err = wend_ckpt::checkpoint_to_file(g.pid(), &img, &CheckpointOptions::default())
        .expect_err("must be refused");
    let reasons = err.stay_reasons().expect("a stay refusal").to_vec();
    let names: Vec<&str> = reasons.iter().map(|r| r.name()).collect();
    for want in [
        "threads",
        "socket",
        "shared-memory",
        "file-lock",
        "anon-inode",
        "children",
        "terminal",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    let msg = err.to_string();
    assert!(msg.contains("threads") && msg.contains("socket"), "{msg}");
    assert!(!img.exists(), "no image may be left behind");
    let status = std::fs::read_to_string(format!("/proc/{}/status", g.pid())).unwrap();
    assert!(
        status.lines().any(|l| l == "TracerPid:\t0"),
        "left traced:\n{status}"
    );
    let before = ticks(&out);
    wait_for("ticks after the refusal", || ticks(&out) > before + 2);
    // The migration path forwards descriptors: sockets, terminals, children don't stop it.
    let m = wend_ckpt::check(g.pid(), StayPath::Migration).unwrap();
    let mnames: Vec<&str> = m.iter().map(|r| r.name()).collect();
    assert!(
        mnames.contains(&"threads") && mnames.contains(&"shared-memory"),
        "{mnames:?}"
    );
    assert!(
        !mnames.contains(&"socket") && !mnames.contains(&"terminal"),
        "{mnames:?}"
    );
}

#[test]
fn single_reasons_are_each_refused() {
    let dir = TempDir::new("stay1");
    let bin = compile(&dir, "stay", &["-pthread"]);
    for (mode, name) in [
        ("threads", "threads"),
        ("socket", "socket"),
        ("shm", "shared-memory"),
        ("eventfd", "anon-inode"),
    ] {
        let out = dir.path(&format!("out-{mode}.txt"));
        let g = Guest::start(&bin, &[mode], &out, &dir.0);
        wait_for("READY", || lines(&out).iter().any(|l| l == "READY"));
        let reasons = wend_ckpt::check(g.pid(), StayPath::Checkpoint).unwrap();
        let mut names: Vec<&str> = reasons.iter().map(|r| r.name()).collect();
        names.dedup();
        assert_eq!(names, vec![name], "mode {mode}");
    }
}

#[test]
fn missing_and_untraceable_pids_are_clear_errors() {
    // pid_max is far below this.
    let err = wend_ckpt::checkpoint_to_file(
        4_000_000,
        std::path::Path::new("/nonexistent/x"),
        &CheckpointOptions::default(),
    )
    .expect_err("no such pid");
    assert!(
        matches!(err, CkptError::NoSuchProcess { pid: 4_000_000 }),
        "{err:?}"
    );
    let dir = TempDir::new("traced");
    let bin = compile(&dir, "counter", &[]);
    let out = dir.path("out.txt");
    let g = Guest::start(&bin, &[], &out, &dir.0);
    wait_for("output", || !lines(&out).is_empty());
    // Hold it traced ourselves, then try a second checkpoint through a fresh seize.
    let frozen = wend_sys::Stopped::seize(g.pid()).unwrap();
    let err =
        wend_ckpt::checkpoint_to_file(g.pid(), &dir.path("img"), &CheckpointOptions::default())
            .expect_err("already traced");
    assert!(
        err.stay_reasons()
            .is_some_and(|r| r.iter().any(|x| x.name() == "traced"))
            || matches!(err, CkptError::NotTraceable { .. }),
        "{err:?}"
    );
    drop(frozen);
}

/// On the migration path a socket does not stop the dump: the descriptor stays home and is
/// left out of the image, and the frozen process can be let go unchanged.
#[test]
fn migration_path_dumps_a_process_with_a_socket() {
    let dir = TempDir::new("migr");
    let bin = compile(&dir, "stay", &["-pthread"]);
    let out = dir.path("out.txt");
    let g = Guest::start(&bin, &["socket"], &out, &dir.0);
    wait_for("READY", || lines(&out).iter().any(|l| l == "READY"));
    let opts = CheckpointOptions {
        path: StayPath::Migration,
        ..CheckpointOptions::default()
    };
    let w = wend_image::ImageWriter::new(Vec::new(), &wend_image::WriteOptions::default()).unwrap();
    let (frozen, bytes, report) = wend_ckpt::dump(g.pid(), w, &opts).expect("migration dump");
    assert!(report.dumped_bytes > 0);
    frozen.resume().unwrap();
    let mut r = wend_image::ImageReader::new(&bytes[..]).unwrap();
    let image: wend_ckpt::ProcessImage = r.read_meta().unwrap();
    let fds: Vec<i32> = image.files.fds.iter().map(|f| f.fd).collect();
    assert_eq!(fds, vec![0, 1, 2], "sockets stay home");
    while r.next_record().unwrap().is_some() {}
    let before = lines(&out).len();
    wait_for("ticks after the dump", || lines(&out).len() > before + 2);
}
