//! Write and read throughput of the image codec on 256 MiB of realistic data.
//!
//! `cargo bench -p wend-image --bench codec`; results are recorded in docs/perf/image-codec.md.
//! Data sets: `random` (incompressible), `zero` (untouched heap), `text` (words, compressible),
//! `mixed` (a page-wise third of each, the shape of a typical process). Writes go through
//! `write_pages_with` in 4 MiB chunks, the way the engine reads process memory.

use std::hint::black_box;
use std::io::{self, Write};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use wend_image::{
    AtomicFile, Compression, ImageError, ImageReader, ImageWriter, Record, WriteOptions,
};

const SIZE: usize = 256 << 20;
const CHUNK: usize = 4 << 20;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn random_page(rng: &mut Rng, p: &mut [u8]) {
    for c in p.chunks_mut(8) {
        c.copy_from_slice(&rng.next().to_le_bytes());
    }
}

fn text_page(rng: &mut Rng, p: &mut [u8]) {
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
    let mut i = 0;
    while i < p.len() {
        let w = WORDS[(rng.next() % WORDS.len() as u64) as usize];
        let n = w.len().min(p.len() - i);
        p[i..i + n].copy_from_slice(&w[..n]);
        i += n;
    }
}

fn dataset(name: &str) -> Vec<u8> {
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
            0 => random_page(&mut rng, p),
            1 => {}
            _ => text_page(&mut rng, p),
        }
    }
    data
}

fn write_image<W: Write + Send + 'static>(
    out: W,
    data: &[u8],
    c: Compression,
    adaptive: bool,
) -> W {
    let opts = WriteOptions {
        compression: c,
        adaptive,
        ..WriteOptions::default()
    };
    let mut w = ImageWriter::spawn(out, &opts).unwrap();
    w.write_meta(&("bench", 1u64)).unwrap();
    for (i, chunk) in data.chunks(CHUNK).enumerate() {
        w.write_pages_with(
            0x7f00_0000_0000 + (i * CHUNK) as u64,
            chunk.len() as u64,
            |a, buf| {
                let off = (a - 0x7f00_0000_0000) as usize - i * CHUNK;
                buf.copy_from_slice(&chunk[off..off + buf.len()]);
                Ok::<(), ImageError>(())
            },
        )
        .unwrap();
    }
    w.finish().unwrap().0
}

fn read_image(input: impl io::Read) -> u64 {
    let mut r = ImageReader::new(input).unwrap();
    let _: (String, u64) = r.read_meta().unwrap();
    let mut acc = 0u64;
    while let Some(rec) = r.next_record().unwrap() {
        match rec {
            Record::Pages { data, .. } | Record::Blob { data, .. } => {
                acc = acc.wrapping_add(u64::from(data[data.len() - 1]));
            }
            Record::Zero { len, .. } => acc = acc.wrapping_add(len),
        }
    }
    acc
}

fn compressions() -> [(&'static str, Compression); 4] {
    [
        ("none", Compression::None),
        ("lz4", Compression::Lz4),
        ("zstd-1", Compression::Zstd(1)),
        ("zstd-3", Compression::Zstd(3)),
    ]
}

fn mib(n: usize) -> f64 {
    n as f64 / f64::from(1 << 20)
}

fn bench(c: &mut Criterion) {
    // write/<codec>/<data>: the pipeline as the engine uses it (background thread, adaptive
    // compression) into a sink that costs nothing: the codec's own CPU cost.
    // forced/<codec>/<data>: every frame compressed: what each codec costs and saves.
    // file/...: into an AtomicFile in the target directory, commit (fsync) included.
    // read/<image>: decoding images written with forced compression, checksums included.
    let mut write = c.benchmark_group("write");
    write.throughput(Throughput::Bytes(SIZE as u64));
    write.sample_size(10).warm_up_time(Duration::from_secs(1));
    write.measurement_time(Duration::from_secs(4));
    let mut read = Vec::new();
    let mut mixed = Vec::new();
    for name in ["mixed", "random", "text", "zero"] {
        let data = dataset(name);
        for (cname, comp) in compressions() {
            // All codecs on the mixed and text sets; lz4 (the default) alone on the others.
            if !matches!(name, "mixed" | "text") && cname != "lz4" {
                continue;
            }
            let adaptive = write_image(Vec::with_capacity(SIZE), &data, comp, true);
            let forced = write_image(Vec::with_capacity(SIZE), &data, comp, false);
            eprintln!(
                "{name}/{cname}: {} MiB -> {:.1} MiB stored adaptive, {:.1} MiB forced",
                SIZE >> 20,
                mib(adaptive.len()),
                mib(forced.len())
            );
            write.bench_with_input(BenchmarkId::new(cname, name), &data, |b, d| {
                b.iter(|| black_box(write_image(io::sink(), d, comp, true)))
            });
            if cname != "none" && name != "zero" {
                write.bench_with_input(
                    BenchmarkId::new(format!("forced-{cname}"), name),
                    &data,
                    |b, d| b.iter(|| black_box(write_image(io::sink(), d, comp, false))),
                );
            }
            read.push((format!("{cname}/{name}"), forced));
        }
        if name == "mixed" {
            mixed = data;
        }
    }
    write.finish();

    let mut file = c.benchmark_group("file");
    file.throughput(Throughput::Bytes(SIZE as u64));
    file.sample_size(10).warm_up_time(Duration::from_secs(1));
    file.measurement_time(Duration::from_secs(8));
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(std::env::temp_dir, Into::into);
    let target = dir.join(format!("wend-image-bench-{}.img", std::process::id()));
    for (cname, comp) in [("none", Compression::None), ("lz4", Compression::Lz4)] {
        file.bench_function(BenchmarkId::new(format!("{cname}-commit"), "mixed"), |b| {
            b.iter(|| {
                let out = AtomicFile::create(&target).unwrap();
                write_image(out, &mixed, comp, true).commit().unwrap();
            })
        });
    }
    file.bench_function(BenchmarkId::new("read", "mixed"), |b| {
        b.iter(|| black_box(read_image(std::fs::File::open(&target).unwrap())))
    });
    let _ = std::fs::remove_file(&target);
    file.finish();

    let mut group = c.benchmark_group("read");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sample_size(10).warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    for (id, image) in &read {
        group.bench_with_input(BenchmarkId::from_parameter(id), image, |b, img| {
            b.iter(|| black_box(read_image(&img[..])))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
