//! `wend ps`: the processes this node manages as their home, and the guests it runs.

use std::path::PathBuf;
use std::process::ExitCode;

use wend_daemon::client::Client;
use wend_daemon::config::DEFAULT_API_SOCKET;
use wend_proto::ProcInfo;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array of process objects instead of a table.
    #[arg(long)]
    json: bool,
    /// The daemon's API socket.
    #[arg(long, env = "WEND_API", value_name = "SOCKETPATH", default_value = DEFAULT_API_SOCKET)]
    api: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let procs = Client::connect(&args.api)?.ps()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&procs)?);
    } else {
        print!("{}", table(&procs));
    }
    Ok(ExitCode::SUCCESS)
}

fn table(procs: &[ProcInfo]) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "{:>7}  {:<10} {:<10} {:<9} {:>8} {:>5}  {:<28} {}\n",
        "PID", "HOME", "WHERE", "STATE", "CPU(s)", "MIGR", "COMMAND", "STAYS BECAUSE"
    );
    for p in procs {
        let mut cmd = p.cmd.clone();
        if cmd.chars().count() > 28 {
            cmd = cmd.chars().take(27).collect::<String>() + "…";
        }
        let _ = writeln!(
            out,
            "{:>7}  {:<10} {:<10} {:<9} {:>8.1} {:>5}  {:<28} {}",
            p.pid,
            p.home,
            p.where_,
            p.state.as_str(),
            p.cpu_secs,
            p.migrations,
            cmd,
            if p.stay_reasons.is_empty() {
                "-".to_owned()
            } else {
                p.stay_reasons.join("; ")
            }
        );
    }
    if procs.is_empty() {
        out.push_str("(no processes managed here; start one with `wend run -- CMD`)\n");
    }
    out
}
