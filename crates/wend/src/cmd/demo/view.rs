//! The live view of a batch under wend: where each job runs, its state, its migrations and
//! its CPU time, from the daemons' process tables (what `wend ps --json` prints on each node).
//!
//! On a terminal a table is redrawn in place (ANSI cursor movement); otherwise one line is
//! printed per change (a job starting, moving, coming home or ending), so a log stays short.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use wend_daemon::client::Client;
use wend_proto::{ProcInfo, ProcState};

use super::batch::Batch;

/// What the view last knew of one job.
#[derive(Debug, Clone, Default, PartialEq)]
struct Seen {
    pid: Option<i32>,
    node: String,
    state: String,
    migrations: u32,
    cpu: f64,
    nodes_visited: Vec<String>,
}

/// The view of one batch.
pub struct View {
    tty: bool,
    home: String,
    /// Every node and its daemon's API socket (host path).
    nodes: Vec<(String, PathBuf)>,
    clients: HashMap<String, Client>,
    seen: Vec<Seen>,
    drawn: usize,
}

impl View {
    pub fn new(tty: bool, home: &str, nodes: Vec<(String, PathBuf)>, jobs: usize) -> View {
        View {
            tty,
            home: home.to_owned(),
            nodes,
            clients: HashMap::new(),
            seen: vec![Seen::default(); jobs],
            drawn: 0,
        }
    }

    /// Total migrations seen over the batch's jobs.
    pub fn migrations(&self) -> u32 {
        self.seen.iter().map(|s| s.migrations).sum()
    }

    /// The nodes each job ran on, in order.
    pub fn paths(&self) -> Vec<Vec<String>> {
        self.seen.iter().map(|s| s.nodes_visited.clone()).collect()
    }

    /// Asks every daemon for its processes and shows what changed.
    pub fn update(&mut self, batch: &Batch) {
        let tables = self.tables();
        let elapsed = batch.elapsed();
        let mut lines = Vec::new();
        for (i, job) in batch.jobs.iter().enumerate() {
            let old = self.seen[i].clone();
            let now = &mut self.seen[i];
            now.pid = job.pid;
            if let Some((t, status)) = job.ended {
                now.state = if status.success() {
                    format!("done {:.1} s", t.as_secs_f64())
                } else {
                    format!("FAILED ({status})")
                };
            } else if let Some(pid) = job.pid {
                observe(now, pid, &self.home, &tables);
            } else {
                now.state = "starting".into();
            }
            if now.node.is_empty() {
                now.node = self.home.clone();
            }
            if now.nodes_visited.last() != Some(&now.node) {
                now.nodes_visited.push(now.node.clone());
            }
            if !self.tty && changed(&old, now) {
                lines.push(change_line(i + 1, now, &old, elapsed));
            }
        }
        if self.tty {
            self.redraw(elapsed);
        } else {
            let mut out = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
        }
    }

    /// The process table of every node that answers, by node name.
    fn tables(&mut self) -> HashMap<String, Vec<ProcInfo>> {
        let mut tables = HashMap::new();
        for (name, socket) in &self.nodes {
            let client = match self.clients.remove(name) {
                Some(c) => Some(c),
                None => Client::connect(socket).ok(),
            };
            if let Some(mut c) = client {
                if let Ok(rows) = c.ps() {
                    tables.insert(name.clone(), rows);
                    self.clients.insert(name.clone(), c);
                }
            }
        }
        tables
    }

    fn redraw(&mut self, elapsed: Duration) {
        let mut text = String::new();
        if self.drawn > 0 {
            // Back to the top of the table drawn last time.
            let _ = write!(text, "\x1b[{}A\r", self.drawn);
        }
        let mut lines = vec![format!(
            "{:>4}  {:>7}  {:<8} {:<16} {:>5} {:>8}",
            "JOB", "PID", "WHERE", "STATE", "MIGR", "CPU(s)"
        )];
        let mut per_node: Vec<(String, usize)> =
            self.nodes.iter().map(|(n, _)| (n.clone(), 0)).collect();
        for (i, s) in self.seen.iter().enumerate() {
            lines.push(format!(
                "{:>4}  {:>7}  {:<8} {:<16} {:>5} {:>8.1}",
                i + 1,
                s.pid.map_or("-".to_owned(), |p| p.to_string()),
                s.node,
                s.state,
                s.migrations,
                s.cpu
            ));
            if !s.state.starts_with("done") && !s.state.starts_with("FAILED") {
                if let Some(e) = per_node.iter_mut().find(|(n, _)| *n == s.node) {
                    e.1 += 1;
                }
            }
        }
        let spread: Vec<String> = per_node
            .iter()
            .map(|(n, c)| format!("{n}: {c} running"))
            .collect();
        lines.push(format!(
            "{:>6.1} s   {}",
            elapsed.as_secs_f64(),
            spread.join("   ")
        ));
        for l in &lines {
            let _ = writeln!(text, "\x1b[2K{l}");
        }
        self.drawn = lines.len();
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}

/// Fills `seen` from the home node's row of `pid` and, when it runs elsewhere, from the
/// guest row there (whose CPU time is current; home learns it when the process returns).
fn observe(seen: &mut Seen, pid: i32, home: &str, tables: &HashMap<String, Vec<ProcInfo>>) {
    let Some(row) = tables.get(home).and_then(|t| {
        t.iter()
            .find(|p| p.pid == pid && p.state != ProcState::Guest)
    }) else {
        // Not registered yet (or already gone from the table): it runs at home.
        seen.state = if seen.state.is_empty() || seen.state == "starting" {
            "starting".into()
        } else {
            seen.state.clone()
        };
        return;
    };
    seen.node = row.where_.clone();
    seen.state = row.state.as_str().to_owned();
    seen.migrations = row.migrations;
    let guest = tables.get(&row.where_).and_then(|t| {
        t.iter()
            .find(|p| p.state == ProcState::Guest && p.pid == pid && p.home == home)
    });
    let cpu = match (row.state, guest) {
        (ProcState::Remote, Some(g)) => g.cpu_secs,
        _ => row.cpu_secs,
    };
    // CPU time only grows; a row caught mid-move may lag behind.
    seen.cpu = seen.cpu.max(cpu);
}

fn changed(old: &Seen, now: &Seen) -> bool {
    old.node != now.node || old.state != now.state || old.migrations != now.migrations
}

fn change_line(job: usize, now: &Seen, old: &Seen, elapsed: Duration) -> String {
    let pid = now.pid.map_or("-".to_owned(), |p| p.to_string());
    let what = if now.state.starts_with("done") || now.state.starts_with("FAILED") {
        format!(
            "{} on {} after {} migration(s)",
            now.state, now.node, now.migrations
        )
    } else if !old.node.is_empty() && old.node != now.node {
        format!(
            "{} -> {} ({}, migration {})",
            old.node, now.node, now.state, now.migrations
        )
    } else {
        format!("{} on {}", now.state, now.node)
    };
    format!(
        "{:>7.1} s  job {job} (pid {pid}): {what}",
        elapsed.as_secs_f64()
    )
}
