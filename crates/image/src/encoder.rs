//! The sequential heart of the writer: turns metadata, page frames and blobs into checksummed
//! records on the output. [`crate::ImageWriter`] runs it inline or on a background thread.

use std::io::{BufWriter, Write};
use std::time::Instant;

use serde::Serialize;

use crate::compress::FrameCompressor;
use crate::error::ImageError;
use crate::format::{
    self, Counts, ImageHeader, Kind, RecordHeader, CODEC_NONE, PAGE_SIZE, RECORD_HEADER_LEN,
};
use crate::writer::WriteOptions;

/// What a finished writer reports: the trailer's counts plus how frames were stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ImageStats {
    /// Bytes the image stands for once decoded: metadata, pages (zero runs included), blobs.
    pub raw_bytes: u64,
    /// Bytes actually written: header, records and trailer.
    pub stored_bytes: u64,
    /// Pages stored with their contents.
    pub pages: u64,
    /// Pages elided because they were all zero.
    pub zero_pages: u64,
    /// Bytes of blob data.
    pub blob_bytes: u64,
    /// Records written, trailer excluded.
    pub records: u64,
    /// Page and blob records stored compressed.
    pub compressed_records: u64,
    /// Page and blob records stored raw (compression off, skipped or not worthwhile).
    pub raw_records: u64,
}

/// The raw output: a buffered sink, the running checksum and the trailer counts.
struct Sink<W: Write> {
    out: BufWriter<W>,
    counts: Counts,
    chain: u32,
}

impl<W: Write> Sink<W> {
    /// Writes one record: header (with checksum) then the stored payload. Records before the
    /// trailer (`chained`) enter the running checksum and the counts.
    fn record(&mut self, h: RecordHeader, payload: &[u8], chained: bool) -> Result<(), ImageError> {
        let mut hb = h.encode();
        let crc = format::record_crc(&hb, payload);
        hb[28..32].copy_from_slice(&crc.to_le_bytes());
        self.out.write_all(&hb)?;
        self.out.write_all(payload)?;
        if chained {
            self.chain = format::chain(self.chain, crc);
            self.counts.records += 1;
            self.counts.raw_bytes += h.raw_len;
            self.counts.stored_bytes += (RECORD_HEADER_LEN + payload.len()) as u64;
        }
        Ok(())
    }
}

/// The encoder: sink, compressor, statistics and the pending zero run.
pub(crate) struct Encoder<W: Write> {
    sink: Sink<W>,
    compressor: FrameCompressor,
    stats: ImageStats,
    /// A zero run not yet written: (address, length), merged with contiguous runs.
    pending_zero: Option<(u64, u64)>,
}

impl<W: Write> Encoder<W> {
    pub fn new(out: W, opts: &WriteOptions) -> Result<Self, ImageError> {
        let (compression, frame_size) = (opts.compression, opts.frame_size);
        let header = ImageHeader::new(compression.header_flags(), frame_size as u32);
        let bytes = header.encode();
        let mut out = BufWriter::with_capacity(64 << 10, out);
        out.write_all(&bytes)?;
        let counts = Counts {
            stored_bytes: bytes.len() as u64,
            ..Counts::default()
        };
        let sink = Sink {
            out,
            counts,
            chain: crc32c::crc32c(&bytes),
        };
        Ok(Encoder {
            sink,
            compressor: FrameCompressor::new(compression, opts.adaptive)?,
            stats: ImageStats::default(),
            pending_zero: None,
        })
    }

    /// A record whose payload may be compressed; returns the codec used.
    fn data_record(
        &mut self,
        kind: Kind,
        pos: u64,
        id: u32,
        data: &[u8],
        busy: bool,
    ) -> Result<u8, ImageError> {
        let (codec, stored) = self.compressor.compress(data, busy)?;
        let h = RecordHeader {
            kind: kind as u8,
            codec,
            stored_len: stored.len() as u32,
            raw_len: data.len() as u64,
            pos,
            id,
        };
        let written = stored.len() + RECORD_HEADER_LEN;
        let start = Instant::now();
        self.sink.record(h, stored, true)?;
        let ns = start.elapsed().as_nanos() as f64;
        self.compressor.write_rate.add(ns, written);
        Ok(codec)
    }

    fn frame_record(
        &mut self,
        kind: Kind,
        pos: u64,
        id: u32,
        data: &[u8],
        busy: bool,
    ) -> Result<(), ImageError> {
        if self.data_record(kind, pos, id, data, busy)? == CODEC_NONE {
            self.stats.raw_records += 1;
        } else {
            self.stats.compressed_records += 1;
        }
        Ok(())
    }

    pub fn meta(&mut self, bytes: &[u8]) -> Result<(), ImageError> {
        self.data_record(Kind::Meta, 0, 0, bytes, false).map(|_| ())
    }

    /// Page data at `addr`; `data.len()` is a multiple of the page size and at most one frame.
    /// Runs of all-zero pages become zero records; the rest are stored per run.
    /// `busy` tells the compressor that the producer waits on this encoder.
    pub fn pages(&mut self, addr: u64, data: &[u8], busy: bool) -> Result<(), ImageError> {
        let mut i = 0;
        while i < data.len() {
            let zero = is_zero(&data[i..i + PAGE_SIZE]);
            let mut j = i + PAGE_SIZE;
            while j < data.len() && is_zero(&data[j..j + PAGE_SIZE]) == zero {
                j += PAGE_SIZE;
            }
            let run_addr = addr + i as u64;
            let run_len = (j - i) as u64;
            if zero {
                self.zero_run(run_addr, run_len)?;
            } else {
                self.flush_zero()?;
                self.frame_record(Kind::Pages, run_addr, 0, &data[i..j], busy)?;
                self.sink.counts.data_pages += run_len / PAGE_SIZE as u64;
            }
            i = j;
        }
        Ok(())
    }

    fn zero_run(&mut self, addr: u64, len: u64) -> Result<(), ImageError> {
        if let Some((a, l)) = self.pending_zero.as_mut() {
            if *a + *l == addr {
                *l += len;
                return Ok(());
            }
        }
        self.flush_zero()?;
        self.pending_zero = Some((addr, len));
        Ok(())
    }

    fn flush_zero(&mut self) -> Result<(), ImageError> {
        if let Some((addr, len)) = self.pending_zero.take() {
            let h = RecordHeader {
                kind: Kind::Zero as u8,
                codec: CODEC_NONE,
                stored_len: 0,
                raw_len: len,
                pos: addr,
                id: 0,
            };
            self.sink.record(h, &[], true)?;
            self.sink.counts.zero_pages += len / PAGE_SIZE as u64;
        }
        Ok(())
    }

    /// One chunk (at most a frame) of blob `id`, starting at byte `offset` of the blob.
    pub fn blob(
        &mut self,
        id: u32,
        offset: u64,
        data: &[u8],
        busy: bool,
    ) -> Result<(), ImageError> {
        self.flush_zero()?;
        self.frame_record(Kind::Blob, offset, id, data, busy)?;
        self.sink.counts.blob_records += 1;
        self.stats.blob_bytes += data.len() as u64;
        Ok(())
    }

    /// Writes the trailer, flushes, and hands back the output.
    pub fn finish(mut self) -> Result<(W, ImageStats), ImageError> {
        self.flush_zero()?;
        let trailer = format::encode_trailer(&self.sink.counts, self.sink.chain);
        let h = RecordHeader {
            kind: Kind::End as u8,
            codec: CODEC_NONE,
            stored_len: trailer.len() as u32,
            raw_len: trailer.len() as u64,
            pos: 0,
            id: 0,
        };
        self.sink.record(h, &trailer, false)?;
        let out = self
            .sink
            .out
            .into_inner()
            .map_err(|e| ImageError::Io(e.into_error()))?;
        let c = self.sink.counts;
        let stats = ImageStats {
            raw_bytes: c.raw_bytes,
            stored_bytes: c.stored_bytes + (RECORD_HEADER_LEN + trailer.len()) as u64,
            pages: c.data_pages,
            zero_pages: c.zero_pages,
            records: c.records,
            ..self.stats
        };
        Ok((out, stats))
    }
}

/// True if the slice is all zero bytes. ORs 256-byte blocks as whole words (vectorized),
/// leaving at the first non-zero block: a data page usually fails in the first block.
pub(crate) fn is_zero(page: &[u8]) -> bool {
    let mut blocks = page.chunks_exact(256);
    for block in blocks.by_ref() {
        let mut acc = 0u64;
        for w in block.chunks_exact(8) {
            let mut a = [0u8; 8];
            a.copy_from_slice(w);
            acc |= u64::from_ne_bytes(a);
        }
        if acc != 0 {
            return false;
        }
    }
    blocks.remainder().iter().all(|&b| b == 0)
}
