//! The one error type of the codec. Every message names the problem and what to do about it.

use std::io;
use std::path::PathBuf;

/// Anything that can go wrong while writing or reading an image.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// The underlying reader or writer failed.
    #[error("image i/o failed: {0}; check the disk, the path and free space")]
    Io(#[from] io::Error),

    /// A file system step of [`crate::AtomicFile`] failed.
    #[error("cannot {action} {path}: {source}; check that the directory exists and is writable")]
    File {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The input does not start with a wend image magic at all.
    #[error(
        "not a wend image (found {found:?} where the `WENDIMG` magic belongs); check the file name"
    )]
    NotAnImage { found: String },

    /// A wend image written for another CPU architecture.
    #[error(
        "image was written on {image} but this machine is {host}; restore it on a {image} node"
    )]
    ForeignArch { image: String, host: &'static str },

    /// A wend image of a format version this binary does not know yet.
    #[error(
        "image format version {image} is newer than this wend supports (up to {supported}); \
         upgrade wend on this node or restore the image on the node that wrote it"
    )]
    NewerVersion { image: u32, supported: u32 },

    /// The image needs a feature (flag or compression codec) this binary lacks.
    #[error("image needs {what}, which this wend does not support; upgrade wend on this node")]
    Unsupported { what: String },

    /// A checksum or a structural check failed: the bytes changed after they were written.
    #[error(
        "image is corrupt at byte {offset}: {what}; the file was damaged after it was written, \
         take a new checkpoint"
    )]
    Corrupt { offset: u64, what: String },

    /// The input ended before the trailer.
    #[error(
        "image is truncated: it ends at byte {offset} inside {what}; the writer did not finish \
         (interrupted, or the disk was full), take a new checkpoint"
    )]
    Truncated { offset: u64, what: &'static str },

    /// A length field exceeds what the reader accepts; checked before allocating.
    #[error(
        "{what} of {size} bytes exceeds the limit of {limit} bytes at byte {offset}; the image \
         is corrupt or was written by an incompatible wend"
    )]
    TooLarge {
        what: &'static str,
        size: u64,
        limit: u64,
        offset: u64,
    },

    /// The metadata could not be encoded.
    #[error("cannot encode the image metadata: {0}; this is a bug in wend, please report it")]
    MetaEncode(String),

    /// The metadata record is intact but does not decode as the expected type.
    #[error(
        "cannot decode the image metadata: {0}; the image was written by an incompatible wend \
         build, restore it with the same version that wrote it"
    )]
    MetaDecode(String),

    /// The API was used out of order or with bad arguments (a bug in the caller).
    #[error("image codec misuse: {0}; this is a bug in wend, please report it")]
    Usage(String),

    /// The background writer thread died without an error (it panicked).
    #[error("the image writer thread panicked; this is a bug in wend, please report it")]
    WriterPanicked,

    /// The prefetching reader thread died without an error (it panicked).
    #[error("the image reader thread panicked; this is a bug in wend, please report it")]
    ReaderPanicked,
}

impl ImageError {
    pub(crate) fn corrupt(offset: u64, what: impl Into<String>) -> Self {
        ImageError::Corrupt {
            offset,
            what: what.into(),
        }
    }

    /// True for the errors that mean "this input is not a usable image" (as opposed to an
    /// i/o failure or a bug); the CLI maps them to exit status 2.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            ImageError::NotAnImage { .. }
                | ImageError::ForeignArch { .. }
                | ImageError::NewerVersion { .. }
                | ImageError::Unsupported { .. }
                | ImageError::Corrupt { .. }
                | ImageError::Truncated { .. }
                | ImageError::TooLarge { .. }
                | ImageError::MetaDecode(_)
        )
    }
}
