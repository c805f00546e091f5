//! The event loop for the strategies that place jobs on real (simulated)
//! nodes: the balancer, no migration and random placement.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use wend_cluster::{normalise_load, LoadSmoother};

use super::stats::{Recorder, SimReport};
use super::workload::{speeds, Arrivals, JobSpec};
use super::{SimConfig, Strategy};
use crate::admit::{admit, Admission, Pending};
use crate::decide::decide;
use crate::params::Params;
use crate::types::{NodeRef, NodeState, Peers, Proc, Reason};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Arrival,
    Done { node: u32, version: u32 },
    Tick(u32),
    Freeze { job: u32, generation: u32 },
    Land { job: u32, to: u32 },
    Publish,
}

struct Event {
    t: f64,
    seq: u64,
    kind: Kind,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Event {}
impl PartialOrd for Event {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Event {
    // Reversed: the heap pops the earliest event, ties in insertion order.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .t
            .total_cmp(&self.t)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// A node sharing its one CPU equally among its jobs. `attained` is the
/// work each resident job has received since the node started; a resident
/// job finishes when it reaches the job's `mark`.
struct Node {
    speed: f64,
    jobs: Vec<u32>,
    attained: f64,
    updated: f64,
    version: u32,
    smoother: LoadSmoother,
    pending: Pending,
    mem_used: u64,
    guests: u16,
}

impl Node {
    fn rate(&self) -> f64 {
        self.speed / (self.jobs.len().max(1) as f64)
    }

    fn advance(&mut self, t: f64) {
        if !self.jobs.is_empty() {
            self.attained += (t - self.updated) * self.rate();
        }
        self.updated = t;
    }
}

struct Job {
    spec: JobSpec,
    /// Attained mark at which it finishes while resident; remaining work
    /// while it moves.
    mark: f64,
    migrations: u32,
    last_arrive: Option<f64>,
    /// When its first move was admitted.
    first_move: Option<f64>,
    measured: bool,
    live: bool,
    /// Slot generation, so a stale event never touches a reused slot.
    generation: u32,
    /// Target while its memory is copied (still running here).
    copying_to: Option<u32>,
    /// Node it runs on (while resident).
    at: u32,
}

struct World<'a> {
    config: &'a SimConfig,
    params: Option<&'a Params>,
    nodes: Vec<Node>,
    jobs: Vec<Job>,
    free_slots: Vec<u32>,
    heap: BinaryHeap<Event>,
    seq: u64,
    rec: Recorder,
    fastest: f64,
    outstanding: u64,
    tables: VecDeque<(f64, Peers)>,
    occupancy: [[u64; 4]; 4],
    rng: Xoshiro256PlusPlus,
}

impl World<'_> {
    fn push(&mut self, t: f64, kind: Kind) {
        self.seq += 1;
        self.heap.push(Event {
            t,
            seq: self.seq,
            kind,
        });
    }

    /// Re-plans node `i`'s next completion (call after `advance`).
    fn reschedule(&mut self, i: u32, t: f64) {
        let node = &mut self.nodes[i as usize];
        node.version = node.version.wrapping_add(1);
        let next = node
            .jobs
            .iter()
            .map(|&j| self.jobs[j as usize].mark)
            .fold(f64::INFINITY, f64::min);
        if next.is_finite() {
            let dt = ((next - node.attained) / node.rate()).max(0.0);
            let version = node.version;
            self.push(t + dt, Kind::Done { node: i, version });
        }
    }

    fn attach(&mut self, i: u32, j: u32, remaining: f64, t: f64) {
        let node = &mut self.nodes[i as usize];
        node.advance(t);
        node.jobs.push(j);
        node.mem_used += self.jobs[j as usize].spec.mem;
        if self.jobs[j as usize].spec.home != i {
            node.guests += 1;
        }
        self.jobs[j as usize].mark = node.attained + remaining;
        self.jobs[j as usize].at = i;
        self.reschedule(i, t);
    }

    /// Takes job `j` off node `i` (already advanced); returns its remaining work.
    fn detach(&mut self, i: u32, j: u32) -> f64 {
        let node = &mut self.nodes[i as usize];
        node.jobs.retain(|&x| x != j);
        let job = &self.jobs[j as usize];
        node.mem_used -= job.spec.mem;
        if job.spec.home != i {
            node.guests -= 1;
        }
        (job.mark - node.attained).max(0.0)
    }

    fn new_job(&mut self, spec: JobSpec) -> u32 {
        let lo = self.config.warmup;
        let mut job = Job {
            spec,
            mark: 0.0,
            migrations: 0,
            last_arrive: None,
            first_move: None,
            measured: spec.arrival >= lo && spec.arrival < lo + self.config.duration,
            live: true,
            generation: 0,
            copying_to: None,
            at: spec.home,
        };
        if job.measured {
            self.outstanding += 1;
        }
        match self.free_slots.pop() {
            Some(j) => {
                job.generation = self.jobs[j as usize].generation.wrapping_add(1);
                self.jobs[j as usize] = job;
                j
            }
            None => {
                self.jobs.push(job);
                (self.jobs.len() - 1) as u32
            }
        }
    }

    fn done(&mut self, i: u32, t: f64) {
        let node = &mut self.nodes[i as usize];
        node.advance(t);
        let eps = 1e-9 * node.attained.max(1.0);
        let finished: Vec<u32> = node
            .jobs
            .iter()
            .copied()
            .filter(|&j| self.jobs[j as usize].mark <= node.attained + eps)
            .collect();
        for j in finished {
            self.detach(i, j);
            if let Some(to) = self.jobs[j as usize].copying_to.take() {
                // Finished during the copy: the move is dropped.
                let mem = self.jobs[j as usize].spec.mem;
                let p = &mut self.nodes[to as usize].pending;
                p.count -= 1;
                p.mem -= mem;
            }
            let job = &self.jobs[j as usize];
            if job.measured {
                let ideal = job.spec.work / self.fastest;
                let (resp, migrations) = (t - job.spec.arrival, job.migrations);
                self.rec.job(job.spec.work, resp, ideal, migrations, true);
                self.rec
                    .first_move(job.first_move.map(|f| f - job.spec.arrival), resp / ideal);
                self.outstanding -= 1;
            }
            self.jobs[j as usize].live = false;
            self.free_slots.push(j);
        }
        self.reschedule(i, t);
    }

    fn state(&self, i: u32, load: f64) -> NodeState {
        let node = &self.nodes[i as usize];
        NodeState {
            id: NodeRef(i),
            cpus: 1,
            speed: node.speed,
            load: normalise_load(load, node.speed),
            mem_free: self.config.node_mem.saturating_sub(node.mem_used),
            mem_total: self.config.node_mem,
            guests: node.guests,
            accepting: true,
            expelling: false,
        }
    }

    /// The node's own, fresh view.
    fn fresh(&self, i: u32) -> NodeState {
        let node = &self.nodes[i as usize];
        self.state(i, node.smoother.value().max(node.jobs.len() as f64))
    }

    fn publish(&mut self, t: f64) {
        let (lo, hi) = (
            self.config.warmup,
            self.config.warmup + self.config.duration,
        );
        if t >= lo && t < hi {
            let (min, span) = (
                self.config.speed_min,
                self.config.speed_max - self.config.speed_min,
            );
            for node in &self.nodes {
                let q = if span > 0.0 {
                    ((node.speed - min) / span * 4.0) as usize
                } else {
                    0
                };
                self.occupancy[q.min(3)][node.jobs.len().min(3)] += 1;
            }
        }
        let mut table = Vec::with_capacity(self.nodes.len());
        for i in 0..self.nodes.len() {
            let n = self.nodes[i].jobs.len() as f64;
            let smoothed = self.nodes[i].smoother.update(n);
            table.push(self.state(i as u32, smoothed));
        }
        let keep = (self.config.gossip_max / self.config.period).ceil() as usize + 2;
        if self.tables.len() >= keep {
            self.tables.pop_front();
        }
        self.tables.push_back((t, Peers::new(table)));
    }

    /// Index of the table a decision at `t` sees, `gossip_min..gossip_max` old.
    fn view(&mut self, t: f64) -> usize {
        let (lo, hi) = (self.config.gossip_min, self.config.gossip_max);
        let delay = if hi > lo {
            self.rng.random_range(lo..hi)
        } else {
            lo
        };
        let seen = t - delay;
        self.tables
            .iter()
            .rposition(|(at, _)| *at <= seen)
            .unwrap_or(0)
    }

    fn tick(&mut self, i: u32, t: f64, params: &Params) {
        if self.nodes[i as usize].jobs.is_empty() || self.tables.is_empty() {
            return;
        }
        self.nodes[i as usize].advance(t);
        let node = &self.nodes[i as usize];
        let share = 1.0 / node.jobs.len() as f64;
        let procs: Vec<Proc> = node
            .jobs
            .iter()
            .filter(|&&j| self.jobs[j as usize].copying_to.is_none())
            .map(|&j| {
                let job = &self.jobs[j as usize];
                Proc {
                    pid: j,
                    cpu: share,
                    work: job.spec.work - (job.mark - node.attained).max(0.0),
                    age: t - job.spec.arrival,
                    mem: job.spec.mem,
                    home: (job.spec.home != i).then_some(NodeRef(job.spec.home)),
                    migrations: job.migrations,
                    since_move: job.last_arrive.map(|a| t - a),
                    stay: None,
                }
            })
            .collect();
        let local = self.fresh(i);
        let v = self.view(t);
        let moves = decide(&local, &procs, &self.tables[v].1, params, &mut self.rng);
        let mut moved = false;
        for m in moves {
            let targets = std::iter::once(m.to).chain(m.also.iter().copied());
            let mut to = None;
            for t in targets {
                let k = t.0;
                if k == i || k as usize >= self.nodes.len() {
                    continue;
                }
                let target = self.fresh(k);
                match admit(&target, &m.offer, &self.nodes[k as usize].pending, params) {
                    Admission::Refuse(_) => self.rec.refused += 1,
                    Admission::Accept => {
                        to = Some(k);
                        break;
                    }
                }
            }
            let Some(to) = to else { continue };
            let j = m.pid;
            let mem = self.jobs[j as usize].spec.mem;
            let p = &mut self.nodes[to as usize].pending;
            p.count += 1;
            p.mem += mem;
            self.rec.moves[reason_index(m.reason)] += 1;
            self.jobs[j as usize].copying_to = Some(to);
            self.jobs[j as usize].first_move.get_or_insert(t);
            let copy = self.config.transfer.copy_running(mem);
            if copy > 0.0 {
                let generation = self.jobs[j as usize].generation;
                self.push(t + copy, Kind::Freeze { job: j, generation });
            } else {
                self.freeze(i, j, t);
                moved = true;
            }
        }
        if moved {
            self.reschedule(i, t);
        }
    }

    /// The copy is done (or there is none): the job stops on node `i` and
    /// lands on its target after the frozen time.
    fn freeze(&mut self, i: u32, j: u32, t: f64) {
        let remaining = self.detach(i, j);
        let job = &mut self.jobs[j as usize];
        let to = job.copying_to.take().unwrap_or(i);
        job.mark = remaining;
        let frozen = self.config.transfer.frozen(job.spec.mem);
        self.push(t + frozen, Kind::Land { job: j, to });
    }

    fn land(&mut self, j: u32, to: u32, t: f64) {
        let mem = self.jobs[j as usize].spec.mem;
        let p = &mut self.nodes[to as usize].pending;
        p.count -= 1;
        p.mem -= mem;
        let job = &mut self.jobs[j as usize];
        job.migrations += 1;
        job.last_arrive = Some(t);
        let remaining = job.mark;
        self.attach(to, j, remaining, t);
    }
}

fn reason_index(r: Reason) -> usize {
    match r {
        Reason::Balance => 0,
        Reason::Home => 1,
        Reason::Memory => 2,
        Reason::Expel => 3,
    }
}

/// Runs a placement strategy (not [`Strategy::Ideal`]).
pub(super) fn run(config: &SimConfig, strategy: &Strategy) -> SimReport {
    let speeds = speeds(config);
    let capacity: f64 = speeds.iter().sum();
    let fastest = speeds.iter().copied().fold(0.0, f64::max);
    let params = match strategy {
        Strategy::Balance(p) => Some(p),
        _ => None,
    };
    let mut world = World {
        config,
        params,
        nodes: speeds
            .iter()
            .map(|&speed| Node {
                speed,
                jobs: Vec::new(),
                attained: 0.0,
                updated: 0.0,
                version: 0,
                smoother: LoadSmoother::new(),
                pending: Pending::default(),
                mem_used: 0,
                guests: 0,
            })
            .collect(),
        jobs: Vec::new(),
        free_slots: Vec::new(),
        heap: BinaryHeap::new(),
        seq: 0,
        rec: Recorder::default(),
        fastest,
        outstanding: 0,
        tables: VecDeque::new(),
        occupancy: [[0; 4]; 4],
        rng: Xoshiro256PlusPlus::seed_from_u64(config.seed ^ 0xdec1_de00),
    };
    let mut place_rng = Xoshiro256PlusPlus::seed_from_u64(config.seed ^ 0x91ace);
    let cumulative: Vec<f64> = speeds
        .iter()
        .scan(0.0, |acc, s| {
            *acc += s;
            Some(*acc)
        })
        .collect();
    let mut arrivals = Arrivals::new(config, capacity);
    let first = arrivals.next_job();
    world.push(first.arrival, Kind::Arrival);
    let mut next_spec = first;
    world.push(0.0, Kind::Publish);
    if world.params.is_some() {
        for i in 0..config.nodes as u32 {
            let phase = world.rng.random_range(0.0..config.period);
            world.push(phase, Kind::Tick(i));
        }
    }
    let measured_end = config.warmup + config.duration;
    let cap = measured_end + config.drain_cap;
    let mut events = 0u64;
    let mut now = 0.0;
    while let Some(ev) = world.heap.pop() {
        now = ev.t;
        if now >= measured_end && world.outstanding == 0 {
            break;
        }
        if now > cap {
            break;
        }
        events += 1;
        match ev.kind {
            Kind::Arrival => {
                let spec = next_spec;
                next_spec = arrivals.next_job();
                world.push(next_spec.arrival, Kind::Arrival);
                let node = match strategy {
                    Strategy::RandomPlacement => {
                        let u = place_rng.random_range(0.0..capacity);
                        cumulative.partition_point(|&c| c < u).min(config.nodes - 1) as u32
                    }
                    _ => spec.home,
                };
                let j = world.new_job(spec);
                world.attach(node, j, spec.work, now);
            }
            Kind::Done { node, version } => {
                if world.nodes[node as usize].version == version {
                    world.done(node, now);
                }
            }
            Kind::Tick(i) => {
                world.push(now + config.period, Kind::Tick(i));
                if let Some(p) = world.params {
                    world.tick(i, now, p);
                }
            }
            Kind::Freeze { job, generation } => {
                let live = &world.jobs[job as usize];
                if live.live && live.generation == generation && live.copying_to.is_some() {
                    let at = live.at;
                    world.nodes[at as usize].advance(now);
                    world.freeze(at, job, now);
                    world.reschedule(at, now);
                }
            }
            Kind::Land { job, to } => world.land(job, to, now),
            Kind::Publish => {
                world.publish(now);
                world.push(now + config.period, Kind::Publish);
            }
        }
    }
    // Measured jobs still running count as finishing now.
    for job in world.jobs.iter().filter(|j| j.measured && j.live) {
        let (resp, ideal) = (now - job.spec.arrival, job.spec.work / fastest);
        world
            .rec
            .job(job.spec.work, resp, ideal, job.migrations, false);
    }
    let mut report = world.rec.report(strategy.name(), config.nodes);
    report.occupancy = world.occupancy.map(|row| {
        let total = row.iter().sum::<u64>().max(1) as f64;
        row.map(|c| c as f64 / total)
    });
    report.sim_time = now;
    report.events = events;
    report
}
