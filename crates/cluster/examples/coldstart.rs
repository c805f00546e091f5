//! Prints how membership and load knowledge grow during a cold start.
//! `cargo run --release -p wend-cluster --example coldstart -- 300`
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wend_cluster::sim::{SimConfig, Simulator};
use wend_cluster::ClusterKey;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(300, |a| a.parse().expect("node count"));
    let wall = Instant::now();
    let key = ClusterKey::from_bytes([0x42; 32], 0);
    let mut sim = Simulator::new(SimConfig {
        record_events: false,
        ..SimConfig::default()
    });
    for i in 0..n {
        sim.add_node(Simulator::default_node_config(i, n), &key);
    }
    let mut rng = StdRng::seed_from_u64(9);
    for i in 1..n {
        sim.join(i, rng.random_range(0..i));
    }
    for step in 1..=40 {
        sim.run_until(Duration::from_secs(step));
        let act: Vec<usize> = (0..n)
            .map(|i| sim.node(i).unwrap().active_members())
            .collect();
        let loads: Vec<usize> = (0..n).map(|i| sim.node(i).unwrap().known_loads()).collect();
        let gens = (0..n)
            .filter(|&i| sim.node(i).unwrap().id().generation > 1)
            .count();
        let sent: u64 = (0..n).map(|i| sim.total_stats(i).bytes_sent).sum();
        println!(
            "t={step:>3}s active min {} mean {:.0}; loads min {} mean {:.0}; renewed {gens}; sent/node {:.0} KB; wall {:.1}s",
            act.iter().min().unwrap(),
            act.iter().sum::<usize>() as f64 / n as f64,
            loads.iter().min().unwrap(),
            loads.iter().sum::<usize>() as f64 / n as f64,
            sent as f64 / n as f64 / 1000.0,
            wall.elapsed().as_secs_f64()
        );
        if act.iter().all(|&a| a == n - 1) && loads.iter().all(|&l| l == n) {
            break;
        }
    }
}
