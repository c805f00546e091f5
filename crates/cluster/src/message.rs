//! Messages inside a sealed cluster datagram.
//!
//! ```text
//! message = tag:u8 body
//!   1 Membership: the rest is one foca packet (see `codec`)
//!   2 LoadGossip: sender:NodeId count:u8 count × LoadVector   (hot rumours)
//!   3 SyncRequest: sender:NodeId known:u32 window_ms:u32 count:u8 count × u32
//!                  (pull the table, or with window_ms > 0 only what arrived in
//!                  that last window, plus the members of every digest bucket
//!                  that differs from the answerer's; count 0: no digest)
//!   4 SyncReply: sender:NodeId count:u8 count × LoadVector     (one chunk of it)
//!   5 Want: sender:NodeId count:u8 count × Addr   (the vectors of these members)
//! ```
//!
//! A discovery announcement (sealed with the other datagram kind) is
//! `version:u8 (1) id:NodeId name_len:u8 name`.

use crate::error::DecodeError;
use crate::identity::NodeId;
use crate::load::{LoadVector, MAX_NAME_LEN};
use std::net::SocketAddr;

use crate::wire::{put_addr, put_short_str, Reader};

/// A decoded cluster message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message<'a> {
    /// One foca (SWIM) packet, handed to foca as is.
    Membership(&'a [u8]),
    /// Fresh load vectors pushed as rumours.
    LoadGossip {
        /// Who sent them.
        sender: NodeId,
        /// The vectors.
        vectors: Vec<LoadVector>,
    },
    /// A request for the sender's whole load table.
    SyncRequest {
        /// Who asks (the reply goes to its address).
        sender: NodeId,
        /// How many vectors the asker knows (informational).
        known: u32,
        /// 0: the whole table; else only vectors the answerer merged within
        /// this many milliseconds (a cheap repair of missed rumours).
        window_ms: u32,
        /// The asker's membership digest (`crate::digest`), empty for none.
        digest: Vec<u32>,
    },
    /// A request for the vectors of a few members the sender lacks.
    Want {
        /// Who asks.
        sender: NodeId,
        /// Members whose vectors are wanted (at most 255).
        addrs: Vec<SocketAddr>,
    },
    /// One chunk of a load table sent in reply to a `SyncRequest` or `Want`.
    SyncReply {
        /// Who sent it.
        sender: NodeId,
        /// The vectors.
        vectors: Vec<LoadVector>,
    },
}

const MEMBERSHIP: u8 = 1;
const LOAD_GOSSIP: u8 = 2;
const SYNC_REQUEST: u8 = 3;
const SYNC_REPLY: u8 = 4;
const WANT: u8 = 5;

impl<'a> Message<'a> {
    /// Decodes one message; never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let msg = match r.u8()? {
            MEMBERSHIP => return Ok(Message::Membership(r.rest())),
            LOAD_GOSSIP | SYNC_REPLY => {
                let reply = bytes[0] == SYNC_REPLY;
                let sender = NodeId::decode(&mut r)?;
                let n = r.u8()?;
                let mut vectors = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    vectors.push(LoadVector::decode(&mut r)?);
                }
                if reply {
                    Message::SyncReply { sender, vectors }
                } else {
                    Message::LoadGossip { sender, vectors }
                }
            }
            SYNC_REQUEST => {
                let sender = NodeId::decode(&mut r)?;
                let known = r.u32()?;
                let window_ms = r.u32()?;
                let n = r.u8()?;
                let mut digest = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    digest.push(r.u32()?);
                }
                Message::SyncRequest {
                    sender,
                    known,
                    window_ms,
                    digest,
                }
            }
            WANT => {
                let sender = NodeId::decode(&mut r)?;
                let n = r.u8()?;
                let mut addrs = Vec::with_capacity(usize::from(n));
                for _ in 0..n {
                    addrs.push(r.addr()?);
                }
                Message::Want { sender, addrs }
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "cluster message",
                    tag,
                })
            }
        };
        r.finish()?;
        Ok(msg)
    }

    /// Encodes the message.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        match self {
            Message::Membership(bytes) => {
                out.push(MEMBERSHIP);
                out.extend_from_slice(bytes);
            }
            Message::LoadGossip { sender, vectors } | Message::SyncReply { sender, vectors } => {
                out.push(if matches!(self, Message::SyncReply { .. }) {
                    SYNC_REPLY
                } else {
                    LOAD_GOSSIP
                });
                sender.encode(&mut out);
                let n = vectors.len().min(255);
                out.push(n as u8);
                for v in &vectors[..n] {
                    v.encode(&mut out);
                }
            }
            Message::Want { sender, addrs } => {
                out.push(WANT);
                sender.encode(&mut out);
                let n = addrs.len().min(255);
                out.push(n as u8);
                for a in &addrs[..n] {
                    put_addr(&mut out, a);
                }
            }
            Message::SyncRequest {
                sender,
                known,
                window_ms,
                digest,
            } => {
                out.push(SYNC_REQUEST);
                sender.encode(&mut out);
                out.extend_from_slice(&known.to_be_bytes());
                out.extend_from_slice(&window_ms.to_be_bytes());
                let n = digest.len().min(255);
                out.push(n as u8);
                for d in &digest[..n] {
                    out.extend_from_slice(&d.to_be_bytes());
                }
            }
        }
        out
    }

    /// Bytes of a load message before its vectors (tag, sender, count).
    pub fn load_header_len(sender: &NodeId) -> usize {
        2 + sender.encoded_len()
    }
}

/// A discovery announcement: "a wend node with this identity listens here".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Announcement {
    /// The announcing node's identity (peer address and generation).
    pub id: NodeId,
    /// Its name.
    pub name: String,
}

const ANNOUNCEMENT_VERSION: u8 = 1;

impl Announcement {
    /// Encodes the (unsealed) announcement.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![ANNOUNCEMENT_VERSION];
        self.id.encode(&mut out);
        put_short_str(&mut out, &self.name, MAX_NAME_LEN);
        out
    }

    /// Decodes an (opened) announcement; never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(bytes);
        let v = r.u8()?;
        if v != ANNOUNCEMENT_VERSION {
            return Err(DecodeError::UnsupportedVersion(v));
        }
        let id = NodeId::decode(&mut r)?;
        let name = r.short_str()?.to_string();
        r.finish()?;
        Ok(Self { id, name })
    }
}
