//! The receiving half: read exactly one message's frames and open them.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use crate::error::LinkError;
use crate::frame::{batch, next_plain, plain_total, HEADER, PREFIX, TAG};
use crate::sock::{message_error, read_stashed, Deadline, Stash};
use crate::{Shared, MAX_MESSAGE};

/// Capacity reserved for a message body before any of it has arrived: a peer announcing a
/// huge message and then stalling makes us hold no more than this.
const FIRST_RESERVE: usize = 1 << 20;

/// The receiving half of a [`crate::Link`].
pub struct LinkRx {
    pub(crate) shared: Arc<Shared>,
    /// The nonce of the next frame the peer seals.
    nonce: u64,
    /// Ciphertext read from the socket (grown on demand up to one batch, never shrunk).
    buf: Vec<u8>,
    broken: bool,
    /// What a send of the whole link read while it waited for room; read before the socket.
    pub(crate) stash: Stash,
}

fn corrupt(detail: &'static str) -> LinkError {
    LinkError::Corrupt { detail }
}

fn open_error(e: snow::Error) -> LinkError {
    match e {
        snow::Error::Decrypt => corrupt("authentication failed"),
        other => LinkError::Noise(other),
    }
}

/// Makes room for `need` bytes, growing geometrically but never past `limit`.
fn grow(v: &mut Vec<u8>, need: usize, limit: usize) {
    if v.capacity() < need {
        let target = v.capacity().saturating_mul(2).min(limit).max(need);
        v.reserve_exact(target - v.len());
    }
}

impl LinkRx {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        LinkRx {
            shared,
            nonce: 0,
            buf: Vec::new(),
            broken: false,
            stash: Stash::default(),
        }
    }

    /// Receives one whole message. Reads exactly that message's frames and nothing of the
    /// next, so poll(2) on the descriptor tells whether another message has started to arrive.
    ///
    /// [`LinkError::Timeout`] (nothing of a message arrived within the read timeout) and
    /// [`LinkError::PeerClosed`] leave the half as it was; every other error breaks it.
    pub fn recv(&mut self) -> Result<Vec<u8>, LinkError> {
        self.recv_limited(MAX_MESSAGE, None)
    }

    pub(crate) fn recv_limited(
        &mut self,
        max: usize,
        deadline: Option<Deadline>,
    ) -> Result<Vec<u8>, LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        self.read_message(max, deadline).map_err(|e| {
            if !matches!(e, LinkError::Timeout | LinkError::PeerClosed) {
                self.broken = true;
            }
            e
        })
    }

    fn ensure_buf(&mut self, len: usize) {
        if self.buf.len() < len {
            self.buf.resize(len, 0);
        }
    }

    fn read_message(
        &mut self,
        max: usize,
        deadline: Option<Deadline>,
    ) -> Result<Vec<u8>, LinkError> {
        let stream = &self.shared.stream;
        let mut prefix = [0u8; PREFIX];
        read_stashed(&mut self.stash, stream, &mut prefix, deadline)
            .map_err(|p| message_error(p, false, "receive"))?;
        let clen = usize::from(u16::from_be_bytes(prefix));
        if clen < HEADER + TAG {
            return Err(corrupt("a frame is too short to hold a message header"));
        }
        // The first frame opens into the room behind it in `buf` (already there, nothing to
        // clear), and its body is copied out once the header says how much room to reserve:
        // a message of many frames does not grow (and copy) its buffer before FIRST_RESERVE.
        self.ensure_buf(2 * clen);
        let stream = &self.shared.stream;
        read_stashed(&mut self.stash, stream, &mut self.buf[..clen], deadline)
            .map_err(|p| message_error(p, true, "receive"))?;
        let (sealed, room) = self.buf.split_at_mut(clen);
        self.shared
            .noise
            .read_message(self.nonce, sealed, &mut room[..clen])
            .map_err(open_error)?;
        self.nonce += 1;
        let plain = clen - TAG;
        let mut header = [0u8; HEADER];
        header.copy_from_slice(&room[..HEADER]);
        let body = u64::from_be_bytes(header);
        if body > max as u64 {
            return Err(LinkError::TooLarge { size: body, max });
        }
        if plain != next_plain(plain_total(body)) {
            return Err(corrupt(
                "the first frame's length does not match the message length",
            ));
        }
        // Checked against `max` above, so the body fits in usize.
        let limit = body as usize + TAG;
        let mut left = plain_total(body) - plain as u64;
        let mut out = Vec::with_capacity(if left > 0 {
            FIRST_RESERVE.min(limit)
        } else {
            plain - HEADER
        });
        out.extend_from_slice(&room[HEADER..plain]);

        while left > 0 {
            let (frames, wire) = batch(left);
            self.ensure_buf(wire);
            let stream = &self.shared.stream;
            read_stashed(&mut self.stash, stream, &mut self.buf[..wire], deadline)
                .map_err(|p| message_error(p, true, "receive"))?;
            let mut at = 0;
            for _ in 0..frames {
                let p = next_plain(left);
                let announced = usize::from(u16::from_be_bytes([self.buf[at], self.buf[at + 1]]));
                if announced != p + TAG {
                    return Err(corrupt(
                        "a frame's length does not match the message length",
                    ));
                }
                let sealed = &self.buf[at + PREFIX..at + PREFIX + p + TAG];
                let len = out.len();
                grow(&mut out, len + p + TAG, limit);
                out.resize(len + p + TAG, 0);
                self.shared
                    .noise
                    .read_message(self.nonce, sealed, &mut out[len..])
                    .map_err(open_error)?;
                out.truncate(len + p);
                self.nonce += 1;
                left -= p as u64;
                at += PREFIX + p + TAG;
            }
        }
        debug_assert_eq!(out.len() as u64, body);
        Ok(out)
    }

    /// Whether bytes of the peer's wait here already (read by a send of the whole link while
    /// it waited for room): poll(2) on the socket does not show them, so a caller that polls
    /// must ask this first.
    pub fn buffered(&self) -> bool {
        self.stash.ready()
    }

    /// Sets the timeout of each blocking read (`None`: wait for ever). It applies to every
    /// wait for bytes, not to a whole message.
    pub fn set_read_timeout(&self, t: Option<Duration>) -> Result<(), LinkError> {
        self.shared
            .stream
            .set_read_timeout(t)
            .map_err(LinkError::io("set the read timeout"))
    }

    /// Shuts the connection down in both directions.
    pub fn shutdown(&self) -> Result<(), LinkError> {
        self.shared.shutdown(Shutdown::Both)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }
}

impl AsFd for LinkRx {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.stream.as_fd()
    }
}

impl AsRawFd for LinkRx {
    fn as_raw_fd(&self) -> RawFd {
        self.shared.stream.as_raw_fd()
    }
}

impl std::fmt::Debug for LinkRx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkRx")
            .field("peer", &self.shared.peer)
            .field("nonce", &self.nonce)
            .field("broken", &self.broken)
            .finish()
    }
}
