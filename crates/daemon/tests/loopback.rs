//! Daemons on loopback, without the lab: membership, leave, restart and the cluster key.

mod support;

use support::*;
use wend_proto::NodeState;

#[test]
fn three_daemons_find_each_other_and_see_leave_and_restart() {
    let h = Harness::new();
    let k = key(1);
    let a = h.start(h.config("a", any_port(), vec![]), &k);
    let seed = a.peer_addr();
    let b = h.start(h.config("b", any_port(), vec![seed]), &k);
    let c = h.start(h.config("c", any_port(), vec![seed]), &k);
    let c_addr = c.peer_addr();

    for name in ["a", "b", "c"] {
        wait_until(&format!("{name} sees 3 alive with loads"), || {
            let nodes = h.nodes(name);
            alive_count(&nodes) == 3 && nodes.iter().all(|n| n.cpus >= 1.0 && n.mem_total > 0)
        });
    }
    let nodes = h.nodes("b");
    assert_eq!(nodes.iter().filter(|n| n.local).count(), 1);
    assert!(nodes.iter().find(|n| n.local).unwrap().name == "b");

    // A graceful stop is seen as a leave.
    h.stop(c);
    assert!(!h.api("c").exists(), "the api socket is removed on stop");
    for name in ["a", "b"] {
        wait_until(&format!("{name} sees c left"), || {
            state_of(&h.nodes(name), "c") == Some(NodeState::Left)
        });
    }

    // The same node started again comes back alive.
    let c = h.start(h.config("c", c_addr, vec![seed]), &k);
    for name in ["a", "b", "c"] {
        wait_until(&format!("{name} sees c alive again"), || {
            let nodes = h.nodes(name);
            state_of(&nodes, "c") == Some(NodeState::Alive) && alive_count(&nodes) == 3
        });
    }
    h.stop(c);
    h.stop(b);
    h.stop(a);
}

#[test]
fn a_node_with_the_wrong_key_is_refused_and_learns_nothing() {
    let h = Harness::new();
    let good = key(2);
    let a = h.start(h.config("good1", any_port(), vec![]), &good);
    let b = h.start(h.config("good2", any_port(), vec![a.peer_addr()]), &good);
    let intruder = h.start(
        h.config("intruder", any_port(), vec![a.peer_addr()]),
        &key(3),
    );
    wait_until("the good nodes see each other", || {
        alive_count(&h.nodes("good1")) == 2 && alive_count(&h.nodes("good2")) == 2
    });
    // Give the intruder ample time to try (it re-announces every second while alone).
    std::thread::sleep(std::time::Duration::from_secs(4));
    let seen = h.nodes("intruder");
    assert_eq!(seen.len(), 1, "the intruder learned {seen:?}");
    assert!(seen[0].local);
    for name in ["good1", "good2"] {
        let nodes = h.nodes(name);
        assert!(
            nodes.iter().all(|n| n.name != "intruder"),
            "{name} let the intruder in: {nodes:?}"
        );
        assert_eq!(nodes.len(), 2);
    }
    h.stop(intruder);
    h.stop(b);
    h.stop(a);
}

#[test]
fn a_second_daemon_on_the_same_socket_is_refused() {
    let h = Harness::new();
    let k = key(4);
    let a = h.start(h.config("one", any_port(), vec![]), &k);
    let mut cfg = h.config("two", any_port(), vec![]);
    cfg.api = h.api("one");
    let err =
        h.rt.block_on(wend_daemon::Daemon::start_with_key(cfg, &k))
            .unwrap_err();
    assert!(
        matches!(err, wend_daemon::DaemonError::AlreadyRunning(_)),
        "{err}"
    );
    h.stop(a);
    // A stale socket file (nobody listening) is replaced.
    let path = h.api("stale");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    drop(listener);
    assert!(path.exists());
    let d = h.start(h.config("stale", any_port(), vec![]), &k);
    wait_until("the stale socket is served", || h.nodes("stale").len() == 1);
    h.stop(d);
}

#[test]
fn hostile_datagrams_do_not_disturb_the_cluster() {
    let h = Harness::new();
    let k = key(5);
    let a = h.start(h.config("calm1", any_port(), vec![]), &k);
    let b = h.start(h.config("calm2", any_port(), vec![a.peer_addr()]), &k);
    wait_until("the two see each other", || {
        alive_count(&h.nodes("calm1")) == 2 && alive_count(&h.nodes("calm2")) == 2
    });
    // Seeded garbage of every size, some of it starting like a sealed datagram.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut state = 0xdead_beef_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for i in 0..3000 {
        let len = (next() % 1500) as usize;
        let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if i % 2 == 0 && d.len() >= 5 {
            d[..5].copy_from_slice(&[b'w', b'C', 1, 0, 1]);
        }
        let to = if i % 2 == 0 {
            a.peer_addr()
        } else {
            b.peer_addr()
        };
        let _ = sock.send_to(&d, to);
    }
    std::thread::sleep(std::time::Duration::from_secs(2));
    for name in ["calm1", "calm2"] {
        let nodes = h.nodes(name);
        assert_eq!(alive_count(&nodes), 2, "{name}: {nodes:?}");
    }
    h.stop(b);
    h.stop(a);
}
