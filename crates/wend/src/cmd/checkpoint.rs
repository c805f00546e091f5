//! `wend checkpoint PID -o FILE [--leave-running]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wend_ckpt::{CheckpointOptions, Progress};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The process to checkpoint.
    pub pid: i32,
    /// The image file to write (complete or absent, never half-written).
    #[arg(short = 'o', long = "output")]
    pub output: PathBuf,
    /// Let the process continue after the image is written (default: kill it).
    #[arg(long)]
    pub leave_running: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let opts = CheckpointOptions {
        leave_running: args.leave_running,
        progress: Progress::bar_if_terminal("checkpoint"),
        ..CheckpointOptions::default()
    };
    let r = wend_ckpt::checkpoint_to_file(args.pid, &args.output, &opts)
        .with_context(|| format!("checkpoint of process {} failed", args.pid))?;
    eprintln!(
        "wend: checkpointed process {} to {}: {:.1} MiB image ({:.1} MiB of memory), frozen {:.3} s, total {:.3} s{}",
        args.pid,
        args.output.display(),
        r.image_bytes as f64 / 1048576.0,
        r.dump.dumped_bytes as f64 / 1048576.0,
        r.frozen.as_secs_f64(),
        r.total.as_secs_f64(),
        if args.leave_running { ", left running" } else { ", process killed" }
    );
    Ok(ExitCode::SUCCESS)
}
