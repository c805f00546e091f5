//! Tests of the policy's rules on small hand-made clusters.

use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;

use crate::*;

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn rng() -> Xoshiro256PlusPlus {
    Xoshiro256PlusPlus::seed_from_u64(7)
}

fn node(id: u32, speed: f64, runnable: f64) -> NodeState {
    NodeState {
        load: runnable / speed,
        mem_free: 12 * GIB,
        mem_total: 16 * GIB,
        ..NodeState::idle(NodeRef(id), speed)
    }
}

fn procs(n: u32, work: f64) -> Vec<Proc> {
    (0..n)
        .map(|i| Proc {
            cpu: 1.0 / f64::from(n),
            ..Proc::busy(100 + i, work, 64 * MIB)
        })
        .collect()
}

/// Runs rounds of decide + admit on fully known states, applying admitted
/// moves at once, and returns the moves made per pid.
fn settle(speeds: &[f64], start: &[u32], rounds: u32) -> (Vec<u32>, Vec<u32>) {
    let params = Params::default();
    let mut rng = rng();
    // (pid, node, migrations, since_move)
    let mut jobs: Vec<(u32, usize, u32, Option<f64>)> = Vec::new();
    for (n, &count) in start.iter().enumerate() {
        for k in 0..count {
            jobs.push((jobs.len() as u32 + 100 * k, n, 0, None));
        }
    }
    for round in 0..rounds {
        let work = 100.0 + f64::from(round);
        for n in 0..speeds.len() {
            let count = |m: usize| jobs.iter().filter(|j| j.1 == m).count() as f64;
            let states: Vec<NodeState> = (0..speeds.len())
                .map(|m| node(m as u32, speeds[m], count(m)))
                .collect();
            let here = count(n);
            let local_procs: Vec<Proc> = jobs
                .iter()
                .filter(|j| j.1 == n)
                .map(|j| Proc {
                    pid: j.0,
                    cpu: 1.0 / here,
                    migrations: j.2,
                    since_move: j.3,
                    ..Proc::busy(j.0, work, 64 * MIB)
                })
                .collect();
            let peers = Peers::new(states.clone());
            for m in decide(&states[n], &local_procs, &peers, &params, &mut rng) {
                let to = m.to.0 as usize;
                if admit(&states[to], &m.offer, &Pending::default(), &params) == Admission::Accept {
                    let job = jobs.iter_mut().find(|j| j.0 == m.pid).unwrap();
                    job.1 = to;
                    job.2 += 1;
                    job.3 = Some(0.0);
                }
            }
        }
        for j in &mut jobs {
            j.3 = j.3.map(|s| s + 1.0);
        }
    }
    let per_node = (0..speeds.len())
        .map(|n| jobs.iter().filter(|j| j.1 == n).count() as u32)
        .collect();
    (per_node, jobs.iter().map(|j| j.2).collect())
}

#[test]
fn two_nodes_reach_a_steady_state_without_ping_pong() {
    let (per_node, moves) = settle(&[1.0, 1.0], &[3, 0], 60);
    assert_eq!(per_node.iter().sum::<u32>(), 3);
    assert!(
        per_node.contains(&2) && per_node.contains(&1),
        "{per_node:?}"
    );
    assert_eq!(moves.iter().sum::<u32>(), 1, "exactly one move: {moves:?}");
    let (per_node, moves) = settle(&[1.0, 1.0], &[2, 0], 60);
    assert_eq!(per_node, vec![1, 1]);
    assert_eq!(moves.iter().sum::<u32>(), 1);
    let (_, moves) = settle(&[1.0, 1.0], &[1, 1], 60);
    assert_eq!(moves.iter().sum::<u32>(), 0);
}

#[test]
fn faster_node_first() {
    let local = node(0, 1.0, 2.0);
    let peers = Peers::new(vec![
        node(1, 0.5, 0.0),
        node(2, 2.0, 0.0),
        node(3, 1.0, 0.0),
    ]);
    let moves = decide(
        &local,
        &procs(2, 60.0),
        &peers,
        &Params::default(),
        &mut rng(),
    );
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].to, NodeRef(2));
    assert_eq!(moves[0].reason, Reason::Balance);
    // A lone process on a slow node moves to a much faster idle one.
    let slow = node(0, 0.5, 1.0);
    let peers = Peers::new(vec![node(1, 2.0, 0.0)]);
    let moves = decide(
        &slow,
        &procs(1, 60.0),
        &peers,
        &Params::default(),
        &mut rng(),
    );
    assert_eq!(moves.first().map(|m| m.to), Some(NodeRef(1)));
    // But not to one only a little faster (hysteresis).
    let peers = Peers::new(vec![node(1, 0.6, 0.0)]);
    assert!(decide(
        &slow,
        &procs(1, 60.0),
        &peers,
        &Params::default(),
        &mut rng()
    )
    .is_empty());
}

#[test]
fn memory_pressure_pushes_away_and_needs_room() {
    let mut local = node(0, 1.0, 1.0);
    local.mem_free = GIB / 2;
    let mut full = node(1, 2.0, 0.0);
    full.mem_free = GIB;
    let roomy = node(2, 0.5, 1.0);
    let mut p = procs(1, 1.0);
    p[0].mem = 4 * GIB;
    p[0].age = 0.1;
    let peers = Peers::new(vec![full.clone(), roomy]);
    let moves = decide(&local, &p, &peers, &Params::default(), &mut rng());
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!((moves[0].to, moves[0].reason), (NodeRef(2), Reason::Memory));
    assert_eq!(moves[0].offer.rate_here, 0.0);
    let offer = &moves[0].offer;
    let refusal = admit(&full, offer, &Pending::default(), &Params::default());
    assert!(matches!(
        refusal,
        Admission::Refuse(Refusal::NoMemory { .. })
    ));
    // Without memory pressure the same slow peer is no target.
    local.mem_free = 8 * GIB;
    assert!(decide(&local, &p, &peers, &Params::default(), &mut rng()).is_empty());
}

#[test]
fn locked_or_staying_processes_never_move() {
    let mut local = node(0, 0.5, 4.0);
    local.mem_free = 0;
    local.expelling = true;
    let peers = Peers::new((1..5).map(|i| node(i, 2.0, 0.0)).collect());
    let mut p = procs(4, 500.0);
    for (i, q) in p.iter_mut().enumerate() {
        q.home = Some(NodeRef(1 + i as u32));
        q.stay = Some(if i % 2 == 0 {
            Stay::Locked
        } else {
            Stay::Reason
        });
    }
    for params in [Params::default(), Params::mosix()] {
        assert!(decide(&local, &p, &peers, &params, &mut rng()).is_empty());
    }
}

#[test]
fn herd_is_refused_by_admit() {
    let params = Params::default();
    let idle = node(9, 1.0, 0.0);
    let peers = Peers::new(vec![idle.clone()]);
    let mut pending = Pending::default();
    let mut accepted = 0;
    for sender in 10..20 {
        let local = node(sender, 1.0, 3.0);
        let moves = decide(&local, &procs(3, 100.0), &peers, &params, &mut rng());
        let first = moves
            .first()
            .expect("every busy sender picks the idle node");
        assert_eq!(first.to, NodeRef(9));
        match admit(&idle, &first.offer, &pending, &params) {
            Admission::Accept => {
                accepted += 1;
                pending.count += 1;
                pending.mem += first.offer.mem;
            }
            Admission::Refuse(r) => assert!(matches!(r, Refusal::NoGain { .. }), "{r:?}"),
        }
    }
    // Rate at the senders is 1/3; the idle node gives 1/2 = 1.5 x 1/3 with two
    // guests and 1/3 with three: it takes two of the ten.
    assert_eq!(accepted, 2);
}

#[test]
fn short_lived_stay_home_and_old_ones_leave() {
    let local = node(0, 1.0, 2.0);
    let peers = Peers::new(vec![node(1, 1.0, 0.0)]);
    let mut p = procs(2, 0.0);
    p[0].work = 0.3;
    p[0].age = 0.3;
    p[1].work = 90.0;
    p[1].age = 200.0;
    let moves = decide(&local, &p, &peers, &Params::default(), &mut rng());
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].pid, p[1].pid, "the old process leaves");
    // Two young processes both stay.
    p[1].work = 0.2;
    p[1].age = 0.2;
    assert!(decide(&local, &p, &peers, &Params::default(), &mut rng()).is_empty());
}

#[test]
fn expel_pushes_every_guest_and_keeps_own_processes() {
    let mut local = node(0, 1.0, 4.0);
    local.expelling = true;
    let mut blocked_home = node(1, 1.0, 0.0);
    blocked_home.accepting = false;
    let peers = Peers::new(vec![blocked_home, node(2, 2.0, 0.0), node(3, 1.0, 3.0)]);
    let mut p = procs(4, 10.0);
    p[0].home = Some(NodeRef(1));
    p[1].home = Some(NodeRef(3));
    p[2].home = Some(NodeRef(77)); // home unknown (dead): anywhere that takes it
    let moves = decide(&local, &p, &peers, &Params::default(), &mut rng());
    let guests: Vec<u32> = p[..3].iter().map(|q| q.pid).collect();
    let expelled: Vec<u32> = moves
        .iter()
        .filter(|m| m.reason == Reason::Expel)
        .map(|m| m.pid)
        .collect();
    assert_eq!(expelled, guests, "{moves:?}");
    assert!(moves
        .iter()
        .all(|m| m.pid != p[3].pid || m.reason != Reason::Expel));
    for m in &moves {
        assert_ne!(m.to, NodeRef(0));
        let target = peers.get(m.to).unwrap();
        assert_eq!(
            admit(target, &m.offer, &Pending::default(), &Params::default()),
            Admission::Accept,
            "{m:?}"
        );
    }
    // With no peer taking guests, a guest goes home (blocked homes take their own).
    let mut blocked = node(2, 2.0, 0.0);
    blocked.accepting = false;
    let peers = Peers::new(vec![node(1, 0.5, 2.0), blocked]);
    let moves = decide(&local, &p[..1], &peers, &Params::default(), &mut rng());
    assert_eq!(moves.len(), 1);
    assert_eq!((moves[0].to, moves[0].reason), (NodeRef(1), Reason::Expel));
}

#[test]
fn guest_returns_home_when_home_is_as_good() {
    let local = node(0, 1.0, 2.0);
    let peers = Peers::new(vec![node(1, 1.0, 0.0), node(2, 1.0, 0.0)]);
    let mut p = procs(2, 100.0);
    p[0].home = Some(NodeRef(2));
    p[0].migrations = 1;
    p[0].since_move = Some(60.0);
    let moves = decide(&local, &p, &peers, &Params::default(), &mut rng());
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(
        (moves[0].pid, moves[0].to, moves[0].reason),
        (p[0].pid, NodeRef(2), Reason::Home)
    );
    // A recent arrival settles first.
    p[0].since_move = Some(1.0);
    let moves = decide(&local, &p, &peers, &Params::default(), &mut rng());
    assert!(moves.iter().all(|m| m.pid != p[0].pid));
}

#[test]
fn blocked_node_gets_no_guests_but_takes_its_own_back() {
    let mut me = node(1, 2.0, 0.0);
    me.accepting = false;
    let offer = Offer {
        from: NodeRef(0),
        home: NodeRef(0),
        reason: Reason::Balance,
        mem: MIB,
        demand: 1.0,
        rate_here: 0.5,
    };
    let params = Params::default();
    let refused = Admission::Refuse(Refusal::NotAccepting);
    assert_eq!(admit(&me, &offer, &Pending::default(), &params), refused);
    let local = node(0, 1.0, 2.0);
    let peers = Peers::new(vec![me.clone()]);
    assert!(decide(&local, &procs(2, 50.0), &peers, &params, &mut rng()).is_empty());
    let home = Offer {
        home: NodeRef(1),
        reason: Reason::Home,
        ..offer
    };
    assert_eq!(
        admit(&me, &home, &Pending::default(), &params),
        Admission::Accept
    );
    me.expelling = true;
    let refused = Admission::Refuse(Refusal::Expelling);
    assert_eq!(admit(&me, &home, &Pending::default(), &params), refused);
}

#[test]
fn a_move_must_pay_for_its_transfer() {
    let local = node(0, 1.0, 2.0);
    let peers = Peers::new(vec![node(1, 1.0, 0.0)]);
    // Stop-and-copy: 2 GiB keep the process frozen 18 s over gigabit
    // ethernet, for 2 s of expected work.
    let stop = Params {
        transfer: Transfer {
            live_freeze_per_gib: None,
            ..Transfer::default()
        },
        ..Params::default()
    };
    let mut p = procs(2, 2.0);
    for q in &mut p {
        q.mem = 2 * GIB;
    }
    assert!(decide(&local, &p, &peers, &stop, &mut rng()).is_empty());
    for q in &mut p {
        q.work = 500.0;
    }
    assert_eq!(decide(&local, &p, &peers, &stop, &mut rng()).len(), 1);
    // Live: a process that has barely run, with almost nothing to copy,
    // stays: the freeze costs more than the time it can expect to save.
    let mut p = procs(2, 0.01);
    for q in &mut p {
        q.mem = 8 * MIB;
        q.age = 0.6;
    }
    assert!(decide(&local, &p, &peers, &Params::default(), &mut rng()).is_empty());
}

#[test]
fn live_moves_are_judged_as_the_process_will_be_after_the_copy() {
    // Two young processes share a slow node, a fast one is idle. Each has
    // 1 GiB to copy (9 s over gigabit ethernet, while it keeps running
    // here): if it still runs then, it has done 9 s of work more and is
    // expected to run about that long again, so the 0.45 s freeze pays.
    let local = node(0, 0.5, 2.0);
    let peers = Peers::new(vec![node(1, 2.0, 0.0)]);
    let mut p = procs(2, 0.5);
    for q in &mut p {
        q.mem = GIB;
        q.age = 2.0;
    }
    let moves = decide(&local, &p, &peers, &Params::default(), &mut rng());
    assert_eq!(moves.first().map(|m| m.to), Some(NodeRef(1)), "{moves:?}");
    // Judged on its work now, minus the copy's, it would stay.
    let now = Params {
        after_copy: false,
        ..Params::default()
    };
    assert!(decide(&local, &p, &peers, &now, &mut rng()).is_empty());
}

#[test]
fn sharing_a_cpu_counts_the_co_runners_gain_without_ping_pong() {
    let params = Params::default();
    // Two processes share a 1.0 node (0.5 each); a 0.7 node is idle: the
    // one that leaves gains only 1.4 times, but its co-runner doubles.
    let local = node(0, 1.0, 2.0);
    let idle = node(1, 0.7, 0.0);
    let peers = Peers::new(vec![idle.clone()]);
    let moves = decide(&local, &procs(2, 60.0), &peers, &params, &mut rng());
    assert_eq!(moves.len(), 1, "{moves:?}");
    assert_eq!(moves[0].to, NodeRef(1));
    let answer = admit(&idle, &moves[0].offer, &Pending::default(), &params);
    assert_eq!(answer, Admission::Accept);
    // Without the credit it would need 1.5 times its rate.
    let alone_only = Params {
        shared: 1.0,
        ..params.clone()
    };
    assert!(decide(&local, &procs(2, 60.0), &peers, &alone_only, &mut rng()).is_empty());
    // Once there, alone, it does not go back (0.5 there against 0.7 here),
    // and the one left behind, alone too, stays.
    let mut there = procs(1, 61.0);
    there[0].home = Some(NodeRef(0));
    there[0].migrations = 1;
    there[0].since_move = Some(10.0);
    let back = Peers::new(vec![node(0, 1.0, 1.0)]);
    assert!(decide(&node(1, 0.7, 1.0), &there, &back, &params, &mut rng()).is_empty());
    let left = Peers::new(vec![node(1, 0.7, 1.0)]);
    assert!(decide(
        &node(0, 1.0, 1.0),
        &procs(1, 61.0),
        &left,
        &params,
        &mut rng()
    )
    .is_empty());
    // The settle loop reaches the same: one move, then a steady state.
    let (per_node, moves) = settle(&[1.0, 0.7], &[2, 0], 60);
    assert_eq!(per_node, vec![1, 1]);
    assert_eq!(moves.iter().sum::<u32>(), 1, "{moves:?}");
}

#[test]
fn mosix_rule_moves_to_the_least_loaded() {
    let local = node(0, 1.0, 3.0);
    let peers = Peers::new(vec![node(1, 1.0, 1.0), node(2, 1.0, 0.0)]);
    let moves = decide(&local, &procs(3, 5.0), &peers, &Params::mosix(), &mut rng());
    assert_eq!(moves.len(), 1);
    assert_eq!(moves[0].to, NodeRef(2));
    let balanced = node(0, 1.0, 1.0);
    assert!(decide(
        &balanced,
        &procs(1, 5.0),
        &peers,
        &Params::mosix(),
        &mut rng()
    )
    .is_empty());
}

#[test]
fn small_simulation_balances_and_beats_no_migration() {
    let config = sim::SimConfig {
        nodes: 50,
        warmup: 50.0,
        duration: 150.0,
        drain_cap: 2000.0,
        work_max: 200.0,
        ..sim::SimConfig::default()
    };
    let run = |s| sim::run(&config, &s).unwrap();
    let wend = run(sim::Strategy::Balance(Params::default()));
    let again = run(sim::Strategy::Balance(Params::default()));
    assert_eq!(wend, again, "deterministic for a seed");
    let none = run(sim::Strategy::NoMigration);
    let bound = run(sim::Strategy::Ideal);
    assert!(wend.jobs > 100 && wend.jobs == none.jobs && wend.jobs == bound.jobs);
    assert_eq!(wend.unfinished, 0);
    assert!(bound.mean_slowdown >= 1.0);
    assert!(
        wend.mean_slowdown >= bound.mean_slowdown * 0.99,
        "{wend}\n{bound}"
    );
    assert!(wend.mean_slowdown < none.mean_slowdown, "{wend}\n{none}");
    assert!(wend.migrations_per_job > 0.0 && wend.migrations_per_job < 2.0);
    assert_eq!(none.migrations_per_job, 0.0);
}

#[test]
fn peers_are_found_by_id_in_any_order() {
    let peers = Peers::new(vec![
        node(5, 1.0, 0.0),
        node(2, 1.0, 1.0),
        node(9, 2.0, 0.0),
    ]);
    let ids: Vec<u32> = peers.as_slice().iter().map(|n| n.id.0).collect();
    assert_eq!(ids, vec![2, 5, 9]);
    assert_eq!(peers.get(NodeRef(9)).map(|n| n.speed), Some(2.0));
    assert!(peers.get(NodeRef(3)).is_none());
}

#[test]
fn live_migration_costs_less_frozen_time_than_stop_and_copy() {
    let live = Transfer::default();
    let stop = Transfer {
        live_freeze_per_gib: None,
        ..Transfer::default()
    };
    assert!((live.frozen(GIB) - 0.45).abs() < 1e-9);
    assert!((live.copy_running(GIB) - GIB as f64 / 1.17e8).abs() < 1e-9);
    assert_eq!(stop.copy_running(GIB), 0.0);
    assert!(stop.frozen(GIB) > 9.0);
}

#[test]
fn refused_moves_carry_fallback_targets_that_also_qualify() {
    let local = node(0, 1.0, 3.0);
    let peers = Peers::new(vec![
        node(1, 1.0, 0.0),
        node(2, 1.0, 0.0),
        node(3, 1.0, 0.0),
        node(4, 1.0, 2.0),
    ]);
    let params = Params {
        max_moves: 1,
        ..Params::default()
    };
    let moves = decide(&local, &procs(3, 100.0), &peers, &params, &mut rng());
    assert_eq!(moves.len(), 1);
    let mut all = moves[0].also.clone();
    all.push(moves[0].to);
    all.sort();
    // The busy node 4 (rate 1/3, no better than here) is never a fallback.
    assert_eq!(all, vec![NodeRef(1), NodeRef(2), NodeRef(3)]);
}

#[test]
fn a_recent_rise_in_a_peers_load_counts_as_a_whole_process() {
    let local = node(0, 1.0, 2.0);
    // 0.375 runnable: one process arrived a second ago (5:3 smoothing).
    let peers = Peers::new(vec![node(1, 1.0, 0.375)]);
    assert!(decide(
        &local,
        &procs(2, 100.0),
        &peers,
        &Params::default(),
        &mut rng()
    )
    .is_empty());
    let no_rounding = Params {
        round_up: 1.0,
        ..Params::default()
    };
    assert_eq!(
        decide(&local, &procs(2, 100.0), &peers, &no_rounding, &mut rng()).len(),
        1
    );
}

#[test]
fn simulator_runs_every_strategy_and_both_transfer_kinds() {
    let live = sim::SimConfig {
        nodes: 40,
        utilisation: 0.9,
        warmup: 30.0,
        duration: 100.0,
        work_min: 2.0,
        work_max: 100.0,
        drain_cap: 1000.0,
        seed: 3,
        ..sim::SimConfig::default()
    };
    let stop = sim::SimConfig {
        transfer: Transfer {
            live_freeze_per_gib: None,
            ..Transfer::default()
        },
        ..live.clone()
    };
    for config in [&live, &stop] {
        let bound = sim::run(config, &sim::Strategy::Ideal).unwrap();
        let none = sim::run(config, &sim::Strategy::NoMigration).unwrap();
        for strategy in [
            sim::Strategy::Balance(Params::default()),
            sim::Strategy::Balance(Params::mosix()),
            sim::Strategy::NoMigration,
            sim::Strategy::RandomPlacement,
        ] {
            let r = sim::run(config, &strategy).unwrap();
            assert_eq!(r.jobs, bound.jobs, "{r}");
            assert!(r.mean_slowdown >= 1.0, "{r}");
            assert!(r.median_slowdown <= r.p99_slowdown, "{r}");
            let by_work: u64 = r.by_work.iter().map(|b| b.0).sum();
            assert_eq!(by_work, r.jobs);
            if let sim::Strategy::Balance(_) = strategy {
                assert_eq!(r.unfinished, 0, "{r}");
                assert!(r.moves[0] > 0, "{r}");
                assert!(r.mean_slowdown < none.mean_slowdown, "{r}\n{none}");
            } else {
                assert_eq!(r.moves, [0; 4]);
            }
        }
    }
    let bad = sim::SimConfig {
        utilisation: 1.5,
        ..live
    };
    let err = sim::run(&bad, &sim::Strategy::NoMigration).unwrap_err();
    assert!(err.to_string().contains("utilisation"), "{err}");
}
