//! `wend top`: a live monitor of the cluster in the spirit of openMosix's mosmon. A bar per
//! node for load, speed or memory (or a table), refreshed every second from the local daemon;
//! keys switch views and quit. The terminal is restored on every exit, panics included.

pub mod app;
pub mod render;

use std::io::{self, IsTerminal};
use std::path::Path;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};
use thiserror::Error;

use crate::client::Client;
use app::{Action, App};

/// Why the monitor could not run.
#[derive(Debug, Error)]
pub enum TopError {
    /// Standard input or output is not a terminal.
    #[error("`wend top` needs a terminal; in scripts use `wend nodes` or `wend nodes --json`")]
    NotATerminal,
    /// The terminal failed.
    #[error("terminal: {0}")]
    Terminal(io::Error),
}

/// Runs the monitor against the daemon at `api` until the user quits.
pub fn run(api: &Path, interval: Duration) -> Result<(), TopError> {
    if !io::stdout().is_terminal() || !io::stdin().is_terminal() {
        return Err(TopError::NotATerminal);
    }
    // try_init installs a panic hook that restores the terminal before the panic prints.
    let mut terminal = ratatui::try_init().map_err(TopError::Terminal)?;
    let result = event_loop(&mut terminal, api, interval);
    let restored = ratatui::try_restore().map_err(TopError::Terminal);
    result.and(restored)
}

fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    api: &Path,
    interval: Duration,
) -> Result<(), TopError> {
    let mut app = App::new(api.display().to_string());
    let mut client: Option<Client> = None;
    let mut next_fetch = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next_fetch {
            app.update(fetch(&mut client, api), now);
            next_fetch = now + interval;
        }
        terminal
            .draw(|f| render::draw(f, &app, Instant::now()))
            .map_err(TopError::Terminal)?;
        // Redraw at least every quarter second so "updated N s ago" moves.
        let wait = next_fetch
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(250));
        if !event::poll(wait).map_err(TopError::Terminal)? {
            continue;
        }
        if let Event::Key(key) = event::read().map_err(TopError::Terminal)? {
            match app.on_key(key) {
                Action::Quit => return Ok(()),
                Action::Refresh => next_fetch = Instant::now(),
                Action::Redraw | Action::None => {}
            }
        }
    }
}

/// Fetches the nodes, reconnecting when the last connection broke.
fn fetch(client: &mut Option<Client>, api: &Path) -> Result<Vec<wend_proto::NodeInfo>, String> {
    if client.is_none() {
        *client = Some(Client::connect(api).map_err(|e| e.to_string())?);
    }
    let c = client.as_mut().ok_or("no connection")?;
    c.nodes().map_err(|e| {
        *client = None;
        e.to_string()
    })
}
