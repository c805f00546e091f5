//! Round trips: what goes in comes out, with every compression and both writer modes.

mod common;

use common::{meta, mixed_pages, read_all, Meta};
use wend_image::{Compression, ImageReader, ImageWriter, Record, WriteOptions};

fn roundtrip(compression: Compression, threaded: bool) {
    let opts = WriteOptions {
        compression,
        ..WriteOptions::default()
    };
    // 3 MiB + 5 pages of mixed content, a separate all-zero area, and blobs.
    let data = mixed_pages(1, 773);
    let zeros = vec![0u8; 40 * 4096];
    let big_blob = mixed_pages(2, 600);
    let mut w = if threaded {
        ImageWriter::spawn(Vec::new(), &opts).unwrap()
    } else {
        ImageWriter::new(Vec::new(), &opts).unwrap()
    };
    w.write_meta(&meta()).unwrap();
    w.write_pages(0x7f00_0000_0000, &data).unwrap();
    w.write_pages(0x1000_0000, &zeros).unwrap();
    w.write_pages_with(0x2000_0000, 8 * 4096, |addr, buf| {
        for (i, page) in buf.chunks_mut(4096).enumerate() {
            page.fill(((addr >> 12) + i as u64) as u8);
        }
        Ok::<(), wend_image::ImageError>(())
    })
    .unwrap();
    w.write_blob(1, b"deleted file content").unwrap();
    w.write_blob(2, &big_blob).unwrap();
    w.write_blob(5, &[]).unwrap();
    let (bytes, wstats) = w.finish().unwrap();
    assert_eq!(wstats.stored_bytes, bytes.len() as u64);

    let (m, c, rstats): (Meta, _, _) = read_all(&bytes).unwrap();
    let spawned = common::read_all_spawned(&bytes).unwrap();
    assert_eq!(spawned.0, m);
    assert_eq!(
        spawned.1, c,
        "the prefetching reader yields the same records"
    );
    assert_eq!(spawned.2, rstats);
    assert_eq!(m, meta());
    assert_eq!(rstats, wstats, "reader recomputes the writer's stats");
    for (i, page) in data.chunks(4096).enumerate() {
        assert_eq!(
            c.memory[&(0x7f00_0000_0000 + 4096 * i as u64)],
            page,
            "page {i}"
        );
    }
    for i in 0..40u64 {
        assert!(c.memory[&(0x1000_0000 + 4096 * i)].iter().all(|&b| b == 0));
    }
    for i in 0..8u64 {
        let addr = 0x2000_0000 + 4096 * i;
        assert!(c.memory[&addr].iter().all(|&b| b == (addr >> 12) as u8));
    }
    assert_eq!(c.memory.len(), 773 + 40 + 8);
    assert_eq!(c.blobs[&1], b"deleted file content");
    assert_eq!(c.blobs[&2], big_blob);
    assert!(c.blobs[&5].is_empty());
    assert_eq!(wstats.pages + wstats.zero_pages, 773 + 40 + 8);
    assert!(wstats.zero_pages >= 40);
    if compression != Compression::None {
        assert!(wstats.compressed_records > 0);
        assert!(wstats.stored_bytes < wstats.raw_bytes);
    }
}

#[test]
fn roundtrip_inline_lz4() {
    roundtrip(Compression::Lz4, false);
}

#[test]
fn roundtrip_threaded_lz4() {
    roundtrip(Compression::Lz4, true);
}

#[test]
fn roundtrip_inline_none() {
    roundtrip(Compression::None, false);
}

#[test]
fn roundtrip_threaded_zstd() {
    roundtrip(Compression::Zstd(3), true);
}

#[test]
fn roundtrip_inline_zstd_fast() {
    roundtrip(Compression::Zstd(-3), false);
}

#[test]
fn zero_pages_merge_into_one_record() {
    let mut w = ImageWriter::new(Vec::new(), &WriteOptions::default()).unwrap();
    w.write_meta(&meta()).unwrap();
    // 5 MiB of zeros in several calls and frames: one zero record.
    for i in 0..5u64 {
        w.write_pages(0x100000 * i, &vec![0u8; 0x100000]).unwrap();
    }
    let (bytes, stats) = w.finish().unwrap();
    assert_eq!(stats.zero_pages, 5 * 256);
    assert_eq!(stats.records, 2, "metadata + one zero run");
    let mut r = ImageReader::new(&bytes[..]).unwrap();
    let _: Meta = r.read_meta().unwrap();
    assert_eq!(
        r.next_record().unwrap(),
        Some(Record::Zero {
            addr: 0,
            len: 5 << 20
        })
    );
    assert_eq!(r.next_record().unwrap(), None);
    assert_eq!(r.next_record().unwrap(), None, "stays at the end");
}

#[test]
fn header_describes_the_writer() {
    let bytes = common::sample_image(Compression::Lz4, 4, false);
    let r = ImageReader::new(&bytes[..]).unwrap();
    let h = r.header();
    assert_eq!(h.format_version, wend_image::FORMAT_VERSION);
    assert_eq!(h.arch, wend_image::Arch::host());
    assert!(h.creator.starts_with("wend "));
    assert_eq!(&bytes[..7], b"WENDIMG");
    assert!(h.created_unix_ns > 0);
}

#[test]
fn next_record_skips_unread_metadata() {
    let bytes = common::sample_image(Compression::Lz4, 16, true);
    let mut r = ImageReader::new(&bytes[..]).unwrap();
    let mut n = 0;
    while r.next_record().unwrap().is_some() {
        n += 1;
    }
    assert!(n > 0);
    assert!(r.is_done());
}

#[test]
fn spawned_reader_can_stop_early_and_reads_blobs() {
    let bytes = common::sample_image(Compression::Lz4, 600, true);
    // Dropped in the middle, with the thread ahead of us: no hang, no leak of the caller.
    let mut r = ImageReader::spawn(std::io::Cursor::new(bytes.clone())).unwrap();
    let _: Meta = r.read_meta().unwrap();
    assert!(r.next_record().unwrap().is_some());
    drop(r);
    // Read to the end without reading the metadata first.
    let mut r = ImageReader::spawn(std::io::Cursor::new(bytes)).unwrap();
    let mut blob = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        if let Record::Blob { id: 3, data } = rec {
            blob.extend_from_slice(data);
        }
    }
    assert_eq!(blob.len(), 10000);
    assert!(r.is_done());
    assert!(r.stats().records > 0);
    r.expect_eof().unwrap();
}
