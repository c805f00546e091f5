//! Load vectors spread through the cluster.

mod common;

use std::time::Duration;

use common::*;
use wend_cluster::LocalLoad;

#[test]
fn load_change_reaches_every_node() {
    let n = 30;
    let mut sim = cluster(n, 17, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    sim.run_for(secs(40));
    let addr = sim.slot(7).addr;
    let load = LocalLoad {
        cpus: 8,
        speed: 1.5,
        load: 3.25,
        mem_free: 2 << 30,
        mem_total: 16 << 30,
        guests: 3,
        accepting: false,
    };
    sim.set_load(7, load.clone());
    let start = sim.now();
    let t = sim.run_until_cond(secs(200), Duration::from_millis(50), |s| {
        (0..n).all(|i| {
            s.node(i)
                .unwrap()
                .load_of(&addr)
                .is_some_and(|v| v.load == load)
        })
    });
    let t = t.expect("load change did not reach every node");
    assert!(t - start < secs(5), "load change took {:?}", t - start);
    let view = sim
        .node(0)
        .unwrap()
        .members()
        .into_iter()
        .find(|m| m.id.addr == addr)
        .unwrap();
    assert_eq!(view.name, "node8");
    assert_eq!(view.load.unwrap().load, load);
}

#[test]
fn small_changes_wait_for_refresh_and_big_ones_do_not() {
    let mut sim = cluster(5, 19, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    sim.run_for(secs(40));
    let addr = sim.slot(3).addr;
    let v0 = sim.node(0).unwrap().load_of(&addr).unwrap().version;
    sim.set_load(
        3,
        LocalLoad {
            load: 0.1,
            ..Default::default()
        },
    );
    sim.run_for(secs(3));
    assert_eq!(
        sim.node(0).unwrap().load_of(&addr).unwrap().version,
        v0,
        "insignificant change published"
    );
    sim.set_load(
        3,
        LocalLoad {
            load: 2.0,
            ..Default::default()
        },
    );
    sim.run_for(secs(3));
    assert_eq!(sim.node(0).unwrap().load_of(&addr).unwrap().load.load, 2.0);
}

#[test]
fn same_seed_same_run() {
    let run = |seed| {
        let mut sim = cluster(15, seed, 0.05);
        sim.run_for(secs(30));
        (0..15).map(|i| sim.total_stats(i)).collect::<Vec<_>>()
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn publication_interval_follows_the_rumour_budget() {
    use wend_cluster::sim::{SimConfig, Simulator};
    let n = 40;
    let key = key();
    let mut sim = Simulator::new(SimConfig {
        seed: 23,
        ..SimConfig::default()
    });
    for i in 0..n {
        let mut c = Simulator::default_node_config(i, n);
        c.rumour_budget = 1000;
        c.rumour_transmissions = Some(5);
        sim.add_node(c, &key);
    }
    for i in 1..n {
        sim.join(i, 0);
    }
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    // 40 members x 5 transmissions x 48 B / 1000 B/s = 9.6 s.
    let interval = sim.node(3).unwrap().publish_interval();
    assert_eq!(interval, Duration::from_secs_f64(9.6));
    // A second significant change within that interval waits for it.
    let addr = sim.slot(3).addr;
    sim.run_for(secs(10));
    sim.set_load(
        3,
        LocalLoad {
            load: 5.0,
            ..Default::default()
        },
    );
    sim.run_for(secs(1));
    sim.set_load(
        3,
        LocalLoad {
            load: 9.0,
            ..Default::default()
        },
    );
    sim.run_for(secs(5));
    assert_eq!(sim.node(0).unwrap().load_of(&addr).unwrap().load.load, 5.0);
    sim.run_for(secs(10));
    assert_eq!(sim.node(0).unwrap().load_of(&addr).unwrap().load.load, 9.0);
}
