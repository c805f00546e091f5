//! `wend daemon`: runs the node daemon in the foreground until SIGTERM or SIGINT, then leaves
//! the cluster, drains and exits 0. Flags override the `--config` file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use wend_daemon::{DaemonConfig, Overrides};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config file (TOML); flags override its values.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Node name, unique in the cluster (default: the host name).
    #[arg(long)]
    name: Option<String>,
    /// Address to listen on for peers (default 0.0.0.0:7100).
    #[arg(long, value_name = "IP:PORT")]
    listen: Option<SocketAddr>,
    /// A peer to join (repeatable); replaces the config file's seeds.
    #[arg(long = "seed", value_name = "IP:PORT")]
    seeds: Vec<SocketAddr>,
    /// Cluster key file written by `wend keygen` (default /etc/wend/cluster.key).
    #[arg(long, value_name = "KEYFILE")]
    key: Option<PathBuf>,
    /// Local API socket (default /run/wend/wend.sock).
    #[arg(long, value_name = "SOCKETPATH")]
    api: Option<PathBuf>,
    /// CPU speed relative to the yardstick; skips calibration (as `mosctl setspeed`).
    #[arg(long, value_name = "X")]
    speed: Option<f64>,
    /// The node's CPU share (may be fractional); read from its cgroup when not given. A lab
    /// node gets it from the lab.
    #[arg(long, value_name = "N", env = "WEND_LAB_CPUS")]
    cpus: Option<f64>,
    /// Accept guest processes (the default).
    #[arg(long, overrides_with = "no_accept_guests")]
    accept_guests: bool,
    /// Refuse guest processes.
    #[arg(long, overrides_with = "accept_guests")]
    no_accept_guests: bool,
    /// Move processes automatically to where they run best (the default).
    #[arg(long, overrides_with = "no_balance")]
    balance: bool,
    /// Move processes only when asked (`wend migrate`); guests are still taken.
    #[arg(long, overrides_with = "balance")]
    no_balance: bool,
    /// Find peers by multicast on the local segment (the default).
    #[arg(long, overrides_with = "no_discovery")]
    discovery: bool,
    /// Use only the seeds.
    #[arg(long, overrides_with = "discovery")]
    no_discovery: bool,
}

fn flag(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let overrides = Overrides {
        name: args.name,
        listen: args.listen,
        seeds: args.seeds,
        key: args.key,
        api: args.api,
        speed: args.speed,
        cpus: args.cpus,
        accept_guests: flag(args.accept_guests, args.no_accept_guests),
        balance: flag(args.balance, args.no_balance),
        discovery: flag(args.discovery, args.no_discovery),
    };
    let config = DaemonConfig::resolve(args.config.as_deref(), overrides)?;
    wend_daemon::run_until_signal(config)?;
    Ok(ExitCode::SUCCESS)
}
