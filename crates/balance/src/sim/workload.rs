//! The simulated cluster's nodes and job stream, drawn from seeded RNGs so
//! every strategy sees the very same cluster and the very same jobs.

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};

use super::SimConfig;

/// One job as it arrives.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JobSpec {
    /// Arrival time in seconds.
    pub arrival: f64,
    /// Work in yardstick CPU-seconds.
    pub work: f64,
    /// Memory in bytes (what a migration moves).
    pub mem: u64,
    /// Node it starts on.
    pub home: u32,
}

/// Node speeds, uniform between the configured bounds.
pub fn speeds(config: &SimConfig) -> Vec<f64> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed ^ 0x5eed_5eed);
    (0..config.nodes)
        .map(|_| rng.random_range(config.speed_min..=config.speed_max))
        .collect()
}

/// Mean of the bounded Pareto distribution of job work.
pub fn mean_work(config: &SimConfig) -> f64 {
    let (a, l, h) = (config.work_alpha, config.work_min, config.work_max);
    if (a - 1.0).abs() < 1e-9 {
        l * h / (h - l) * (h / l).ln()
    } else {
        let norm = 1.0 - (l / h).powf(a);
        l.powf(a) / norm * a / (a - 1.0) * (l.powf(1.0 - a) - h.powf(1.0 - a))
    }
}

/// Poisson arrivals at the rate that makes the offered work
/// `utilisation` times the cluster's capacity.
pub struct Arrivals {
    rng: Xoshiro256PlusPlus,
    rate: f64,
    now: f64,
    config: SimConfig,
}

impl Arrivals {
    /// The stream for `config` on a cluster of total speed `capacity`.
    pub fn new(config: &SimConfig, capacity: f64) -> Self {
        Self {
            rng: Xoshiro256PlusPlus::seed_from_u64(config.seed ^ 0xa771_7a15),
            rate: config.utilisation * capacity / mean_work(config),
            now: 0.0,
            config: config.clone(),
        }
    }

    /// Jobs per second.
    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The next job.
    pub fn next_job(&mut self) -> JobSpec {
        let c = &self.config;
        let u: f64 = self.rng.random();
        self.now += -(1.0 - u).ln() / self.rate;
        let u: f64 = self.rng.random();
        let tail = 1.0 - u * (1.0 - (c.work_min / c.work_max).powf(c.work_alpha));
        let work = c.work_min / tail.powf(1.0 / c.work_alpha);
        let u: f64 = self.rng.random();
        let mem = (c.mem_min as f64) * (c.mem_max as f64 / c.mem_min as f64).powf(u);
        let home = self.rng.random_range(0..c.nodes as u32);
        JobSpec {
            arrival: self.now,
            work: work.min(c.work_max),
            mem: mem as u64,
            home,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_matches_its_parameters() {
        let config = SimConfig {
            nodes: 100,
            ..SimConfig::default()
        };
        let capacity: f64 = speeds(&config).iter().sum();
        let mut a = Arrivals::new(&config, capacity);
        let jobs: Vec<JobSpec> = (0..200_000).map(|_| a.next_job()).collect();
        let mean = jobs.iter().map(|j| j.work).sum::<f64>() / jobs.len() as f64;
        let expect = mean_work(&config);
        assert!((mean - expect).abs() / expect < 0.05, "{mean} vs {expect}");
        let span = jobs.last().unwrap().arrival;
        let offered = jobs.iter().map(|j| j.work).sum::<f64>() / span / capacity;
        assert!((offered - config.utilisation).abs() < 0.05, "{offered}");
        assert!(jobs
            .iter()
            .all(|j| j.mem >= config.mem_min && j.mem <= config.mem_max));
        let mut b = Arrivals::new(&config, capacity);
        assert_eq!(b.next_job(), jobs[0]);
    }
}
