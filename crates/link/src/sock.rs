//! Exact reads and whole writes on a TCP socket that say how far they got when they fail.
//!
//! A failure at byte 0 of a message is harmless (a timeout there leaves the link usable); a
//! failure after it is not. These helpers therefore report the progress with the cause.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::error::LinkError;

/// Why a transfer stopped short.
#[derive(Debug)]
pub(crate) enum Short {
    /// The peer closed its side (read returned 0, or a write hit a reset or broken pipe).
    Closed,
    /// The socket timeout (SO_RCVTIMEO or SO_SNDTIMEO) or the deadline expired.
    TimedOut,
    /// Any other error.
    Io(io::Error),
}

/// A failed transfer: how many bytes did move, and why it stopped.
#[derive(Debug)]
pub(crate) struct Partial {
    pub done: usize,
    pub why: Short,
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

fn is_closed(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::UnexpectedEof
    )
}

fn classify(e: io::Error) -> Short {
    if is_timeout(&e) {
        Short::TimedOut
    } else if is_closed(&e) {
        Short::Closed
    } else {
        Short::Io(e)
    }
}

/// A point in time by which a whole exchange (connect plus handshake) must be done.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(Instant);

impl Deadline {
    pub fn after(timeout: Duration) -> Self {
        Deadline(Instant::now() + timeout)
    }

    /// The time left, or `None` once the deadline has passed.
    pub fn remaining(&self) -> Option<Duration> {
        let left = self.0.saturating_duration_since(Instant::now());
        // A zero socket timeout means "block forever" to the kernel and is refused by std.
        (left >= Duration::from_micros(1)).then_some(left)
    }
}

/// Reads exactly `buf.len()` bytes: never fewer, never more. With a deadline, the socket's
/// read timeout is set to the time left before every read call, so a peer that trickles bytes
/// cannot stretch the wait past it.
pub(crate) fn read_full(
    mut stream: &TcpStream,
    buf: &mut [u8],
    deadline: Option<Deadline>,
) -> Result<(), Partial> {
    let mut done = 0;
    while done < buf.len() {
        if let Some(deadline) = deadline {
            let fail = |why| Partial { done, why };
            let left = deadline.remaining().ok_or_else(|| fail(Short::TimedOut))?;
            stream
                .set_read_timeout(Some(left))
                .map_err(|e| fail(Short::Io(e)))?;
        }
        match stream.read(&mut buf[done..]) {
            Ok(0) => {
                return Err(Partial {
                    done,
                    why: Short::Closed,
                })
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Partial {
                    done,
                    why: classify(e),
                })
            }
        }
    }
    Ok(())
}

/// Writes all of `buf`, with the same deadline rule as [`read_full`].
pub(crate) fn write_full(
    mut stream: &TcpStream,
    buf: &[u8],
    deadline: Option<Deadline>,
) -> Result<(), Partial> {
    let mut done = 0;
    while done < buf.len() {
        if let Some(deadline) = deadline {
            let fail = |why| Partial { done, why };
            let left = deadline.remaining().ok_or_else(|| fail(Short::TimedOut))?;
            stream
                .set_write_timeout(Some(left))
                .map_err(|e| fail(Short::Io(e)))?;
        }
        match stream.write(&buf[done..]) {
            Ok(0) => {
                return Err(Partial {
                    done,
                    why: Short::Closed,
                })
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(Partial {
                    done,
                    why: classify(e),
                })
            }
        }
    }
    Ok(())
}

/// Bytes the peer sent that a send read while it waited for room (see [`write_draining`]),
/// handed to the receiving half before anything newer from the socket.
#[derive(Debug, Default)]
pub(crate) struct Stash {
    bytes: Vec<u8>,
    at: usize,
    /// The peer closed its side after these bytes.
    eof: bool,
}

/// Most bytes a waiting send keeps for the receiving half; past it the send only waits.
const STASH_MAX: usize = 64 << 20;
/// How much one read of the peer's bytes takes.
const STASH_READ: usize = 256 << 10;

impl Stash {
    /// Whether the receiving half has something here (bytes, or the peer's close).
    pub fn ready(&self) -> bool {
        self.at < self.bytes.len() || self.eof
    }

    /// Moves up to `buf.len()` stashed bytes into `buf`; how many.
    fn take(&mut self, buf: &mut [u8]) -> usize {
        let n = (self.bytes.len() - self.at).min(buf.len());
        buf[..n].copy_from_slice(&self.bytes[self.at..self.at + n]);
        self.at += n;
        if self.at == self.bytes.len() {
            self.bytes.clear();
            self.at = 0;
        }
        n
    }
}

/// [`read_full`] that takes what `stash` holds first.
pub(crate) fn read_stashed(
    stash: &mut Stash,
    stream: &TcpStream,
    buf: &mut [u8],
    deadline: Option<Deadline>,
) -> Result<(), Partial> {
    let done = stash.take(buf);
    if done == buf.len() {
        return Ok(());
    }
    if stash.eof {
        return Err(Partial {
            done,
            why: Short::Closed,
        });
    }
    read_full(stream, &mut buf[done..], deadline).map_err(|p| Partial {
        done: done + p.done,
        why: p.why,
    })
}

/// [`write_full`] for a link whose receiving half is idle meanwhile (one thread owns both):
/// while the socket has no room, whatever the peer sends is read into `stash`. Two daemons
/// that send to each other at the same time can then never both wait for ever, each for the
/// other to read. Waits as long as the socket's write timeout (or the deadline) allows.
pub(crate) fn write_draining(
    stream: &TcpStream,
    buf: &[u8],
    deadline: Option<Deadline>,
    stash: &mut Stash,
) -> Result<(), Partial> {
    use nix::errno::Errno;
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::socket::{recv, send, MsgFlags};
    use std::os::fd::{AsFd, AsRawFd};

    let fd = stream.as_raw_fd();
    let nowait = MsgFlags::MSG_DONTWAIT;
    let mut done = 0;
    while done < buf.len() {
        let fail = |why| Partial { done, why };
        match send(fd, &buf[done..], nowait | MsgFlags::MSG_NOSIGNAL) {
            Ok(0) => return Err(fail(Short::Closed)),
            Ok(n) => {
                done += n;
                continue;
            }
            Err(Errno::EINTR) => continue,
            Err(Errno::EAGAIN) => {}
            Err(e) => return Err(fail(classify(io::Error::from(e)))),
        }
        let wait = match deadline {
            Some(d) => Some(d.remaining().ok_or_else(|| fail(Short::TimedOut))?),
            None => stream.write_timeout().map_err(|e| fail(Short::Io(e)))?,
        };
        let timeout = match wait {
            None => PollTimeout::NONE,
            Some(w) => PollTimeout::try_from(w.as_millis().max(1)).unwrap_or(PollTimeout::MAX),
        };
        let drain = !stash.eof && stash.bytes.len() < STASH_MAX;
        let mut want = PollFlags::POLLOUT;
        if drain {
            want |= PollFlags::POLLIN;
        }
        let mut fds = [PollFd::new(stream.as_fd(), want)];
        match poll(&mut fds, timeout) {
            Ok(0) => return Err(fail(Short::TimedOut)),
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(fail(Short::Io(io::Error::from(e)))),
        }
        let got = fds[0].revents().unwrap_or(PollFlags::empty());
        if drain && got.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            let len = stash.bytes.len();
            stash.bytes.resize(len + STASH_READ, 0);
            let r = recv(fd, &mut stash.bytes[len..], nowait);
            stash.bytes.truncate(len + *r.as_ref().unwrap_or(&0));
            match r {
                Ok(0) => stash.eof = true,
                Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => {}
                // The send will meet the same error.
                Err(_) => stash.eof = true,
            }
        }
    }
    Ok(())
}

/// The error for a transfer that failed inside a handshake, where any failure is final.
pub(crate) fn handshake_error(p: Partial) -> LinkError {
    match p.why {
        Short::Closed => LinkError::Truncated { what: "handshake" },
        Short::TimedOut => LinkError::Timeout,
        Short::Io(source) => LinkError::Io {
            context: "handshake",
            source,
        },
    }
}

/// The error for a transfer that failed after the first byte of a message moved (or, with
/// `started == false`, before it): only a timeout at byte 0 is harmless.
pub(crate) fn message_error(p: Partial, started: bool, context: &'static str) -> LinkError {
    let started = started || p.done > 0;
    match p.why {
        Short::Closed if started => LinkError::Truncated { what: "message" },
        Short::Closed => LinkError::PeerClosed,
        Short::TimedOut if started => LinkError::TimeoutMidMessage,
        Short::TimedOut => LinkError::Timeout,
        Short::Io(source) => LinkError::Io { context, source },
    }
}
