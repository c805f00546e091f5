//! Leave-running checkpoints and restore errors.

mod common;

use common::*;
use wend_ckpt::{CheckpointOptions, CkptError, RestoreOptions};

fn numbered(out: &std::path::Path, max: usize) {
    let l = lines(out);
    assert_eq!(l.len(), max, "{l:?}");
    for (i, line) in l.iter().enumerate() {
        assert_eq!(
            line.split(' ').next().unwrap(),
            (i + 1).to_string(),
            "{l:?}"
        );
    }
}

#[test]
fn leave_running_continues_unchanged_and_image_restores() {
    let dir = TempDir::new("leave");
    let bin = compile(&dir, "counter", &[]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &["30", "30"], &out, &dir.0);
    wait_for("4 lines", || lines(&out).len() >= 4);
    let img = dir.path("img");
    let opts = CheckpointOptions {
        leave_running: true,
        ..CheckpointOptions::default()
    };
    let rep = wend_ckpt::checkpoint_to_file(g.pid(), &img, &opts).expect("checkpoint");
    assert!(rep.image_bytes > 0);
    // Memory was read from a copy-on-write snapshot child; it is gone and reaped.
    assert!(
        children_of(g.pid()).is_empty(),
        "snapshot child left behind"
    );
    assert!(rep.frozen <= rep.total);
    let st = g.0.wait().unwrap();
    assert_eq!(
        st.code(),
        Some(7),
        "the original runs on to its end: {:?}",
        lines(&out)
    );
    numbered(&out, 30);
    // The image restores the process as it was at the checkpoint; it rewrites the same lines.
    let mut r = restore_run(&img);
    assert_eq!(r.wait(), (Some(7), None));
    numbered(&out, 30);
}

#[test]
fn missing_or_changed_file_is_named_and_nothing_runs() {
    let dir = TempDir::new("missing");
    let bin = compile(&dir, "counter", &[]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &["1000", "20"], &out, &dir.0);
    wait_for("2 lines", || lines(&out).len() >= 2);
    let img = dir.path("img");
    checkpoint_kill(&mut g, &img);
    let n = lines(&out).len();

    let saved = dir.path("counter.saved");
    std::fs::rename(&bin, &saved).unwrap();
    let err = wend_ckpt::restore_file(&img, &RestoreOptions::default()).expect_err("missing exe");
    assert!(
        matches!(&err, CkptError::MissingFile { path, .. } if path == bin.to_str().unwrap()),
        "{err:?}"
    );
    assert!(err.to_string().contains(bin.to_str().unwrap()));

    std::fs::copy(&saved, &bin).unwrap();
    let err = wend_ckpt::restore_file(&img, &RestoreOptions::default()).expect_err("changed exe");
    assert!(
        matches!(&err, CkptError::ChangedFile { path, .. } if path == bin.to_str().unwrap()),
        "{err:?}"
    );

    std::fs::write(dir.path("out.txt"), b"").unwrap();
    let garbage = dir.path("garbage");
    std::fs::write(&garbage, b"not an image at all, just some bytes that are long enough..........................................................................................................").unwrap();
    let err = wend_ckpt::restore_file(&garbage, &RestoreOptions::default()).expect_err("garbage");
    assert!(matches!(err, CkptError::Image(_)), "{err:?}");
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert!(
        lines(&out).is_empty(),
        "nothing may have run (had {n} lines)"
    );
}

/// Signals that arrive while wend injects calls (a 1 ms interval timer) are kept for the
/// program: repeated leave-running checkpoints succeed and the timer keeps firing afterwards.
#[test]
fn signals_arriving_during_injection_are_kept() {
    let dir = TempDir::new("alarm");
    let bin = compile(&dir, "alarm", &[]);
    let out = dir.path("out.txt");
    let g = Guest::start(&bin, &[], &out, &dir.0);
    wait_for("READY", || lines(&out).iter().any(|l| l == "READY"));
    let opts = CheckpointOptions {
        leave_running: true,
        ..CheckpointOptions::default()
    };
    for i in 0..5 {
        let img = dir.path(&format!("img{i}"));
        wend_ckpt::checkpoint_to_file(g.pid(), &img, &opts).expect("checkpoint under a 1 ms timer");
    }
    let mut r = restore_run(&dir.path("img4"));
    assert_eq!(r.wait(), (Some(0), None), "{:?}", lines(&out).last());
    drop(g);
}
