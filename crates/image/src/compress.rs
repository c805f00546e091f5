//! Per-frame compression: lz4 (default) or zstd, kept only where it pays.
//!
//! A frame is stored compressed only if that saves at least 1/16 of its size. After a frame
//! that did not shrink, the next frames are stored raw without trying (1, 2, 4 ... up to 16
//! frames, reset by the next success), so incompressible memory costs little CPU.
//!
//! Compression must never slow the pipeline. While the encoder keeps up with its producer it
//! compresses every frame (the CPU time is free). When it falls behind (`busy`), it compresses
//! only if that makes it faster: if compressing a byte costs less than the output time it
//! saves, `c < (1 - r) * w`, with `c` and `w` the measured nanoseconds per byte of compressing
//! and of writing, and `r` the measured compression ratio. A slow network link therefore gets
//! compressed frames, a fast page cache gets raw ones. Every 64th busy frame is compressed
//! anyway to keep the estimates current.

use std::time::Instant;

use serde::Serialize;

use crate::error::ImageError;
use crate::format::{CODEC_LZ4, CODEC_NONE, CODEC_ZSTD, FLAG_LZ4, FLAG_ZSTD};

/// How page and blob frames are compressed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum Compression {
    /// Store every frame as is.
    None,
    /// lz4 block compression: several GiB/s to decode, the default.
    #[default]
    Lz4,
    /// zstd at the given level (negative levels are the fast ones); smaller, slower.
    Zstd(i32),
}

impl Compression {
    pub(crate) fn header_flags(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Lz4 => FLAG_LZ4,
            Compression::Zstd(_) => FLAG_ZSTD,
        }
    }
}

/// The most skipped frames after repeated failures to compress.
const MAX_BACKOFF: u32 = 16;
/// While busy, every this many frames is compressed anyway to refresh the estimates.
const PROBE_EVERY: u32 = 64;

/// A decaying average of nanoseconds per byte.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Rate {
    ns: f64,
    bytes: f64,
}

impl Rate {
    pub fn add(&mut self, ns: f64, bytes: usize) {
        // Halve the weight of the past every ~8 samples.
        self.ns = self.ns * 0.92 + ns;
        self.bytes = self.bytes * 0.92 + bytes as f64;
    }

    fn per_byte(&self) -> Option<f64> {
        (self.bytes > 0.0).then(|| self.ns / self.bytes)
    }
}

/// The compressing side: reusable scratch space and the skip heuristic.
pub(crate) struct FrameCompressor {
    mode: Compression,
    /// False: try every frame (for measurements); true: the cost model above.
    adaptive: bool,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
    backoff: u32,
    skip: u32,
    /// Cost of compressing, per raw byte.
    compress_rate: Rate,
    /// Cost of writing, per stored byte (fed by the encoder).
    pub write_rate: Rate,
    /// Stored/raw of recent compression attempts.
    ratio: f64,
    busy_frames: u32,
}

impl FrameCompressor {
    pub fn new(mode: Compression, adaptive: bool) -> Result<Self, ImageError> {
        let zstd = match mode {
            Compression::Zstd(level) => Some(zstd::bulk::Compressor::new(level)?),
            _ => None,
        };
        Ok(FrameCompressor {
            mode,
            adaptive,
            zstd,
            scratch: Vec::new(),
            backoff: 0,
            skip: 0,
            compress_rate: Rate::default(),
            write_rate: Rate::default(),
            ratio: 0.5,
            busy_frames: 0,
        })
    }

    /// Whether compressing now pays, given whether the encoder is the bottleneck.
    fn worthwhile(&mut self, busy: bool) -> bool {
        if !busy || !self.adaptive {
            return true;
        }
        self.busy_frames = self.busy_frames.wrapping_add(1);
        if self.busy_frames.is_multiple_of(PROBE_EVERY) {
            return true;
        }
        match (self.compress_rate.per_byte(), self.write_rate.per_byte()) {
            (Some(c), Some(w)) => c < (1.0 - self.ratio) * w,
            _ => true,
        }
    }

    /// Compresses `data` if worthwhile; returns the codec and the bytes to store (either
    /// `data` itself or the internal scratch buffer). `busy` says the caller is waiting.
    pub fn compress<'a>(
        &'a mut self,
        data: &'a [u8],
        busy: bool,
    ) -> Result<(u8, &'a [u8]), ImageError> {
        if self.mode == Compression::None || data.len() < 64 {
            return Ok((CODEC_NONE, data));
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok((CODEC_NONE, data));
        }
        if !self.worthwhile(busy) {
            return Ok((CODEC_NONE, data));
        }
        let start = Instant::now();
        let (codec, n) = match self.mode {
            Compression::None => return Ok((CODEC_NONE, data)),
            Compression::Lz4 => {
                let max = lz4_flex::block::get_maximum_output_size(data.len());
                if self.scratch.len() < max {
                    self.scratch.resize(max, 0);
                }
                let n = lz4_flex::block::compress_into(data, &mut self.scratch)
                    .map_err(|e| ImageError::Usage(format!("lz4 compression failed: {e}")))?;
                (CODEC_LZ4, n)
            }
            Compression::Zstd(_) => {
                let max = zstd::zstd_safe::compress_bound(data.len());
                if self.scratch.len() < max {
                    self.scratch.resize(max, 0);
                }
                let Some(z) = self.zstd.as_mut() else {
                    return Ok((CODEC_NONE, data));
                };
                let n = z.compress_to_buffer(data, &mut self.scratch[..])?;
                (CODEC_ZSTD, n)
            }
        };
        self.compress_rate
            .add(start.elapsed().as_nanos() as f64, data.len());
        self.ratio = self.ratio * 0.8 + 0.2 * (n as f64 / data.len() as f64).min(1.0);
        if n + data.len() / 16 <= data.len() {
            self.backoff = 0;
            Ok((codec, &self.scratch[..n]))
        } else {
            self.backoff = (self.backoff * 2).clamp(1, MAX_BACKOFF);
            self.skip = self.backoff;
            Ok((CODEC_NONE, data))
        }
    }
}

/// The decompressing side.
#[derive(Default)]
pub(crate) struct FrameDecompressor {
    zstd: Option<zstd::bulk::Decompressor<'static>>,
}

impl FrameDecompressor {
    /// Decodes `src` with `codec` into `dst`, which is exactly the expected size; any other
    /// outcome is corruption. `offset` locates the record for the error message.
    pub fn decompress(
        &mut self,
        codec: u8,
        src: &[u8],
        dst: &mut [u8],
        offset: u64,
    ) -> Result<(), ImageError> {
        let n = match codec {
            CODEC_LZ4 => lz4_flex::block::decompress_into(src, dst).map_err(|e| {
                ImageError::corrupt(offset, format!("lz4 frame does not decode: {e}"))
            })?,
            CODEC_ZSTD => {
                if self.zstd.is_none() {
                    self.zstd = Some(zstd::bulk::Decompressor::new()?);
                }
                let Some(z) = self.zstd.as_mut() else {
                    return Err(ImageError::Usage("zstd decompressor missing".into()));
                };
                z.decompress_to_buffer(src, dst).map_err(|e| {
                    ImageError::corrupt(offset, format!("zstd frame does not decode: {e}"))
                })?
            }
            other => {
                return Err(ImageError::corrupt(
                    offset,
                    format!("unknown codec {other}"),
                ));
            }
        };
        if n != dst.len() {
            return Err(ImageError::corrupt(
                offset,
                format!("frame decodes to {n} bytes, the header says {}", dst.len()),
            ));
        }
        Ok(())
    }
}
