//! Drawing the monitor: a title line, the view (a bar per node, or a table) and a footer
//! with the keys and the freshness of the data.

use std::time::Instant;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Padding, Paragraph, Row, Table};
use ratatui::Frame;
use wend_proto::{NodeInfo, NodeState};

use super::app::{App, View};
use crate::view::human_bytes;

const PARTIAL: [char; 8] = [' ', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/// A horizontal bar of `width` cells filled to `fraction` (0..=1), with eighth-cell precision.
pub fn bar(fraction: f64, width: usize) -> (String, String) {
    let f = if fraction.is_finite() {
        fraction.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let eighths = (f * width as f64 * 8.0).round() as usize;
    let full = eighths / 8;
    let mut filled: String = "█".repeat(full);
    let mut used = full;
    if full < width && !eighths.is_multiple_of(8) {
        filled.push(PARTIAL[eighths % 8]);
        used += 1;
    }
    (filled, "·".repeat(width.saturating_sub(used)))
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame<'_>, app: &App, now: Instant) {
    let [title, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(title_line(app), title);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .border_style(Style::new().fg(Color::DarkGray))
        .padding(Padding::horizontal(1))
        .title(Span::styled(
            format!(" {} ", app.view.title()),
            Style::new().add_modifier(Modifier::BOLD),
        ));
    let inner = block.inner(body);
    frame.render_widget(block, body);
    if app.nodes.is_empty() {
        let msg = if app.error.is_some() {
            "no data from the daemon yet"
        } else {
            "waiting for the daemon…"
        };
        frame.render_widget(Paragraph::new(msg).style(dim()), inner);
    } else if app.view == View::Table {
        frame.render_widget(table(&app.nodes), inner);
    } else {
        frame.render_widget(Paragraph::new(bars(app, inner)), inner);
    }
    frame.render_widget(footer_line(app, now, footer.width), footer);
}

fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

fn title_line(app: &App) -> Line<'static> {
    Line::from(vec![
        Span::styled(
            " wend top ",
            Style::new()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  {} nodes, {} alive  ",
            app.nodes.len(),
            app.alive()
        )),
        Span::styled(app.source.clone(), dim()),
    ])
}

fn footer_line(app: &App, now: Instant, width: u16) -> Line<'static> {
    let mut spans = Vec::new();
    for (key, rest, view) in [
        ("l", "oad", Some(View::Load)),
        ("s", "peed", Some(View::Speed)),
        ("m", "emory", Some(View::Memory)),
        ("t", "able", Some(View::Table)),
        ("r", "efresh", None),
        ("q", "uit", None),
    ] {
        let current = view == Some(app.view);
        let style = if current {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        };
        spans.push(Span::styled(
            key,
            style.fg(Color::Yellow).add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!("{rest} "), style));
        spans.push(Span::raw(" "));
    }
    let status = match (&app.error, app.updated) {
        (Some(e), _) => Span::styled(e.clone(), Style::new().fg(Color::Red)),
        (None, Some(at)) => Span::styled(
            format!(
                "updated {:.1}s ago",
                now.saturating_duration_since(at).as_secs_f64()
            ),
            dim(),
        ),
        (None, None) => Span::styled("connecting…", dim()),
    };
    let used: usize = spans.iter().map(Span::width).sum();
    let pad = usize::from(width).saturating_sub(used + status.width());
    spans.push(Span::raw(" ".repeat(pad)));
    spans.push(status);
    Line::from(spans)
}

/// One line per node: name, bar, value.
fn bars(app: &App, area: Rect) -> Vec<Line<'static>> {
    let name_w = app
        .nodes
        .iter()
        .map(|n| n.name.chars().count() + usize::from(n.local))
        .max()
        .unwrap_or(4)
        .clamp(4, 24);
    let value_w = 18;
    let bar_w = usize::from(area.width)
        .saturating_sub(name_w + value_w + 3)
        .max(1);
    let alive = |n: &&NodeInfo| n.state == NodeState::Alive || n.state == NodeState::Suspect;
    let load_scale = app
        .nodes
        .iter()
        .filter(alive)
        .map(|n| n.load.max(n.cpus))
        .fold(1.0, f64::max);
    let speed_scale = app
        .nodes
        .iter()
        .filter(alive)
        .map(|n| n.speed * n.cpus)
        .fold(f64::MIN_POSITIVE, f64::max);
    app.nodes
        .iter()
        .map(|n| {
            let name = format!("{}{}", n.name, if n.local { "*" } else { "" });
            let mut spans = vec![Span::styled(
                format!("{name:<name_w$} "),
                Style::new().add_modifier(Modifier::BOLD),
            )];
            if !matches!(n.state, NodeState::Alive | NodeState::Suspect) {
                spans[0] = spans[0].clone().style(dim());
                spans.push(Span::styled(n.state.to_string(), state_style(n.state)));
                return Line::from(spans);
            }
            let (fraction, color, value) = match app.view {
                View::Load => (
                    n.load / load_scale,
                    load_color(n.load, n.cpus),
                    format!("{:.2} / {} cpu", n.load, n.cpus),
                ),
                View::Speed => (
                    n.speed * n.cpus / speed_scale,
                    Color::Cyan,
                    format!("{:.2} × {} cpu", n.speed, n.cpus),
                ),
                _ => {
                    let used = n.mem_total.saturating_sub(n.mem_free);
                    let f = used as f64 / n.mem_total.max(1) as f64;
                    (
                        f,
                        mem_color(f),
                        format!("{} / {}", human_bytes(used), human_bytes(n.mem_total)),
                    )
                }
            };
            let (filled, rest) = bar(fraction, bar_w);
            spans.push(Span::styled(filled, Style::new().fg(color)));
            spans.push(Span::styled(rest, dim()));
            spans.push(Span::raw(format!(" {value:>w$}", w = value_w - 1)));
            if n.state == NodeState::Suspect {
                spans.push(Span::styled(" ?", state_style(n.state)));
            }
            Line::from(spans)
        })
        .collect()
}

fn load_color(load: f64, cpus: f64) -> Color {
    let r = load / cpus.max(1.0);
    if r < 0.75 {
        Color::Green
    } else if r < 1.0 {
        Color::Yellow
    } else {
        Color::Red
    }
}

fn mem_color(used: f64) -> Color {
    if used < 0.75 {
        Color::Green
    } else if used < 0.9 {
        Color::Yellow
    } else {
        Color::Red
    }
}

fn state_style(s: NodeState) -> Style {
    Style::new().fg(match s {
        NodeState::Alive => Color::Green,
        NodeState::Suspect => Color::Yellow,
        NodeState::Dead => Color::Red,
        NodeState::Left => Color::DarkGray,
    })
}

fn table(nodes: &[NodeInfo]) -> Table<'static> {
    let header = Row::new([
        "NAME", "STATE", "ADDRESS", "CPUS", "SPEED", "LOAD", "FREE", "TOTAL", "GUESTS", "ACCEPT",
    ])
    .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows = nodes.iter().map(|n| {
        Row::new(vec![
            Span::raw(format!("{}{}", n.name, if n.local { "*" } else { "" })),
            Span::styled(n.state.to_string(), state_style(n.state)),
            Span::raw(n.addr.clone()),
            Span::raw(format!("{}", n.cpus)),
            Span::raw(format!("{:.2}", n.speed)),
            Span::styled(
                format!("{:.2}", n.load),
                Style::new().fg(load_color(n.load, n.cpus)),
            ),
            Span::raw(human_bytes(n.mem_free)),
            Span::raw(human_bytes(n.mem_total)),
            Span::raw(n.guests.to_string()),
            Span::raw(if n.accepting { "yes" } else { "no" }),
        ])
    });
    Table::new(
        rows,
        [
            Constraint::Min(8),
            Constraint::Length(7),
            Constraint::Min(15),
            Constraint::Length(4),
            Constraint::Length(5),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
            Constraint::Length(6),
        ],
    )
    .header(header)
    .column_spacing(1)
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
