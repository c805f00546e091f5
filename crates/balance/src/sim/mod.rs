//! A discrete-event simulator of a cluster balanced by [`crate::decide`] and
//! [`crate::admit`] (the very functions the daemon calls).
//!
//! The model:
//! - `nodes` single-CPU nodes with speeds uniform in `speed_min..=speed_max`;
//!   each shares its CPU equally among its jobs (processor sharing);
//! - Poisson arrivals, each on a uniformly random home node, of jobs whose
//!   work (yardstick CPU-seconds) is bounded-Pareto (heavy-tailed: mostly
//!   short, a few very long) and whose memory is log-uniform; the arrival
//!   rate makes the offered work `utilisation` times the total capacity;
//! - every node publishes its load vector once a `period` (run-queue smoothed
//!   with the cluster's [`wend_cluster::smooth_load`], divided by speed), and
//!   a deciding node sees each published table `gossip_min..gossip_max`
//!   seconds late;
//! - every node decides once a `period` at its own phase; each proposed move
//!   is put to the target's `admit` with the target's fresh state and its
//!   pending arrivals; an admitted process moves as [`Transfer`] says: by
//!   default live (it runs at the source while `mem / bandwidth` seconds of
//!   copying pass, then is frozen `overhead + 0.4 s per GiB`), or
//!   stop-and-copy (frozen `overhead + mem / bandwidth`); a process that
//!   finishes during the copy simply finishes.
//!
//! Slowdown of a job: its response time over its work run alone on the
//! fastest CPU (`work / max speed`), so 1 is the best any job can do. Jobs
//! arriving in `[warmup, warmup + duration)` are measured; arrivals go on
//! until they all finish (or `drain_cap` seconds later, when the rest are
//! counted as finishing then).
//!
//! Strategies on the same cluster and job stream: the balancer with given
//! [`Params`], no migration (jobs run at home), random placement at arrival
//! (a node drawn with probability proportional to its speed, no migration
//! cost), and the ideal pooled cluster used as the lower bound: at every
//! instant the jobs present share the total capacity equally (the top `n`
//! speeds when `n` jobs are fewer than the nodes), none faster than the
//! fastest CPU; "total work over total capacity" applied at each instant,
//! with free and instant migration and perfect information.

mod engine;
mod ideal;
mod stats;
pub mod workload;

use thiserror::Error;

use crate::params::{Params, ParamsError, Transfer};
pub use stats::SimReport;

/// The simulated cluster and workload.
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// Nodes (default 1,000).
    pub nodes: usize,
    /// Seed of every random draw (default 1).
    pub seed: u64,
    /// Offered work over total capacity (default 0.7).
    pub utilisation: f64,
    /// Slowest node speed (default 0.5).
    pub speed_min: f64,
    /// Fastest node speed (default 2.0).
    pub speed_max: f64,
    /// Shortest job, yardstick CPU-seconds (default 10).
    pub work_min: f64,
    /// Longest job (default 3,600).
    pub work_max: f64,
    /// Pareto shape of job work (default 1.0: `P(W > w) ~ 1/w`).
    pub work_alpha: f64,
    /// Smallest job memory in bytes (default 8 MiB).
    pub mem_min: u64,
    /// Largest job memory (default 512 MiB).
    pub mem_max: u64,
    /// Memory of every node (default 16 GiB).
    pub node_mem: u64,
    /// What migrations cost (default: live, gigabit ethernet, 0.4 s frozen
    /// per GiB).
    pub transfer: Transfer,
    /// Seconds between load publications and between decisions (default 1).
    pub period: f64,
    /// Least age of the load table a decision sees (default 1 s).
    pub gossip_min: f64,
    /// Greatest age (default 2 s).
    pub gossip_max: f64,
    /// Seconds before measured arrivals start (default 200).
    pub warmup: f64,
    /// Seconds of measured arrivals (default 600).
    pub duration: f64,
    /// Seconds after the measured arrivals after which unfinished jobs
    /// count as finishing (default 4,000).
    pub drain_cap: f64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            nodes: 1000,
            seed: 1,
            utilisation: 0.7,
            speed_min: 0.5,
            speed_max: 2.0,
            work_min: 10.0,
            work_max: 3600.0,
            work_alpha: 1.0,
            mem_min: 8 << 20,
            mem_max: 512 << 20,
            node_mem: 16 << 30,
            transfer: Transfer::default(),
            period: 1.0,
            gossip_min: 1.0,
            gossip_max: 2.0,
            warmup: 200.0,
            duration: 600.0,
            drain_cap: 4000.0,
        }
    }
}

/// How jobs are placed.
#[derive(Debug, Clone, PartialEq)]
pub enum Strategy {
    /// Start at home, balanced by `decide`/`admit` with these parameters.
    Balance(Params),
    /// Start at home, never move.
    NoMigration,
    /// Start on a node drawn in proportion to its speed, never move.
    RandomPlacement,
    /// The ideal pooled cluster (the lower bound).
    Ideal,
}

impl Strategy {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Balance(p) if p.rule == crate::Rule::Mosix => "mosix-rule",
            Strategy::Balance(_) => "wend",
            Strategy::NoMigration => "no-migration",
            Strategy::RandomPlacement => "random-placement",
            Strategy::Ideal => "lower-bound",
        }
    }
}

/// A simulation that cannot run.
#[derive(Debug, Error, PartialEq)]
pub enum SimError {
    /// The policy parameters are invalid.
    #[error("invalid policy parameters: {0}")]
    Params(#[from] ParamsError),
    /// A configuration value is out of range.
    #[error("invalid simulation setting {name} = {value}: {hint}")]
    Config {
        /// The field.
        name: &'static str,
        /// Its value.
        value: f64,
        /// What would work.
        hint: &'static str,
    },
}

impl SimConfig {
    /// Checks that the configuration can run.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |name, value: f64, hint| Err(SimError::Config { name, value, hint });
        if self.nodes < 2 || self.nodes > u32::MAX as usize {
            return bad("nodes", self.nodes as f64, "use 2 nodes or more");
        }
        if !(self.utilisation > 0.0 && self.utilisation < 1.0) {
            return bad("utilisation", self.utilisation, "use a value in (0, 1)");
        }
        if !(self.speed_min > 0.0 && self.speed_max >= self.speed_min) {
            return bad(
                "speed_min",
                self.speed_min,
                "speeds must be positive, min <= max",
            );
        }
        if !(self.work_min > 0.0 && self.work_max > self.work_min && self.work_alpha > 0.0) {
            return bad(
                "work_min",
                self.work_min,
                "need 0 < work_min < work_max, alpha > 0",
            );
        }
        if self.mem_min == 0 || self.mem_max < self.mem_min {
            return bad(
                "mem_min",
                self.mem_min as f64,
                "need 0 < mem_min <= mem_max",
            );
        }
        let t = &self.transfer;
        if !(t.bandwidth > 0.0 && t.overhead >= 0.0 && t.live_freeze_per_gib.unwrap_or(0.0) >= 0.0)
        {
            return bad(
                "bandwidth",
                t.bandwidth,
                "must be positive, the costs not negative",
            );
        }
        if !(self.period > 0.0 && self.gossip_min >= 0.0 && self.gossip_max >= self.gossip_min) {
            return bad(
                "period",
                self.period,
                "need period > 0, 0 <= gossip_min <= gossip_max",
            );
        }
        if !(self.warmup >= 0.0 && self.duration > 0.0 && self.drain_cap >= 0.0) {
            return bad(
                "duration",
                self.duration,
                "need a positive measured duration",
            );
        }
        Ok(())
    }
}

/// Runs one strategy on the configured cluster. Deterministic for a seed.
pub fn run(config: &SimConfig, strategy: &Strategy) -> Result<SimReport, SimError> {
    config.validate()?;
    if let Strategy::Balance(p) = strategy {
        p.validate()?;
    }
    Ok(match strategy {
        Strategy::Ideal => ideal::run(config),
        other => engine::run(config, other),
    })
}
