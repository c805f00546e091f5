//! Automatic load balancing on real labs (issue 5): CPU-bound jobs started on node1 spread by
//! themselves, to the faster nodes first; `wend expel`, `wend bring` and a stopping daemon
//! send guests home with nothing lost; a locked process never moves; and a settled cluster
//! does not keep moving processes. The jobs are `guests/b_spin.c`: prime counting with a checked heap, until a go
//! file exists, then a verdict.
//!
//! The tests run one at a time (they measure CPU use; two at once would starve each other on
//! a small machine) and assert only where processes end up, never how fast.

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use migrate_common::*;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// A running b_spin job and where its output goes.
struct Job<'a> {
    m: Managed<'a>,
    out: std::path::PathBuf,
}

/// Starts `wend run [OPTIONS] -- b_spin GO 8` in node1 and waits for its "ready". The guest
/// is compiled once per lab: compiling it again would replace the file a running job maps.
fn start<'a>(lab: &'a MLab, tag: &str, options: &[&str], go: &std::path::Path) -> Job<'a> {
    let exe = lab.join("b_spin");
    if !exe.exists() {
        lab.guest("b_spin");
    }
    let out = lab.join(&format!("{tag}.out"));
    let m = lab.run_with(
        tag,
        options,
        &[exe.to_str().unwrap(), go.to_str().unwrap(), "8"],
        Stdio::null(),
        File::create(&out).unwrap().into(),
    );
    wait_for_text(&out, "ready\n", || m.context());
    Job { m, out }
}

impl Job<'_> {
    /// Waits for the end after the go file was created: exit 0, full prime count, heap intact.
    fn finish(mut self) {
        let st = self.m.wait();
        let out = fs::read_to_string(&self.out).unwrap_or_default();
        assert!(
            st.success() && out.contains("primes 148933\n") && out.contains("verdict: ok"),
            "job {} ended {st:?}, output:\n{out}\n{}",
            self.m.pid,
            self.m.context()
        );
    }
}

/// Where each home pid runs, by node1's `wend ps`.
fn placement(lab: &MLab, pids: &[i32]) -> Vec<(i32, String, u32)> {
    let rows = lab.ps("node1");
    pids.iter()
        .map(|pid| {
            let r = rows.iter().find(|r| r.pid == *pid);
            (
                *pid,
                r.map_or_else(|| "?".to_owned(), |r| r.where_.clone()),
                r.map_or(0, |r| r.migrations),
            )
        })
        .collect()
}

/// Holds `f` true for `secs` seconds of polling; returns the last placement seen.
fn hold_for(
    lab: &MLab,
    secs: u64,
    what: &str,
    f: impl Fn(&[(i32, String, u32)]) -> bool,
    pids: &[i32],
) {
    let until = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < until {
        let p = placement(lab, pids);
        assert!(f(&p), "{what} no longer holds: {p:?}{}", lab.logs());
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn two_jobs_on_node1_spread_one_per_node_and_settle() {
    let _one = serial();
    let lab = MLab::with(
        "spread",
        Shape {
            nodes: 2,
            cpus: Some("1"),
            balance: true,
        },
    );
    let go = lab.join("spread.go");
    let a = start(&lab, "a", &[], &go);
    let b = start(&lab, "b", &[], &go);
    let pids = [a.m.pid, b.m.pid];
    lab.wait_until("one job runs on each node", || {
        let p = placement(&lab, &pids);
        p.iter().filter(|(_, w, _)| w == "node1").count() == 1
            && p.iter().filter(|(_, w, _)| w == "node2").count() == 1
    });
    let settled = placement(&lab, &pids);
    // Steady state: nothing moves any more (at most one correction in 15 s).
    hold_for(
        &lab,
        15,
        "a settled placement",
        |p| {
            p.iter()
                .zip(&settled)
                .map(|((_, _, now), (_, _, then))| now - then)
                .sum::<u32>()
                <= 1
        },
        &pids,
    );
    let total: u32 = placement(&lab, &pids).iter().map(|(_, _, n)| n).sum();
    assert!(
        total <= 3,
        "{total} migrations for two jobs on two nodes{}",
        lab.logs()
    );
    fs::write(&go, "").unwrap();
    a.finish();
    b.finish();
}

#[test]
fn jobs_go_to_the_faster_node_first() {
    let _one = serial();
    // node1 and node2 get half a CPU each, node3 a whole one.
    let lab = MLab::with(
        "faster",
        Shape {
            nodes: 3,
            cpus: Some("0.5,0.5,1"),
            balance: true,
        },
    );
    let go = lab.join("faster.go");
    let a = start(&lab, "a", &[], &go);
    let b = start(&lab, "b", &[], &go);
    let pids = [a.m.pid, b.m.pid];
    lab.wait_until("a job leaves node1", || {
        placement(&lab, &pids).iter().any(|(_, w, _)| w != "node1")
    });
    let p = placement(&lab, &pids);
    assert!(
        p.iter().all(|(_, w, _)| w == "node1" || w == "node3"),
        "the first move went to a node no faster than node1: {p:?}{}",
        lab.logs()
    );
    // node2 is no faster than node1 with one job left: nothing goes there.
    hold_for(
        &lab,
        10,
        "nothing on the slow node2",
        |p| p.iter().all(|(_, w, _)| w != "node2"),
        &pids,
    );
    fs::write(&go, "").unwrap();
    a.finish();
    b.finish();
}

#[test]
fn locked_processes_never_move() {
    let _one = serial();
    let lab = MLab::with(
        "locked",
        Shape {
            nodes: 2,
            cpus: Some("1"),
            balance: true,
        },
    );
    let go = lab.join("locked.go");
    let a = start(&lab, "a", &["--lock"], &go);
    let b = start(&lab, "b", &[], &go);
    // `wend lock PID` locks a running process the same way.
    let out = lab.output("node1", &[WEND, "lock", &b.m.pid.to_string()]);
    assert!(out.status.success(), "wend lock: {}", text(&out));
    let pids = [a.m.pid, b.m.pid];
    hold_for(
        &lab,
        15,
        "both locked jobs at home",
        |p| p.iter().all(|(_, w, n)| w == "node1" && *n == 0),
        &pids,
    );
    let rows = lab.ps("node1");
    for pid in pids {
        let r = rows.iter().find(|r| r.pid == pid).expect("listed");
        assert!(
            r.locked && r.stay_reasons.iter().any(|s| s.contains("locked")),
            "`wend ps` does not say why {pid} stays: {r:?}"
        );
    }
    // A user may still move a locked process; on the node it runs on, the balancer leaves it
    // there too (idle node1 would otherwise call one of the two home).
    a.m.migrate("node2");
    b.m.migrate("node2");
    hold_for(
        &lab,
        10,
        "both locked jobs on node2",
        |p| p.iter().all(|(_, w, n)| w == "node2" && *n == 1),
        &pids,
    );
    a.m.migrate("home");
    b.m.migrate("home");
    // Unlocked, one of them moves to the idle node.
    let out = lab.output("node1", &[WEND, "unlock", &b.m.pid.to_string()]);
    assert!(out.status.success(), "wend unlock: {}", text(&out));
    lab.wait_until("the unlocked job moves to node2", || {
        let p = placement(&lab, &pids);
        p[0].1 == "node1" && p[0].2 == 2 && p[1].1 == "node2"
    });
    // Locked at home while it runs on node2, it stays there: with both jobs on node2 and
    // node1 idle, node2 would otherwise send it home.
    let out = lab.output("node1", &[WEND, "lock", &b.m.pid.to_string()]);
    assert!(out.status.success(), "wend lock: {}", text(&out));
    lab.wait_until("node2 lists its guest as locked", || {
        lab.ps("node2").iter().any(|r| r.locked)
    });
    a.m.migrate("node2");
    let moves_b = placement(&lab, &pids)[1].2;
    hold_for(
        &lab,
        10,
        "both jobs on node2, one locked at home while away",
        |p| p.iter().all(|(_, w, _)| w == "node2") && p[0].2 == 3 && p[1].2 == moves_b,
        &pids,
    );
    fs::write(&go, "").unwrap();
    a.finish();
    b.finish();
}

#[test]
fn expel_and_a_stopping_daemon_send_guests_home_intact() {
    let _one = serial();
    let lab = MLab::with(
        "expel",
        Shape {
            nodes: 2,
            cpus: Some("1"),
            balance: true,
        },
    );
    let go = lab.join("expel.go");
    let a = start(&lab, "a", &[], &go);
    let b = start(&lab, "b", &[], &go);
    let pids = [a.m.pid, b.m.pid];
    let one_on_node2 = || {
        lab.wait_until("a job runs on node2", || {
            placement(&lab, &pids).iter().any(|(_, w, _)| w == "node2")
        })
    };
    one_on_node2();
    let out = lab.output("node2", &[WEND, "expel"]);
    assert!(
        out.status.success() && text(&out).contains("1 guest(s) sent home"),
        "wend expel: {}{}",
        text(&out),
        lab.logs()
    );
    let p = placement(&lab, &pids);
    assert!(p.iter().all(|(_, w, _)| w == "node1"), "after expel: {p:?}");
    // Blocked: node2 takes nobody, however busy node1 is.
    hold_for(
        &lab,
        5,
        "nothing on the expelling node2",
        |p| p.iter().all(|(_, w, _)| w == "node1"),
        &pids,
    );
    let out = lab.output("node2", &[WEND, "unblock"]);
    assert!(out.status.success(), "wend unblock: {}", text(&out));
    one_on_node2();
    // `wend bring` calls them home and locks them there.
    let out = lab.output("node1", &[WEND, "bring"]);
    assert!(
        out.status.success() && text(&out).contains("1 process(es) brought home"),
        "wend bring: {}{}",
        text(&out),
        lab.logs()
    );
    hold_for(
        &lab,
        5,
        "both jobs brought home and kept there",
        |p| p.iter().all(|(_, w, _)| w == "node1"),
        &pids,
    );
    for pid in pids {
        let out = lab.output("node1", &[WEND, "unlock", &pid.to_string()]);
        assert!(out.status.success(), "wend unlock: {}", text(&out));
    }
    one_on_node2();
    lab.stop_daemon("node2");
    lab.wait_until("both jobs at home after node2's daemon stopped", || {
        placement(&lab, &pids).iter().all(|(_, w, _)| w == "node1")
    });
    fs::write(&go, "").unwrap();
    a.finish();
    b.finish();
}

#[test]
fn a_guest_is_passed_on_to_a_better_node_directly() {
    let _one = serial();
    let lab = MLab::with(
        "passon",
        Shape {
            nodes: 3,
            cpus: Some("1"),
            balance: true,
        },
    );
    let go = lab.join("passon.go");
    // node1 is busy with two locked jobs; two more run on node2, locked while they get there.
    let a = start(&lab, "a", &["--lock"], &go);
    let b = start(&lab, "b", &["--lock"], &go);
    let c = start(&lab, "c", &["--lock"], &go);
    let d = start(&lab, "d", &["--lock"], &go);
    c.m.migrate("node2");
    d.m.migrate("node2");
    let pids = [a.m.pid, b.m.pid, c.m.pid, d.m.pid];
    // Unlocked on node2 (home tells node2): node3 is idle and better than busy node1, so
    // node2 passes one of them there in one move, not by way of home.
    for job in [&c, &d] {
        let out = lab.output("node1", &[WEND, "unlock", &job.m.pid.to_string()]);
        assert!(out.status.success(), "wend unlock: {}", text(&out));
    }
    let settled = |p: &[(i32, String, u32)]| {
        p[0] == (a.m.pid, "node1".to_owned(), 0) && p[1] == (b.m.pid, "node1".to_owned(), 0) && {
            let mut away: Vec<(&str, u32)> =
                p[2..].iter().map(|(_, w, n)| (w.as_str(), *n)).collect();
            away.sort();
            away == [("node2", 1), ("node3", 2)]
        }
    };
    lab.wait_until("one job passed on from node2 to node3", || {
        settled(&placement(&lab, &pids))
    });
    hold_for(&lab, 5, "the placement holds", settled, &pids);
    fs::write(&go, "").unwrap();
    for job in [a, b, c, d] {
        job.finish();
    }
}
