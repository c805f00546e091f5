//! A deterministic simulator: many [`ClusterNode`]s on an in-memory network
//! with a simulated clock, seeded randomness, latency, packet loss,
//! partitions, crashes, graceful leaves and restarts.
//!
//! The same seed gives the same run. Nodes get addresses `10.a.b.c:7946`
//! from their index ([`Simulator::addr_of_index`]).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};

use crate::book::AddrBook;
use crate::config::ClusterConfig;
use crate::key::ClusterKey;
use crate::load::LocalLoad;
use crate::node::ClusterNode;
use crate::view::{ClusterEvent, NodeStats};

/// Network behaviour of a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of every random choice (network and nodes).
    pub seed: u64,
    /// Smallest one-way latency.
    pub latency_min: Duration,
    /// Largest one-way latency.
    pub latency_max: Duration,
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Keep every node's events (tests); off for large benchmarks.
    pub record_events: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            latency_min: Duration::from_micros(200),
            latency_max: Duration::from_millis(5),
            loss: 0.0,
            record_events: true,
        }
    }
}

enum Ev {
    Deliver {
        to: usize,
        from: SocketAddr,
        bytes: Vec<u8>,
    },
    Wake(usize),
}

/// One simulated machine slot.
pub struct SimNode {
    /// Its address (stays the same across restarts).
    pub addr: SocketAddr,
    /// The running node; `None` while crashed or after leaving.
    pub node: Option<ClusterNode>,
    /// Events with the simulated time they were drained at.
    pub events: Vec<(Duration, ClusterEvent)>,
    /// Counters of previous runs of this slot (before restarts).
    pub past_stats: NodeStats,
    wake: Option<Duration>,
}

/// The simulator.
pub struct Simulator {
    config: SimConfig,
    rng: StdRng,
    now: Duration,
    seq: u64,
    queue: BinaryHeap<Reverse<(Duration, u64)>>,
    pending: HashMap<u64, Ev>,
    nodes: Vec<SimNode>,
    by_addr: HashMap<SocketAddr, usize>,
    group: Vec<u32>,
    book: AddrBook,
    /// Datagrams delivered.
    pub delivered: u64,
    /// Datagrams lost (loss, partition, no such node).
    pub dropped: u64,
    /// Datagrams a node refused.
    pub refused: u64,
}

impl Simulator {
    /// An empty network.
    pub fn new(config: SimConfig) -> Self {
        Self {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            now: Duration::ZERO,
            seq: 0,
            queue: BinaryHeap::new(),
            pending: HashMap::new(),
            nodes: Vec::new(),
            by_addr: HashMap::new(),
            group: Vec::new(),
            book: AddrBook::new(),
            delivered: 0,
            dropped: 0,
            refused: 0,
        }
    }

    /// The address the node at `index` gets.
    pub fn addr_of_index(index: usize) -> SocketAddr {
        let i = index as u32 + 1;
        SocketAddr::from((
            Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8),
            7946,
        ))
    }

    /// A default node configuration for slot `index` of a cluster of `size`.
    pub fn default_node_config(index: usize, size: usize) -> ClusterConfig {
        let mut c = ClusterConfig::new(format!("node{}", index + 1), Self::addr_of_index(index), 1);
        c.expected_size = size as u32;
        c
    }

    /// Current simulated time.
    pub fn now(&self) -> Duration {
        self.now
    }

    /// Number of slots.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are no slots.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Slot `i`.
    pub fn slot(&self, i: usize) -> &SimNode {
        &self.nodes[i]
    }

    /// The running node in slot `i`.
    pub fn node(&self, i: usize) -> Option<&ClusterNode> {
        self.nodes[i].node.as_ref()
    }

    /// Adds a running node with `config` (its address must be unused) and
    /// `key`; returns its slot.
    pub fn add_node(&mut self, config: ClusterConfig, key: &ClusterKey) -> usize {
        let i = self.nodes.len();
        let addr = config.addr;
        let node = ClusterNode::new_seeded_in(config, key, self.rng.next_u64(), &self.book)
            .expect("valid simulator node config");
        self.nodes.push(SimNode {
            addr,
            node: Some(node),
            events: Vec::new(),
            past_stats: NodeStats::default(),
            wake: None,
        });
        self.by_addr.insert(addr, i);
        self.group.push(0);
        self.after_interaction(i);
        i
    }

    /// Runs `f` on the node in slot `i` (if running) at the current time,
    /// then sends what it produced.
    pub fn with_node<R>(
        &mut self,
        i: usize,
        f: impl FnOnce(&mut ClusterNode, Duration) -> R,
    ) -> Option<R> {
        let now = self.now;
        let r = self.nodes[i].node.as_mut().map(|n| f(n, now));
        self.after_interaction(i);
        r
    }

    /// Makes slot `i` join through the node at slot `seed`.
    pub fn join(&mut self, i: usize, seed: usize) {
        let seed_addr = self.nodes[seed].addr;
        self.with_node(i, |n, now| n.join(seed_addr, now).ok());
    }

    /// Sets the local load of slot `i`.
    pub fn set_load(&mut self, i: usize, load: LocalLoad) {
        self.with_node(i, |n, now| n.set_local_load(load, now));
    }

    /// Crashes slot `i`: the node vanishes without a word.
    pub fn crash(&mut self, i: usize) {
        if let Some(n) = self.nodes[i].node.take() {
            add_stats(&mut self.nodes[i].past_stats, n.stats());
        }
        self.nodes[i].wake = None;
    }

    /// Stops slot `i` gracefully (leave, send the goodbyes, then vanish).
    pub fn leave(&mut self, i: usize) {
        self.with_node(i, |n, now| n.leave(now));
        self.crash(i);
    }

    /// Starts a fresh node in slot `i` (after a crash or leave) with `config`.
    pub fn restart(&mut self, i: usize, config: ClusterConfig, key: &ClusterKey) {
        self.crash(i);
        let node = ClusterNode::new_seeded_in(config, key, self.rng.next_u64(), &self.book)
            .expect("valid simulator node config");
        self.nodes[i].node = Some(node);
        self.after_interaction(i);
    }

    /// Puts each slot in a partition group; datagrams cross no group border.
    pub fn partition(&mut self, groups: &[u32]) {
        for (g, v) in self.group.iter_mut().zip(groups) {
            *g = *v;
        }
    }

    /// Removes every partition.
    pub fn heal(&mut self) {
        self.group.iter_mut().for_each(|g| *g = 0);
    }

    /// Changes the loss probability.
    pub fn set_loss(&mut self, loss: f64) {
        self.config.loss = loss;
    }

    /// Runs the simulation until time `t`.
    pub fn run_until(&mut self, t: Duration) {
        while let Some(Reverse((at, seq))) = self.queue.peek().copied() {
            if at > t {
                break;
            }
            self.queue.pop();
            self.now = at;
            let Some(ev) = self.pending.remove(&seq) else {
                continue;
            };
            match ev {
                Ev::Deliver { to, from, bytes } => {
                    let now = self.now;
                    let Some(node) = self.nodes[to].node.as_mut() else {
                        self.dropped += 1;
                        continue;
                    };
                    self.delivered += 1;
                    if node.handle_datagram(from, &bytes, now).is_err() {
                        self.refused += 1;
                    }
                    self.after_interaction(to);
                }
                Ev::Wake(i) => {
                    if self.nodes[i].wake != Some(at) {
                        continue;
                    }
                    self.nodes[i].wake = None;
                    let now = self.now;
                    if let Some(n) = self.nodes[i].node.as_mut() {
                        n.tick(now);
                    }
                    self.after_interaction(i);
                }
            }
        }
        self.now = self.now.max(t);
    }

    /// Runs for `d` of simulated time.
    pub fn run_for(&mut self, d: Duration) {
        let t = self.now + d;
        self.run_until(t);
    }

    /// Runs in steps of `step` until `done` holds or `limit` passes; returns
    /// the time it first held (checked after each step).
    pub fn run_until_cond(
        &mut self,
        limit: Duration,
        step: Duration,
        mut done: impl FnMut(&Simulator) -> bool,
    ) -> Option<Duration> {
        loop {
            if done(self) {
                return Some(self.now);
            }
            if self.now >= limit {
                return None;
            }
            let t = (self.now + step).min(limit);
            self.run_until(t);
        }
    }

    /// Counters of slot `i` over all its runs.
    pub fn total_stats(&self, i: usize) -> NodeStats {
        let mut s = self.nodes[i].past_stats;
        if let Some(n) = &self.nodes[i].node {
            add_stats(&mut s, n.stats());
        }
        s
    }

    fn push(&mut self, at: Duration, ev: Ev) {
        let seq = self.seq;
        self.seq += 1;
        self.queue.push(Reverse((at, seq)));
        self.pending.insert(seq, ev);
    }

    fn after_interaction(&mut self, i: usize) {
        let now = self.now;
        let Some(node) = self.nodes[i].node.as_mut() else {
            return;
        };
        let out = node.drain_outgoing();
        let events = node.drain_events();
        let deadline = node.next_deadline();
        if self.config.record_events {
            self.nodes[i]
                .events
                .extend(events.into_iter().map(|e| (now, e)));
        }
        let from = self.nodes[i].addr;
        for (to, bytes) in out {
            let Some(&j) = self.by_addr.get(&to) else {
                self.dropped += 1;
                continue;
            };
            if self.group[i] != self.group[j]
                || (self.config.loss > 0.0 && self.rng.random_bool(self.config.loss))
            {
                self.dropped += 1;
                continue;
            }
            let lo = self.config.latency_min.as_nanos() as u64;
            let hi = self.config.latency_max.as_nanos().max(lo as u128 + 1) as u64;
            let lat = Duration::from_nanos(self.rng.random_range(lo..hi));
            self.push(now + lat, Ev::Deliver { to: j, from, bytes });
        }
        if let Some(d) = deadline {
            let d = d.max(now);
            if self.nodes[i].wake.is_none_or(|w| d < w) {
                self.nodes[i].wake = Some(d);
                self.push(d, Ev::Wake(i));
            }
        }
    }
}

fn add_stats(a: &mut NodeStats, b: NodeStats) {
    a.datagrams_sent += b.datagrams_sent;
    a.bytes_sent += b.bytes_sent;
    a.membership_bytes_sent += b.membership_bytes_sent;
    a.rumour_bytes_sent += b.rumour_bytes_sent;
    a.datagrams_received += b.datagrams_received;
    a.bytes_received += b.bytes_received;
    a.rejected += b.rejected;
    a.vectors_received += b.vectors_received;
    a.vectors_merged += b.vectors_merged;
}
