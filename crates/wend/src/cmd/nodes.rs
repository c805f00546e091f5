//! `wend nodes`: one row per node of the cluster, as the local daemon sees it.

use std::path::PathBuf;
use std::process::ExitCode;

use wend_daemon::client::Client;
use wend_daemon::config::DEFAULT_API_SOCKET;
use wend_daemon::view;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print a JSON array of node objects instead of a table.
    #[arg(long)]
    json: bool,
    /// The daemon's API socket.
    #[arg(long, env = "WEND_API", value_name = "SOCKETPATH", default_value = DEFAULT_API_SOCKET)]
    api: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut nodes = Client::connect(&args.api)?.nodes()?;
    view::sort_nodes(&mut nodes);
    if args.json {
        println!("{}", view::nodes_json(&nodes));
    } else {
        print!("{}", view::nodes_table(&nodes));
    }
    Ok(ExitCode::SUCCESS)
}
