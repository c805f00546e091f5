//! `wend image ...`: work with image files.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Verify an image (every checksum) and summarize it: format version, command line, pid,
    /// memory areas with sizes, files, signal state, sizes before and after compression.
    /// Exits 0 if the image is valid, 2 if it is damaged.
    Inspect {
        /// The image file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(c: Command) -> anyhow::Result<ExitCode> {
    match c {
        Command::Inspect { file, json } => inspect(&file, json),
    }
}

fn inspect(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let report = wend_image::inspect(BufReader::with_capacity(1 << 20, f))
        .with_context(|| format!("cannot inspect {}", path.display()))?;
    let text = if json {
        format!("{}\n", report.to_json())
    } else {
        format!("image      {}\n{}", path.display(), report.to_text())
    };
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() != ErrorKind::BrokenPipe => {
            return Err(e).context("cannot write to standard output");
        }
        _ => {}
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}
