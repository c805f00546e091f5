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

    let mut g = Proc::spawn_piped("sweep", scene.command(&exe).arg(STEPS));
    let mut images = Vec::new();
    for p in POINTS {
        if g.stderr
            .wait_for(&format!("progress {p}\n"), T_WEND)
            .is_err()
        {
            break;
        }
        let image = scene.join(&format!("sweep-{p:02}.wend"));
        if !alive(g.pid()) {
            break;
        }
        scene.checkpoint(g.pid(), &image, true).assert_ok();
        images.push((p, image));
    }
    assert!(g.wait_exit(T_WEND).success());
    g.stdout.wait_eof(T_GUEST);
    assert_eq!(g.stdout.text(), reference, "the original's result changed");
    // On a loaded machine the last points may pass while a checkpoint is written; the run
    // must still be covered from start to end.
    assert!(
        images.len() >= 15,
        "only {} checkpoints taken before the run ended",
        images.len()
    );

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
