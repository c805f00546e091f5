//! The cluster on a real 5-node lab (network namespaces, a bridge, cgroups; run as root):
//! discovery by multicast, membership through a graceful stop (left), a crash (dead) and
//! restarts, a node with the wrong key, and loads that follow CPU work. Every lab has a unique
//! name and is torn down by `Lab`'s Drop, also when an assertion fails.

use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use wend_daemon::client::Client;
use wend_lab::{CpuSpec, Lab, LabSpec};
use wend_proto::{NodeInfo, NodeState};

const WEND: &str = env!("CARGO_BIN_EXE_wend");
/// Generous: failure detection takes seconds and CI machines are busy.
const TIMEOUT: Duration = Duration::from_secs(90);

/// A child process that is killed and reaped however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn lab(nodes: usize, cpus: &str, daemon_args: &[&str]) -> Lab {
    wend_lab::become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
    let mut spec = LabSpec::new(Lab::unique_name(), nodes, WEND);
    spec.cpus = CpuSpec::parse(cpus).expect("cpu spec");
    spec.daemon_args = daemon_args.iter().map(|s| s.to_string()).collect();
    spec.daemon_args
        .extend(["--log".to_owned(), "info".to_owned()]);
    let lab = Lab::up(spec).expect("lab up");
    for node in lab.nodes() {
        lab.wait_api(&node, TIMEOUT).expect("daemon api");
    }
    lab
}

/// What `node`'s daemon reports (empty while it cannot be reached).
fn nodes(lab: &Lab, node: &str) -> Vec<NodeInfo> {
    Client::connect(&lab.api_socket(node))
        .and_then(|mut c| c.nodes())
        .unwrap_or_default()
}

fn state(nodes: &[NodeInfo], name: &str) -> Option<NodeState> {
    nodes.iter().find(|n| n.name == name).map(|n| n.state)
}

fn wait_until(lab: &Lab, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        if Instant::now() > deadline {
            let views: Vec<String> = lab
                .nodes()
                .iter()
                .map(|n| {
                    let seen: Vec<String> = nodes(lab, n)
                        .iter()
                        .map(|i| format!("{}={} load {:.2}", i.name, i.state, i.load))
                        .collect();
                    format!("{n}: {}", seen.join(", "))
                })
                .collect();
            panic!(
                "timed out waiting until {what}; views:\n{}",
                views.join("\n")
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Waits until every node in `observers` sees `target` in `want`.
fn wait_state(lab: &Lab, observers: &[&str], target: &str, want: NodeState) {
    for o in observers {
        wait_until(lab, &format!("{o} sees {target} {want}"), || {
            state(&nodes(lab, o), target) == Some(want)
        });
    }
}

/// Five members, all alive, each with its load vector (name, CPUs, memory) known.
fn all_five_alive(seen: &[NodeInfo]) -> bool {
    seen.len() == 5
        && seen
            .iter()
            .all(|n| n.state == NodeState::Alive && n.cpus >= 1.0 && n.mem_total > 0)
}

fn output_text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn five_nodes_alive_left_dead_and_back() {
    let mut lab = lab(5, "1", &["--speed", "1"]);
    let all = ["node1", "node2", "node3", "node4", "node5"];
    for o in all {
        wait_until(&lab, &format!("{o} sees all 5 alive"), || {
            all_five_alive(&nodes(&lab, o))
        });
    }
    // The client command, inside a node, through WEND_API.
    let out = lab
        .exec("node2", &[WEND, "nodes", "--json"])
        .output()
        .unwrap();
    let json = output_text(&out);
    assert!(out.status.success(), "{json}");
    assert_eq!(json.matches("\"state\": \"alive\"").count(), 5, "{json}");
    let out = lab.exec("node2", &[WEND, "nodes"]).output().unwrap();
    let table = output_text(&out);
    assert!(table.starts_with("NAME"), "{table}");
    assert!(table.contains("node2*"), "{table}");

    // SIGTERM: the daemon announces its leave.
    lab.stop_daemon("node5").expect("stop node5");
    wait_state(&lab, &all[..4], "node5", NodeState::Left);

    // Back again.
    lab.start_daemon("node5").expect("start node5");
    lab.wait_api("node5", TIMEOUT).unwrap();
    wait_state(&lab, &all, "node5", NodeState::Alive);

    // SIGKILL: no leave; the failure detector declares it dead.
    lab.kill_daemon("node4").expect("kill node4");
    wait_state(
        &lab,
        &["node1", "node2", "node3", "node5"],
        "node4",
        NodeState::Dead,
    );

    // A restart after a crash brings it back alive everywhere.
    lab.start_daemon("node4").expect("start node4");
    lab.wait_api("node4", TIMEOUT).unwrap();
    wait_state(&lab, &all, "node4", NodeState::Alive);
    for o in all {
        wait_until(&lab, &format!("{o} sees all 5 alive again"), || {
            all_five_alive(&nodes(&lab, o))
        });
    }
    lab.down().expect("lab down");
}

#[test]
fn wrong_key_is_refused_and_loads_follow_cpu_work() {
    let mut lab = lab(5, "1,0.5,0.5,0.5,0.5", &["--speed", "1"]);
    let all = ["node1", "node2", "node3", "node4", "node5"];
    for o in all {
        wait_until(&lab, &format!("{o} sees all 5 alive"), || {
            all_five_alive(&nodes(&lab, o))
        });
    }
    // The half-CPU quota shows: a whole CPU at half the speed.
    let seen = Client::connect(&lab.api_socket("node1"))
        .and_then(|mut c| c.nodes())
        .expect("node1 answers");
    let find = |name: &str| {
        seen.iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no {name} in {seen:?}"))
    };
    let (n1, n2) = (find("node1"), find("node2"));
    assert_eq!((n1.cpus, n1.speed), (1.0, 1.0), "{n1:?}");
    assert_eq!((n2.cpus, n2.speed), (1.0, 0.5), "{n2:?}");

    // Loads follow CPU work on node3 (its cgroup's run queue, not the host's).
    let load_of = |lab: &Lab, who: &str| {
        nodes(lab, "node1")
            .iter()
            .find(|n| n.name == who)
            .map_or(f64::NAN, |n| n.load)
    };
    wait_until(&lab, "node3 is idle", || load_of(&lab, "node3") < 0.5);
    let spin = Reaped(
        lab.exec("node3", &["sh", "-c", "while :; do :; done"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    wait_until(&lab, "node1 sees node3 busy", || {
        load_of(&lab, "node3") > 0.9
    });
    assert!(
        load_of(&lab, "node4") < 0.5,
        "node4 should not carry node3's work"
    );
    drop(spin);
    wait_until(&lab, "node1 sees node3 idle again", || {
        load_of(&lab, "node3") < 0.5
    });

    // An intruder: node5's address, a key of its own. It must learn nothing and be let in
    // nowhere, whether it tries its seed or multicast discovery.
    lab.stop_daemon("node5").expect("stop node5");
    wait_state(&lab, &all[..4], "node5", NodeState::Left);
    let made = lab
        .exec("node5", &[WEND, "keygen", "-o", "/tmp/wrong.key"])
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", output_text(&made));
    let listen = lab.peer_addr("node5").unwrap().to_string();
    let seed = lab.peer_addr("node1").unwrap().to_string();
    let intruder = Reaped(
        lab.exec(
            "node5",
            &[
                WEND,
                "daemon",
                "--name",
                "intruder",
                "--listen",
                &listen,
                "--key",
                "/tmp/wrong.key",
                "--api",
                "/run/wend/intruder.sock",
                "--seed",
                &seed,
                "--speed",
                "1",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let intruder_view = || {
        lab.exec(
            "node5",
            &[WEND, "nodes", "--json", "--api", "/run/wend/intruder.sock"],
        )
        .output()
        .unwrap()
    };
    wait_until(&lab, "the intruder's daemon answers", || {
        intruder_view().status.success()
    });
    // Several seed retries and discovery announcements happen in this time.
    std::thread::sleep(Duration::from_secs(6));
    let view = output_text(&intruder_view());
    assert_eq!(
        view.matches("\"name\"").count(),
        1,
        "the intruder learned: {view}"
    );
    assert!(view.contains("\"intruder\""), "{view}");
    for o in &all[..4] {
        let seen = nodes(&lab, o);
        assert!(seen.iter().all(|n| n.name != "intruder"), "{o}: {seen:?}");
        assert_eq!(
            state(&seen, "node5"),
            Some(NodeState::Left),
            "{o}: {seen:?}"
        );
        assert_eq!(seen.len(), 5, "{o}: {seen:?}");
    }
    drop(intruder);
    lab.down().expect("lab down");
}
