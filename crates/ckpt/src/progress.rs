//! Progress reporting: a bar on a terminal, nothing otherwise.

use std::io::IsTerminal;

/// A progress sink in bytes. `Progress::none()` does nothing.
#[derive(Debug, Clone, Default)]
pub struct Progress(Option<indicatif::ProgressBar>);

impl Progress {
    /// Reports nothing.
    pub fn none() -> Progress {
        Progress(None)
    }

    /// A bar on stderr when stderr is a terminal, else nothing.
    pub fn bar_if_terminal(label: &str) -> Progress {
        if !std::io::stderr().is_terminal() {
            return Progress(None);
        }
        let bar = indicatif::ProgressBar::hidden();
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(label.to_string());
        bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        Progress(Some(bar))
    }

    pub fn set_total(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.set_length(bytes);
        }
    }

    pub fn advance(&self, bytes: u64) {
        if let Some(b) = &self.0 {
            b.inc(bytes);
        }
    }

    pub fn finish(&self) {
        if let Some(b) = &self.0 {
            b.finish_and_clear();
        }
    }
}
