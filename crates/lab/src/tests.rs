//! Unit tests of the orchestration (`up`, `status`, `down`) against the recording double.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::double::RecordingHost;
use crate::down::down;
use crate::host::{Host, ProcState};
use crate::naming::LabName;
use crate::state::LabState;
use crate::status::{daemon_pid, status};
use crate::subnet::{self, Prefix};
use crate::up::{up, LabSpec};
use crate::{CpuSpec, LabError};

fn spec(name: &str, nodes: usize) -> LabSpec {
    let mut s = LabSpec::new(LabName::new(name).unwrap(), nodes, "/usr/bin/wend");
    s.ready_timeout = Duration::from_millis(50);
    s.daemon_timeout = None;
    s
}

fn index_of(h: &RecordingHost, call: &str) -> usize {
    h.calls
        .iter()
        .position(|c| c == call)
        .unwrap_or_else(|| panic!("no call {call:?} in {:#?}", h.calls))
}

#[test]
fn up_builds_bridge_nodes_cgroups_and_holders() {
    let mut h = RecordingHost::v1();
    let mut s = spec("demo", 3);
    s.cpus = CpuSpec::parse("1,0.5,0.5").unwrap();
    let state = up(&mut h, &s).unwrap();
    assert_eq!(state.phase, "up");
    assert_eq!(state.nodes.len(), 3);
    let net = state.subnet;
    assert_eq!(net.len, 24);
    assert!(net.overlaps(Prefix::parse("10.213.0.0/16").unwrap()));

    let br = index_of(
        &h,
        "run ip link add wl-demo-br type bridge mcast_snooping 0",
    );
    let ns2 = index_of(&h, "run ip netns add wl-demo-node2");
    assert!(br < ns2);
    index_of(
        &h,
        "run ip link add wl-demo-2 type veth peer name eth0 netns wl-demo-node2",
    );
    index_of(&h, "run ip link set wl-demo-2 master wl-demo-br");
    index_of(
        &h,
        &format!(
            "run ip -n wl-demo-node2 addr add {}/24 dev eth0",
            net.host(2)
        ),
    );
    index_of(&h, "run ip -n wl-demo-node2 link set lo up");
    index_of(&h, "run ip -n wl-demo-node3 route add 224.0.0.0/4 dev eth0");
    assert!(
        h.calls.iter().all(|c| !c.contains("default")),
        "a node must not get a default route"
    );
    // CPU shares: node1 one CPU, the others half a CPU, per 100 ms period.
    let q = "/sys/fs/cgroup/cpu/wend-lab-demo";
    index_of(&h, &format!("write {q}/node1/cpu.cfs_quota_us = 100000"));
    index_of(&h, &format!("write {q}/node2/cpu.cfs_quota_us = 50000"));
    index_of(&h, &format!("write {q}/node3/cpu.cfs_quota_us = 50000"));
    index_of(&h, &format!("write {q}/node3/cpu.cfs_period_us = 100000"));
    // v1 cpusets need cpus and mems before any task joins.
    let cs = "/sys/fs/cgroup/cpuset/wend-lab-demo";
    index_of(&h, &format!("write {cs}/cpuset.mems = 0"));
    index_of(&h, &format!("write {cs}/node1/cpuset.cpus = 0-1"));
    // The key, then one holder per node, after the network is built.
    let key = index_of(
        &h,
        "run /usr/bin/wend keygen -o /run/wend-lab/demo/cluster.key",
    );
    let spawns = h.calls_starting("spawn ");
    assert_eq!(spawns.len(), 3);
    assert_eq!(
        spawns[0],
        "spawn /usr/bin/wend lab hold --name demo --node node1 --root /run/wend-lab \
         > /run/wend-lab/demo/node1/holder.log"
    );
    assert!(key < index_of(&h, spawns[0]));
    // The recorded state names the holders, the cgroups and the daemon command.
    let saved = LabState::load(&mut h, &s.name, Path::new("/run/wend-lab/demo"))
        .unwrap()
        .unwrap();
    assert_eq!(saved, state);
    let n1 = &saved.nodes[0];
    assert_eq!(n1.holder_pid, Some(1000));
    assert_eq!(n1.cpus, Some(1.0));
    assert_eq!(
        n1.cgroup_procs,
        vec![
            PathBuf::from("/sys/fs/cgroup/cpu/wend-lab-demo/node1/cgroup.procs"),
            PathBuf::from("/sys/fs/cgroup/cpuset/wend-lab-demo/node1/cgroup.procs"),
        ]
    );
    let daemon = n1.daemon.as_ref().unwrap().join(" ");
    assert_eq!(
        daemon,
        format!(
            "/usr/bin/wend daemon --name node1 --listen {}:7227 \
             --key /run/wend-lab/demo/cluster.key --api /run/wend/wend.sock",
            net.host(1)
        )
    );
}

#[test]
fn seeds_pinning_and_no_daemon() {
    let mut h = RecordingHost::v1();
    let mut s = spec("pin", 3);
    s.cpus = CpuSpec::parse("1").unwrap();
    s.pin = true;
    s.seeds = true;
    let state = up(&mut h, &s).unwrap();
    let cpusets: Vec<_> = state.nodes.iter().map(|n| n.cpuset.clone()).collect();
    assert_eq!(
        cpusets,
        vec![Some("0".into()), Some("1".into()), Some("0".into())]
    );
    index_of(
        &h,
        "write /sys/fs/cgroup/cpuset/wend-lab-pin/node2/cpuset.cpus = 1",
    );
    let d2 = state.nodes[1].daemon.as_ref().unwrap().join(" ");
    assert!(
        d2.ends_with(&format!("--seed {}:7227", state.subnet.host(1))),
        "{d2}"
    );
    assert!(!state.nodes[0]
        .daemon
        .as_ref()
        .unwrap()
        .contains(&"--seed".to_owned()));

    let mut h = RecordingHost::v1();
    let mut s = spec("bare", 1);
    s.daemon = false;
    let state = up(&mut h, &s).unwrap();
    assert_eq!(state.key, None);
    assert_eq!(state.nodes[0].daemon, None);
    assert!(h.calls_starting("run /usr/bin/wend keygen").is_empty());
}

#[test]
fn cgroup_v2_uses_cpu_max_and_subtree_control() {
    let mut h = RecordingHost::v2();
    h.files.insert(
        "/sys/fs/cgroup/cgroup.subtree_control".into(),
        "cpu memory\n".into(),
    );
    let mut s = spec("v2", 2);
    s.cpus = CpuSpec::parse("2,0.25").unwrap();
    let state = up(&mut h, &s).unwrap();
    // The root already delegates cpu: only cpuset is switched on there.
    index_of(&h, "write /sys/fs/cgroup/cgroup.subtree_control = +cpuset");
    index_of(
        &h,
        "write /sys/fs/cgroup/wend-lab-v2/cgroup.subtree_control = +cpu +cpuset",
    );
    index_of(
        &h,
        "write /sys/fs/cgroup/wend-lab-v2/node1/cpu.max = 200000 100000",
    );
    index_of(
        &h,
        "write /sys/fs/cgroup/wend-lab-v2/node2/cpu.max = 25000 100000",
    );
    assert_eq!(
        state.nodes[1].cgroup_procs,
        vec![PathBuf::from(
            "/sys/fs/cgroup/wend-lab-v2/node2/cgroup.procs"
        )]
    );
    let st = status(&mut h, &state);
    assert_eq!(st.nodes[1].cgroup_cpus, Some(0.25));
}

#[test]
fn subnet_skips_host_routes_and_other_labs() {
    let mut h = RecordingHost::v1();
    let first = subnet::choose("net", &[], &[]).unwrap();
    h.routes.push(first.to_string());
    let a = up(&mut h, &spec("net", 1)).unwrap();
    assert_ne!(a.subnet, first, "a host route covers the hashed subnet");
    // A second lab whose name hashes to the same start still gets another /24: the first
    // lab's recorded subnet is taken (its bridge route is not in the fake route table).
    let mut other = None;
    for n in 0..2000 {
        let name = format!("x{n}");
        if subnet::choose(&name, &[first], &[]).unwrap() == a.subnet {
            other = Some(name);
            break;
        }
    }
    let other = other.expect("some name hashes next to the first lab");
    let b = up(&mut h, &spec(&other, 1)).unwrap();
    assert_ne!(b.subnet, a.subnet);
    assert_ne!(b.subnet, first);
}

#[test]
fn up_refuses_an_existing_lab_and_its_debris() {
    let mut h = RecordingHost::v1();
    up(&mut h, &spec("dup", 1)).unwrap();
    assert!(matches!(
        up(&mut h, &spec("dup", 1)),
        Err(LabError::Exists(_))
    ));
    // Debris alone (no state directory) also blocks, until `down`.
    let mut h = RecordingHost::v1();
    h.netns.insert("wl-dup-node1".into());
    assert!(matches!(
        up(&mut h, &spec("dup", 1)),
        Err(LabError::Exists(_))
    ));
    down(
        &mut h,
        &LabName::new("dup").unwrap(),
        Path::new("/run/wend-lab"),
    )
    .unwrap();
    up(&mut h, &spec("dup", 1)).unwrap();
}

fn assert_clean(h: &RecordingHost, lab: &str) {
    let prefix = format!("wl-{lab}-");
    assert!(
        h.netns.iter().all(|n| !n.starts_with(&prefix)),
        "{:?}",
        h.netns
    );
    assert!(
        h.links.iter().all(|n| !n.starts_with(&prefix)),
        "{:?}",
        h.links
    );
    let cg = format!("wend-lab-{lab}");
    assert!(
        h.dirs
            .iter()
            .all(|d| d.components().all(|c| c.as_os_str() != cg.as_str())),
        "{:?}",
        h.dirs
    );
    assert!(!h.dirs.contains(Path::new(&format!("/run/wend-lab/{lab}"))));
}

#[test]
fn a_failed_up_removes_what_it_built() {
    let mut h = RecordingHost::v1();
    h.fail_on = Some("ip -n wl-half-node2 route".into());
    let err = up(&mut h, &spec("half", 3)).unwrap_err();
    assert!(err.to_string().contains("wl-half-node2"), "{err}");
    assert_clean(&h, "half");

    let mut h = RecordingHost::v1();
    h.holders_hang = true;
    let err = up(&mut h, &spec("hang", 2)).unwrap_err();
    assert!(matches!(err, LabError::Timeout { .. }), "{err}");
    assert_clean(&h, "hang");
    assert!(!h.calls_starting("signal 1000 Term").is_empty());
}

#[test]
fn holder_that_dies_is_reported_with_its_log() {
    let mut h = RecordingHost::v1();
    h.holders_hang = true;
    h.files.insert(
        "/run/wend-lab/die/node1/holder.log".into(),
        "wend: error: setns(net) failed: EPERM\n".into(),
    );
    // The holder is gone as soon as it was spawned.
    let s = spec("die", 1);
    let mut dying = DyingHolders(h);
    let err = up(&mut dying, &s).unwrap_err();
    assert!(err.to_string().contains("setns(net) failed"), "{err}");
    assert_clean(&dying.0, "die");
}

/// The double, with holders that exit right after being spawned.
struct DyingHolders(RecordingHost);

impl Host for DyingHolders {
    fn run(&mut self, p: &str, a: &[String]) -> Result<String, LabError> {
        self.0.run(p, a)
    }
    fn read(&mut self, p: &Path) -> std::io::Result<String> {
        self.0.read(p)
    }
    fn write(&mut self, p: &Path, d: &str) -> std::io::Result<()> {
        self.0.write(p, d)
    }
    fn rename(&mut self, f: &Path, t: &Path) -> std::io::Result<()> {
        self.0.rename(f, t)
    }
    fn mkdir_all(&mut self, p: &Path) -> std::io::Result<()> {
        self.0.mkdir_all(p)
    }
    fn rmdir(&mut self, p: &Path) -> std::io::Result<()> {
        self.0.rmdir(p)
    }
    fn remove_tree(&mut self, p: &Path) -> std::io::Result<()> {
        self.0.remove_tree(p)
    }
    fn list(&mut self, p: &Path) -> std::io::Result<Vec<String>> {
        self.0.list(p)
    }
    fn exists(&mut self, p: &Path) -> bool {
        self.0.exists(p)
    }
    fn can_connect(&mut self, p: &Path) -> bool {
        self.0.can_connect(p)
    }
    fn spawn(&mut self, l: &crate::host::Launch) -> Result<u32, LabError> {
        let pid = self.0.spawn(l)?;
        self.0.procs.insert(pid, ProcState::Gone);
        Ok(pid)
    }
    fn signal(&mut self, pid: u32, s: crate::host::Sig) -> std::io::Result<()> {
        self.0.signal(pid, s)
    }
    fn proc_state(&mut self, pid: u32) -> ProcState {
        self.0.proc_state(pid)
    }
    fn lock(&mut self, p: &Path) -> Result<crate::host::LockGuard, LabError> {
        self.0.lock(p)
    }
    fn sleep(&mut self, d: Duration) {
        self.0.sleep(d)
    }
}

#[test]
fn down_stops_holders_kills_node_processes_and_removes_everything() {
    let mut h = RecordingHost::v1();
    let name = LabName::new("gone").unwrap();
    let state = up(&mut h, &spec("gone", 2)).unwrap();
    // A command run with `lab exec` sits in node2's cgroup.
    let procs = PathBuf::from("/sys/fs/cgroup/cpu/wend-lab-gone/node2/cgroup.procs");
    h.files.insert(procs, "4242\n".into());
    h.procs.insert(4242, ProcState::Alive { start: 7 });
    let report = down(&mut h, &name, Path::new("/run/wend-lab")).unwrap();
    let holders: Vec<u32> = state.nodes.iter().filter_map(|n| n.holder_pid).collect();
    for pid in &holders {
        assert!(report.processes.contains(pid));
        index_of(&h, &format!("signal {pid} Term"));
    }
    index_of(&h, "signal 4242 Kill");
    assert_eq!(report.netns, vec!["wl-gone-node1", "wl-gone-node2"]);
    assert!(report.links.contains(&"wl-gone-br".to_owned()));
    assert!(report.state_dir);
    assert_clean(&h, "gone");
    // Idempotent: a second run finds nothing and succeeds.
    let again = down(&mut h, &name, Path::new("/run/wend-lab")).unwrap();
    assert!(again.is_empty(), "{again:?}");
}

#[test]
fn down_after_a_crash_finds_debris_by_prefix() {
    let mut h = RecordingHost::v1();
    let name = LabName::new("crash").unwrap();
    let state = up(&mut h, &spec("crash", 3)).unwrap();
    // The holders died and the state file is gone.
    for n in &state.nodes {
        h.procs.insert(n.holder_pid.unwrap(), ProcState::Gone);
    }
    h.files.remove(Path::new("/run/wend-lab/crash/state.json"));
    // Another lab must survive.
    up(&mut h, &spec("crash2", 1)).unwrap();
    let report = down(&mut h, &name, Path::new("/run/wend-lab")).unwrap();
    assert!(h.calls_starting("signal").is_empty(), "no holder to signal");
    assert_eq!(report.netns.len(), 3);
    assert_clean(&h, "crash");
    assert!(h.netns.contains("wl-crash2-node1"));
    assert!(h.links.contains("wl-crash2-br"));
    assert!(h
        .dirs
        .contains(Path::new("/sys/fs/cgroup/cpu/wend-lab-crash2/node1")));
}

#[test]
fn down_ignores_a_reused_holder_pid() {
    let mut h = RecordingHost::v1();
    let state = up(&mut h, &spec("reuse", 1)).unwrap();
    let pid = state.nodes[0].holder_pid.unwrap();
    h.procs.insert(pid, ProcState::Alive { start: 99 });
    down(
        &mut h,
        &LabName::new("reuse").unwrap(),
        Path::new("/run/wend-lab"),
    )
    .unwrap();
    assert!(h.calls_starting(&format!("signal {pid}")).is_empty());
}

#[test]
fn status_reports_daemons() {
    let mut h = RecordingHost::v1();
    let mut s = spec("st", 2);
    s.cpus = CpuSpec::parse("0.5").unwrap();
    let state = up(&mut h, &s).unwrap();
    h.files
        .insert("/run/wend-lab/st/node1/daemon.pid".into(), "777\n".into());
    h.procs.insert(777, ProcState::Alive { start: 1 });
    h.files.insert(
        "/run/wend-lab/st/node2/daemon.exit".into(),
        "killed by SIGKILL\n".into(),
    );
    h.files.insert(
        "/sys/fs/cgroup/cpu/wend-lab-st/node2/cpu.cfs_quota_us".into(),
        "50000".into(),
    );
    assert_eq!(daemon_pid(&mut h, &state, "node1"), Some(777));
    let st = status(&mut h, &state);
    assert!(st.nodes[0].daemon_alive && st.nodes[0].holder_alive);
    assert_eq!(st.nodes[1].daemon_pid, None);
    assert_eq!(
        st.nodes[1].daemon_exit.as_deref(),
        Some("killed by SIGKILL")
    );
    assert_eq!(st.nodes[1].cgroup_cpus, Some(0.5));
    assert_eq!(
        st.nodes[0].api_socket,
        PathBuf::from("/run/wend-lab/st/node1/run/wend.sock")
    );
    let json = serde_json::to_value(&st).unwrap();
    assert_eq!(json["nodes"][1]["cpus"], 0.5);
}

#[test]
fn up_waits_for_daemons_and_reports_one_that_dies() {
    let mut h = RecordingHost::v1();
    h.daemons_serve = Some(true);
    let mut s = spec("dmn", 2);
    s.daemon_timeout = Some(Duration::from_millis(50));
    up(&mut h, &s).unwrap();

    let mut h = RecordingHost::v1();
    h.daemons_serve = Some(false);
    let err = up(&mut h, &s).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("node1") && msg.contains("exited with status 1"),
        "{msg}"
    );
    assert!(msg.contains("no such option --bogus"), "{msg}");
    assert_clean(&h, "dmn");

    let mut h = RecordingHost::v1();
    let err = up(&mut h, &s).unwrap_err();
    assert!(matches!(err, LabError::Timeout { .. }), "{err}");
    assert_clean(&h, "dmn");
    // Without daemons there is nothing to wait for.
    let mut h = RecordingHost::v1();
    let mut s = spec("nod", 1);
    s.daemon = false;
    s.daemon_timeout = Some(Duration::from_millis(50));
    up(&mut h, &s).unwrap();
}
