use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

use super::*;

fn node(name: &str, state: NodeState, load: f64, mem_free: u64) -> NodeInfo {
    NodeInfo {
        name: name.into(),
        state,
        addr: format!("10.0.0.{}:7100", name.len()),
        cpus: 2.0,
        speed: 1.5,
        load,
        mem_free,
        mem_total: 8 << 30,
        guests: 0,
        accepting: true,
        local: name == "node1",
        age_ms: None,
    }
}

fn app() -> App {
    let mut app = App::new("/run/wend/wend.sock");
    let now = Instant::now();
    app.update(
        Ok(vec![
            node("node3", NodeState::Dead, 0.0, 0),
            node("node1", NodeState::Alive, 2.0, 6 << 30),
            node("node2", NodeState::Alive, 0.0, 1 << 30),
        ]),
        now - Duration::from_millis(500),
    );
    app
}

fn render(app: &App, w: u16, h: u16) -> Vec<String> {
    let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
    term.draw(|f| draw(f, app, Instant::now())).unwrap();
    let buf = term.backend().buffer().clone();
    (0..h)
        .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect())
        .collect()
}

fn row<'a>(screen: &'a [String], name: &str) -> &'a str {
    screen
        .iter()
        .find(|l| l.contains(name))
        .unwrap_or_else(|| panic!("no row for {name}:\n{}", screen.join("\n")))
}

#[test]
fn bars_have_eighth_precision() {
    assert_eq!(bar(0.0, 4), (String::new(), "····".into()));
    assert_eq!(bar(1.0, 4), ("████".into(), String::new()));
    assert_eq!(bar(0.5, 4), ("██".into(), "··".into()));
    assert_eq!(bar(1.0 / 32.0, 4), ("▏".into(), "···".into()));
    assert_eq!(bar(f64::NAN, 2), (String::new(), "··".into()));
    assert_eq!(bar(7.0, 2), ("██".into(), String::new()));
}

#[test]
fn load_view_draws_a_bar_per_node_sorted_by_name() {
    let screen = render(&app(), 80, 10);
    let text = screen.join("\n");
    assert!(screen[0].contains("wend top"), "{text}");
    assert!(screen[0].contains("3 nodes, 2 alive"), "{text}");
    assert!(text.contains(" Load "), "{text}");
    // node1 runs at full load on 2 CPUs: a full-width bar.
    let full = row(&screen, "node1*");
    assert!(full.contains("████"), "{text}");
    assert!(full.contains("2.00 / 2 cpu"), "{text}");
    // node2 is idle: only the track.
    let idle = row(&screen, "node2");
    assert!(!idle.contains('█') && idle.contains("····"), "{text}");
    // node3 is dead: its state instead of a bar.
    assert!(row(&screen, "node3").contains("dead"), "{text}");
    let order: Vec<_> = ["node1", "node2", "node3"]
        .iter()
        .map(|n| screen.iter().position(|l| l.contains(n)).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(screen[9].contains("updated"), "{text}");
}

#[test]
fn memory_and_speed_views() {
    let mut a = app();
    a.on_key(KeyEvent::new(KeyCode::Char('m'), KeyModifiers::NONE));
    let screen = render(&a, 80, 10);
    let text = screen.join("\n");
    assert!(text.contains(" Memory "), "{text}");
    assert!(row(&screen, "node2").contains("7.0G / 8.0G"), "{text}");
    assert!(row(&screen, "node1*").contains("2.0G / 8.0G"), "{text}");

    a.on_key(KeyEvent::new(KeyCode::Char('s'), KeyModifiers::NONE));
    let screen = render(&a, 80, 10);
    assert!(row(&screen, "node2").contains("1.50 × 2 cpu"));
}

#[test]
fn table_view_shows_every_column() {
    let mut a = app();
    a.on_key(KeyEvent::new(KeyCode::Char('t'), KeyModifiers::NONE));
    let screen = render(&a, 100, 10);
    let text = screen.join("\n");
    for h in [
        "NAME", "STATE", "ADDRESS", "CPUS", "SPEED", "LOAD", "FREE", "GUESTS",
    ] {
        assert!(text.contains(h), "{h} missing:\n{text}");
    }
    assert!(row(&screen, "node3").contains("dead"), "{text}");
}

#[test]
fn errors_and_tiny_terminals() {
    let mut a = App::new("/x.sock");
    a.update(Err("cannot reach the wend daemon".into()), Instant::now());
    let screen = render(&a, 60, 6);
    let text = screen.join("\n");
    assert!(text.contains("cannot reach"), "{text}");
    assert!(text.contains("no data"), "{text}");
    // Very small sizes must not panic.
    for (w, h) in [(1, 1), (5, 3), (20, 4)] {
        render(&app(), w, h);
    }
}
