//! The sending half: seal a message into frames and write them.

use std::net::{Shutdown, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::Arc;
use std::time::Duration;

use crate::error::LinkError;
use crate::frame::{
    next_plain, plain_total, BATCH_FRAMES, FRAME_PLAIN, FRAME_WIRE_MAX, HEADER, PREFIX, TAG,
};
use crate::sock::{message_error, write_draining, write_full, Deadline, Stash};
use crate::{Shared, MAX_MESSAGE};

/// The sending half of a [`crate::Link`]. It can live on another thread than the receiving
/// half; both share the socket.
pub struct LinkTx {
    pub(crate) shared: Arc<Shared>,
    /// The nonce of the next frame this side seals.
    nonce: u64,
    /// Sealed frames waiting for one write call (grown on demand, never shrunk).
    wire: Vec<u8>,
    /// The plaintext of a frame that is not one contiguous piece of the caller's message.
    gather: Vec<u8>,
    broken: bool,
}

/// Walks the caller's pieces of one message.
struct Cursor<'a> {
    parts: &'a [&'a [u8]],
    idx: usize,
    off: usize,
}

impl<'a> Cursor<'a> {
    fn skip_empty(&mut self) {
        while self.idx < self.parts.len() && self.off == self.parts[self.idx].len() {
            self.idx += 1;
            self.off = 0;
        }
    }

    /// Copies the next `dst.len()` bytes into `dst`.
    fn copy_into(&mut self, dst: &mut [u8]) {
        let mut done = 0;
        while done < dst.len() {
            self.skip_empty();
            let part = &self.parts[self.idx][self.off..];
            let n = part.len().min(dst.len() - done);
            dst[done..done + n].copy_from_slice(&part[..n]);
            done += n;
            self.off += n;
        }
    }

    /// The next `n` bytes: borrowed when they lie in one piece, else gathered into `scratch`.
    fn take<'s>(&mut self, n: usize, scratch: &'s mut [u8]) -> &'s [u8]
    where
        'a: 's,
    {
        self.skip_empty();
        let part: &'a [u8] = self.parts[self.idx];
        if part.len() - self.off >= n {
            let slice = &part[self.off..self.off + n];
            self.off += n;
            slice
        } else {
            self.copy_into(&mut scratch[..n]);
            &scratch[..n]
        }
    }
}

impl LinkTx {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        LinkTx {
            shared,
            nonce: 0,
            wire: Vec::new(),
            gather: vec![0; FRAME_PLAIN],
            broken: false,
        }
    }

    /// Sends one message of up to [`MAX_MESSAGE`] bytes. A message that fits one frame (up to
    /// 65,511 bytes) takes one write call. Blocks until the kernel has taken every byte.
    pub fn send(&mut self, msg: &[u8]) -> Result<(), LinkError> {
        self.send_parts_until(&[msg], None, None)
    }

    /// Sends the concatenation of `parts` as one message, without concatenating them first
    /// (a header and a payload, say).
    pub fn send_parts(&mut self, parts: &[&[u8]]) -> Result<(), LinkError> {
        self.send_parts_until(parts, None, None)
    }

    /// With `stash`, the peer's bytes are read into it while the socket has no room (see
    /// `sock::write_draining`): only for a link whose both halves one thread owns.
    pub(crate) fn send_parts_until(
        &mut self,
        parts: &[&[u8]],
        deadline: Option<Deadline>,
        stash: Option<&mut Stash>,
    ) -> Result<(), LinkError> {
        if self.broken {
            return Err(LinkError::Broken);
        }
        let body: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if body > MAX_MESSAGE as u64 {
            return Err(LinkError::TooLarge {
                size: body,
                max: MAX_MESSAGE,
            });
        }
        let first_nonce = self.nonce;
        self.seal_and_write(parts, body, deadline, stash)
            .map_err(|(started, e)| {
                if !started && matches!(e, LinkError::Timeout) {
                    // Nothing reached the socket: the peer still expects `first_nonce`.
                    self.nonce = first_nonce;
                } else {
                    self.broken = true;
                }
                e
            })
    }

    /// Seals and writes; on error also says whether any byte of the message was written.
    fn seal_and_write(
        &mut self,
        parts: &[&[u8]],
        body: u64,
        deadline: Option<Deadline>,
        mut stash: Option<&mut Stash>,
    ) -> Result<(), (bool, LinkError)> {
        let LinkTx {
            shared,
            nonce,
            wire,
            gather,
            ..
        } = self;
        let mut cursor = Cursor {
            parts,
            idx: 0,
            off: 0,
        };
        let mut left = plain_total(body);
        let mut first = true;
        let mut started = false;
        let mut fill = 0;
        while left > 0 {
            let p = next_plain(left);
            let plain: &[u8] = if first {
                gather[..HEADER].copy_from_slice(&body.to_be_bytes());
                cursor.copy_into(&mut gather[HEADER..p]);
                first = false;
                &gather[..p]
            } else {
                cursor.take(p, gather)
            };
            let end = fill + PREFIX + p + TAG;
            if wire.len() < end {
                wire.resize(end, 0);
            }
            let sealed = shared
                .noise
                .write_message(*nonce, plain, &mut wire[fill + PREFIX..end])
                .map_err(|e| (started, LinkError::Noise(e)))?;
            debug_assert_eq!(sealed, p + TAG);
            // A frame's ciphertext is at most FRAME_MAX = u16::MAX bytes.
            wire[fill..fill + PREFIX].copy_from_slice(&((p + TAG) as u16).to_be_bytes());
            *nonce += 1;
            fill = end;
            left -= p as u64;
            if left == 0 || fill + FRAME_WIRE_MAX > BATCH_FRAMES * FRAME_WIRE_MAX {
                let bytes = &wire[..fill];
                let written = match stash.as_deref_mut() {
                    Some(stash) => write_draining(&shared.stream, bytes, deadline, stash),
                    None => write_full(&shared.stream, bytes, deadline),
                };
                written.map_err(|part| {
                    let moved = started || part.done > 0;
                    (moved, message_error(part, started, "send"))
                })?;
                started = true;
                fill = 0;
            }
        }
        Ok(())
    }

    /// Sets the timeout of each blocking write (`None`: wait for ever). A timeout before the
    /// first byte of a message leaves the link usable; after it, the sending half is broken.
    pub fn set_write_timeout(&self, t: Option<Duration>) -> Result<(), LinkError> {
        self.shared
            .stream
            .set_write_timeout(t)
            .map_err(LinkError::io("set the write timeout"))
    }

    /// Shuts the connection down in both directions: the peer sees the link closed, and a
    /// `recv` blocked on the other half returns.
    pub fn shutdown(&self) -> Result<(), LinkError> {
        self.shared.shutdown(Shutdown::Both)
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    #[cfg(test)]
    pub(crate) fn seal_raw(&mut self, plain: &[u8]) -> Vec<u8> {
        let mut out = vec![0u8; PREFIX + plain.len() + TAG];
        let n = self
            .shared
            .noise
            .write_message(self.nonce, plain, &mut out[PREFIX..])
            .unwrap();
        out[..PREFIX].copy_from_slice(&(n as u16).to_be_bytes());
        self.nonce += 1;
        out
    }
}

impl AsFd for LinkTx {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.shared.stream.as_fd()
    }
}

impl AsRawFd for LinkTx {
    fn as_raw_fd(&self) -> RawFd {
        self.shared.stream.as_raw_fd()
    }
}

impl std::fmt::Debug for LinkTx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkTx")
            .field("peer", &self.shared.peer)
            .field("nonce", &self.nonce)
            .field("broken", &self.broken)
            .finish()
    }
}
