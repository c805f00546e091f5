//! Seeded random mutation of real datagrams: no decoder and no node may
//! panic on hostile input, authentic (an insider with the key) or not.

mod common;

use std::time::Duration;

use common::*;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wend_cluster::fuzzing::{decode_everything, feed_node, fuzz_key, target_node};
use wend_cluster::sim::{SimConfig, Simulator};
use wend_cluster::{DatagramKind, Sealer};

/// Plaintexts of real traffic: every kind of message a small cluster sends.
fn corpus() -> Vec<Vec<u8>> {
    let key = fuzz_key();
    let mut sim = Simulator::new(SimConfig {
        seed: 4,
        ..SimConfig::default()
    });
    for i in 0..4 {
        sim.add_node(Simulator::default_node_config(i, 4), &key);
    }
    for i in 1..4 {
        sim.join(i, 0);
    }
    let sealer = Sealer::new(&key);
    let mut out = Vec::new();
    for step in 0..40 {
        sim.run_for(Duration::from_millis(250));
        let i = step % 4;
        let got = sim.with_node(i, |n, now| {
            n.tick(now + Duration::from_secs(1));
            let mut v: Vec<Vec<u8>> = n.drain_outgoing().into_iter().map(|(_, d)| d).collect();
            v.push(n.discovery_announcement());
            v
        });
        for d in got.unwrap_or_default() {
            if let Ok(p) = sealer.open(DatagramKind::Cluster, &d) {
                out.push(p);
            } else if let Ok(p) = sealer.open(DatagramKind::Discovery, &d) {
                out.push(p);
            }
            out.push(d);
        }
    }
    out
}

fn mutate(rng: &mut StdRng, input: &[u8]) -> Vec<u8> {
    let mut d = input.to_vec();
    for _ in 0..rng.random_range(1..5) {
        match rng.random_range(0..6) {
            0 if !d.is_empty() => {
                let i = rng.random_range(0..d.len());
                d[i] ^= 1 << rng.random_range(0..8);
            }
            1 if !d.is_empty() => {
                let i = rng.random_range(0..d.len());
                d[i] = [0, 0xff, 0x7f, 0x80, 1, 255][rng.random_range(0..6)];
            }
            2 => d.truncate(rng.random_range(0..=d.len())),
            3 => {
                let i = rng.random_range(0..=d.len());
                let n = rng.random_range(1..16);
                let bytes: Vec<u8> = (0..n).map(|_| rng.random()).collect();
                d.splice(i..i, bytes);
            }
            4 if d.len() > 2 => {
                let a = rng.random_range(0..d.len());
                let b = rng.random_range(a..d.len());
                d.drain(a..b);
            }
            _ => d.extend((0..rng.random_range(0..64)).map(|_| rng.random::<u8>())),
        }
    }
    d
}

#[test]
fn mutated_datagrams_never_panic() {
    let corpus = corpus();
    assert!(corpus.len() > 40, "corpus too small: {}", corpus.len());
    let mut rng = StdRng::seed_from_u64(0xfeed);
    let mut node = target_node();
    let mut now = secs(1);
    for round in 0..8_000 {
        let base = &corpus[rng.random_range(0..corpus.len())];
        let d = mutate(&mut rng, base);
        decode_everything(&d);
        now += Duration::from_millis(10);
        feed_node(&mut node, &d, now);
        if round % 2000 == 0 {
            node = target_node();
        }
    }
    // Pure random bytes too.
    for _ in 0..2000 {
        let n = rng.random_range(0..200);
        let d: Vec<u8> = (0..n).map(|_| rng.random()).collect();
        decode_everything(&d);
        feed_node(&mut node, &d, now);
    }
}
