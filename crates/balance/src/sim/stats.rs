//! What a simulation run measured.

use std::fmt;

/// Results of one strategy on one cluster.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimReport {
    /// Strategy name.
    pub strategy: &'static str,
    /// Nodes simulated.
    pub nodes: usize,
    /// Jobs measured (arrived in the measured window).
    pub jobs: u64,
    /// Measured jobs still running at the drain cap (counted as finishing
    /// then, so the means are lower bounds for this strategy).
    pub unfinished: u64,
    /// Mean slowdown (response time over work alone on the fastest CPU).
    pub mean_slowdown: f64,
    /// Median slowdown.
    pub median_slowdown: f64,
    /// 99th percentile slowdown.
    pub p99_slowdown: f64,
    /// Mean response time in seconds.
    pub mean_response: f64,
    /// Mean migrations per measured job.
    pub migrations_per_job: f64,
    /// Most migrations of one measured job.
    pub max_migrations: u32,
    /// Moves refused by targets, per measured job.
    pub refused_per_job: f64,
    /// Mean seconds from arrival to the first admitted move, over the
    /// measured jobs that moved.
    pub first_move: f64,
    /// Fraction of measured jobs that never moved.
    pub never_moved: f64,
    /// Mean slowdown of the measured jobs that never moved.
    pub never_moved_slowdown: f64,
    /// Migrations of every job by reason: balance, home, memory, expel.
    pub moves: [u64; 4],
    /// Mean slowdown and job count by job work: `[1, 4)`, `[4, 16)`,
    /// `[16, 64)`, `[64, 256)`, 256 and more yardstick CPU-seconds.
    pub by_work: [(u64, f64); 5],
    /// Over the measured window, per quarter of the speed range (slowest
    /// first), the fraction of time nodes had 0, 1, 2, 3 or more jobs (not
    /// measured for the lower bound).
    pub occupancy: [[f64; 4]; 4],
    /// Simulated seconds.
    pub sim_time: f64,
    /// Events processed.
    pub events: u64,
}

impl fmt::Display for SimReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<16} nodes {:>6} jobs {:>8} slowdown mean {:>7.3} median {:>6.3} p99 {:>8.2} \
             response {:>7.2} s migrations/job {:.3} (max {}) refused/job {:.3} \
             moves balance/home/memory/expel {}/{}/{}/{} unfinished {} \
             by work 1-4/-16/-64/-256/more: {:.2}/{:.2}/{:.2}/{:.2}/{:.2} \
             first move after {:.2} s, never moved {:.2} (slowdown {:.3})",
            self.strategy,
            self.nodes,
            self.jobs,
            self.mean_slowdown,
            self.median_slowdown,
            self.p99_slowdown,
            self.mean_response,
            self.migrations_per_job,
            self.max_migrations,
            self.refused_per_job,
            self.moves[0],
            self.moves[1],
            self.moves[2],
            self.moves[3],
            self.unfinished,
            self.by_work[0].1,
            self.by_work[1].1,
            self.by_work[2].1,
            self.by_work[3].1,
            self.by_work[4].1,
            self.first_move,
            self.never_moved,
            self.never_moved_slowdown,
        )
    }
}

/// Collects per-job outcomes.
#[derive(Debug, Default)]
pub(crate) struct Recorder {
    slowdowns: Vec<f64>,
    by_work: [(u64, f64); 5],
    response: f64,
    migrations: u64,
    max_migrations: u32,
    unfinished: u64,
    pub(crate) refused: u64,
    pub(crate) moves: [u64; 4],
    /// (count, sum of seconds) to the first move.
    first: (u64, f64),
    /// (count, sum of slowdowns) of jobs that never moved.
    stayed: (u64, f64),
}

impl Recorder {
    /// Records a job of `work` that took `response` seconds where the
    /// fastest CPU alone would take `ideal`.
    pub(crate) fn job(
        &mut self,
        work: f64,
        response: f64,
        ideal: f64,
        migrations: u32,
        done: bool,
    ) {
        let slowdown = response / ideal;
        self.slowdowns.push(slowdown);
        let bucket = ((work.max(1.0).log2() / 2.0) as usize).min(4);
        self.by_work[bucket].0 += 1;
        self.by_work[bucket].1 += slowdown;
        self.response += response;
        self.migrations += u64::from(migrations);
        self.max_migrations = self.max_migrations.max(migrations);
        if !done {
            self.unfinished += 1;
        }
    }

    /// Records when a finished job first moved (`None`: never) and its
    /// slowdown.
    pub(crate) fn first_move(&mut self, after: Option<f64>, slowdown: f64) {
        match after {
            Some(s) => {
                self.first.0 += 1;
                self.first.1 += s;
            }
            None => {
                self.stayed.0 += 1;
                self.stayed.1 += slowdown;
            }
        }
    }

    pub(crate) fn report(mut self, strategy: &'static str, nodes: usize) -> SimReport {
        let n = self.slowdowns.len().max(1) as f64;
        self.slowdowns.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let s = &self.slowdowns;
            if s.is_empty() {
                0.0
            } else {
                s[((s.len() - 1) as f64 * p).round() as usize]
            }
        };
        SimReport {
            strategy,
            nodes,
            jobs: self.slowdowns.len() as u64,
            unfinished: self.unfinished,
            mean_slowdown: self.slowdowns.iter().sum::<f64>() / n,
            median_slowdown: q(0.5),
            p99_slowdown: q(0.99),
            mean_response: self.response / n,
            migrations_per_job: self.migrations as f64 / n,
            max_migrations: self.max_migrations,
            refused_per_job: self.refused as f64 / n,
            first_move: self.first.1 / self.first.0.max(1) as f64,
            never_moved: self.stayed.0 as f64 / n,
            never_moved_slowdown: self.stayed.1 / self.stayed.0.max(1) as f64,
            moves: self.moves,
            by_work: self
                .by_work
                .map(|(count, sum)| (count, sum / count.max(1) as f64)),
            occupancy: [[0.0; 4]; 4],
            sim_time: 0.0,
            events: 0,
        }
    }
}
