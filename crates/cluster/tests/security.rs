//! A node without the cluster key can neither join nor read anything.

mod common;

use std::time::Duration;

use common::*;
use wend_cluster::sim::Simulator;
use wend_cluster::{ClusterError, ClusterKey, DatagramKind, DecodeError, Sealer};

#[test]
fn wrong_key_node_is_refused_and_learns_nothing() {
    let mut sim = cluster(6, 5, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    let intruder_key = ClusterKey::from_bytes([0x11; 32], 0);
    let intruder = sim.add_node(Simulator::default_node_config(6, 7), &intruder_key);
    sim.join(intruder, 0);
    sim.run_for(secs(30));

    // The intruder also overhears the cluster's own traffic (as on a LAN).
    let overheard = sim
        .with_node(0, |n, now| {
            n.tick(now + secs(2));
            n.drain_outgoing()
        })
        .unwrap();
    assert!(!overheard.is_empty());
    let from = sim.slot(0).addr;
    for (_, d) in &overheard {
        let res = sim
            .with_node(intruder, |n, now| n.handle_datagram(from, d, now))
            .unwrap();
        assert!(
            matches!(res, Err(ClusterError::Decode(DecodeError::Unauthentic))),
            "{res:?}"
        );
    }
    let node = sim.node(intruder).unwrap();
    assert_eq!(node.active_members(), 0, "intruder sees members");
    assert_eq!(
        node.known_loads(),
        1,
        "intruder knows loads other than its own"
    );
    assert_eq!(node.members().len(), 1);
    assert_eq!(node.stats().rejected, overheard.len() as u64);
    let intruder_addr = sim.slot(intruder).addr;
    for i in 0..6 {
        let n = sim.node(i).unwrap();
        assert!(
            n.members().iter().all(|m| m.id.addr != intruder_addr),
            "node {i} lists the intruder"
        );
        assert!(n.load_of(&intruder_addr).is_none());
    }
    assert!(
        sim.node(0).unwrap().stats().rejected > 0,
        "node 0 did not refuse the intruder's announcements"
    );
}

#[test]
fn sealed_datagrams_hide_contents_and_bind_the_key() {
    let key = key();
    let mut sim = cluster(3, 9, 0.0);
    sim.run_for(secs(5));
    let out = sim.with_node(0, |n, now| {
        n.tick(now + secs(1));
        n.drain_outgoing()
    });
    let out = out.unwrap();
    assert!(!out.is_empty());
    for (_, d) in &out {
        assert!(
            !d.windows(5).any(|w| w == b"node1"),
            "node name visible in a sealed datagram"
        );
        assert!(
            !d.windows(4).any(|w| w == [10, 0, 0, 1]),
            "address visible in a sealed datagram"
        );
    }
    let wrong = ClusterKey::from_bytes([0x12; 32], 0);
    let (_, first) = &out[0];
    assert_eq!(
        Sealer::new(&wrong).open(DatagramKind::Cluster, first),
        Err(DecodeError::Unauthentic)
    );
    assert!(Sealer::new(&key).open(DatagramKind::Cluster, first).is_ok());
    // An announcement sealed with the wrong key is refused by discovery too.
    let mut stranger =
        wend_cluster::ClusterNode::new_seeded(Simulator::default_node_config(9, 10), &wrong, 3)
            .unwrap();
    let ann = stranger.discovery_announcement();
    let res = sim
        .with_node(0, |n, now| n.handle_discovery(&ann, now))
        .unwrap();
    assert!(matches!(
        res,
        Err(ClusterError::Decode(DecodeError::Unauthentic))
    ));
    // And a correct one is accepted and decoded.
    let mut friend =
        wend_cluster::ClusterNode::new_seeded(Simulator::default_node_config(9, 10), &key, 3)
            .unwrap();
    let ann = friend.discovery_announcement();
    let a = wend_cluster::open_announcement(&key, &ann).unwrap();
    assert_eq!(a.name, "node10");
    assert_eq!(a.id, friend.id());
}

#[test]
fn replayed_old_load_vector_does_not_roll_back() {
    let mut sim = cluster(3, 13, 0.0);
    assert!(sim
        .run_until_cond(secs(60), Duration::from_millis(100), converged)
        .is_some());
    // Capture what node 2 sends while its load is high, then lower the load.
    sim.set_load(
        2,
        wend_cluster::LocalLoad {
            load: 4.0,
            ..Default::default()
        },
    );
    let captured = sim.with_node(2, |n, now| {
        n.tick(now + secs(1));
        n.drain_outgoing()
    });
    sim.run_for(secs(5));
    sim.set_load(
        2,
        wend_cluster::LocalLoad {
            load: 0.5,
            ..Default::default()
        },
    );
    sim.run_for(secs(5));
    let addr = sim.slot(2).addr;
    let before = sim.node(0).unwrap().load_of(&addr).unwrap().clone();
    assert_eq!(before.load.load, 0.5);
    // Replay every captured datagram to node 0.
    for (_, d) in captured.unwrap() {
        sim.with_node(0, |n, now| {
            let _ = n.handle_datagram(addr, &d, now);
        });
    }
    let after = sim.node(0).unwrap().load_of(&addr).unwrap();
    assert_eq!(
        after.load.load, 0.5,
        "a replayed datagram rolled the load back"
    );
    assert_eq!(after.version, before.version);
}
