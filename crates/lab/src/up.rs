//! `up`: building a lab, step by step, through a [`Host`].
//!
//! Order: lock, check the name is free, choose the subnet, record the state, make the
//! bridge (its address claims the subnet's route), unlock; then the key, the cgroups, one
//! network namespace and veth pair per node, and one holder process per node, which enters
//! the node's namespaces and cgroup and starts the daemon. Any failure tears down what was
//! built.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::cgroup::{self, Cgroups};
use crate::cpus::{self, CpuSpec};
use crate::down;
use crate::error::LabError;
use crate::host::{Host, Launch, ProcState};
use crate::naming::{check_node_count, node_name, LabName, NODE_API_SOCKET, STATE_ROOT};
use crate::state::{LabState, NodeState, STATE_VERSION};
use crate::subnet::{self, Prefix};

/// The peer port of the lab's daemons.
pub const DEFAULT_PORT: u16 = 7227;

/// What lab to build.
#[derive(Debug, Clone, PartialEq)]
pub struct LabSpec {
    pub name: LabName,
    pub nodes: usize,
    pub cpus: CpuSpec,
    /// Pin each node to `ceil(share)` CPUs (cpuset) on top of its quota.
    pub pin: bool,
    /// The `wend` binary: run as the node holder (`wend lab hold`), `wend keygen` and
    /// `wend daemon`.
    pub wend: PathBuf,
    /// Start a `wend daemon` in every node.
    pub daemon: bool,
    /// Give nodes 2..N node1's address as a static seed (discovery is by multicast otherwise).
    pub seeds: bool,
    pub port: u16,
    /// Extra arguments for every node's daemon.
    pub daemon_args: Vec<String>,
    /// Run this program instead of `wend` as the daemon (same arguments: `daemon --name
    /// ...`); for tests of the lab itself and for trying another build of the daemon.
    pub daemon_program: Option<PathBuf>,
    /// Where lab state lives (/run/wend-lab).
    pub root: PathBuf,
    /// How long to wait for every node's holder to be ready.
    pub ready_timeout: Duration,
    /// How long to wait for every daemon's API socket to accept connections (`None`: do not
    /// wait). A daemon that exits meanwhile fails `up` with the end of its log.
    pub daemon_timeout: Option<Duration>,
}

impl LabSpec {
    /// A lab of `nodes` nodes with daemons, unlimited CPU, state under /run/wend-lab.
    pub fn new(name: LabName, nodes: usize, wend: impl Into<PathBuf>) -> Self {
        LabSpec {
            name,
            nodes,
            cpus: CpuSpec::unlimited(),
            pin: false,
            wend: wend.into(),
            daemon: true,
            seeds: false,
            port: DEFAULT_PORT,
            daemon_args: Vec::new(),
            daemon_program: None,
            root: PathBuf::from(STATE_ROOT),
            ready_timeout: Duration::from_secs(20),
            daemon_timeout: Some(Duration::from_secs(60)),
        }
    }
}

impl LabSpec {
    /// A lab for a test: a unique name ([`crate::Lab::unique_name`]), `nodes` nodes with
    /// daemons, everything else as [`LabSpec::new`].
    pub fn for_test(nodes: usize, wend: impl Into<PathBuf>) -> Self {
        LabSpec::new(crate::Lab::unique_name(), nodes, wend)
    }
}

fn ip(host: &mut dyn Host, args: &[&str]) -> Result<String, LabError> {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    host.run("ip", &args)
}

/// The subnets of the other labs recorded under `root`.
fn other_lab_subnets(host: &mut dyn Host, root: &Path) -> Vec<Prefix> {
    let names = host.list(root).unwrap_or_default();
    let mut subnets = Vec::new();
    for n in names {
        let Ok(name) = LabName::new(&n) else { continue };
        if let Ok(Some(s)) = LabState::load(host, &name, &name.state_dir(root)) {
            subnets.push(s.subnet);
        }
    }
    subnets
}

/// Nodes mount their own /tmp and /run over the host's, so a program the nodes must run
/// (the holder's `wend`, the daemon) cannot live there.
fn check_visible_in_nodes(program: &std::path::Path) -> Result<(), LabError> {
    let full = std::fs::canonicalize(program).unwrap_or_else(|_| program.to_path_buf());
    if ["/tmp", "/run"].iter().any(|d| full.starts_with(d)) {
        return Err(LabError::HiddenProgram(full));
    }
    Ok(())
}

/// Builds the lab and returns its state once every node is ready.
pub fn up(host: &mut dyn Host, spec: &LabSpec) -> Result<LabState, LabError> {
    check_node_count(spec.nodes)?;
    for program in std::iter::once(&spec.wend).chain(spec.daemon_program.as_ref()) {
        check_visible_in_nodes(program)?;
    }
    let shares = spec.cpus.per_node(spec.nodes)?;
    let name = &spec.name;
    host.mkdir_all(&spec.root)
        .map_err(|e| LabError::io("create", &spec.root, e))?;
    let lock = host.lock(&spec.root.join(".lock"))?;
    let dir = name.state_dir(&spec.root);
    if host.exists(&dir) || !down::leftovers(host, name)?.is_empty() {
        return Err(LabError::Exists(name.to_string()));
    }
    let cgroups = cgroup::detect(host)?;
    let routes =
        subnet::route_destinations(&ip(host, &["-j", "-4", "route", "show", "table", "all"])?);
    let others = other_lab_subnets(host, &spec.root);
    let net = subnet::choose(name.as_str(), &routes, &others)?;
    let pinned: Vec<Option<String>> = match (spec.pin, cgroups.available_cpus(host)) {
        (true, Some(avail)) => cpus::pin(&shares, &cpus::parse_cpu_list(&avail))
            .into_iter()
            .map(Some)
            .collect(),
        _ => vec![None; spec.nodes],
    };
    let key = spec.daemon.then(|| dir.join("cluster.key"));
    let mut state = LabState {
        version: STATE_VERSION,
        name: name.clone(),
        dir: dir.clone(),
        subnet: net,
        bridge: name.bridge(),
        bridge_addr: net.host(254),
        port: spec.port,
        key: key.clone(),
        cgroups: cgroups.clone(),
        phase: "creating".to_owned(),
        nodes: Vec::new(),
    };
    for i in 1..=spec.nodes {
        let node = node_name(i);
        let addr = net.host(i as u8);
        let daemon = key.as_ref().map(|key| {
            let program = spec.daemon_program.as_ref().unwrap_or(&spec.wend);
            let mut argv = vec![
                program.display().to_string(),
                "daemon".to_owned(),
                "--name".to_owned(),
                node.clone(),
                "--listen".to_owned(),
                format!("{addr}:{}", spec.port),
                "--key".to_owned(),
                key.display().to_string(),
                "--api".to_owned(),
                NODE_API_SOCKET.to_owned(),
            ];
            if spec.seeds && i > 1 {
                argv.push("--seed".to_owned());
                argv.push(format!("{}:{}", net.host(1), spec.port));
            }
            argv.extend(spec.daemon_args.iter().cloned());
            argv
        });
        state.nodes.push(NodeState {
            cgroup_procs: cgroups.procs_files(&name.cgroup_dir(), &node),
            netns: name.netns(i),
            veth: name.veth(i),
            addr,
            cpus: shares[i - 1],
            cpuset: pinned[i - 1].clone(),
            daemon,
            holder_pid: None,
            holder_start: None,
            name: node,
        });
    }
    for n in &state.nodes {
        let run = state.node_run_dir(&n.name);
        host.mkdir_all(&run)
            .map_err(|e| LabError::io("create", &run, e))?;
    }
    state.save(host)?;
    let built = build(host, spec, &mut state, &cgroups, lock);
    match built {
        Ok(()) => Ok(state),
        Err(e) => {
            let _ = down::down(host, name, &spec.root);
            Err(e)
        }
    }
}

fn build(
    host: &mut dyn Host,
    spec: &LabSpec,
    state: &mut LabState,
    cgroups: &Cgroups,
    lock: crate::host::LockGuard,
) -> Result<(), LabError> {
    let br = state.bridge.clone();
    ip(
        host,
        &["link", "add", &br, "type", "bridge", "mcast_snooping", "0"],
    )?;
    let br_addr = format!("{}/24", state.bridge_addr);
    ip(host, &["addr", "add", &br_addr, "dev", &br])?;
    ip(host, &["link", "set", &br, "up"])?;
    // The bridge's route now claims the subnet: other labs may choose theirs.
    drop(lock);

    if let Some(key) = &state.key {
        let args = vec![
            "keygen".to_owned(),
            "-o".to_owned(),
            key.display().to_string(),
        ];
        host.run(&spec.wend.display().to_string(), &args)?;
    }
    let cg_dir = state.name.cgroup_dir();
    cgroups.create_lab(host, &cg_dir)?;
    for n in &state.nodes {
        let (ns, veth) = (n.netns.as_str(), n.veth.as_str());
        ip(host, &["netns", "add", ns])?;
        ip(
            host,
            &[
                "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
        )?;
        ip(host, &["link", "set", veth, "master", &br])?;
        ip(host, &["link", "set", veth, "up"])?;
        let addr = format!("{}/24", n.addr);
        ip(host, &["-n", ns, "addr", "add", &addr, "dev", "eth0"])?;
        ip(host, &["-n", ns, "link", "set", "eth0", "up"])?;
        ip(host, &["-n", ns, "link", "set", "lo", "up"])?;
        // Multicast discovery leaves through eth0; there is no default route.
        ip(
            host,
            &["-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0"],
        )?;
        cgroups.create_node(host, &cg_dir, &n.name, n.cpus, n.cpuset.as_deref())?;
    }
    for i in 0..state.nodes.len() {
        let node = state.nodes[i].name.clone();
        let launch = Launch {
            program: spec.wend.clone(),
            args: [
                "lab",
                "hold",
                "--name",
                state.name.as_str(),
                "--node",
                &node,
                "--root",
            ]
            .iter()
            .map(|s| s.to_string())
            .chain([spec.root.display().to_string()])
            .collect(),
            log: state.node_dir(&node).join("holder.log"),
        };
        let pid = host.spawn(&launch)?;
        state.nodes[i].holder_pid = Some(pid);
        if let ProcState::Alive { start } = host.proc_state(pid) {
            state.nodes[i].holder_start = Some(start);
        }
    }
    state.save(host)?;
    wait_ready(host, spec, state)?;
    if let Some(t) = spec.daemon_timeout {
        wait_daemons(host, state, t)?;
    }
    state.phase = "up".to_owned();
    state.save(host)
}

/// Waits until every holder has written its `ready` file.
fn wait_ready(host: &mut dyn Host, spec: &LabSpec, state: &LabState) -> Result<(), LabError> {
    let deadline = Instant::now() + spec.ready_timeout;
    for n in &state.nodes {
        let ready = state.node_dir(&n.name).join("ready");
        let pid = n.holder_pid.expect("holder spawned");
        loop {
            if host.exists(&ready) {
                break;
            }
            if host.proc_state(pid) == ProcState::Gone {
                let log = state.node_dir(&n.name).join("holder.log");
                let text = host.read(&log).unwrap_or_default();
                let why = text
                    .lines()
                    .last()
                    .unwrap_or("it exited without a word")
                    .to_owned();
                return Err(LabError::NodeStart {
                    node: n.name.clone(),
                    why: format!("holder {pid} exited: {why} (log: {})", log.display()),
                });
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: format!("node {} to be ready", n.name),
                    secs: spec.ready_timeout.as_secs(),
                });
            }
            host.sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}

/// Waits until every node's daemon accepts connections on its API socket.
fn wait_daemons(host: &mut dyn Host, state: &LabState, timeout: Duration) -> Result<(), LabError> {
    let deadline = Instant::now() + timeout;
    for n in state.nodes.iter().filter(|n| n.daemon.is_some()) {
        let sock = state.api_socket(&n.name);
        let exit = state.node_dir(&n.name).join("daemon.exit");
        while !host.can_connect(&sock) {
            if let Ok(how) = host.read(&exit) {
                let log = state.daemon_log(&n.name);
                let text = host.read(&log).unwrap_or_default();
                let last = text.lines().last().unwrap_or("(empty log)").to_owned();
                return Err(LabError::NodeStart {
                    node: n.name.clone(),
                    why: format!("its daemon {}: {last} (log: {})", how.trim(), log.display()),
                });
            }
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: format!("the daemon of {} to open {}", n.name, sock.display()),
                    secs: timeout.as_secs(),
                });
            }
            host.sleep(Duration::from_millis(20));
        }
    }
    Ok(())
}
