//! The wire form of foca's membership messages (an explicit `foca::Codec`).
//!
//! ```text
//! header  = src:NodeId src_incarnation:u16 dst:NodeId message
//! message = tag:u8 [fields]
//!   1 Ping(probe:u8)                 2 Ack(probe:u8)
//!   3 PingReq(target:NodeId probe:u8) 4 IndirectPing(origin:NodeId probe:u8)
//!   5 IndirectAck(target:NodeId probe:u8) 6 ForwardedAck(origin:NodeId probe:u8)
//!   7 Announce  8 Feed  9 Gossip  10 Broadcast  11 TurnUndead
//! member  = id:NodeId incarnation:u16 state:u8 (0 alive, 1 suspect, 2 down)
//! NodeId  = family:u8 (4|6) ip:4|16 port:u16 generation:u32
//! ```
//!
//! foca frames the rest itself: after the header a u16 count of members,
//! then the members.

use bytes::{Buf, BufMut};
use foca::{Header, Member, Message, State};

use crate::book::AddrBook;
use crate::error::DecodeError;
use crate::identity::{NodeId, SwimId};
use crate::wire::Reader;

/// The codec handed to foca: the wire form above, with identities turned
/// into book keys ([`SwimId`]) on the way in and back on the way out.
#[derive(Debug, Clone)]
pub(crate) struct WireCodec {
    pub(crate) book: AddrBook,
}

/// Error type foca wraps (encoding never fails except for lack of space).
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// A received item did not decode.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The output buffer had no room for the item.
    #[error("no room in the output buffer")]
    NoRoom,
}

fn put(buf: &mut impl BufMut, bytes: &[u8]) -> Result<(), CodecError> {
    if buf.remaining_mut() < bytes.len() {
        return Err(CodecError::NoRoom);
    }
    buf.put_slice(bytes);
    Ok(())
}

fn decode_with<T>(
    mut buf: impl Buf,
    f: impl FnOnce(&mut Reader<'_>) -> Result<T, DecodeError>,
) -> Result<T, CodecError> {
    let chunk = buf.chunk();
    let mut r = Reader::new(chunk);
    let value = f(&mut r)?;
    let used = chunk.len() - r.remaining();
    buf.advance(used);
    Ok(value)
}

/// Appends the header's wire form to `out`.
pub fn encode_header(header: &Header<NodeId>, out: &mut Vec<u8>) {
    header.src.encode(out);
    out.extend_from_slice(&header.src_incarnation.to_be_bytes());
    header.dst.encode(out);
    let (tag, id, probe) = match &header.message {
        Message::Ping(p) => (1, None, Some(*p)),
        Message::Ack(p) => (2, None, Some(*p)),
        Message::PingReq {
            target,
            probe_number,
        } => (3, Some(target), Some(*probe_number)),
        Message::IndirectPing {
            origin,
            probe_number,
        } => (4, Some(origin), Some(*probe_number)),
        Message::IndirectAck {
            target,
            probe_number,
        } => (5, Some(target), Some(*probe_number)),
        Message::ForwardedAck {
            origin,
            probe_number,
        } => (6, Some(origin), Some(*probe_number)),
        Message::Announce => (7, None, None),
        Message::Feed => (8, None, None),
        Message::Gossip => (9, None, None),
        Message::Broadcast => (10, None, None),
        Message::TurnUndead => (11, None, None),
    };
    out.push(tag);
    if let Some(id) = id {
        id.encode(out);
    }
    if let Some(p) = probe {
        out.push(p);
    }
}

/// Reads a header.
pub fn decode_header(r: &mut Reader<'_>) -> Result<Header<NodeId>, DecodeError> {
    let src = NodeId::decode(r)?;
    let src_incarnation = r.u16()?;
    let dst = NodeId::decode(r)?;
    let message = match r.u8()? {
        1 => Message::Ping(r.u8()?),
        2 => Message::Ack(r.u8()?),
        3 => Message::PingReq {
            target: NodeId::decode(r)?,
            probe_number: r.u8()?,
        },
        4 => Message::IndirectPing {
            origin: NodeId::decode(r)?,
            probe_number: r.u8()?,
        },
        5 => Message::IndirectAck {
            target: NodeId::decode(r)?,
            probe_number: r.u8()?,
        },
        6 => Message::ForwardedAck {
            origin: NodeId::decode(r)?,
            probe_number: r.u8()?,
        },
        7 => Message::Announce,
        8 => Message::Feed,
        9 => Message::Gossip,
        10 => Message::Broadcast,
        11 => Message::TurnUndead,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "membership message",
                tag,
            })
        }
    };
    Ok(Header {
        src,
        src_incarnation,
        dst,
        message,
    })
}

/// Appends a member's wire form.
pub fn encode_member(member: &Member<NodeId>, out: &mut Vec<u8>) {
    member.id().encode(out);
    out.extend_from_slice(&member.incarnation().to_be_bytes());
    out.push(match member.state() {
        State::Alive => 0,
        State::Suspect => 1,
        State::Down => 2,
    });
}

/// Reads a member.
pub fn decode_member(r: &mut Reader<'_>) -> Result<Member<NodeId>, DecodeError> {
    let id = NodeId::decode(r)?;
    let incarnation = r.u16()?;
    let state = match r.u8()? {
        0 => State::Alive,
        1 => State::Suspect,
        2 => State::Down,
        tag => {
            return Err(DecodeError::UnknownTag {
                what: "member state",
                tag,
            })
        }
    };
    Ok(Member::new(id, incarnation, state))
}

/// Maps the identities in a foca message with `f`.
fn map_message<A, B>(m: &Message<A>, mut f: impl FnMut(&A) -> B) -> Message<B> {
    match m {
        Message::Ping(p) => Message::Ping(*p),
        Message::Ack(p) => Message::Ack(*p),
        Message::PingReq {
            target,
            probe_number,
        } => Message::PingReq {
            target: f(target),
            probe_number: *probe_number,
        },
        Message::IndirectPing {
            origin,
            probe_number,
        } => Message::IndirectPing {
            origin: f(origin),
            probe_number: *probe_number,
        },
        Message::IndirectAck {
            target,
            probe_number,
        } => Message::IndirectAck {
            target: f(target),
            probe_number: *probe_number,
        },
        Message::ForwardedAck {
            origin,
            probe_number,
        } => Message::ForwardedAck {
            origin: f(origin),
            probe_number: *probe_number,
        },
        Message::Announce => Message::Announce,
        Message::Feed => Message::Feed,
        Message::Gossip => Message::Gossip,
        Message::Broadcast => Message::Broadcast,
        Message::TurnUndead => Message::TurnUndead,
    }
}

impl foca::Codec<SwimId> for WireCodec {
    type Error = CodecError;

    fn encode_header(
        &mut self,
        header: &Header<SwimId>,
        mut buf: impl BufMut,
    ) -> Result<(), CodecError> {
        let book = &self.book;
        let wire = Header {
            src: header.src.node_id(book),
            src_incarnation: header.src_incarnation,
            dst: header.dst.node_id(book),
            message: map_message(&header.message, |id| id.node_id(book)),
        };
        let mut out = Vec::with_capacity(64);
        encode_header(&wire, &mut out);
        put(&mut buf, &out)
    }

    fn decode_header(&mut self, buf: impl Buf) -> Result<Header<SwimId>, CodecError> {
        let wire = decode_with(buf, decode_header)?;
        let book = &self.book;
        Ok(Header {
            src: SwimId::of(wire.src, book),
            src_incarnation: wire.src_incarnation,
            dst: SwimId::of(wire.dst, book),
            message: map_message(&wire.message, |id| SwimId::of(*id, book)),
        })
    }

    fn encode_member(
        &mut self,
        member: &Member<SwimId>,
        mut buf: impl BufMut,
    ) -> Result<(), CodecError> {
        let wire = Member::new(
            member.id().node_id(&self.book),
            member.incarnation(),
            member.state(),
        );
        let mut out = Vec::with_capacity(32);
        encode_member(&wire, &mut out);
        put(&mut buf, &out)
    }

    fn decode_member(&mut self, buf: impl Buf) -> Result<Member<SwimId>, CodecError> {
        let wire = decode_with(buf, decode_member)?;
        Ok(Member::new(
            SwimId::of(*wire.id(), &self.book),
            wire.incarnation(),
            wire.state(),
        ))
    }
}
