//! `wend lock|unlock PID`, `wend block|unblock`, `wend expel`, `wend bring [PID...]`: what a
//! user or a node's owner asks of the balancer besides moves.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wend_daemon::client::Client;
use wend_daemon::config::DEFAULT_API_SOCKET;
use wend_proto::Control;

/// The daemon's API socket.
#[derive(Debug, clap::Args)]
pub struct Api {
    /// The daemon's API socket.
    #[arg(long, env = "WEND_API", value_name = "SOCKETPATH", default_value = DEFAULT_API_SOCKET)]
    api: PathBuf,
}

/// A process named by its pid on its home node (this node).
#[derive(Debug, clap::Args)]
pub struct PidArgs {
    /// The process, by its pid on this node (its home).
    pid: i32,
    #[command(flatten)]
    api: Api,
}

/// Processes to bring home.
#[derive(Debug, clap::Args)]
pub struct BringArgs {
    /// The processes (pids on this node, their home); all of yours when none is given.
    pids: Vec<i32>,
    #[command(flatten)]
    api: Api,
}

fn send(api: &Api, c: Control, what: &str) -> anyhow::Result<ExitCode> {
    let r = Client::connect(&api.api)?
        .control(c)
        .with_context(|| what.to_owned())?;
    println!("{}", r.message);
    Ok(ExitCode::SUCCESS)
}

/// `wend lock PID`.
pub fn lock(a: PidArgs) -> anyhow::Result<ExitCode> {
    let what = format!("process {} was not locked", a.pid);
    send(&a.api, Control::Lock { pid: a.pid }, &what)
}

/// `wend unlock PID`.
pub fn unlock(a: PidArgs) -> anyhow::Result<ExitCode> {
    let what = format!("process {} was not unlocked", a.pid);
    send(&a.api, Control::Unlock { pid: a.pid }, &what)
}

/// `wend block`.
pub fn block(a: Api) -> anyhow::Result<ExitCode> {
    send(&a, Control::Block, "guests were not blocked")
}

/// `wend unblock`.
pub fn unblock(a: Api) -> anyhow::Result<ExitCode> {
    send(&a, Control::Unblock, "guests were not let in again")
}

/// `wend expel`.
pub fn expel(a: Api) -> anyhow::Result<ExitCode> {
    send(&a, Control::Expel, "guests were not all sent home")
}

/// `wend bring [PID...]`.
pub fn bring(a: BringArgs) -> anyhow::Result<ExitCode> {
    send(
        &a.api,
        Control::Bring { pids: a.pids },
        "processes were not all brought home",
    )
}
