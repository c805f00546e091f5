//! Opening a link: the greeting, the Noise NNpsk0 handshake and the key confirmation, as
//! laid out in the crate documentation ("Wire format").

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use snow::StatelessTransportState;

use crate::error::LinkError;
use crate::rx::LinkRx;
use crate::sock::{handshake_error, read_full, write_full, Deadline};
use crate::tx::LinkTx;
use crate::{Link, Shared, Suite};

const MAGIC: &[u8; 8] = b"wendlink";
/// The link protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
const GREETING_LEN: usize = 10;
/// Largest handshake message accepted (ours are 48 bytes: an ephemeral key and a tag).
const HANDSHAKE_MAX: usize = 256;
const CONFIRM: &[u8] = b"wend-link ready";

const STATUS_OK: u8 = 0;
const STATUS_WRONG_KEY: u8 = 1;
const STATUS_VERSION: u8 = 2;
const STATUS_SUITE: u8 = 3;

fn greeting(suite: Suite) -> [u8; GREETING_LEN] {
    let mut g = [0u8; GREETING_LEN];
    g[..8].copy_from_slice(MAGIC);
    g[8] = PROTOCOL_VERSION;
    g[9] = suite.id();
    g
}

fn noise(
    suite: Suite,
    prologue: &[u8],
    key: &[u8; 32],
    initiator: bool,
) -> Result<snow::HandshakeState, LinkError> {
    let params = suite.noise_name().parse()?;
    let builder = snow::Builder::new(params).prologue(prologue)?.psk(0, key)?;
    Ok(if initiator {
        builder.build_initiator()?
    } else {
        builder.build_responder()?
    })
}

fn send(stream: &TcpStream, bytes: &[u8], deadline: Deadline) -> Result<(), LinkError> {
    write_full(stream, bytes, Some(deadline)).map_err(handshake_error)
}

fn recv_exact(stream: &TcpStream, buf: &mut [u8], deadline: Deadline) -> Result<(), LinkError> {
    read_full(stream, buf, Some(deadline)).map_err(handshake_error)
}

fn recv_noise(stream: &TcpStream, deadline: Deadline) -> Result<Vec<u8>, LinkError> {
    let mut len = [0u8; 2];
    recv_exact(stream, &mut len, deadline)?;
    let len = usize::from(u16::from_be_bytes(len));
    if len > HANDSHAKE_MAX {
        return Err(LinkError::Corrupt {
            detail: "handshake message too long",
        });
    }
    let mut msg = vec![0u8; len];
    recv_exact(stream, &mut msg, deadline)?;
    Ok(msg)
}

/// The link over the finished handshake; both directions start at nonce 0.
fn finish(
    stream: TcpStream,
    peer: SocketAddr,
    state: StatelessTransportState,
    suite: Suite,
) -> Link {
    let shared = Arc::new(Shared {
        stream,
        noise: state,
        peer,
        suite,
    });
    Link {
        tx: LinkTx::new(Arc::clone(&shared)),
        rx: LinkRx::new(shared),
    }
}

pub(crate) fn connect(
    addr: SocketAddr,
    key: &[u8; 32],
    timeout: Duration,
    suite: Suite,
) -> Result<Link, LinkError> {
    if timeout.is_zero() {
        // connect_timeout refuses a zero timeout; to the caller it is simply no time at all.
        return Err(LinkError::Timeout);
    }
    let deadline = Deadline::after(timeout);
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| {
        if matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        ) {
            LinkError::Timeout
        } else {
            LinkError::Io {
                context: "connect",
                source: e,
            }
        }
    })?;
    stream
        .set_nodelay(true)
        .map_err(LinkError::io("set TCP_NODELAY"))?;

    let greeting = greeting(suite);
    let mut hs = noise(suite, &greeting, key, true)?;
    let mut msg = [0u8; HANDSHAKE_MAX];
    let n = hs.write_message(&[], &mut msg)?;
    let mut first = Vec::with_capacity(GREETING_LEN + 2 + n);
    first.extend_from_slice(&greeting);
    first.extend_from_slice(&(n as u16).to_be_bytes());
    first.extend_from_slice(&msg[..n]);
    send(&stream, &first, deadline)?;

    let mut status = [0u8; 1];
    recv_exact(&stream, &mut status, deadline)?;
    match status[0] {
        STATUS_OK => {}
        STATUS_WRONG_KEY => return Err(LinkError::WrongKey),
        STATUS_VERSION => {
            let mut theirs = [0u8; 1];
            recv_exact(&stream, &mut theirs, deadline)?;
            return Err(LinkError::Version {
                ours: PROTOCOL_VERSION,
                theirs: theirs[0],
            });
        }
        STATUS_SUITE => return Err(LinkError::Suite { id: suite.id() }),
        _ => return Err(LinkError::NotALink),
    }
    let reply = recv_noise(&stream, deadline)?;
    let mut payload = [0u8; HANDSHAKE_MAX];
    hs.read_message(&reply, &mut payload)
        .map_err(|_| LinkError::WrongKey)?;
    let state = hs.into_stateless_transport_mode()?;

    let mut link = finish(stream, addr, state, suite);
    // Key confirmation: the first transport message.
    link.tx
        .send_parts_until(&[CONFIRM], Some(deadline), None)
        .map_err(|e| match e {
            LinkError::PeerClosed | LinkError::Truncated { .. } => {
                LinkError::Truncated { what: "handshake" }
            }
            LinkError::TimeoutMidMessage => LinkError::Timeout,
            other => other,
        })?;
    clear_timeouts(&link)?;
    Ok(link)
}

pub(crate) fn accept(
    stream: TcpStream,
    key: &[u8; 32],
    timeout: Duration,
) -> Result<Link, LinkError> {
    let deadline = Deadline::after(timeout);
    let peer = stream.peer_addr().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotConnected => LinkError::Truncated { what: "handshake" },
        _ => LinkError::Io {
            context: "read the peer address",
            source: e,
        },
    })?;
    // A stream from a non-blocking listener (tokio's, say) inherits O_NONBLOCK.
    stream
        .set_nonblocking(false)
        .map_err(LinkError::io("make the socket blocking"))?;
    stream
        .set_nodelay(true)
        .map_err(LinkError::io("set TCP_NODELAY"))?;

    let mut greeting = [0u8; GREETING_LEN];
    recv_exact(&stream, &mut greeting, deadline)?;
    if &greeting[..8] != MAGIC {
        return Err(LinkError::NotALink);
    }
    if greeting[8] != PROTOCOL_VERSION {
        // Best effort: the initiator reports the mismatch too if this arrives.
        let _ = send(&stream, &[STATUS_VERSION, PROTOCOL_VERSION], deadline);
        return Err(LinkError::Version {
            ours: PROTOCOL_VERSION,
            theirs: greeting[8],
        });
    }
    let Some(suite) = Suite::from_id(greeting[9]) else {
        let _ = send(&stream, &[STATUS_SUITE], deadline);
        return Err(LinkError::Suite { id: greeting[9] });
    };

    let mut hs = noise(suite, &greeting, key, false)?;
    let first = recv_noise(&stream, deadline)?;
    let mut payload = [0u8; HANDSHAKE_MAX];
    if hs.read_message(&first, &mut payload).is_err() {
        let _ = send(&stream, &[STATUS_WRONG_KEY], deadline);
        return Err(LinkError::WrongKey);
    }
    let mut msg = [0u8; HANDSHAKE_MAX];
    let n = hs.write_message(&[], &mut msg)?;
    let mut reply = Vec::with_capacity(1 + 2 + n);
    reply.push(STATUS_OK);
    reply.extend_from_slice(&(n as u16).to_be_bytes());
    reply.extend_from_slice(&msg[..n]);
    send(&stream, &reply, deadline)?;
    let state = hs.into_stateless_transport_mode()?;

    let mut link = finish(stream, peer, state, suite);
    let confirm = link
        .rx
        .recv_limited(CONFIRM.len(), Some(deadline))
        .map_err(|e| match e {
            // Only a peer without the session keys (a replay of message 1) gets here.
            LinkError::Corrupt { .. } | LinkError::TooLarge { .. } => LinkError::WrongKey,
            LinkError::PeerClosed | LinkError::Truncated { .. } => {
                LinkError::Truncated { what: "handshake" }
            }
            LinkError::TimeoutMidMessage => LinkError::Timeout,
            other => other,
        })?;
    if confirm != CONFIRM {
        return Err(LinkError::WrongKey);
    }
    clear_timeouts(&link)?;
    Ok(link)
}

fn clear_timeouts(link: &Link) -> Result<(), LinkError> {
    let stream = &link.tx.shared.stream;
    stream
        .set_read_timeout(None)
        .map_err(LinkError::io("clear the read timeout"))?;
    stream
        .set_write_timeout(None)
        .map_err(LinkError::io("clear the write timeout"))
}
