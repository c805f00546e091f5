//! `wend`: the one binary. It parses arguments, calls into the library crates and prints;
//! every subcommand lives in its own file under `cmd/`.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Transparent process migration for Linux clusters.
#[derive(Debug, Parser)]
#[command(name = "wend", version, about, propagate_version = true)]
struct Cli {
    /// Log verbosity (error, warn, info, debug, trace); also WEND_LOG.
    #[arg(long, global = true, env = "WEND_LOG", default_value = "warn")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Freeze a process and write its complete state to an image file.
    Checkpoint(cmd::checkpoint::Args),
    /// Rebuild a process from an image file and let it run.
    Restore(cmd::restore::Args),
    /// Work with image files.
    #[command(subcommand)]
    Image(cmd::image::Command),
    /// Run the node daemon.
    Daemon(cmd::daemon::Args),
    /// Write a new cluster key.
    Keygen(cmd::keygen::Args),
    /// Show the nodes of the cluster.
    Nodes(cmd::nodes::Args),
    /// Start a command as a migratable process; exit as it does.
    Run(cmd::run::Args),
    /// Move a process now: to a node, or home.
    Migrate(cmd::migrate::Args),
    /// The processes this node manages, and the guests it runs.
    Ps(cmd::ps::Args),
    /// Never move this process automatically (it stays where it is).
    Lock(cmd::control::PidArgs),
    /// Let the balancer move this process again.
    Unlock(cmd::control::PidArgs),
    /// Take no new guests on this node (root).
    Block(cmd::control::Api),
    /// Take guests again; ends `wend expel` (root).
    Unblock(cmd::control::Api),
    /// Send every guest on this node home and take no new ones (root).
    Expel(cmd::control::Api),
    /// Call your processes home (all, or the pids given) and lock them there.
    Bring(cmd::control::BringArgs),
    /// Live monitor of the cluster.
    Top(cmd::top::Args),
    /// A local multi-node lab cluster on this machine.
    #[command(subcommand)]
    Lab(cmd::lab::Command),
    /// Show it: a lab cluster, a batch of compressions spreading by itself, the times.
    Demo(cmd::demo::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Checkpoint(a) => cmd::checkpoint::run(a),
        Command::Restore(a) => cmd::restore::run(a),
        Command::Image(c) => cmd::image::run(c),
        Command::Daemon(a) => cmd::daemon::run(a),
        Command::Keygen(a) => cmd::keygen::run(a),
        Command::Nodes(a) => cmd::nodes::run(a),
        Command::Run(a) => cmd::run::run(a),
        Command::Migrate(a) => cmd::migrate::run(a),
        Command::Ps(a) => cmd::ps::run(a),
        Command::Lock(a) => cmd::control::lock(a),
        Command::Unlock(a) => cmd::control::unlock(a),
        Command::Block(a) => cmd::control::block(a),
        Command::Unblock(a) => cmd::control::unblock(a),
        Command::Expel(a) => cmd::control::expel(a),
        Command::Bring(a) => cmd::control::bring(a),
        Command::Top(a) => cmd::top::run(a),
        Command::Lab(c) => cmd::lab::run(c),
        Command::Demo(a) => cmd::demo::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("wend: error: {err:#}");
            ExitCode::from(cmd::exit_code_for(&err))
        }
    }
}
