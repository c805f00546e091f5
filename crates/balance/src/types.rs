//! The policy's inputs (a node's view of itself, its processes, its peers)
//! and outputs (moves, and what a target is told about an incoming process).

use wend_cluster::LocalLoad;

/// A node as the policy names it. The daemon assigns these (for example an
/// index into its member table); the policy only compares them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeRef(pub u32);

/// One node's load vector as the policy reads it: the published
/// [`LocalLoad`] plus whether the node is leaving or expelling.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeState {
    /// Which node.
    pub id: NodeRef,
    /// Online CPUs (at least 1 is assumed).
    pub cpus: u16,
    /// CPU speed relative to the yardstick (1.0 = yardstick CPU).
    pub speed: f64,
    /// Runnable processes divided by speed (yardstick units), smoothed as
    /// the cluster publishes it. For the node's own view the daemon passes
    /// the larger of that and its current run-queue over speed.
    pub load: f64,
    /// Free memory in bytes (0 together with `mem_total` 0: unknown).
    pub mem_free: u64,
    /// Total memory in bytes (0: unknown, memory is then not considered).
    pub mem_total: u64,
    /// Guest processes the node runs for others.
    pub guests: u16,
    /// Whether the node takes new guests (`wend block` clears it).
    pub accepting: bool,
    /// The node is leaving the cluster or its owner ran `wend expel`: all
    /// its guests must go.
    pub expelling: bool,
}

impl NodeState {
    /// The policy's view of a published load vector.
    pub fn from_load(id: NodeRef, load: &LocalLoad, leaving: bool) -> Self {
        Self {
            id,
            cpus: load.cpus,
            speed: load.speed,
            load: load.load,
            mem_free: load.mem_free,
            mem_total: load.mem_total,
            guests: load.guests,
            accepting: load.accepting && !leaving,
            expelling: leaving,
        }
    }

    /// An idle, accepting node with unknown memory (handy in tests).
    pub fn idle(id: NodeRef, speed: f64) -> Self {
        Self {
            id,
            cpus: 1,
            speed,
            load: 0.0,
            mem_free: 0,
            mem_total: 0,
            guests: 0,
            accepting: true,
            expelling: false,
        }
    }

    /// Speed, with a non-positive or non-finite value counted as 1.
    pub fn speed(&self) -> f64 {
        if self.speed.is_finite() && self.speed > 0.0 {
            self.speed
        } else {
            1.0
        }
    }

    /// Runnable processes implied by the published load.
    pub fn runnable(&self) -> f64 {
        if self.load.is_finite() && self.load > 0.0 {
            self.load * self.speed()
        } else {
            0.0
        }
    }

    /// CPUs, at least 1.
    pub fn cpus(&self) -> f64 {
        f64::from(self.cpus.max(1))
    }

    /// Whether memory figures are known.
    pub fn knows_memory(&self) -> bool {
        self.mem_total > 0
    }
}

/// The peers' (stale, gossiped) load vectors, sorted by [`NodeRef`] so a
/// guest's home is found in O(log N).
#[derive(Debug, Clone, Default)]
pub struct Peers {
    nodes: Vec<NodeState>,
}

impl Peers {
    /// Takes the vectors in any order (sorted here; on duplicate ids the
    /// first in the given order wins).
    pub fn new(mut nodes: Vec<NodeState>) -> Self {
        if !nodes.windows(2).all(|w| w[0].id < w[1].id) {
            nodes.sort_by_key(|n| n.id);
            nodes.dedup_by_key(|n| n.id);
        }
        Self { nodes }
    }

    /// All vectors, sorted by id.
    pub fn as_slice(&self) -> &[NodeState] {
        &self.nodes
    }

    /// Number of vectors.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The vector of `id`, if known.
    pub fn get(&self, id: NodeRef) -> Option<&NodeState> {
        self.nodes
            .binary_search_by_key(&id, |n| n.id)
            .ok()
            .map(|i| &self.nodes[i])
    }
}

/// Why a process may not move. The daemon knows many stay reasons (`wend ps`
/// names them); the policy only needs to know that one applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stay {
    /// `wend run --lock` or `wend lock PID`.
    Locked,
    /// Something the process uses cannot be migrated.
    Reason,
}

/// A local process the balancer may move.
#[derive(Debug, Clone, PartialEq)]
pub struct Proc {
    /// Its pid on this node.
    pub pid: u32,
    /// Share of one CPU it used over the last sampling period (0 to 1).
    pub cpu: f64,
    /// Work done so far in yardstick CPU-seconds (CPU time times the speed
    /// of each node it ran on): the base of the remaining-time estimate.
    pub work: f64,
    /// Wall-clock seconds since it started.
    pub age: f64,
    /// Bytes a move has to transfer.
    pub mem: u64,
    /// Its home node, `None` when this node is home.
    pub home: Option<NodeRef>,
    /// Migrations so far.
    pub migrations: u32,
    /// Seconds since it last arrived on a node by migration (`None`: never).
    pub since_move: Option<f64>,
    /// A reason to stay, if any; such a process never moves.
    pub stay: Option<Stay>,
}

impl Proc {
    /// A CPU-bound local process that has run `work` yardstick-seconds on a
    /// yardstick CPU (handy in tests).
    pub fn busy(pid: u32, work: f64, mem: u64) -> Self {
        Self {
            pid,
            cpu: 1.0,
            work,
            age: work,
            mem,
            home: None,
            migrations: 0,
            since_move: None,
            stay: None,
        }
    }

    /// Whether this process is a guest here.
    pub fn is_guest(&self) -> bool {
        self.home.is_some()
    }
}

/// Why a move is proposed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The process runs clearly faster there (load, speed), net of the cost.
    Balance,
    /// A guest goes home because home became the better place.
    Home,
    /// This node is short of free memory.
    Memory,
    /// This node expels its guests (`wend expel`, or its daemon stops).
    Expel,
}

impl Reason {
    /// Whether the move is forced (the sender does not want the process
    /// whatever the gain).
    pub fn is_forced(self) -> bool {
        matches!(self, Reason::Memory | Reason::Expel)
    }
}

/// What the target's [`crate::admit`] is told about an incoming process.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// The sending node.
    pub from: NodeRef,
    /// The process's home.
    pub home: NodeRef,
    /// Why it moves.
    pub reason: Reason,
    /// Bytes to transfer (and to hold at the target).
    pub mem: u64,
    /// CPUs' worth it wants (1.0 for a CPU-bound single thread).
    pub demand: f64,
    /// Rate it is worth at the sender, in yardstick CPU-seconds per second:
    /// its rate there, times [`crate::Params::shared`] when it shares its
    /// CPU (its leaving speeds up its co-runners); 0 for a forced move. The
    /// target must beat it.
    pub rate_here: f64,
}

/// One proposed migration.
#[derive(Debug, Clone, PartialEq)]
pub struct Move {
    /// Local pid of the process.
    pub pid: u32,
    /// Where to.
    pub to: NodeRef,
    /// Where else, best first, if `to` refuses: targets that also meet the
    /// sender's criteria (at most [`crate::Params::fallbacks`]).
    pub also: Vec<NodeRef>,
    /// Why.
    pub reason: Reason,
    /// What to hand to the target's admission check.
    pub offer: Offer,
}
