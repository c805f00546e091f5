//! Random corruption and truncation of valid images (seeded, so failures reproduce): the reader
//! must never panic, and must never accept an image whose contents changed.

mod common;

use common::{read_all, sample_image, Rng};
use wend_image::{Compression, ImageError};

/// Walks a valid image and returns (offset, stored_len) of each record.
fn records(b: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 128;
    while at + 32 <= b.len() {
        let stored = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
        out.push((at, stored));
        at += 32 + stored;
    }
    out
}

/// Recomputes a record's checksum so that a mutation reaches the checks behind it.
fn reseal(b: &mut [u8], at: usize) {
    let stored = u32::from_le_bytes(b[at + 4..at + 8].try_into().unwrap()) as usize;
    let end = (at + 32 + stored).min(b.len());
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[at..at + 28]), &b[at + 32..end]);
    b[at + 28..at + 32].copy_from_slice(&crc.to_le_bytes());
}

const EDGE: [u64; 8] = [0, 1, 4095, 4096, 1 << 20, 1 << 32, u64::MAX / 2, u64::MAX];

fn mutate(rng: &mut Rng, clean: &[u8]) -> Vec<u8> {
    let mut b = clean.to_vec();
    let recs = records(clean);
    for _ in 0..1 + rng.below(3) {
        if b.is_empty() {
            break;
        }
        let len = b.len() as u64;
        match rng.below(9) {
            0 => {
                let i = rng.below(len) as usize;
                b[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(len) as usize;
                b[i] = rng.next() as u8;
            }
            2 => b.truncate(rng.below(len) as usize),
            3 => {
                let i = rng.below(len) as usize;
                let n = 1 + rng.below(64) as usize;
                let junk: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
                b.splice(i..i, junk);
            }
            4 => {
                let i = rng.below(len) as usize;
                let n = (1 + rng.below(4096) as usize).min(b.len() - i);
                b.drain(i..i + n);
            }
            5 => {
                // Duplicate a whole record.
                let (at, stored) = recs[rng.below(recs.len() as u64) as usize];
                if at + 32 + stored <= b.len() {
                    let rec = b[at..at + 32 + stored].to_vec();
                    b.splice(at..at, rec);
                }
            }
            // Edit a record header field or payload, then fix its checksum: the structural
            // checks and the decompressors must hold on their own.
            _ => {
                let (at, stored) = recs[rng.below(recs.len() as u64) as usize];
                if at + 32 > b.len() {
                    continue;
                }
                match rng.below(4) {
                    0 => {
                        let field = [4usize, 8, 16, 24][rng.below(4) as usize];
                        let v = EDGE[rng.below(EDGE.len() as u64) as usize].to_le_bytes();
                        let w = if field == 4 || field == 24 { 4 } else { 8 };
                        b[at + field..at + field + w].copy_from_slice(&v[..w]);
                    }
                    1 => b[at + rng.below(4) as usize] = rng.next() as u8,
                    _ if stored > 0 && at + 32 + stored <= b.len() => {
                        let i = at + 32 + rng.below(stored as u64) as usize;
                        b[i] = rng.next() as u8;
                    }
                    _ => {}
                }
                if at + 32 <= b.len() {
                    reseal(&mut b, at);
                }
            }
        }
    }
    b
}

fn check(seed: u64, compression: Compression, threaded: bool, rounds: u32) {
    let clean = sample_image(compression, 48, threaded);
    let expected = read_all(&clean).unwrap();
    let mut rng = Rng(seed);
    let mut rejected = 0;
    for round in 0..rounds {
        let b = mutate(&mut rng, &clean);
        // A panic here fails the test with the round number in the output. Both readers
        // must agree on every input.
        let spawned = common::read_all_spawned(&b);
        let direct = read_all(&b);
        match (&direct, &spawned) {
            (Ok(d), Ok(s)) => assert_eq!(d, s, "round {round}"),
            (Err(d), Err(s)) => assert_eq!(d.to_string(), s.to_string(), "round {round}"),
            _ => panic!("round {round}: readers disagree: {direct:?} vs {spawned:?}"),
        }
        match direct {
            Ok(got) => {
                assert_eq!(
                    got.0, expected.0,
                    "round {round}: metadata changed but accepted"
                );
                assert_eq!(
                    got.1, expected.1,
                    "round {round}: contents changed but accepted"
                );
            }
            Err(e) => {
                rejected += 1;
                assert!(
                    !matches!(
                        e,
                        ImageError::Usage(_)
                            | ImageError::WriterPanicked
                            | ImageError::ReaderPanicked
                    ),
                    "{e:?}"
                );
            }
        }
    }
    assert!(
        rejected > rounds / 2,
        "most mutations must be caught ({rejected}/{rounds})"
    );
}

#[test]
fn mutations_lz4() {
    check(0x5eed_0001, Compression::Lz4, false, 1500);
}

#[test]
fn mutations_zstd() {
    check(0x5eed_0002, Compression::Zstd(1), true, 800);
}

#[test]
fn mutations_uncompressed() {
    check(0x5eed_0003, Compression::None, false, 1500);
}

/// Every prefix of a small image is a truncation, never success, never a panic.
#[test]
fn every_prefix_is_rejected() {
    let clean = sample_image(Compression::Lz4, 3, false);
    for cut in 0..clean.len() {
        match read_all(&clean[..cut]) {
            Err(ImageError::Truncated { .. }) => {}
            Err(ImageError::NotAnImage { .. }) if cut == 0 => {}
            other => panic!("prefix of {cut} bytes: {:?}", other.map(|_| ())),
        }
    }
}

/// Random write sequences read back exactly (a property test with a seeded generator).
#[test]
fn random_write_sequences_round_trip() {
    let mut rng = Rng(0xfeed);
    for case in 0..40 {
        let compression = [Compression::None, Compression::Lz4, Compression::Zstd(-1)][case % 3];
        let opts = wend_image::WriteOptions {
            compression,
            frame_size: 4096 * (1 + rng.below(8) as usize),
            queue_depth: 1 + rng.below(3) as usize,
            adaptive: rng.below(2) == 0,
        };
        let mut w = if case % 2 == 0 {
            wend_image::ImageWriter::new(Vec::new(), &opts).unwrap()
        } else {
            wend_image::ImageWriter::spawn(Vec::new(), &opts).unwrap()
        };
        w.write_meta(&common::meta()).unwrap();
        let mut want = common::Contents::default();
        let mut next_addr = 0x10000u64;
        for _ in 0..rng.below(12) {
            if rng.below(4) == 0 {
                let id = rng.below(5) as u32 + 100 * case as u32;
                let data = common::mixed_pages(rng.next(), 1 + rng.below(5) as usize);
                let data = &data[..rng.below(data.len() as u64) as usize];
                w.write_blob(id, data).unwrap();
                want.blobs.entry(id).or_default().extend_from_slice(data);
            } else {
                let pages = 1 + rng.below(40) as usize;
                let data = common::mixed_pages(rng.next(), pages);
                w.write_pages(next_addr, &data).unwrap();
                for (i, p) in data.chunks(4096).enumerate() {
                    want.memory.insert(next_addr + 4096 * i as u64, p.to_vec());
                }
                next_addr += 4096 * (pages as u64 + rng.below(3));
            }
        }
        let (bytes, stats) = w.finish().unwrap();
        let (_, got, rstats) = read_all(&bytes).unwrap();
        assert_eq!(got, want, "case {case}");
        assert_eq!(rstats, stats, "case {case}");
    }
}
