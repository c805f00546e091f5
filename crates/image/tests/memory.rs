//! Bounded memory: writing and reading a large image keeps the process's peak RSS far below
//! the image size (wend's budget is 64 MiB whatever the image size). Alone in its own test
//! binary, so no other test moves the high-water mark.

mod common;

use std::fs::File;
use std::io::BufWriter;

use common::Rng;
use wend_image::{Compression, ImageError, ImageReader, ImageWriter, Record, WriteOptions};

/// Peak resident set size of this process, in bytes (VmHWM).
fn peak_rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kib * 1024
}

const SIZE: u64 = 384 << 20;

#[test]
fn large_image_streams_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.img");
    let before = peak_rss();

    let out = BufWriter::new(File::create(&path).unwrap());
    let opts = WriteOptions {
        compression: Compression::Lz4,
        adaptive: false,
        ..Default::default()
    };
    let mut w = ImageWriter::spawn(out, &opts).unwrap();
    w.write_meta(&common::meta()).unwrap();
    let mut rng = Rng(77);
    // Pages filled with one byte each (compress well, keep the file small) and, one page in
    // sixteen, random bytes (stored raw).
    w.write_pages_with(0x10_0000_0000, SIZE, |addr, buf| {
        for (i, page) in buf.chunks_mut(4096).enumerate() {
            let n = (addr >> 12) + i as u64;
            if n.is_multiple_of(16) {
                rng.fill(page);
            } else {
                page.fill(n as u8 | 1);
            }
        }
        Ok::<(), ImageError>(())
    })
    .unwrap();
    let (_, stats) = w.finish().unwrap();
    assert_eq!(stats.pages, SIZE / 4096);

    // The prefetching reader: its pool is bounded too.
    let mut r = ImageReader::spawn(File::open(&path).unwrap()).unwrap();
    let _: common::Meta = r.read_meta().unwrap();
    let mut seen = 0u64;
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Pages { addr, data } = rec {
            for (i, page) in data.chunks(4096).enumerate() {
                let n = (addr >> 12) + i as u64;
                if !n.is_multiple_of(16) {
                    assert!(page.iter().all(|&b| b == n as u8 | 1), "page {n:#x}");
                }
            }
            seen += data.len() as u64;
        }
    }
    assert_eq!(seen, SIZE);

    let grown = peak_rss().saturating_sub(before);
    eprintln!(
        "peak RSS grew by {} KiB for a {} MiB image",
        grown >> 10,
        SIZE >> 20
    );
    assert!(
        grown < 48 << 20,
        "peak RSS grew by {} MiB for a {} MiB image",
        grown >> 20,
        SIZE >> 20
    );
}
