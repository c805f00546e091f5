//! wend's node-to-node channel: authenticated, encrypted, message-oriented, over TCP.
//!
//! Daemons use a [`Link`] for everything that crosses between nodes during and after a
//! migration: image streams, forwarded system calls, signals and control messages. Every byte
//! is protected by the Noise protocol framework (the `snow` crate), pattern `NNpsk0`, with the
//! 32-byte cluster key as the pre-shared key:
//!
//! - a peer without the key fails the handshake, learns nothing and gets nothing (the greeting
//!   and one Noise message are all it sees);
//! - each handshake mixes fresh X25519 ephemeral keys, so recorded traffic stays secret even if
//!   the cluster key leaks later (forward secrecy);
//! - every frame is sealed with AES-256-GCM (default) or ChaCha20-Poly1305 under a counter
//!   nonce: a flipped, dropped, replayed or reordered byte fails the link, never the data.
//!
//! The I/O is blocking `std::net`: the callers are dedicated threads that also ptrace. A
//! [`Link`] splits into a [`LinkTx`] and a [`LinkRx`] for two threads; Noise nonces are kept
//! per direction, so the halves need no lock between them.
//!
//! # Wire format
//!
//! The handshake is described in the `handshake` module. A message is framed as described in
//! the `frame` module: its length (u64) and body, cut into Noise transport messages of at most
//! 65,535 bytes, each preceded by its 2-byte length. The receiver learns the message length
//! from the first frame, after authenticating it, and then reads exactly the bytes of the
//! remaining frames: it never reads into the next message, so poll(2) on [`Link`]'s descriptor
//! is a correct readiness test between messages.
//!
//! # Limits
//!
//! A message carries at most [`MAX_MESSAGE`] bytes; larger data (a GiB image) goes as a
//! sequence of messages. A receiver holds at most one batch of ciphertext (about 512 KiB) plus
//! the message being received, and it reserves memory for a message only as its authenticated
//! frames arrive (1 MiB ahead at most), so a hostile peer cannot make it allocate more.

#![forbid(unsafe_code)]

use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::Duration;

use snow::StatelessTransportState;

mod error;
mod frame;
mod handshake;
mod rx;
mod sock;
mod tx;

#[cfg(test)]
mod tests;

pub use error::LinkError;
pub use handshake::PROTOCOL_VERSION;
pub use rx::LinkRx;
pub use tx::LinkTx;

/// The largest message, in bytes (128 MiB): room for one large image chunk, small enough that
/// a broken peer cannot make a receiver hold much.
pub const MAX_MESSAGE: usize = 128 << 20;

/// The Noise cipher suite of a link. The initiator chooses; the responder follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Suite {
    /// `Noise_NNpsk0_25519_AESGCM_SHA256`: the fastest here, with AES-NI (docs/perf/link.md).
    #[default]
    AesGcm,
    /// `Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s`: for machines without AES instructions.
    ChaChaPoly,
}

impl Suite {
    /// The Noise protocol name.
    pub fn noise_name(self) -> &'static str {
        match self {
            Suite::AesGcm => "Noise_NNpsk0_25519_AESGCM_SHA256",
            Suite::ChaChaPoly => "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s",
        }
    }

    fn id(self) -> u8 {
        match self {
            Suite::AesGcm => 1,
            Suite::ChaChaPoly => 2,
        }
    }

    fn from_id(id: u8) -> Option<Suite> {
        match id {
            1 => Some(Suite::AesGcm),
            2 => Some(Suite::ChaChaPoly),
            _ => None,
        }
    }
}

/// What both halves share: the socket and the session keys.
pub(crate) struct Shared {
    pub stream: TcpStream,
    pub noise: StatelessTransportState,
    pub peer: SocketAddr,
    pub suite: Suite,
}

impl Shared {
    fn shutdown(&self, how: Shutdown) -> Result<(), LinkError> {
        match self.stream.shutdown(how) {
            // Already gone: what the caller wanted.
            Err(e) if e.kind() == std::io::ErrorKind::NotConnected => Ok(()),
            other => other.map_err(LinkError::io("shut down the connection")),
        }
    }
}

/// An authenticated, encrypted, message-oriented connection to another node.
#[derive(Debug)]
pub struct Link {
    tx: LinkTx,
    rx: LinkRx,
}

impl Link {
    /// Connects to `addr` and runs the handshake with the default [`Suite`]. `timeout` bounds
    /// the TCP connect and the handshake together. The socket gets TCP_NODELAY; afterwards
    /// reads and writes block without a timeout until one is set.
    pub fn connect(addr: SocketAddr, key: &[u8; 32], timeout: Duration) -> Result<Link, LinkError> {
        handshake::connect(addr, key, timeout, Suite::default())
    }

    /// [`Link::connect`] with a chosen cipher suite (the responder follows the initiator).
    pub fn connect_with_suite(
        addr: SocketAddr,
        key: &[u8; 32],
        timeout: Duration,
        suite: Suite,
    ) -> Result<Link, LinkError> {
        handshake::connect(addr, key, timeout, suite)
    }

    /// The server side: runs the handshake on a freshly accepted connection. It returns only
    /// once the peer has proved it holds `key`, and never waits longer than `timeout`. The
    /// stream is made blocking (a stream from a non-blocking listener may be passed) and gets
    /// TCP_NODELAY.
    pub fn accept(stream: TcpStream, key: &[u8; 32], timeout: Duration) -> Result<Link, LinkError> {
        handshake::accept(stream, key, timeout)
    }

    /// Sends one message (see [`LinkTx::send`]).
    pub fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        self.tx.send(msg)
    }

    /// Sends the concatenation of `parts` as one message (see [`LinkTx::send_parts`]).
    pub fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        self.tx.send_parts(parts)
    }

    /// Receives one whole message (see [`LinkRx::recv`]).
    pub fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        self.rx.recv()
    }

    /// Sets the timeout of each blocking read (see [`LinkRx::set_read_timeout`]).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<(), LinkError> {
        self.rx.set_read_timeout(t)
    }

    /// Sets the timeout of each blocking write (see [`LinkTx::set_write_timeout`]).
    pub fn set_write_timeout(&self, t: Option<Duration>) -> Result<(), LinkError> {
        self.tx.set_write_timeout(t)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.tx.shared.peer
    }

    /// The cipher suite in use.
    pub fn suite(&self) -> Suite {
        self.tx.shared.suite
    }

    /// Shuts the connection down in both directions.
    pub fn shutdown(&self) -> Result<(), LinkError> {
        self.tx.shutdown()
    }

    /// Splits the link into halves that two threads can use at the same time. The connection
    /// closes when both are dropped.
    pub fn split(self) -> (LinkTx, LinkRx) {
        (self.tx, self.rx)
    }
}

impl AsFd for Link {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.tx.shared.stream.as_fd()
    }
}

impl AsRawFd for Link {
    fn as_raw_fd(&self) -> RawFd {
        self.tx.shared.stream.as_raw_fd()
    }
}
