//! CPU-time (not wall-time) cost of the codec, robust on a loaded machine: each figure is
//! 256 MiB divided by the CPU time the work took (this thread's for encode and decode, all
//! threads' for the pipeline), read from /proc/*/schedstat.
//!
//! `cargo bench -p wend-image --bench cpu`. encode: inline writer, every frame compressed
//! (adaptive off) into a sink. decode: reader over that image, checksums included. pipeline:
//! `ImageWriter::spawn` with adaptive compression into a sink, fed by `write_pages_with` in
//! 4 MiB chunks, the way the engine uses it.
use std::io;
use wend_image::{Compression, ImageError, ImageReader, ImageWriter, Record, WriteOptions};

fn thread_cpu_ns() -> u64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse().unwrap()
}
fn process_cpu_ns() -> u64 {
    let mut t = 0;
    for e in std::fs::read_dir("/proc/self/task").unwrap() {
        let p = e.unwrap().path().join("schedstat");
        if let Ok(s) = std::fs::read_to_string(p) {
            t += s.split_whitespace().next().unwrap().parse::<u64>().unwrap();
        }
    }
    t
}
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
const SIZE: usize = 256 << 20;
fn dataset(name: &str) -> Vec<u8> {
    const WORDS: [&[u8]; 12] = [
        b"the ",
        b"process ",
        b"migrates ",
        b"to ",
        b"an ",
        b"idle ",
        b"node ",
        b"while ",
        b"it ",
        b"runs, ",
        b"0x7ffd3a2c ",
        b"\n",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut data = vec![0u8; SIZE];
    for p in data.chunks_mut(4096) {
        let kind = match name {
            "random" => 0,
            "zero" => 1,
            "text" => 2,
            _ => rng.next() % 3,
        };
        match kind {
            0 => {
                for c in p.chunks_mut(8) {
                    c.copy_from_slice(&rng.next().to_le_bytes());
                }
            }
            1 => {}
            _ => {
                let mut i = 0;
                while i < p.len() {
                    let w = WORDS[(rng.next() % 12) as usize];
                    let n = w.len().min(p.len() - i);
                    p[i..i + n].copy_from_slice(&w[..n]);
                    i += n;
                }
            }
        }
    }
    data
}
fn gibps(bytes: usize, ns: u64) -> f64 {
    bytes as f64 / (1u64 << 30) as f64 / (ns as f64 / 1e9)
}
fn main() {
    println!(
        "{:<8} {:<7} {:>9} {:>13} {:>13} {:>15}",
        "data", "codec", "stored", "encode GiB/s", "decode GiB/s", "pipeline GiB/s"
    );
    for name in ["mixed", "text", "random", "zero"] {
        let data = dataset(name);
        for (cname, c) in [
            ("none", Compression::None),
            ("lz4", Compression::Lz4),
            ("zstd-1", Compression::Zstd(1)),
            ("zstd-3", Compression::Zstd(3)),
        ] {
            if name != "mixed" && name != "text" && cname.starts_with("zstd") {
                continue;
            }
            let opts = WriteOptions {
                compression: c,
                adaptive: false,
                ..Default::default()
            };
            let mut w = ImageWriter::new(Vec::with_capacity(SIZE + (1 << 20)), &opts).unwrap();
            w.write_meta(&1u32).unwrap();
            w.write_pages(0x10000000, &data).unwrap();
            let (img, _) = w.finish().unwrap();
            // Timed again into a sink: the codec's cost without the Vec's page faults.
            let t = thread_cpu_ns();
            let mut w = ImageWriter::new(io::sink(), &opts).unwrap();
            w.write_meta(&1u32).unwrap();
            w.write_pages(0x10000000, &data).unwrap();
            w.finish().unwrap();
            let enc = thread_cpu_ns() - t;
            let t = thread_cpu_ns();
            let mut r = ImageReader::new(&img[..]).unwrap();
            let _: u32 = r.read_meta().unwrap();
            let mut acc = 0u64;
            while let Some(rec) = r.next_record().unwrap() {
                if let Record::Pages { data, .. } = rec {
                    acc += data[0] as u64;
                }
            }
            std::hint::black_box(acc);
            let dec = thread_cpu_ns() - t;
            // The pipeline as used (spawn, adaptive) into a sink: all threads' CPU time.
            let opts = WriteOptions {
                compression: c,
                ..Default::default()
            };
            let t = process_cpu_ns();
            let mut w = ImageWriter::spawn(io::sink(), &opts).unwrap();
            w.write_meta(&1u32).unwrap();
            for (i, ch) in data.chunks(4 << 20).enumerate() {
                let base = 0x10000000 + (i << 22) as u64;
                w.write_pages_with(base, ch.len() as u64, |a, buf| {
                    let o = (a - base) as usize;
                    buf.copy_from_slice(&ch[o..o + buf.len()]);
                    Ok::<(), ImageError>(())
                })
                .unwrap();
            }
            w.finish().unwrap();
            let pipe = process_cpu_ns() - t;
            println!(
                "{:<8} {:<7} {:>8.1}M {:>13.2} {:>13.2} {:>15.2}",
                name,
                cname,
                img.len() as f64 / 1048576.0,
                gibps(SIZE, enc),
                gibps(SIZE, dec),
                gibps(SIZE, pipe)
            );
        }
    }
}
