//! The balancer: once a second, this node's view of the cluster goes through wend-balance's
//! `decide`, and the moves it proposes are made: a process at home is offered to the chosen
//! node (then to the fallbacks, in order, if it refuses); a guest the policy wants on another
//! node is passed on there (home asks this node to, as for `wend migrate PID NODE`), and one
//! that must leave (expel, memory, or home became the better place) goes home.
//!
//! Only processes `wend run` started (and their children, which the balancer never sees
//! apart: a child of a managed process is not managed, so it stays home) are moved, never a
//! locked one or one with a stay reason.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use tokio::sync::oneshot;
use wend_balance::{decide, Move, NodeRef, NodeState, Peers, Proc, Reason, Stay};
use wend_ckpt::StayPath;
use wend_proto::{ErrorCode, NodeInfo};

use super::admission::SELF_REF;
use super::control::wait;
use super::registry::{cpu_secs, mem_bytes, want_secs};
use super::wire::{AutoTerms, Dest};
use super::{home, Manager};
use crate::peer::Query;

/// Time between two decisions.
pub const BALANCE_EVERY: Duration = Duration::from_secs(1);
/// A move this node made counts on its target until a load vector the target published at
/// least this long after the arrival is in the view (published loads rise over seconds; the
/// policy counts a fraction above `round_up` as a whole process).
const ARRIVAL_SHOWS: Duration = Duration::from_millis(1200);
/// Moves older than this are forgotten whatever the view says.
const ARRIVAL_FORGET: Duration = Duration::from_secs(5);
/// The longest a move may take before the balancer stops waiting for it.
const MOVE_WAIT: Duration = Duration::from_secs(60);

/// The balancer's memory between decisions.
struct Balancer {
    mgr: Arc<Manager>,
    rng: Xoshiro256PlusPlus,
    /// Node names to the policy's references (0 is this node).
    refs: HashMap<String, NodeRef>,
    /// Seconds each process wanted a CPU (ran or waited on a run queue) at the last decision:
    /// their rate is its CPU demand, which a busy machine does not hide (its CPU time would).
    last_cpu: HashMap<i32, (f64, Instant)>,
    /// Moves this node made lately: target and when the process arrived there.
    sent: Vec<(NodeRef, Instant)>,
}

/// Starts the balancer thread; it ends when the daemon stops.
pub fn spawn(mgr: Arc<Manager>) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("wend-balancer".into())
        .spawn(move || {
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id());
            let mut b = Balancer {
                mgr,
                rng: Xoshiro256PlusPlus::seed_from_u64(seed),
                refs: HashMap::new(),
                last_cpu: HashMap::new(),
                sent: Vec::new(),
            };
            while !b.mgr.stopping() && !b.mgr.shutdown.is_cancelled() {
                std::thread::sleep(BALANCE_EVERY);
                if b.mgr.auto_balance() {
                    b.round();
                }
            }
        })
}

impl Balancer {
    fn node_ref(&mut self, name: &str) -> NodeRef {
        let next = NodeRef(self.refs.len() as u32 + 1);
        *self.refs.entry(name.to_owned()).or_insert(next)
    }

    /// One decision and the moves it makes.
    fn round(&mut self) {
        self.mgr.registry.adopt_children();
        let Some(nodes) = self.nodes() else { return };
        let local = self.mgr.local_state(true);
        let peers = self.peers(&nodes);
        let (procs, guests) = self.procs(&local, &peers);
        if procs.is_empty() {
            return;
        }
        let moves = decide(&local, &procs, &peers, &self.mgr.params, &mut self.rng);
        if !moves.is_empty() {
            tracing::debug!(
                runnable = local.runnable(),
                ?procs,
                peers = ?peers.as_slice(),
                ?moves,
                "decision"
            );
        }
        for mv in moves {
            if guests.contains(&(mv.pid as i32)) {
                self.guest_move(&mv, &nodes);
            } else {
                self.home_move(&mv, &nodes);
            }
        }
    }

    fn nodes(&self) -> Option<Vec<NodeInfo>> {
        let (tx, rx) = oneshot::channel();
        self.mgr.queries.blocking_send(Query::Nodes(tx)).ok()?;
        rx.blocking_recv().ok()
    }

    /// Alive peers that published a load vector. A peer this node sent processes to lately
    /// counts them until its published load can show them: without that, the next decision
    /// (a second later, on a view that still shows the target idle) sends another one there.
    fn peers(&mut self, nodes: &[NodeInfo]) -> Peers {
        let now = Instant::now();
        self.sent
            .retain(|(_, at)| now.duration_since(*at) < ARRIVAL_FORGET);
        let mut out = Vec::new();
        for n in nodes {
            if n.local || n.state != wend_proto::NodeState::Alive || n.cpus <= 0.0 {
                continue;
            }
            let id = self.node_ref(&n.name);
            let published = now
                .checked_sub(Duration::from_millis(n.age_ms.unwrap_or(0)))
                .unwrap_or(now);
            let unseen = self
                .sent
                .iter()
                .filter(|(to, at)| *to == id && published < *at + ARRIVAL_SHOWS)
                .count() as f64;
            let speed = if n.speed > 0.0 { n.speed } else { 1.0 };
            out.push(NodeState {
                id,
                cpus: n.cpus.ceil().clamp(1.0, f64::from(u16::MAX)) as u16,
                speed: n.speed,
                load: n.load + unseen / speed,
                mem_free: n.mem_free,
                mem_total: n.mem_total,
                guests: u16::try_from(n.guests).unwrap_or(u16::MAX),
                accepting: n.accepting,
                expelling: false,
            });
        }
        Peers::new(out)
    }

    /// CPU share of `pid` since the last decision (0 the first time it is seen).
    fn cpu_share(&mut self, pid: i32, now_secs: f64) -> f64 {
        let now = Instant::now();
        let share = match self.last_cpu.get(&pid) {
            Some((before, at)) => {
                let wall = now.duration_since(*at).as_secs_f64();
                if wall > 0.0 {
                    ((now_secs - before) / wall).clamp(0.0, 1.0)
                } else {
                    0.0
                }
            }
            None => 0.0,
        };
        self.last_cpu.insert(pid, (now_secs, now));
        share
    }

    /// The processes the policy may move, and which of them are guests.
    fn procs(&mut self, local: &NodeState, peers: &Peers) -> (Vec<Proc>, Vec<i32>) {
        let speed = local.speed();
        let busy = self.mgr.params.busy_cpu;
        let mut procs = Vec::new();
        let mut guests = Vec::new();
        let mut seen = Vec::new();
        for p in self.mgr.registry.at_home() {
            let used = cpu_secs(p.pid);
            let cpu = self.cpu_share(p.pid, want_secs(p.pid));
            seen.push(p.pid);
            let stay = if p.locked {
                Some(Stay::Locked)
            } else if cpu >= busy
                && !wend_ckpt::check(p.pid, StayPath::Migration).is_ok_and(|r| r.is_empty())
            {
                Some(Stay::Reason)
            } else {
                None
            };
            procs.push(Proc {
                pid: p.pid as u32,
                cpu,
                work: (used + p.away_cpu) * speed,
                age: p.age,
                mem: mem_bytes(p.pid),
                home: None,
                migrations: p.migrations,
                since_move: p.since_move,
                stay,
            });
        }
        for g in self.mgr.registry.guests() {
            let used = cpu_secs(g.local);
            let cpu = self.cpu_share(g.local, want_secs(g.local));
            seen.push(g.local);
            if g.leaving {
                continue;
            }
            let home = self.node_ref(&g.home_node);
            // A guest whose home is not in the view (gone, suspect) stays: home is where it
            // would have to go, and its link tells its fate.
            if peers.get(home).is_none() && !self.mgr.flags.expelling() {
                continue;
            }
            guests.push(g.local);
            procs.push(Proc {
                pid: g.local as u32,
                cpu,
                work: (g.cpu_before + used) * speed,
                age: (g.cpu_before + used).max(g.since_move),
                mem: mem_bytes(g.local),
                home: Some(home),
                migrations: g.migrations,
                since_move: Some(g.since_move),
                stay: g.locked.then_some(Stay::Locked),
            });
        }
        self.last_cpu.retain(|pid, _| seen.contains(pid));
        (procs, guests)
    }

    /// A guest leaves: home asks this node to pass it on to the node the policy chose, or it
    /// goes home (see the module docs).
    fn guest_move(&mut self, mv: &Move, nodes: &[NodeInfo]) {
        if mv.reason == Reason::Balance {
            if let Some(dest) = self.dest(mv.to, nodes) {
                tracing::info!(local = mv.pid, to = %dest.node, "guest to be passed on");
                let auto = AutoTerms {
                    demand: mv.offer.demand,
                    rate_here: mv.offer.rate_here,
                };
                self.mgr.registry.suggest(mv.pid as i32, dest, auto);
                self.sent.push((mv.to, Instant::now()));
                return;
            }
        }
        let why = match mv.reason {
            Reason::Expel => format!("{} expels its guests", self.mgr.node),
            Reason::Memory => format!("{} is short of memory", self.mgr.node),
            Reason::Home => "home is the better place now".to_owned(),
            Reason::Balance => "another node is the better place; home places it".to_owned(),
        };
        tracing::info!(local = mv.pid, reason = ?mv.reason, "guest goes home: {why}");
        self.mgr.registry.send_home(mv.pid as i32, why);
    }

    /// A process at home goes to the proposed node, or to a fallback if that one refuses.
    fn home_move(&mut self, mv: &Move, nodes: &[NodeInfo]) {
        let pid = mv.pid as i32;
        let auto = AutoTerms {
            demand: mv.offer.demand,
            rate_here: mv.offer.rate_here,
        };
        for to in std::iter::once(mv.to).chain(mv.also.iter().copied()) {
            let Some(dest) = self.dest(to, nodes) else {
                continue;
            };
            if self.mgr.registry.is_locked(pid) {
                return; // locked since the decision
            }
            let node = dest.node.clone();
            let (tx, rx) = oneshot::channel();
            if home::start(self.mgr.clone(), pid, dest, Some(auto), tx).is_err() {
                return;
            }
            let outcome = wait(rx, MOVE_WAIT);
            match outcome {
                Some(Ok(r)) => {
                    tracing::info!(
                        pid,
                        to = %node,
                        reason = ?mv.reason,
                        frozen_ms = r.frozen_ms,
                        "balanced"
                    );
                    self.last_cpu.remove(&pid);
                    self.sent.push((to, Instant::now()));
                    return;
                }
                Some(Err(e)) if e.code == ErrorCode::MigrationFailed => {
                    tracing::debug!(pid, to = %node, "not moved: {}", e.message);
                }
                Some(Err(e)) => {
                    tracing::debug!(pid, to = %node, "stays: {}", e.message);
                    return;
                }
                None => return,
            }
        }
    }

    fn dest(&self, to: NodeRef, nodes: &[NodeInfo]) -> Option<Dest> {
        if to == SELF_REF {
            return None;
        }
        let name = self.refs.iter().find(|(_, r)| **r == to)?.0;
        let n = nodes.iter().find(|n| &n.name == name)?;
        Some(Dest {
            node: n.name.clone(),
            addr: n.addr.parse().ok()?,
        })
    }
}
