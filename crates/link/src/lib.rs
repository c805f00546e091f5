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
//! # Example
//!
//! ```
//! use std::net::TcpListener;
//! use std::time::Duration;
//! use wend_link::Link;
//!
//! let key = [7u8; 32]; // wend_cluster::ClusterKey::bytes() in the daemon
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let server = std::thread::spawn(move || -> Result<Vec<u8>, wend_link::LinkError> {
//!     let (stream, _) = listener.accept().expect("accept");
//!     let mut link = Link::accept(stream, &key, Duration::from_secs(5))?;
//!     let call = link.recv()?;
//!     link.send(b"42")?;
//!     Ok(call)
//! });
//! let mut link = Link::connect(addr, &key, Duration::from_secs(5))?;
//! link.send(b"getppid")?;
//! assert_eq!(link.recv()?, b"42");
//! assert_eq!(server.join().unwrap()?, b"getppid");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Wire format (protocol version 1)
//!
//! ```text
//! initiator -> responder   greeting: "wendlink" (8 bytes), version (1), suite (1)
//! initiator -> responder   u16 length || Noise message 1  (psk, e; sealed with the psk)
//! responder -> initiator   status (1): 0 accepted, 1 wrong key, 2 version (+ its version),
//!                          3 unknown suite
//! responder -> initiator   u16 length || Noise message 2  (e, ee)          [status 0 only]
//! initiator -> responder   message "wend-link ready"                       [key confirmation]
//! then, in each direction   messages
//! ```
//!
//! The greeting is also the Noise prologue, so an altered version or suite fails the
//! cryptographic check. Message 1 proves to the responder that the initiator holds the key,
//! message 2 proves it to the initiator; since message 1 could be replayed, [`Link::accept`]
//! returns only after the key confirmation, sealed with the fresh session keys, has opened.
//!
//! A message of `L` bytes is the plaintext `L` (u64, big-endian) followed by the `L` bytes, cut
//! into chunks of at most 65,519 bytes. Each chunk travels as one Noise transport message (the
//! chunk sealed, plus a 16-byte tag; nonces count frames, per direction, from 0) preceded by
//! its length as a u16, big-endian. The receiver learns `L` from the first frame, after
//! authenticating it; every later frame's length then follows from `L`, and a frame announcing
//! another length is refused. So the receiver reads exactly the bytes of the current message and
//! never into the next: poll(2) on a [`Link`]'s descriptor is a correct readiness test between
//! messages.
//!
//! # Limits
//!
//! A message carries at most [`MAX_MESSAGE`] bytes; larger data (a GiB image) goes as a
//! sequence of messages. A receiver holds at most one batch of ciphertext (about 512 KiB) plus
//! the message being received, for which it reserves memory only as authenticated frames arrive
//! (at most 1 MiB or twice what has arrived, and never more than the announced length). A peer
//! without the key gets no allocation beyond one 64 KiB frame; a peer with it, no more than
//! [`MAX_MESSAGE`].

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

    /// Sends one message (see [`LinkTx::send`]). While the socket has no room, what the peer
    /// sends is read and kept for [`Link::recv`], so two peers sending to each other at once
    /// never wait for ever; a caller that polls the socket must ask [`Link::buffered`] too.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        self.send_parts(&[msg])
    }

    /// Sends the concatenation of `parts` as one message (see [`Link::send`]).
    pub fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        self.tx
            .send_parts_until(parts, None, Some(&mut self.rx.stash))
    }

    /// Whether a message (or part of one) waits here already, read while a send waited for
    /// room: poll(2) on the socket does not show it.
    pub fn buffered(&self) -> bool {
        self.rx.buffered()
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
