//! Typed errors of the cluster core.

use std::path::PathBuf;

/// Why a datagram was not accepted, or an operation failed.
///
/// Errors from [`crate::ClusterNode::handle_datagram`] are expected on an open
/// network (foreign traffic, stale peers, an attacker): the daemon should count
/// and log them at debug level, never stop on them.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The datagram could not be opened or decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// foca (the SWIM membership layer) refused a packet or an operation.
    #[error("membership layer refused the packet: {0}")]
    Membership(String),
    /// An operation needs a state the node is not in.
    #[error("{0}")]
    InvalidState(&'static str),
    /// A configuration value is out of range.
    #[error("invalid cluster configuration: {0}")]
    Config(String),
}

/// A datagram that is not a well-formed, authentic wend cluster message.
///
/// Decoders return this for any hostile or truncated input; they never panic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the format needs.
    #[error("datagram truncated: needed {needed} more bytes")]
    Truncated {
        /// How many bytes were missing at the point of failure.
        needed: usize,
    },
    /// The datagram does not start with the wend cluster magic.
    #[error("not a wend cluster datagram (bad magic)")]
    BadMagic,
    /// A wire format version this build does not speak.
    #[error("unsupported wire format version {0}; upgrade wend on every node")]
    UnsupportedVersion(u8),
    /// Sealed with a key of another epoch.
    #[error("datagram sealed with key epoch {got}, this node has epoch {expected}; distribute the current key file")]
    KeyEpoch {
        /// The epoch this node's key has.
        expected: u8,
        /// The epoch in the datagram.
        got: u8,
    },
    /// Authentication failed: wrong cluster key, or the datagram was altered.
    #[error("authentication failed: wrong cluster key or altered datagram")]
    Unauthentic,
    /// An unknown message or datagram kind tag.
    #[error("unknown {what} tag {tag}")]
    UnknownTag {
        /// Which kind of tag.
        what: &'static str,
        /// The tag value.
        tag: u8,
    },
    /// A field holds a value outside its domain.
    #[error("invalid field {0}")]
    InvalidField(&'static str),
    /// Bytes left after a complete message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
    /// The datagram exceeds the size limit.
    #[error("datagram of {len} bytes exceeds the limit of {max}")]
    TooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
}

/// Failure to create, read or write a cluster key file.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing the file failed.
    #[error("cluster key file {path}: {source}")]
    Io {
        /// The key file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not in the key format.
    #[error("cluster key file {path} is malformed: {reason}; create a new one with `wend keygen`")]
    Malformed {
        /// The key file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The file can be read by users other than its owner.
    #[error("cluster key file {path} is readable by group or others (mode {mode:o}); run `chmod 600 {path}`")]
    TooOpen {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// Refusing to overwrite an existing key.
    #[error("cluster key file {path} already exists; remove it first to replace the cluster key")]
    Exists {
        /// The key file.
        path: PathBuf,
    },
    /// The operating system's random source failed.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(String),
}
