//! The sweep: one deterministic run of the Rust sweep guest (memory, floating point, a
//! churning heap) checkpointed with --leave-running at 20 points, from its first percent of
//! progress to its last; every image is restored and must print exactly the result line of
//! an uninterrupted run, and so must the original.

mod support;

use std::process::Stdio;

use support::*;

const STEPS: &str = "12000";
const POINTS: [u32; 20] = [
    1, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 60, 65, 70, 75, 80, 85, 90, 95,
];

#[test]
fn checkpoints_at_twenty_points_of_one_run_all_restore_identically() {
    let scene = Scene::new("sweep");
    let exe = rust_guest("wend-guest-sweep");
    let mut r = Proc::spawn_piped("sweep reference", scene.command(&exe).arg(STEPS));
    assert!(r.wait_exit(T_WEND).success());
    r.stdout.wait_eof(T_GUEST);
    let reference = r.stdout.text();
    assert!(reference.starts_with("result "), "{reference}");

    // The gate holds the run at each point until its checkpoint is taken: a --leave-running
    // checkpoint lets the guest run on while the image is written, so without it the run
    // could pass several points, or end, during one checkpoint.
    let gate = Gate::new(&scene, "gate");
    let mut g = Proc::spawn_piped("sweep", scene.command(&exe).arg(STEPS).arg(gate.path()));
    let mut images = Vec::new();
    for p in POINTS {
        gate.open_to(p.into());
        if let Err(err) = g.stderr.wait_for(&format!("progress {p}\n"), T_WEND) {
            panic!("the sweep did not reach {p}%:\n{err}");
        }
        let image = scene.join(&format!("sweep-{p:02}.wend"));
        scene.checkpoint(g.pid(), &image, true).assert_ok();
        images.push((p, image));
    }
    gate.open_to(100);
    assert!(g.wait_exit(T_WEND).success(), "{}", g.stderr.text());
    g.stdout.wait_eof(T_GUEST);
    assert_eq!(g.stdout.text(), reference, "the original's result changed");
    assert_eq!(images.len(), POINTS.len(), "checkpoints taken");

    // Restore two at a time (two cores).
    for pair in images.chunks(2) {
        let runs: Vec<_> = pair
            .iter()
            .map(|(p, image)| (p, scene.restore_with(image, false, Stdio::null())))
            .collect();
        for (p, run) in runs {
            let out = run.finish(T_WEND);
            assert_eq!(out.code, 0, "restoring the checkpoint at {p}%:\n{out}");
            assert_eq!(
                out.stdout, reference,
                "the copy restored from {p}% printed another result:\n{out}"
            );
        }
    }
}

/// A restored process is an ordinary process: checkpointed again (twice in a chain) it still
/// completes with the reference result, and one image restores the same way twice.
#[test]
fn a_restored_process_can_be_checkpointed_again() {
    let scene = Scene::new("chain");
    let exe = rust_guest("wend-guest-sweep");
    let steps = "4000";
    let mut r = Proc::spawn_piped("sweep reference", scene.command(&exe).arg(steps));
    assert!(r.wait_exit(T_WEND).success());
    r.stdout.wait_eof(T_GUEST);
    let reference = r.stdout.text();

    // The gate (which the restored copies see too) keeps each process at its point until
    // the checkpoint has frozen it, so neither can finish first.
    let gate = Gate::new(&scene, "gate");
    gate.open_to(20);
    let mut g = Proc::spawn_piped("sweep", scene.command(&exe).arg(steps).arg(gate.path()));
    g.stderr.wait_for("progress 20\n", T_WEND).unwrap();
    let first = scene.join("first.wend");
    scene.checkpoint(g.pid(), &first, false).assert_ok();
    g.wait_exit(T_GUEST);
    gate.open_to(50);

    // Restore detached, let it run on, and checkpoint the restored process itself.
    let run = scene.restore(&first, true);
    let wend = run.wend_pid();
    assert!(
        wait_until(T_WEND, || !alive(wend)),
        "restore --detach did not return"
    );
    let pid = run.detached_pid(T_WEND);
    run.proc
        .stderr
        .wait_for("progress 50\n", T_WEND)
        .expect("the restored process made no progress");
    let second = scene.join("second.wend");
    scene.checkpoint(pid, &second, false).assert_ok();
    gate.open_to(100);
    let out = run.finish(T_WEND);
    assert!(
        out.others().contains(&(pid, End::Signal(9))),
        "the checkpointed restored process was not killed:\n{out}"
    );

    for attempt in 1..=2 {
        let out = scene.restore(&second, false).finish(T_WEND);
        assert_eq!(out.code, 0, "restore {attempt} of the second image:\n{out}");
        assert_eq!(
            out.stdout, reference,
            "restore {attempt} of the second image printed another result:\n{out}"
        );
    }
}

/// The same under constant interruption: the C guest busy.c takes SIGALRM every millisecond,
/// pushes data through a pipe it holds both ends of, and moves its brk heap; checkpointed at
/// 10 points of one run, every image must restore to the reference result.
#[test]
fn checkpoints_under_a_1ms_timer_all_restore_identically() {
    let scene = Scene::new("busy-sweep");
    let exe = scene.guest("busy");
    let go = scene.join("no-gate");
    let steps = "15000";
    let mut r = Proc::spawn_piped("busy reference", &mut scene.guest_cmd(&exe, &go, &[steps]));
    assert!(r.wait_exit(T_WEND).success(), "{}", r.stderr.text());
    r.stdout.wait_eof(T_GUEST);
    let reference = r.stdout.text();
    assert!(reference.starts_with("result "), "{reference}");

    // argv[1] is busy.c's gate (see the twenty-point sweep).
    let gate = Gate::new(&scene, "gate");
    let mut g = Proc::spawn_piped("busy", &mut scene.guest_cmd(&exe, gate.path(), &[steps]));
    let mut images = Vec::new();
    for p in (5..100).step_by(10) {
        gate.open_to(p);
        if let Err(err) = g.stderr.wait_for(&format!("progress {p}\n"), T_WEND) {
            panic!("busy did not reach {p}%:\n{err}");
        }
        let image = scene.join(&format!("busy-{p:02}.wend"));
        scene.checkpoint(g.pid(), &image, true).assert_ok();
        images.push((p, image));
    }
    gate.open_to(100);
    assert!(g.wait_exit(T_WEND).success(), "{}", g.stderr.text());
    g.stdout.wait_eof(T_GUEST);
    assert_eq!(g.stdout.text(), reference, "the original's result changed");
    assert_eq!(images.len(), 10, "checkpoints taken");
    for pair in images.chunks(2) {
        let runs: Vec<_> = pair
            .iter()
            .map(|(p, image)| (p, scene.restore(image, false)))
            .collect();
        for (p, run) in runs {
            let out = run.finish(T_WEND);
            assert_eq!(out.code, 0, "restoring the checkpoint at {p}%:\n{out}");
            assert_eq!(
                out.stdout, reference,
                "the copy restored from {p}% differs:\n{out}"
            );
        }
    }
}
