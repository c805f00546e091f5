//! Per-frame compression: lz4 (default) or zstd, kept only where it pays.
//!
//! A frame is stored compressed only if that saves at least 1/16 of its size. After a frame
//! that did not shrink, the next frames are stored raw without trying (1, 2, 4 ... up to 16
//! frames, reset by the next success), so incompressible memory costs little CPU.

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

/// The compressing side: reusable scratch space and the skip heuristic.
pub(crate) struct FrameCompressor {
    mode: Compression,
    zstd: Option<zstd::bulk::Compressor<'static>>,
    scratch: Vec<u8>,
    backoff: u32,
    skip: u32,
}

impl FrameCompressor {
    pub fn new(mode: Compression) -> Result<Self, ImageError> {
        let zstd = match mode {
            Compression::Zstd(level) => Some(zstd::bulk::Compressor::new(level)?),
            _ => None,
        };
        Ok(FrameCompressor {
            mode,
            zstd,
            scratch: Vec::new(),
            backoff: 0,
            skip: 0,
        })
    }

    /// Compresses `data` if worthwhile (and if `allowed`); returns the codec and the bytes to
    /// store (either `data` itself or the internal scratch buffer).
    pub fn compress<'a>(
        &'a mut self,
        data: &'a [u8],
        allowed: bool,
    ) -> Result<(u8, &'a [u8]), ImageError> {
        if self.mode == Compression::None || !allowed || data.len() < 64 {
            return Ok((CODEC_NONE, data));
        }
        if self.skip > 0 {
            self.skip -= 1;
            return Ok((CODEC_NONE, data));
        }
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
