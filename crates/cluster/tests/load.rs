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
