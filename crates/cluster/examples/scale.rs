//! Scale benchmark of the membership and load-dissemination core on the
//! in-memory network, in simulated time.
//!
//! `cargo run --release -p wend-cluster --example scale -- --nodes 1000`
//!
//! Phases: (1) cold start: all nodes start at once and join through one
//! another; time until every node sees every other alive and knows its
//! load. (2) steady state: every node publishes a significant load change
//! every `--change-every` seconds on average; bytes and datagrams per node
//! per second, and how long tagged changes take to reach every node.
//! (3) a node crashes; time until every other node has declared it dead.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wend_cluster::sim::{SimConfig, Simulator};
use wend_cluster::{ClusterKey, LocalLoad, NodeStats};

struct Args {
    nodes: usize,
    seed: u64,
    steady: u64,
    change_every: f64,
    loss: f64,
    rumour_tx: Option<u8>,
    pulled_tx: Option<u8>,
    sync_ms: Option<u64>,
    swim_gossip_ms: Option<u64>,
}

fn parse() -> Args {
    let mut a = Args {
        nodes: 1000,
        seed: 1,
        steady: 60,
        change_every: 30.0,
        loss: 0.0,
        rumour_tx: None,
        pulled_tx: None,
        sync_ms: None,
        swim_gossip_ms: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--nodes" => a.nodes = v.parse().expect("--nodes N"),
            "--seed" => a.seed = v.parse().expect("--seed N"),
            "--steady" => a.steady = v.parse().expect("--steady SECONDS"),
            "--change-every" => a.change_every = v.parse().expect("--change-every SECONDS"),
            "--loss" => a.loss = v.parse().expect("--loss FRACTION"),
            "--rumour-tx" => a.rumour_tx = Some(v.parse().expect("--rumour-tx N")),
            "--pulled-tx" => a.pulled_tx = Some(v.parse().expect("--pulled-tx N")),
            "--swim-gossip-ms" => {
                a.swim_gossip_ms = Some(v.parse().expect("--swim-gossip-ms MILLISECONDS"))
            }
            "--sync-ms" => a.sync_ms = Some(v.parse().expect("--sync-ms MILLISECONDS")),
            other => {
                panic!("unknown flag {other}; flags: --nodes --seed --steady --change-every --loss --rumour-tx")
            }
        }
    }
    a
}

fn totals(sim: &Simulator) -> Vec<NodeStats> {
    (0..sim.len()).map(|i| sim.total_stats(i)).collect()
}

/// Per-node rates between two snapshots.
struct Rates {
    sent: f64,
    sent_max: f64,
    membership: f64,
    rumours: f64,
    both: f64,
    dgrams: f64,
    dgrams_max: f64,
    vectors: f64,
    vectors_max: f64,
}

fn rates(a: &[NodeStats], b: &[NodeStats], secs: f64) -> Rates {
    let n = a.len() as f64;
    let per = |f: fn(&NodeStats) -> u64| -> Vec<f64> {
        a.iter()
            .zip(b)
            .map(|(x, y)| (f(y) - f(x)) as f64 / secs)
            .collect()
    };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / n;
    let max = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    let sent = per(|s| s.bytes_sent);
    let received = per(|s| s.bytes_received);
    let dgrams = per(|s| s.datagrams_received);
    let vectors = per(|s| s.vectors_received);
    Rates {
        sent: mean(&sent),
        sent_max: max(&sent),
        membership: mean(&per(|s| s.membership_bytes_sent)),
        rumours: mean(&per(|s| s.rumour_bytes_sent)),
        both: mean(&sent) + mean(&received),
        dgrams: mean(&dgrams),
        dgrams_max: max(&dgrams),
        vectors: mean(&vectors),
        vectors_max: max(&vectors),
    }
}

fn print_rates(what: &str, r: &Rates) {
    println!(
        "{what} traffic per node: sent {:.0} B/s (busiest node {:.0}; membership {:.0}, rumours {:.0}, pulls {:.0}), sent+received {:.0} B/s",
        r.sent,
        r.sent_max,
        r.membership,
        r.rumours,
        r.sent - r.membership - r.rumours,
        r.both
    );
    println!(
        "{what} work per node: datagrams received {:.1}/s (busiest {:.1}), load vectors decoded {:.0}/s (busiest {:.0})",
        r.dgrams, r.dgrams_max, r.vectors, r.vectors_max
    );
}

fn main() {
    let args = parse();
    let n = args.nodes;
    let wall = Instant::now();
    let key = ClusterKey::from_bytes([0x42; 32], 0);
    let mut sim = Simulator::new(SimConfig {
        seed: args.seed,
        loss: args.loss,
        record_events: false,
        ..SimConfig::default()
    });
    let gossip = Simulator::default_node_config(0, n).gossip_interval;
    let config = |i: usize| {
        let mut c = Simulator::default_node_config(i, n);
        c.rumour_transmissions = args.rumour_tx.or(c.rumour_transmissions);
        c.pulled_rumour_transmissions = args.pulled_tx.unwrap_or(c.pulled_rumour_transmissions);
        if let Some(ms) = args.swim_gossip_ms {
            c.swim_gossip_interval = Duration::from_millis(ms);
        }
        if let Some(ms) = args.sync_ms {
            c.sync_interval = Duration::from_millis(ms);
        }
        c
    };
    for i in 0..n {
        sim.add_node(config(i), &key);
    }
    let mut rng = StdRng::seed_from_u64(args.seed ^ 0x5eed);
    for i in 1..n {
        sim.join(i, rng.random_range(0..i));
    }
    println!(
        "nodes {n}, seed {}, loss {}, rumour transmissions {}",
        args.seed,
        args.loss,
        config(0).rumour_tx()
    );

    // Phase 1: cold start.
    let s0 = totals(&sim);
    let (mut members_at, mut converged_at) = (None, None);
    while converged_at.is_none() && sim.now() < Duration::from_secs(600) {
        sim.run_for(Duration::from_millis(250));
        let now = sim.now();
        let min_active = (0..n)
            .map(|i| sim.node(i).unwrap().active_members())
            .min()
            .unwrap_or(0);
        let min_loads = (0..n)
            .map(|i| sim.node(i).unwrap().known_loads())
            .min()
            .unwrap_or(0);
        if members_at.is_none() && min_active == n - 1 {
            members_at = Some(now);
        }
        if members_at.is_some() && min_loads == n {
            converged_at = Some(now);
        }
        if now.subsec_millis() == 0 {
            eprintln!(
                "  [cold start t={:.0} s: fewest members known {}, fewest loads known {}; wall {:.0} s]",
                now.as_secs_f64(), min_active, min_loads, wall.elapsed().as_secs_f64()
            );
        }
    }
    let t1 = sim.now().as_secs_f64();
    let s1 = totals(&sim);
    let r = rates(&s0, &s1, t1);
    match (members_at, converged_at) {
        (Some(m), Some(c)) => println!(
            "cold start: all members alive everywhere at {:.2} s; every load known everywhere at {:.2} s ({} gossip rounds)",
            m.as_secs_f64(), c.as_secs_f64(), (c.as_secs_f64() / gossip.as_secs_f64()).ceil()
        ),
        _ => println!("cold start: did NOT converge within 600 s"),
    }
    print_rates("cold start", &r);

    // Phase 2: steady state with load changes.
    sim.run_for(Duration::from_secs(35));
    let s2 = totals(&sim);
    let t2 = sim.now();
    let step = Duration::from_millis(500);
    let p = step.as_secs_f64() / args.change_every;
    let mut tagged: Vec<(usize, u32, Duration)> = Vec::new();
    let mut delays: Vec<f64> = Vec::new();
    let mut tag = 0u32;
    let mut at_once = 0usize;
    let mut step_no = 0u64;
    while sim.now() < t2 + Duration::from_secs(args.steady) {
        let mut sample_due = step_no.is_multiple_of(2);
        step_no += 1;
        for i in 0..n {
            if rng.random_bool(p) {
                tag += 1;
                let load = 1.0 + f64::from(tag % 1000) * 0.5 + f64::from(i as u32 % 7);
                let l = LocalLoad {
                    load,
                    cpus: 4,
                    mem_total: 8 << 30,
                    mem_free: 4 << 30,
                    ..Default::default()
                };
                sim.set_load(i, l);
                let addr = sim.slot(i).addr;
                let own = sim.node(i).unwrap().load_of(&addr).unwrap();
                if own.load.load == load {
                    at_once += 1;
                }
                // One change a second is published at once (whatever the
                // publication interval) and followed until every node has it.
                if sample_due && tagged.len() < 200 {
                    sample_due = false;
                    if own.load.load != load {
                        sim.with_node(i, |n, now| n.publish_now(now));
                    }
                    let version = sim.node(i).unwrap().load_version_of(&addr).unwrap().1;
                    tagged.push((i, version, sim.now()));
                }
            }
        }
        sim.run_for(step);
        let now = sim.now();
        tagged.retain(|&(i, version, at)| {
            let addr = sim.slot(i).addr;
            let reached = (0..n).all(|j| {
                sim.node(j)
                    .unwrap()
                    .load_version_of(&addr)
                    .is_some_and(|(_, v)| v >= version)
            });
            if reached {
                delays.push((now - at).as_secs_f64());
            }
            !reached
        });
    }
    let unfinished = tagged.len();
    let t3 = sim.now();
    let s3 = totals(&sim);
    let secs = (t3 - t2).as_secs_f64();
    let r = rates(&s2, &s3, secs);
    delays.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        delays
            .get(((delays.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "steady state ({:.0} s, one significant load change per node every {} s on average)",
        secs, args.change_every
    );
    print_rates("steady", &r);
    println!("load changes {tag}, published at once {at_once} (the rest wait for the publication interval, {:.1} s here); sampled: one a second, published at once", sim.node(0).unwrap().publish_interval().as_secs_f64());
    println!("published change reaches every node ({} samples, 0.5 s resolution, {} still travelling at the end): median {:.2} s, p90 {:.2} s, p99 {:.2} s, max {:.2} s",
        delays.len(), unfinished, pct(0.5), pct(0.9), pct(0.99), pct(1.0));

    // Phase 3: failure detection.
    let victim = n / 3;
    let addr = sim.slot(victim).addr;
    sim.crash(victim);
    let t4 = sim.now();
    let detected = sim.run_until_cond(
        t4 + Duration::from_secs(300),
        Duration::from_millis(250),
        |s| {
            (0..n)
                .filter(|&j| j != victim)
                .all(|j| !s.node(j).unwrap().is_active_member(&addr))
        },
    );
    match detected {
        Some(t) => println!(
            "dead node declared dead by every node after {:.2} s",
            (t - t4).as_secs_f64()
        ),
        None => {
            let holdouts: Vec<usize> = (0..n)
                .filter(|&j| j != victim && sim.node(j).unwrap().is_active_member(&addr))
                .collect();
            let state = sim
                .node(holdouts[0])
                .unwrap()
                .members()
                .into_iter()
                .find(|m| m.id.addr == addr);
            println!(
                "dead node NOT detected everywhere within 300 s: {} nodes still hold it active, e.g. node {} as {:?}",
                holdouts.len(), holdouts[0], state.map(|m| (m.id, m.state))
            );
        }
    }
    println!(
        "simulation: {} datagrams delivered, {} dropped, {} refused; wall time {:.1} s",
        sim.delivered,
        sim.dropped,
        sim.refused,
        wall.elapsed().as_secs_f64()
    );
}
