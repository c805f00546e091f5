//! End-to-end engine tests: checkpoint a running guest, restore it, check it continues.

mod common;

use common::*;

#[test]
fn counter_continues_after_restore() {
    let dir = TempDir::new("counter");
    let bin = compile(&dir, "counter", &[]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &[], &out, &dir.0);
    wait_for("5 lines", || lines(&out).len() >= 5);
    let img = dir.path("img");
    checkpoint_kill(&mut g, &img);
    let at = lines(&out).len();
    let mut r = restore_run(&img);
    let (code, sig) = r.wait();
    assert_eq!(
        (code, sig),
        (Some(7), None),
        "exit status of the restored process"
    );
    let l = lines(&out);
    assert_eq!(
        l.len(),
        60,
        "no line lost or repeated (checkpoint after line {at})"
    );
    for (i, line) in l.iter().enumerate() {
        let n: usize = line.split(' ').next().unwrap().parse().unwrap();
        assert_eq!(n, i + 1, "line {i}: {line}");
    }
}

/// Registers aside, every kind of state the engine claims to keep, checked by the guest itself.
#[test]
fn process_state_survives() {
    let dir = TempDir::new("state");
    let bin = compile(&dir, "state", &[]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &["arg one", "two"], &out, &dir.0);
    wait_for("READY", || {
        lines(&out).iter().any(|l| l.starts_with("READY"))
    });
    let img = dir.path("img");
    checkpoint_kill(&mut g, &img);
    let mut r = restore_run(&img);
    std::fs::write(dir.path("go"), b"").unwrap();
    let (code, sig) = r.wait();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!((code, sig), (Some(0), None), "guest output:\n{text}");
    assert!(text.contains("DONE failures=0"), "{text}");
    let append = std::fs::read_to_string(dir.path("append.txt")).unwrap();
    assert_eq!(append, "first\nsecond\n");
}

/// General registers, the full xsave area (zmm0-31 or ymm0-15) and MXCSR's rounding mode,
/// checkpointed in the middle of a spin loop that holds them.
#[test]
fn registers_and_xsave_survive() {
    let dir = TempDir::new("regs");
    let bin = compile(&dir, "regs", &["-lm"]);
    let out = dir.path("out.txt");
    let mut g = Guest::start(&bin, &["4000000000"], &out, &dir.0);
    wait_for("SPIN", || lines(&out).iter().any(|l| l.starts_with("SPIN")));
    let img = dir.path("img");
    checkpoint_kill(&mut g, &img);
    assert!(
        !lines(&out).iter().any(|l| l.starts_with("REGS")),
        "the checkpoint must land inside the spin loop"
    );
    let mut r = restore_run(&img);
    let (code, sig) = r.wait();
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!((code, sig), (Some(0), None), "guest output:\n{text}");
    assert!(text.contains("REGS OK"), "{text}");
}
