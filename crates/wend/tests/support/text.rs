//! Deterministic text input for the tool tests, and the python3 program they run on it.

/// Counts words and hashes the text read from stdin, printing progress every 5000 lines.
pub const WORD_COUNT_PY: &str = r#"
import sys
counts = {}
h = 0
for n, line in enumerate(sys.stdin):
    for w in line.split():
        counts[w] = counts.get(w, 0) + 1
        for ch in w:
            h = (h * 131 + ord(ch)) % 1000000007
    if n % 5000 == 0:
        print(n, h, flush=True)
for w in sorted(counts):
    print(w, counts[w])
"#;

/// `unique_kib` KiB of lines of 12 words from a 4000-word vocabulary (words of 2 to
/// `max_word + 1` letters, drawn by a xorshift generator from `seed`), repeated (each copy with
/// its own header line) up to `total_kib`.
pub fn words(total_kib: usize, unique_kib: usize, seed: u64, max_word: u64) -> Vec<u8> {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let vocab: Vec<Vec<u8>> = (0..4000)
        .map(|_| {
            let len = 2 + (next() % max_word) as usize;
            (0..len).map(|_| b'a' + (next() % 26) as u8).collect()
        })
        .collect();
    let mut unique = Vec::with_capacity(unique_kib * 1024 + 128);
    while unique.len() < unique_kib * 1024 {
        for w in 0..12 {
            if w > 0 {
                unique.push(b' ');
            }
            unique.extend_from_slice(&vocab[(next() % 4000) as usize]);
        }
        unique.push(b'\n');
    }
    let mut out = Vec::with_capacity(total_kib * 1024 + unique.len());
    let mut copy = 0;
    while out.len() < total_kib * 1024 {
        out.extend_from_slice(format!("copy {copy}\n").as_bytes());
        out.extend_from_slice(&unique);
        copy += 1;
    }
    out
}
