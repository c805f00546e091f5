//! Guest programs for wend's checkpoint/restore tests and benchmark (`[[bin]]`s of this
//! crate), and the little they share: a deterministic pseudo-random generator and the go-file
//! protocol of the corpus (`crates/wend/tests/guests/guest.h` is its C twin).
//!
//! - `wend-guest-sweep STEPS [GATE]`: a deterministic computation over memory, floating point and a
//!   churning heap; prints `progress N` (N = 1..99) on stderr as it goes and one `result` line
//!   on stdout at the end. Checkpointed at many points of one run, every restored copy must
//!   print the same result line.
//! - `wend-guest-state GO_FILE`: a self-checking Rust guest (heap structures, std files,
//!   arguments, monotonic time) following the corpus protocol.
//! - `wend-guest-fill MIB`: fills MIB MiB with non-trivial data, prints `ready`, then spins
//!   and reports every pause it observes above 5 ms (`gap MICROS`): the benchmark's frozen time.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::Duration;

/// splitmix64: a small, fast, deterministic generator.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// Sleeps in short steps until `go` exists.
pub fn wait_for_go(go: &Path) {
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn rng_is_deterministic_and_spreads() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(8);
        assert_ne!(xs[0], c.next_u64());
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[a.below(10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }
}
