//! The monitor's state and key handling, apart from the terminal.

use std::time::Instant;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use wend_proto::{NodeInfo, NodeState};

use crate::view::sort_nodes;

/// What the monitor shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// A bar per node: load against its CPUs.
    Load,
    /// A bar per node: CPU speed times CPUs.
    Speed,
    /// A bar per node: memory in use.
    Memory,
    /// Every field, one row per node.
    Table,
}

impl View {
    /// All views, in the order Tab walks them.
    pub const ALL: [View; 4] = [View::Load, View::Speed, View::Memory, View::Table];

    /// Its title.
    pub fn title(self) -> &'static str {
        match self {
            View::Load => "Load",
            View::Speed => "Speed",
            View::Memory => "Memory",
            View::Table => "Table",
        }
    }

    fn next(self) -> View {
        let i = View::ALL.iter().position(|v| *v == self).unwrap_or(0);
        View::ALL[(i + 1) % View::ALL.len()]
    }
}

/// What a key asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    None,
    /// Redraw (the view changed).
    Redraw,
    /// Fetch now.
    Refresh,
    /// Leave the monitor.
    Quit,
}

/// The monitor's state.
#[derive(Debug, Clone)]
pub struct App {
    /// The current view.
    pub view: View,
    /// The nodes of the last successful fetch, sorted by name.
    pub nodes: Vec<NodeInfo>,
    /// When that fetch was.
    pub updated: Option<Instant>,
    /// The last fetch error, if the last fetch failed.
    pub error: Option<String>,
    /// Where the daemon is (shown in the title).
    pub source: String,
}

impl App {
    /// A monitor of the daemon at `source`, with nothing fetched yet.
    pub fn new(source: impl Into<String>) -> App {
        App {
            view: View::Load,
            nodes: Vec::new(),
            updated: None,
            error: None,
            source: source.into(),
        }
    }

    /// Records a fetch result.
    pub fn update(&mut self, result: Result<Vec<NodeInfo>, String>, now: Instant) {
        match result {
            Ok(mut nodes) => {
                sort_nodes(&mut nodes);
                self.nodes = nodes;
                self.updated = Some(now);
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }

    /// Nodes known alive.
    pub fn alive(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.state == NodeState::Alive)
            .count()
    }

    /// Applies a key press.
    pub fn on_key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let view = match key.code {
            KeyCode::Char('c') if ctrl => return Action::Quit,
            KeyCode::Char('q' | 'Q') | KeyCode::Esc => return Action::Quit,
            KeyCode::Char('r' | 'R') => return Action::Refresh,
            KeyCode::Char('l' | 'L' | '1') => View::Load,
            KeyCode::Char('s' | 'S' | '2') => View::Speed,
            KeyCode::Char('m' | 'M' | '3') => View::Memory,
            KeyCode::Char('t' | 'T' | '4') => View::Table,
            KeyCode::Tab | KeyCode::Right => self.view.next(),
            KeyCode::BackTab | KeyCode::Left => {
                let mut v = self.view;
                for _ in 0..View::ALL.len() - 1 {
                    v = v.next();
                }
                v
            }
            _ => return Action::None,
        };
        self.view = view;
        Action::Redraw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys() {
        let mut app = App::new("x");
        assert_eq!(app.on_key(key(KeyCode::Char('m'))), Action::Redraw);
        assert_eq!(app.view, View::Memory);
        assert_eq!(app.on_key(key(KeyCode::Tab)), Action::Redraw);
        assert_eq!(app.view, View::Table);
        assert_eq!(app.on_key(key(KeyCode::Tab)), Action::Redraw);
        assert_eq!(app.view, View::Load);
        assert_eq!(app.on_key(key(KeyCode::BackTab)), Action::Redraw);
        assert_eq!(app.view, View::Table);
        assert_eq!(app.on_key(key(KeyCode::Char('s'))), Action::Redraw);
        assert_eq!(app.view, View::Speed);
        assert_eq!(app.on_key(key(KeyCode::Char('x'))), Action::None);
        assert_eq!(app.on_key(key(KeyCode::Char('r'))), Action::Refresh);
        assert_eq!(app.on_key(key(KeyCode::Char('q'))), Action::Quit);
        assert_eq!(app.on_key(key(KeyCode::Esc)), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(app.on_key(ctrl_c), Action::Quit);
    }

    #[test]
    fn a_failed_fetch_keeps_the_last_nodes() {
        let mut app = App::new("x");
        let now = Instant::now();
        app.update(Ok(vec![]), now);
        assert!(app.error.is_none());
        app.update(Err("gone".into()), now);
        assert_eq!(app.error.as_deref(), Some("gone"));
        assert_eq!(app.updated, Some(now));
    }
}
