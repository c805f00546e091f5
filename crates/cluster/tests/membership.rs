//! Scenario tests of membership on the in-memory network.

mod common;

use std::time::Duration;

use common::*;
use wend_cluster::sim::Simulator;
use wend_cluster::{ClusterEvent, MemberState};

#[test]
fn clusters_of_5_to_50_converge() {
    for (n, seed) in [(5, 1), (12, 2), (50, 3)] {
        let mut sim = cluster(n, seed, 0.0);
        let t = sim.run_until_cond(secs(60), Duration::from_millis(100), converged);
        assert!(t.is_some(), "{n} nodes did not converge in 60 s");
        eprintln!("{n} nodes converged at {:?}", t.unwrap());
    }
}

#[test]
fn converges_with_packet_loss() {
    let mut sim = cluster(20, 7, 0.1);
    let t = sim.run_until_cond(secs(120), Duration::from_millis(100), converged);
    assert!(t.is_some(), "20 nodes with 10% loss did not converge");
}

#[test]
fn graceful_leave_is_left_and_crash_is_dead() {
    let mut sim = cluster(8, 11, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    sim.leave(3);
    sim.crash(5);
    let others: Vec<usize> = (0..8).filter(|&i| i != 3 && i != 5).collect();
    let done = sim.run_until_cond(secs(90), Duration::from_millis(200), |s| {
        others.iter().all(|&o| {
            state_seen(s, o, 3) == Some(MemberState::Left)
                && state_seen(s, o, 5) == Some(MemberState::Dead)
        })
    });
    assert!(done.is_some(), "left/dead not told apart everywhere");
    // A leave is known fast (no failure-detection delay).
    let left_at = sim.slot(0).events.iter().find_map(|(t, e)| match e {
        ClusterEvent::MemberLeft { id } if id.addr == sim.slot(3).addr => Some(*t),
        _ => None,
    });
    assert!(left_at.is_some(), "node 0 got no MemberLeft event");
}

#[test]
fn crashed_node_restarts_with_new_generation() {
    let key = key();
    let mut sim = cluster(6, 21, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    sim.crash(2);
    let dead = sim.run_until_cond(secs(60), Duration::from_millis(200), |s| {
        (0..6)
            .filter(|&i| i != 2)
            .all(|o| state_seen(s, o, 2) == Some(MemberState::Dead))
    });
    assert!(dead.is_some(), "crash not detected");
    let mut cfg = Simulator::default_node_config(2, 6);
    cfg.generation = 2;
    sim.restart(2, cfg, &key);
    sim.join(2, 0);
    let back = sim.run_until_cond(secs(60), Duration::from_millis(100), converged);
    assert!(back.is_some(), "restarted node did not come back");
    let seen = sim
        .node(4)
        .unwrap()
        .members()
        .into_iter()
        .find(|m| m.id.addr == sim.slot(2).addr)
        .unwrap();
    assert_eq!(seen.id.generation, 2);
    assert_eq!(seen.load.unwrap().id.generation, 2);
}

#[test]
fn partition_heals() {
    let mut sim = cluster(10, 31, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    let groups: Vec<u32> = (0..10).map(|i| u32::from(i >= 5)).collect();
    sim.partition(&groups);
    let split = sim.run_until_cond(secs(120), Duration::from_millis(200), |s| {
        state_seen(s, 0, 9) == Some(MemberState::Dead)
            && state_seen(s, 9, 0) == Some(MemberState::Dead)
    });
    assert!(split.is_some(), "partition never detected");
    sim.heal();
    // Members declared dead renew their generation and rejoin through
    // foca's periodic announcements to down members.
    let healed = sim.run_until_cond(secs(400), Duration::from_millis(500), converged);
    assert!(healed.is_some(), "cluster did not heal after the partition");
}
