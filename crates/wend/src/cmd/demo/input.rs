//! The demo's input: a reproducible, semi-compressible text file.
//!
//! Lines of made-up words drawn with a skewed frequency from a fixed vocabulary, with a line
//! of noise now and then, from a fixed seed: the same bytes on every machine and every run,
//! so `xz -9` makes the same output and one run can serve as the reference of all the others.
//! xz -9 takes it to about a quarter of its size, at about 1 MB per CPU-second.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{bail, Context};

/// A small, fast generator (xorshift64*): good enough for text, identical everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const VOCABULARY: usize = 6000;
const NOISE: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz+/";

/// Writes exactly `bytes` bytes of input to `path`. Checks `stop` now and then and gives up
/// when it is set (Ctrl-C).
pub fn generate(path: &Path, bytes: u64, stop: &AtomicBool) -> anyhow::Result<()> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let words: Vec<Vec<u8>> = (0..VOCABULARY)
        .map(|_| {
            let len = 2 + rng.below(9) as usize;
            (0..len).map(|_| b'a' + rng.below(26) as u8).collect()
        })
        .collect();
    let mut written = 0u64;
    let mut line = Vec::with_capacity(256);
    for n in 0u64.. {
        if written >= bytes {
            break;
        }
        if n % 4096 == 0 && stop.load(Ordering::Relaxed) {
            bail!("interrupted");
        }
        line.clear();
        if n % 9 == 8 {
            line.extend((0..72).map(|_| NOISE[rng.below(NOISE.len() as u64) as usize]));
        } else {
            let count = 6 + rng.below(7);
            for i in 0..count {
                // The smaller of two draws: low indexes come up more often (roughly Zipf).
                let a = rng.below(VOCABULARY as u64);
                let b = rng.below(VOCABULARY as u64);
                if i > 0 {
                    line.push(b' ');
                }
                line.extend_from_slice(&words[a.min(b) as usize]);
            }
        }
        line.push(b'\n');
        let take = line.len().min((bytes - written) as usize);
        out.write_all(&line[..take])
            .with_context(|| format!("cannot write {}", path.display()))?;
        written += take as u64;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_every_time_and_exact_size() {
        let dir = std::env::temp_dir().join(format!("wend-demo-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b) = (dir.join("a"), dir.join("b"));
        let stop = AtomicBool::new(false);
        generate(&a, 300_001, &stop).unwrap();
        generate(&b, 300_001, &stop).unwrap();
        let (x, y) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(x.len(), 300_001);
        assert_eq!(x, y);
        // Text, with repeated words: not noise.
        assert!(x.iter().all(|&c| c == b'\n'
            || c == b' '
            || c.is_ascii_alphanumeric()
            || c == b'+'
            || c == b'/'));
        assert!(x.iter().filter(|&&c| c == b'\n').count() > 3000);
    }

    #[test]
    fn stops_when_told() {
        let path = std::env::temp_dir().join(format!("wend-demo-stop-{}", std::process::id()));
        let stop = AtomicBool::new(true);
        assert!(generate(&path, 10_000_000, &stop).is_err());
        let _ = std::fs::remove_file(&path);
    }
}
