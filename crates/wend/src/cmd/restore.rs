//! `wend restore FILE [--detach]`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use wend_ckpt::{Progress, RestoreOptions};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image file to restore.
    pub file: PathBuf,
    /// Print the new pid and return instead of waiting for the process.
    #[arg(long)]
    pub detach: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    // Before any thread exists, so every thread inherits the blocked set.
    wend_ckpt::forward::block_forwarded()?;
    let opts = RestoreOptions {
        progress: Progress::bar_if_terminal("restore"),
        guest: false,
    };
    let restored = wend_ckpt::restore_file(&args.file, &opts)
        .with_context(|| format!("restore of {} failed", args.file.display()))?;
    let pid = restored.resume()?;
    if args.detach {
        println!("{pid}");
        return Ok(ExitCode::SUCCESS);
    }
    let code = match wend_ckpt::forward::wait_forwarding(pid)? {
        wend_ckpt::forward::ChildExit::Code(c) => c,
        wend_ckpt::forward::ChildExit::Signal(s) => 128 + s,
    };
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
