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
