//! `wend-guest-fill MIB`: fills MIB MiB with data that is neither zero nor trivially
//! compressible (half of each page pseudo-random, half a repeated short pattern), prints
//! `ready`, then spins reading the monotonic clock and prints `gap MICROS` for every pause
//! longer than 5 ms it sees between two readings. A checkpoint with --leave-running shows up
//! as such a gap: the time the process stayed frozen, as the process itself saw it.
#![forbid(unsafe_code)]

use std::io::Write;
use std::time::Instant;

use wend_guests::Rng;

fn main() {
    let mib: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(16);
    let words = mib << 17;
    let mut rng = Rng::new(mib as u64);
    let mut mem: Vec<u64> = Vec::with_capacity(words);
    for i in 0..words {
        let in_page = i % 512;
        mem.push(if in_page < 256 {
            rng.next_u64()
        } else {
            0x0101_0101_0101_0101u64.wrapping_mul((i / 512) as u64 % 251 + 1)
        });
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready words={}", mem.len()).expect("stdout");
    out.flush().expect("stdout");
    let mut last = Instant::now();
    let mut i = 0usize;
    loop {
        // Keep the memory live and touched now and then.
        mem[i % words] = mem[i % words].wrapping_add(1);
        i = i.wrapping_add(4099);
        let now = Instant::now();
        let gap = now.duration_since(last).as_micros();
        if gap > 5000 {
            writeln!(out, "gap {gap}").expect("stdout");
            out.flush().expect("stdout");
        }
        last = now;
    }
}
