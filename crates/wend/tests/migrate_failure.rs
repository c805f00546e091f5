//! Failure safety: a migration to a node that refuses guests, or whose daemon is killed in
//! the middle of the transfer, leaves the process running at home with its work intact; a
//! remote node whose daemon dies takes the process with it, and its home pid ends with
//! status 113 (`wend_daemon::migrate::LOST_STATUS`), never hanging.

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use migrate_common::*;
use wend_daemon::migrate::LOST_STATUS;
use wend_proto::NodeState;

/// A daemon the test started itself, killed and reaped however the test ends.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts m_big (`mib` MiB of checked memory) under `wend run` and waits until it is ready.
fn big<'a>(m: &'a MLab, tag: &str, mib: &str) -> (Managed<'a>, std::path::PathBuf) {
    let exe = m.guest("m_big");
    let go = m.join(&format!("{tag}.go"));
    let out_path = m.join(&format!("{tag}.out"));
    let g = m.run(
        tag,
        &[exe.to_str().unwrap(), go.to_str().unwrap(), mib],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    wait_for_text(&out_path, "ready\n", || g.context());
    (g, go)
}

/// Lets m_big finish and asserts it found every byte of its memory intact.
fn finish_intact(m: &MLab, mut g: Managed<'_>, tag: &str, go: &std::path::Path, mib: &str) {
    File::create(go).unwrap();
    let st = g.wait();
    let out = fs::read_to_string(m.join(&format!("{tag}.out"))).unwrap();
    assert!(
        st.code() == Some(0)
            && out.contains(&format!("checked {mib} MiB"))
            && out.contains("verdict: ok"),
        "{tag}: {st:?}, output:\n{out}\n{}",
        g.context()
    );
}

#[test]
fn a_refusing_node_leaves_the_process_at_home() {
    let mut m = MLab::up("refuse");
    // node3's daemon again, with the same command line plus --no-accept-guests.
    let argv = m
        .lab
        .state()
        .node("node3")
        .unwrap()
        .daemon
        .clone()
        .expect("node3 has a daemon");
    m.lab.stop_daemon("node3").expect("stop node3's daemon");
    let log = m.join("node3-refusing.log");
    let mut full = argv.clone();
    full.push("--no-accept-guests".to_owned());
    let daemon = Daemon(
        m.in_node("node3", &full)
            .stdin(Stdio::null())
            .stdout(File::create(&log).unwrap())
            .stderr(File::create(m.join("node3-refusing.err")).unwrap())
            .spawn()
            .expect("start node3's refusing daemon"),
    );
    m.lab.wait_api("node3", TIMEOUT).expect("node3 api");
    m.wait_until("node1 sees node3 alive again", || {
        nodes_seen(&m.lab, "node1")
            .iter()
            .any(|(n, s)| n == "node3" && *s == NodeState::Alive)
    });

    let (g, go) = big(&m, "refused", "64");
    let out = m.migrate_cmd(g.pid, "node3");
    let said = text(&out).to_lowercase();
    let refusal_log = || {
        format!(
            "\n--- refusing daemon's log:\n{}{}",
            fs::read_to_string(&log).unwrap_or_default(),
            fs::read_to_string(m.join("node3-refusing.err")).unwrap_or_default()
        )
    };
    assert!(
        !out.status.success(),
        "the migration to a refusing node succeeded: {said}\n{}{}",
        g.context(),
        refusal_log()
    );
    assert!(
        said.contains("refuse") || said.contains("accept") || said.contains("guests"),
        "the error does not say the node refused guests: {said}\n{}{}",
        g.context(),
        refusal_log()
    );
    g.wait_where("home");
    // Still movable to a node that accepts.
    g.migrate("node2");
    g.migrate("home");
    finish_intact(&m, g, "refused", &go, "64");
    drop(daemon);
}

#[test]
fn a_target_killed_mid_transfer_leaves_the_process_at_home() {
    let m = MLab::up("midkill");
    // Slow the path into node2 (the host end of its veth) so that the transfer of 512 MiB
    // takes tens of seconds: the kill lands in its middle however fast the machine is.
    let veth = m.lab.state().node("node2").unwrap().veth.clone();
    let tc = Command::new("tc")
        .args(["qdisc", "add", "dev", &veth, "root", "tbf"])
        .args(["rate", "200mbit", "burst", "256kb", "latency", "1s"])
        .output()
        .expect("running tc");
    assert!(tc.status.success(), "tc: {}", text(&tc));
    let tx = format!("/sys/class/net/{veth}/statistics/tx_bytes");
    let sent = || -> u64 { fs::read_to_string(&tx).unwrap().trim().parse().unwrap() };

    let (g, go) = big(&m, "midkill", "512");
    let start = sent();
    let mut migrate = m
        .in_node("node1", &[WEND, "migrate", &g.pid.to_string(), "node2"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while sent() < start + (32 << 20) {
        if let Some(st) = migrate.try_wait().unwrap() {
            let out = migrate.wait_with_output().unwrap();
            panic!(
                "`wend migrate` ended ({st:?}) before 32 MiB went to node2: {}\n{}",
                text(&out),
                g.context()
            );
        }
        assert!(
            Instant::now() < deadline,
            "the transfer to node2 did not start\n{}",
            g.context()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    m.kill_daemon("node2");
    let out = migrate.wait_with_output().unwrap();
    assert!(
        !out.status.success(),
        "the migration to a target killed mid-transfer succeeded: {}\n{}",
        text(&out),
        g.context()
    );
    g.wait_where("home");
    finish_intact(&m, g, "midkill", &go, "512");
}

#[test]
fn a_dead_remote_ends_the_home_process_with_status_113() {
    let m = MLab::up("lost");
    let exe = m.guest("m_sig");
    let ctl = m.join("lost.ctl");
    let out_path = m.join("lost.out");
    let mut g = m.run(
        "lost",
        &[exe.to_str().unwrap(), ctl.to_str().unwrap(), "handlers"],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    wait_for_text(&out_path, "ready\n", || g.context());
    g.migrate("node2");
    m.kill_daemon("node2");
    let st = g.wait_within(Duration::from_secs(60));
    assert_eq!(
        st.code(),
        Some(LOST_STATUS),
        "the home process of a lost guest: {st:?}\n{}",
        g.context()
    );
}
