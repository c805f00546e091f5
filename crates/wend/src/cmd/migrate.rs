//! `wend migrate PID (NODE | home)`: move a process now.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wend_daemon::client::Client;
use wend_daemon::config::DEFAULT_API_SOCKET;
use wend_proto::Destination;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The process, by its pid on its home node (this node).
    pid: i32,
    /// Where to: a node name (see `wend nodes`) or `home`.
    to: String,
    /// The daemon's API socket.
    #[arg(long, env = "WEND_API", value_name = "SOCKETPATH", default_value = DEFAULT_API_SOCKET)]
    api: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let to = match args.to.as_str() {
        "home" => Destination::Home,
        n => Destination::Node(n.to_owned()),
    };
    let r = Client::connect(&args.api)?
        .migrate(args.pid, to.clone())
        .with_context(|| format!("process {} was not moved to {to}", args.pid))?;
    let mib = r.image_bytes as f64 / f64::from(1u32 << 20);
    if r.now_on == "home" {
        println!(
            "process {} is back home (frozen {:.1} ms)",
            r.pid, r.frozen_ms
        );
    } else if r.image_bytes > 0 {
        println!(
            "process {} now runs on {} (frozen {:.1} ms, {:.1} ms in all, image {mib:.1} MiB)",
            r.pid, r.now_on, r.frozen_ms, r.total_ms
        );
    } else {
        println!(
            "process {} now runs on {} (frozen {:.1} ms)",
            r.pid, r.now_on, r.frozen_ms
        );
    }
    Ok(ExitCode::SUCCESS)
}
