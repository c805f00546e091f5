//! `wend run [--node NAME | --home] [--lock] -- CMD ARGS...`: start CMD as an ordinary child,
//! managed by the local daemon (migratable), wait for it and exit as it did, so shells, make
//! and scripts use `wend run CMD` as they would use CMD.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use anyhow::Context;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2};
use signal_hook::iterator::Signals;
use wend_daemon::client::{Client, ClientError};
use wend_daemon::config::DEFAULT_API_SOCKET;
use wend_proto::{Destination, ErrorCode};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Move it to this node at once (see `wend nodes`).
    #[arg(long, value_name = "NAME", conflicts_with = "home")]
    node: Option<String>,
    /// Keep it home at start.
    #[arg(long)]
    home: bool,
    /// Never move it automatically (`wend migrate` still can).
    #[arg(long)]
    lock: bool,
    /// The daemon's API socket.
    #[arg(long, env = "WEND_API", value_name = "SOCKETPATH", default_value = DEFAULT_API_SOCKET)]
    api: PathBuf,
    /// The command and its arguments.
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "CMD"
    )]
    cmd: Vec<String>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Like time(1): the terminal's ^C and ^\ reach the whole foreground group (the child
    // included), so they are not forwarded again; what is sent to this process alone is.
    let mut signals = Signals::new([SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2])
        .context("cannot install signal handlers")?;
    let mut child = Command::new(&args.cmd[0])
        .args(&args.cmd[1..])
        .spawn()
        .with_context(|| format!("cannot start {:?}", args.cmd[0]))?;
    let pid = child.id() as i32;
    let forwarder = signals.handle();
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if sig == SIGINT || sig == SIGQUIT {
                continue;
            }
            if let Ok(s) = Signal::try_from(sig) {
                let _ = kill(Pid::from_raw(pid), s);
            }
        }
    });
    manage(&args, pid);
    let status = child.wait().context("waiting for the command failed")?;
    forwarder.close();
    use std::os::unix::process::ExitStatusExt;
    if let Some(sig) = status.signal() {
        // Die the same way, so our parent sees what it would have seen.
        let _ = signal_hook::low_level::emulate_default_handler(sig);
        return Ok(ExitCode::from(128 + sig as u8));
    }
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}

/// Register with the daemon, and move at once if asked. Without a daemon the command still
/// runs, only not migratable: a warning says so.
fn manage(args: &Args, pid: i32) {
    let mut client = match Client::connect(&args.api) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("wend: warning: {e}; {} runs unmanaged", args.cmd[0]);
            return;
        }
    };
    if let Err(e) = client.manage(pid, args.lock) {
        eprintln!("wend: warning: {e}; {} runs unmanaged", args.cmd[0]);
        return;
    }
    if let Some(node) = &args.node {
        match client.migrate(pid, Destination::Node(node.clone())) {
            Ok(r) => {
                tracing::info!(pid, node = %r.now_on, frozen_ms = r.frozen_ms, "moved at start")
            }
            // It ended already (a short command): there was nothing to move.
            Err(ClientError::Daemon(e)) if e.code == ErrorCode::NoSuchProcess => {}
            Err(e) => eprintln!("wend: warning: {e}; {} runs at home", args.cmd[0]),
        }
    }
}
