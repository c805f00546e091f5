//! `wend keygen`: writes a new cluster key file (mode 0600). Every node of a cluster needs the
//! same file; a node without it can neither join nor read the cluster's traffic.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wend_cluster::ClusterKey;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the key (refuses to overwrite an existing file).
    #[arg(short = 'o', long = "output", value_name = "KEYFILE")]
    output: PathBuf,
    /// Key epoch (0-255); raise it when rotating keys so old nodes get a clear error.
    #[arg(long, default_value_t = 0)]
    epoch: u8,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = ClusterKey::generate(args.epoch).context("generating the cluster key")?;
    key.save(&args.output)?;
    println!(
        "wrote a new cluster key (epoch {}) to {}; copy it to every node and keep it secret",
        args.epoch,
        args.output.display()
    );
    Ok(ExitCode::SUCCESS)
}
