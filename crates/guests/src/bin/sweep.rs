//! `wend-guest-sweep STEPS [GATE]`: a deterministic run whose single result line depends on
//! every step (see the crate docs).
//!
//! GATE is a file for tests that checkpoint the run at chosen points: while it exists, its
//! size is the last percent the run may report, and the run waits (1 ms naps) before
//! reporting a later one, so it cannot end before the test has taken its checkpoints however
//! long they take. No file, no gate; the result never depends on it.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use wend_guests::Rng;

const WORDS: usize = 2 << 20; // 16 MiB of state

fn main() {
    let steps: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4000);
    let gate = std::env::args().nth(2);
    let mut rng = Rng::new(0x5eed);
    let mut state: Vec<u64> = (0..WORDS).map(|_| rng.next_u64()).collect();
    let mut heap: Vec<Vec<u64>> = Vec::new();
    let mut counts: BTreeMap<u64, u64> = BTreeMap::new();
    let mut acc = 0.0f64;
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    let mut next_report = 1;
    for step in 0..steps {
        // Memory: a pass of dependent reads and writes over a slice of the state.
        let start = rng.below(WORDS as u64 - 4096) as usize;
        for i in start..start + 4096 {
            let j = (state[i] % WORDS as u64) as usize;
            state[i] = state[i].rotate_left(7) ^ state[j].wrapping_mul(0x100_0000_01b3);
            hash = (hash ^ state[i]).wrapping_mul(0x100_0000_01b3);
        }
        // Floating point, kept in registers across loop iterations.
        for k in 0..2000u64 {
            let x = ((hash >> 11) ^ k) as f64 / (1u64 << 53) as f64;
            acc = (acc + x.sqrt() * 1.000_001).sin() + x.mul_add(0.5, acc.cos());
        }
        // Heap churn: allocations of varying size come and go (brk and mmap both move).
        let size = 1 + rng.below(if step % 97 == 0 { 1 << 18 } else { 512 }) as usize;
        heap.push(vec![hash ^ step; size]);
        if heap.len() > 64 {
            let victim = rng.below(heap.len() as u64) as usize;
            let v = heap.swap_remove(victim);
            hash ^= v.iter().fold(0u64, |a, b| a.wrapping_add(*b));
        }
        *counts.entry(hash % 251).or_insert(0) += 1;
        if step * 100 / steps >= next_report {
            if let Some(gate) = &gate {
                pass_gate(Path::new(gate), next_report);
            }
            eprintln!("progress {next_report}");
            next_report += 1;
        }
    }
    let spread: u64 = counts
        .iter()
        .fold(0u64, |a, (k, v)| a.wrapping_mul(31).wrapping_add(k ^ v));
    let live: u64 = heap.iter().map(|v| v.len() as u64).sum();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "result hash={hash:016x} acc={acc:.12e} spread={spread:016x} live={live} steps={steps}"
    )
    .expect("writing the result");
}

/// Waits until the gate file is absent or lets the run report percent `p`.
fn pass_gate(gate: &Path, p: u64) {
    while std::fs::metadata(gate).is_ok_and(|m| m.len() < p) {
        std::thread::sleep(Duration::from_millis(1));
    }
}
