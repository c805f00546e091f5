//! `wend demo` end to end (root): it builds its own lab, runs its batches, checks the outputs
//! and removes everything. Small input; nothing is asserted about timing.

mod lab_common;

use std::path::Path;
use std::process::Command;

use lab_common::{assert_nothing_left, init, DownGuard, WEND};
use wend_lab::Lab;

#[test]
fn demo_runs_to_the_end_and_cleans_up() {
    init();
    let name = Lab::unique_name();
    let _down = DownGuard(name.clone());
    let work = Path::new("/var/tmp").join(format!("wend-demo-{name}"));
    let out = Command::new(WEND)
        .args(["demo", "--mb", "8", "--name", name.as_str()])
        .output()
        .expect("run wend demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "wend demo failed: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    // Both batches' outputs (2 jobs each, the default for 2 nodes) match the reference.
    assert!(
        stdout.contains("outputs identical: all 4 outputs match the reference byte for byte"),
        "no output check in:\n{stdout}"
    );
    // Not a terminal: the live view prints a line per change, naming the jobs' home pids.
    for job in 1..=2 {
        let started = stdout
            .lines()
            .any(|l| l.contains(&format!("job {job} (pid ")) && l.contains("on node1"));
        assert!(started, "job {job} never shown on node1 in:\n{stdout}");
        assert!(
            stdout.contains(&format!("job {job} (pid ")) && stdout.contains("done "),
            "job {job} never shown done in:\n{stdout}"
        );
    }
    for row in [
        "with wend (2 jobs, 2 nodes)",
        "without wend (2 jobs on node1)",
        "one job alone",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(row));
        let line = line.unwrap_or_else(|| panic!("no result row {row:?} in:\n{stdout}"));
        let secs: f64 = line[row.len()..]
            .split_whitespace()
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no makespan in {line:?}"));
        assert!(secs > 0.0, "makespan {secs} in {line:?}");
    }
    assert!(!work.exists(), "{} left behind", work.display());
    assert_nothing_left(&name, &[]);
}

#[test]
fn demo_rejects_a_bad_size_before_building_anything() {
    let out = Command::new(WEND)
        .args(["demo", "--mb", "0"])
        .output()
        .expect("run wend demo");
    assert_eq!(out.status.code(), Some(2), "clap usage error expected");
}
