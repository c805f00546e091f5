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
