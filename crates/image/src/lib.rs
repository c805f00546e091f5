//! wend-image: the process image model and its container format.
//!
//! An image is a stream: a 128-byte header (per-architecture magic, format version, flags,
//! creation info), then checksummed records — exactly one metadata record (the engine's
//! [`model`], serialized with postcard), then page frames, zero-page runs and blobs — and a
//! trailer with counts and a running checksum. docs/IMAGE_FORMAT.md has the byte layout.
//!
//! Writing: [`ImageWriter`] (inline, or [`ImageWriter::spawn`] with a background encoding
//! thread) into any `Write`, usually an [`AtomicFile`]. Reading: [`ImageReader`] over any
//! `Read` (inline, or [`ImageReader::spawn`] with a prefetching thread); it never panics and
//! never allocates more than its limits, whatever the input. docs/perf/image-codec.md has the
//! measured costs.
//! [`inspect()`] verifies a whole image and summarizes it for `wend image inspect`.
#![forbid(unsafe_code)]

mod atomic;
mod compress;
mod decoder;
mod direct;
mod encoder;
mod error;
mod format;
mod reader;
mod writer;

pub mod inspect;
pub mod model;

pub use atomic::AtomicFile;
pub use compress::Compression;
pub use decoder::Record;
pub use direct::DirectReader;
pub use encoder::ImageStats;
pub use error::ImageError;
pub use format::{
    Arch, ImageHeader, DEFAULT_FRAME_BYTES, FORMAT_VERSION, HEADER_LEN, MAX_FRAME_BYTES,
    MAX_META_BYTES, PAGE_SIZE,
};
pub use inspect::{inspect, Inspection};
pub use reader::{ImageReader, PREFETCH_DEPTH};
pub use writer::{ImageWriter, WriteOptions};
