//! The one error type of the crate.

use std::io;

/// Why a link could not be opened, or why a send or receive failed.
///
/// After any error other than [`LinkError::Timeout`] and [`LinkError::TooLarge`] (on send) the
/// direction that failed is unusable: later calls return [`LinkError::Broken`]. A link never
/// skips ahead to "the next good message".
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The handshake failed its cryptographic check: the two ends hold different keys (or a
    /// third party replayed or altered the handshake, which looks the same).
    #[error("the peer does not have this cluster's key: copy the key file from a cluster member")]
    WrongKey,

    /// The first bytes the peer sent (or answered) are not a wend link greeting.
    #[error(
        "the peer is not a wend link endpoint (it sent an unknown greeting): check the address \
         and port of the peer"
    )]
    NotALink,

    /// The peer speaks another version of the link protocol.
    #[error(
        "the peer speaks link protocol version {theirs}, this node version {ours}: run the same \
         wend release on every node"
    )]
    Version {
        /// The version this node speaks.
        ours: u8,
        /// The version the peer announced.
        theirs: u8,
    },

    /// One side asked for a cipher suite the other does not know.
    #[error(
        "cipher suite {id} is unknown to one of the two nodes: run the same wend release on \
         every node"
    )]
    Suite {
        /// The suite's number on the wire.
        id: u8,
    },

    /// The peer closed the connection cleanly, between two messages.
    #[error("the peer closed the link: open a new link if more is to be said")]
    PeerClosed,

    /// The connection ended in the middle of a message or a handshake.
    #[error(
        "the connection ended in the middle of a {what}: the peer or the network failed; \
         open a new link"
    )]
    Truncated {
        /// "message" or "handshake".
        what: &'static str,
    },

    /// A message is larger than [`crate::MAX_MESSAGE`]. On send nothing was sent and the link
    /// stays usable; on receive the link is unusable.
    #[error(
        "a message of {size} bytes is larger than the limit of {max} bytes: split it into \
         smaller messages"
    )]
    TooLarge {
        /// The size of the message.
        size: u64,
        /// The limit.
        max: usize,
    },

    /// A frame failed authentication or broke the framing rules: it was corrupted or tampered
    /// with on the way, or the peer is broken.
    #[error(
        "a frame from the peer is corrupt or was tampered with ({detail}): the link is closed; \
         open a new one and check the network path"
    )]
    Corrupt {
        /// What exactly was wrong.
        detail: &'static str,
    },

    /// Nothing arrived within the read timeout (or the handshake or connect deadline), and
    /// nothing of a message had been read: the link is still usable.
    #[error(
        "timed out waiting for the peer: check that it is alive and reachable, or wait longer"
    )]
    Timeout,

    /// The read or write timeout expired with part of a message transferred: the link is
    /// unusable because the rest of that message can no longer be matched up.
    #[error(
        "timed out in the middle of a message: the link is unusable; open a new one and check \
         that the peer is alive"
    )]
    TimeoutMidMessage,

    /// An earlier error made this direction of the link unusable.
    #[error("the link failed earlier and cannot be used again: open a new link")]
    Broken,

    /// The operating system refused an operation on the socket.
    #[error("link socket: {context}: {source}")]
    Io {
        /// What was being done.
        context: &'static str,
        /// The error from the operating system.
        #[source]
        source: io::Error,
    },

    /// The Noise library refused an operation that should not fail (e.g. a nonce ran out after
    /// 2^64 frames): a bug or an exhausted link.
    #[error("noise protocol failure ({0}): open a new link; report this if it repeats")]
    Noise(#[from] snow::Error),
}

impl LinkError {
    /// Whether this is one of the two timeout errors.
    pub fn is_timeout(&self) -> bool {
        matches!(self, LinkError::Timeout | LinkError::TimeoutMidMessage)
    }

    pub(crate) fn io(context: &'static str) -> impl FnOnce(io::Error) -> LinkError {
        move |source| LinkError::Io { context, source }
    }
}
