//! Helpers shared by the scenario tests.
#![allow(dead_code)]

use std::time::Duration;

use wend_cluster::sim::{SimConfig, Simulator};
use wend_cluster::{ClusterKey, MemberState};

pub fn key() -> ClusterKey {
    ClusterKey::from_bytes([0x5a; 32], 0)
}

/// A simulator with `n` nodes; node i joins through node i/2 (node 0 alone).
pub fn cluster(n: usize, seed: u64, loss: f64) -> Simulator {
    let mut sim = Simulator::new(SimConfig {
        seed,
        loss,
        ..SimConfig::default()
    });
    let key = key();
    for i in 0..n {
        sim.add_node(Simulator::default_node_config(i, n), &key);
    }
    for i in 1..n {
        sim.join(i, i / 2);
    }
    sim
}

/// Whether every running node sees every other running node alive and
/// knows its load vector.
pub fn converged(sim: &Simulator) -> bool {
    let running: Vec<usize> = (0..sim.len()).filter(|&i| sim.node(i).is_some()).collect();
    running.iter().all(|&i| {
        let node = sim.node(i).unwrap();
        running.iter().all(|&j| {
            let addr = sim.slot(j).addr;
            if i == j {
                return true;
            }
            let alive = node
                .members()
                .into_iter()
                .find(|m| m.id.addr == addr && m.state == MemberState::Alive);
            // The load must come from the generation that is alive.
            alive.is_some_and(|m| m.load.is_some_and(|l| l.id == m.id))
        })
    })
}

/// The state node `observer` gives the member at slot `target`.
pub fn state_seen(sim: &Simulator, observer: usize, target: usize) -> Option<MemberState> {
    let addr = sim.slot(target).addr;
    sim.node(observer)?
        .members()
        .into_iter()
        .find(|m| m.id.addr == addr)
        .map(|m| m.state)
}

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}
