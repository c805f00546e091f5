//! `wend top`: live monitor of the cluster (keys: l/s/m/t views, r refresh, q/Esc/Ctrl-C quit).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use wend_daemon::config::DEFAULT_API_SOCKET;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The daemon's API socket.
    #[arg(long, env = "WEND_API", value_name = "SOCKETPATH", default_value = DEFAULT_API_SOCKET)]
    api: PathBuf,
    /// Seconds between updates.
    #[arg(long, default_value_t = 1.0, value_parser = parse_interval)]
    interval: f64,
}

fn parse_interval(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && (0.1..=3600.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "{s:?} is not a number of seconds between 0.1 and 3600"
        )),
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    wend_daemon::top::run(&args.api, Duration::from_secs_f64(args.interval))?;
    Ok(ExitCode::SUCCESS)
}
