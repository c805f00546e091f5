//! `wend lab up|down|status|exec`: a local multi-node cluster (see the `wend-lab` crate).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wend_lab::{CpuSpec, LabName, LabSpec, LabStatus, SystemHost};

fn lab_name(s: &str) -> Result<LabName, String> {
    LabName::new(s).map_err(|e| e.to_string())
}

#[derive(Debug, clap::Args)]
pub struct Which {
    /// The lab's name (1-8 lowercase letters or digits); several labs can coexist.
    #[arg(long, env = "WEND_LAB", default_value = wend_lab::DEFAULT_LAB, value_parser = lab_name)]
    name: LabName,
    /// Where lab state is kept.
    #[arg(long, default_value = wend_lab::STATE_ROOT, hide = true)]
    root: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Build N nodes (node1..nodeN), each with its namespaces, CPU share and daemon.
    Up {
        #[command(flatten)]
        which: Which,
        /// How many nodes.
        #[arg(long)]
        nodes: usize,
        /// CPU share per node: `1` for one CPU each, `1,0.5,0.5` for one value per node.
        #[arg(long)]
        cpus: Option<String>,
        /// Also pin each node to ceil(share) CPUs with a cpuset.
        #[arg(long)]
        pin: bool,
        /// Build the nodes without starting daemons.
        #[arg(long)]
        no_daemon: bool,
        /// Give nodes 2..N node1 as a static seed (discovery is by multicast otherwise).
        #[arg(long)]
        seeds: bool,
        /// The daemons' peer port.
        #[arg(long, default_value_t = wend_lab::DEFAULT_PORT)]
        port: u16,
        /// Seconds to wait for every daemon's API socket (0: do not wait).
        #[arg(long, default_value_t = 60)]
        wait: u64,
        /// An extra argument for every daemon (repeat for several).
        #[arg(long = "daemon-arg", allow_hyphen_values = true)]
        daemon_args: Vec<String>,
    },
    /// Remove everything a lab created (also after a crash); safe to repeat.
    Down {
        #[command(flatten)]
        which: Which,
    },
    /// Show the nodes of a lab (of every lab when no --name is given).
    Status {
        /// The lab's name; all labs when omitted.
        #[arg(long, value_parser = lab_name)]
        name: Option<LabName>,
        #[arg(long, default_value = wend_lab::STATE_ROOT, hide = true)]
        root: PathBuf,
        /// Print JSON (an array of labs).
        #[arg(long)]
        json: bool,
    },
    /// Run a command inside a node, with WEND_API pointing at its daemon.
    Exec {
        #[command(flatten)]
        which: Which,
        /// The node (node1..nodeN).
        node: String,
        /// The command and its arguments (after `--`).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
        cmd: Vec<String>,
    },
    /// Stop (SIGTERM: it leaves), kill (SIGKILL: a crash) or start a node's daemon.
    Daemon {
        #[command(flatten)]
        which: Which,
        /// The node (node1..nodeN).
        node: String,
        /// What to do.
        action: DaemonAction,
    },
    /// Be a node: hold its namespaces and run its daemon (started by `up`).
    #[command(hide = true)]
    Hold {
        #[command(flatten)]
        which: Which,
        #[arg(long)]
        node: String,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum DaemonAction {
    Start,
    Stop,
    Kill,
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Up {
            which,
            nodes,
            cpus,
            pin,
            no_daemon,
            seeds,
            port,
            wait,
            daemon_args,
        } => {
            let wend = std::env::current_exe().context("cannot find the wend binary")?;
            let mut spec = LabSpec::new(which.name, nodes, wend);
            spec.cpus = match cpus {
                Some(s) => CpuSpec::parse(&s)?,
                None => CpuSpec::unlimited(),
            };
            spec.pin = pin;
            spec.daemon = !no_daemon;
            spec.seeds = seeds;
            spec.port = port;
            spec.daemon_args = daemon_args;
            spec.daemon_timeout = (wait > 0).then(|| std::time::Duration::from_secs(wait));
            spec.root = which.root;
            let mut host = SystemHost::new();
            let state = wend_lab::up::up(&mut host, &spec)?;
            println!(
                "lab {} is up: {} nodes on {} (bridge {})",
                state.name,
                state.nodes.len(),
                state.subnet,
                state.bridge
            );
            print_table(&wend_lab::status::status(&mut host, &state));
            Ok(ExitCode::SUCCESS)
        }
        Command::Down { which } => {
            let mut host = SystemHost::new();
            let r = wend_lab::down::down(&mut host, &which.name, &which.root)?;
            if r.is_empty() {
                println!("lab {}: nothing to remove", which.name);
            } else {
                println!(
                    "lab {} removed: {} processes, {} namespaces, {} links, {} cgroups",
                    which.name,
                    r.processes.len(),
                    r.netns.len(),
                    r.links.len(),
                    r.cgroups.len()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Status { name, root, json } => {
            let mut host = SystemHost::new();
            let names = match name {
                Some(n) => vec![n],
                None => wend_lab::status::lab_names(&mut host, &root),
            };
            let mut labs = Vec::new();
            for n in &names {
                let state = wend_lab::status::load(&mut host, n, &root)?;
                labs.push(wend_lab::status::status(&mut host, &state));
            }
            if json {
                println!("{}", wend_lab::status::to_json(&labs));
            } else if labs.is_empty() {
                println!("no lab is running (start one with `wend lab up --nodes 3`)");
            }
            if !json {
                for l in &labs {
                    println!(
                        "lab {} ({}): {} on {}, peer port {}",
                        l.name, l.phase, l.subnet, l.bridge, l.port
                    );
                    print_table(l);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Exec { which, node, cmd } => {
            let err = wend_lab::exec::exec_in_node(&which.name, &node, &which.root, &cmd)?;
            eprintln!("wend: error: cannot run {:?} in {node}: {err}", cmd[0]);
            let code = if err.kind() == std::io::ErrorKind::NotFound {
                127
            } else {
                126
            };
            Ok(ExitCode::from(code))
        }
        Command::Daemon {
            which,
            node,
            action,
        } => {
            let mut host = SystemHost::new();
            let state = wend_lab::status::load(&mut host, &which.name, &which.root)?;
            let t = std::time::Duration::from_secs(30);
            match action {
                DaemonAction::Start => {
                    let pid = wend_lab::status::start_daemon(&mut host, &state, &node, t)?;
                    println!("{node}: daemon {pid} running");
                }
                DaemonAction::Stop | DaemonAction::Kill => {
                    let sig = match action {
                        DaemonAction::Stop => wend_lab::host::Sig::Term,
                        _ => wend_lab::host::Sig::Kill,
                    };
                    wend_lab::status::stop_daemon(&mut host, &state, &node, sig, t)?;
                    println!("{node}: daemon stopped");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Hold { which, node } => {
            wend_lab::holder::hold(&which.name, &node, &which.root)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_table(l: &LabStatus) {
    println!(
        "{:<8} {:<15} {:>6} {:>8} {:>8} {:>8}  API SOCKET",
        "NODE", "ADDRESS", "CPUS", "PINNED", "HOLDER", "DAEMON"
    );
    for n in &l.nodes {
        let cpus = n.cpus.map_or("all".to_owned(), |c| format!("{c}"));
        let holder = if n.holder_alive { "up" } else { "GONE" };
        let daemon = match (n.daemon_pid, &n.daemon_exit) {
            (Some(p), _) => p.to_string(),
            (None, Some(_)) => "exited".to_owned(),
            (None, None) => "-".to_owned(),
        };
        println!(
            "{:<8} {:<15} {:>6} {:>8} {:>8} {:>8}  {}",
            n.name,
            n.addr.to_string(),
            cpus,
            n.cpuset.as_deref().unwrap_or("-"),
            holder,
            daemon,
            n.api_socket.display()
        );
    }
}
