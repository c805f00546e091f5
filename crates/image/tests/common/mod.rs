//! Helpers shared by the integration tests: deterministic data and sample images.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};
use wend_image::{Compression, ImageReader, ImageStats, ImageWriter, Record, WriteOptions};

/// A stand-in metadata type: the codec is generic over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub name: String,
    pub regs: Vec<u64>,
    pub areas: Vec<(u64, u64)>,
}

pub fn meta() -> Meta {
    Meta {
        name: "guest".into(),
        regs: (0..27).collect(),
        areas: vec![(0x10000, 0x30000)],
    }
}

/// xorshift64*: deterministic pseudo-random bytes without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// Pages that mix random, zero and text-like content, `pages` pages long.
pub fn mixed_pages(seed: u64, pages: usize) -> Vec<u8> {
    let mut rng = Rng(seed | 1);
    let mut data = vec![0u8; pages * 4096];
    for p in data.chunks_mut(4096) {
        match rng.below(3) {
            0 => rng.fill(p),
            1 => {}
            _ => {
                let words: [&[u8]; 6] = [
                    b"migrate ",
                    b"process ",
                    b"page ",
                    b"the ",
                    b"node\n",
                    b"wend ",
                ];
                let mut i = 0;
                while i < p.len() {
                    let w = words[rng.below(6) as usize];
                    let n = w.len().min(p.len() - i);
                    p[i..i + n].copy_from_slice(&w[..n]);
                    i += n;
                }
            }
        }
    }
    data
}

/// What a reader yields, owned, with zero runs expanded to (addr, len).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Contents {
    /// Every page address with its content (zero pages as all-zero).
    pub memory: std::collections::BTreeMap<u64, Vec<u8>>,
    pub blobs: std::collections::BTreeMap<u32, Vec<u8>>,
}

pub fn read_all(bytes: &[u8]) -> Result<(Meta, Contents, ImageStats), wend_image::ImageError> {
    read_with(ImageReader::new(bytes)?)
}

/// Like [`read_all`], with the prefetching reader.
pub fn read_all_spawned(
    bytes: &[u8],
) -> Result<(Meta, Contents, ImageStats), wend_image::ImageError> {
    read_with(ImageReader::spawn(std::io::Cursor::new(bytes.to_vec()))?)
}

pub fn read_with<R: std::io::Read>(
    mut r: ImageReader<R>,
) -> Result<(Meta, Contents, ImageStats), wend_image::ImageError> {
    let meta: Meta = r.read_meta()?;
    let mut c = Contents::default();
    // Zero runs are expanded only once the whole image checked out: a corrupted length must
    // not make the test itself allocate gigabytes.
    let mut zeros = Vec::new();
    while let Some(rec) = r.next_record()? {
        match rec {
            Record::Pages { addr, data } => {
                for (i, p) in data.chunks(4096).enumerate() {
                    c.memory.insert(addr + 4096 * i as u64, p.to_vec());
                }
            }
            Record::Zero { addr, len } => zeros.push((addr, len)),
            Record::Blob { id, data } => c.blobs.entry(id).or_default().extend_from_slice(data),
        }
    }
    r.expect_eof()?;
    for (addr, len) in zeros {
        for i in 0..len / 4096 {
            c.memory.insert(addr + 4096 * i, vec![0; 4096]);
        }
    }
    Ok((meta, c, *r.stats()))
}

/// A valid image: metadata, `pages` mixed pages at 0x400000, one blob.
pub fn sample_image(compression: Compression, pages: usize, threaded: bool) -> Vec<u8> {
    let opts = WriteOptions {
        compression,
        ..WriteOptions::default()
    };
    let data = mixed_pages(7, pages);
    let blob = mixed_pages(9, 3);
    let (out, _) = if threaded {
        let mut w = ImageWriter::spawn(Vec::new(), &opts).unwrap();
        w.write_meta(&meta()).unwrap();
        w.write_pages(0x400000, &data).unwrap();
        w.write_blob(3, &blob[..10000]).unwrap();
        w.finish().unwrap()
    } else {
        let mut w = ImageWriter::new(Vec::new(), &opts).unwrap();
        w.write_meta(&meta()).unwrap();
        w.write_pages(0x400000, &data).unwrap();
        w.write_blob(3, &blob[..10000]).unwrap();
        w.finish().unwrap()
    };
    out
}
