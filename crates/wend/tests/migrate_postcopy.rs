//! Post-copy migration (the default from home to a node): the process runs on the target
//! before its memory is there; pages come on fault and in the background from the frozen
//! original at home. Its memory must be exactly what it was, also after it moved on and came
//! back before every page had arrived; a home daemon that dies during post-copy takes the
//! guest with it (no guest left waiting for pages forever). (A target lost during post-copy
//! before the guest changed anything at home leaves the process at home: migrate_failure.rs,
//! `a_target_killed_mid_transfer_leaves_the_process_at_home`.)

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use migrate_common::*;

/// Starts m_lazy (`mib` MiB of filler plus 64 MiB it works on) and waits until it is ready.
fn lazy_guest<'a>(m: &'a MLab, tag: &str, mib: &str) -> (Managed<'a>, std::path::PathBuf) {
    let exe = m.guest("m_lazy");
    let go = m.join(&format!("{tag}.go"));
    let out_path = m.join(&format!("{tag}.out"));
    let scratch = m.join(&format!("{tag}.scratch"));
    let g = m.run(
        tag,
        &[
            exe.to_str().unwrap(),
            go.to_str().unwrap(),
            mib,
            scratch.to_str().unwrap(),
        ],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    wait_for_text(&out_path, "ready\n", || g.context());
    (g, go)
}

/// Lets the guest go on and asserts it found all its memory as it should be.
fn finish_intact(m: &MLab, mut g: Managed<'_>, tag: &str, go: &std::path::Path, mib: u64) {
    File::create(go).unwrap();
    let st = g.wait();
    let out = fs::read_to_string(m.join(&format!("{tag}.out"))).unwrap();
    assert!(
        st.code() == Some(0)
            && out.contains(&format!("checked {} MiB", mib + 64))
            && out.contains("verdict: ok"),
        "{tag}: {st:?}, output:\n{out}\n{}",
        g.context()
    );
}

/// Whether `node`'s daemon log holds `needle`.
fn logged(m: &MLab, node: &str, needle: &str) -> bool {
    fs::read_to_string(m.lab.daemon_log(node)).is_ok_and(|t| t.contains(needle))
}

/// `wend migrate` to `node` and the image size it reports (MiB).
fn migrate_reporting_image(m: &MLab, g: &Managed<'_>, node: &str) -> f64 {
    let out = m.migrate_cmd(g.pid, node);
    let said = text(&out);
    assert!(out.status.success(), "migrate: {said}\n{}", g.context());
    g.wait_where(node);
    said.split("image ")
        .nth(1)
        .and_then(|s| s.split(" MiB").next())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("no image size in {said:?}\n{}", g.context()))
}

#[test]
fn a_guest_sent_post_copy_runs_with_all_its_memory() {
    let m = MLab::up("pc-run");
    let (g, go) = lazy_guest(&m, "pcrun", "256");
    let image = migrate_reporting_image(&m, &g, "node2");
    // Its 320 MiB of anonymous memory stayed out of the image.
    assert!(
        image < 32.0,
        "the image was {image} MiB: not post-copy\n{}",
        g.context()
    );
    // It works on memory that may not be here yet: moved, dropped, written out, read into.
    finish_intact(&m, g, "pcrun", &go, 256);
    m.wait_until("node2 logs the end of post-copy", || {
        logged(&m, "node2", "post-copy done")
    });
}

#[test]
fn a_guest_moved_on_during_post_copy_keeps_its_memory() {
    let m = MLab::up("pc-hops");
    let (g, go) = lazy_guest(&m, "pchops", "384");
    let image = migrate_reporting_image(&m, &g, "node2");
    assert!(image < 32.0, "the image was {image} MiB: not post-copy");
    // At once on: node2 must fetch the rest from home before it sends the guest to node3.
    g.migrate("node3");
    g.migrate("home");
    g.migrate("node2");
    g.migrate("node3");
    finish_intact(&m, g, "pchops", &go, 384);
}

#[test]
fn a_home_daemon_dying_during_post_copy_ends_the_guest() {
    let m = MLab::up("pc-homedies");
    // Slow the path into node2 so that the pages of 512 MiB take tens of seconds to arrive.
    let veth = m.lab.state().node("node2").unwrap().veth.clone();
    let tc = Command::new("tc")
        .args(["qdisc", "add", "dev", &veth, "root", "tbf"])
        .args(["rate", "200mbit", "burst", "256kb", "latency", "1s"])
        .output()
        .expect("running tc");
    assert!(tc.status.success(), "tc: {}", text(&tc));
    let (mut g, _go) = lazy_guest(&m, "pchome", "512");
    // `wend migrate` answers once every page has arrived: start it, and strike while the
    // guest already runs on node2 but its pages still come.
    let mut migrate = m
        .in_node("node1", &[WEND, "migrate", &g.pid.to_string(), "node2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let guests_on_node2 = || {
        m.ps("node2")
            .into_iter()
            .filter(|p| p.local_pid.is_some())
            .count()
    };
    m.wait_until("node2 runs the guest", || guests_on_node2() == 1);
    assert!(
        migrate.try_wait().unwrap().is_none() && !logged(&m, "node2", "post-copy done"),
        "post-copy ended before the home daemon could be killed: slow the link more\n{}",
        g.context()
    );
    m.kill_daemon("node1");
    let out = migrate.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "`wend migrate` succeeded though its daemon died: {}",
        text(&out)
    );
    // The deputy dies with its daemon (PTRACE_O_EXITKILL), so `wend run` ends...
    let st = g.wait_within(Duration::from_secs(60));
    assert!(!st.success(), "`wend run` succeeded: {st:?}");
    // ...and node2 notices the broken link and kills the guest instead of letting it wait
    // for pages forever.
    let deadline = Instant::now() + TIMEOUT;
    while guests_on_node2() > 0 {
        assert!(
            Instant::now() < deadline,
            "node2 still runs the guest of a dead home\n{}",
            m.logs()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        logged(&m, "node2", "guest killed"),
        "node2 does not say it killed the guest\n{}",
        m.logs()
    );
}
