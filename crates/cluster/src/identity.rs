//! A member's identity: its peer address plus a generation.

use std::fmt;
use std::net::SocketAddr;

use crate::book::{AddrBook, Key};
use crate::error::DecodeError;
use crate::wire::{addr_len, put_addr, Reader};

/// Who a member is: the UDP address peers reach it at, and a generation that
/// grows with every start of its daemon.
///
/// The address is the member's stable key; the generation tells a restarted
/// daemon (a new incarnation of the node) from its previous run, so that the
/// cluster replaces the old identity instead of mixing the two. The daemon
/// passes e.g. the Unix time in seconds at start; the node itself adds one
/// when the cluster declared it dead while it was alive (after a partition).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// The member's peer (UDP) address.
    pub addr: SocketAddr,
    /// Grows with each start of the member's daemon.
    pub generation: u32,
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}#{}", self.addr, self.generation)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl NodeId {
    /// An identity.
    pub fn new(addr: SocketAddr, generation: u32) -> Self {
        Self { addr, generation }
    }

    /// Appends the wire form: address, then generation (u32).
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_addr(out, &self.addr);
        out.extend_from_slice(&self.generation.to_be_bytes());
    }

    /// Reads the wire form.
    pub fn decode(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            addr: r.addr()?,
            generation: r.u32()?,
        })
    }

    /// Encoded size.
    pub fn encoded_len(&self) -> usize {
        addr_len(&self.addr) + 4
    }
}

/// The identity foca works with: the member's key in the node's
/// [`AddrBook`] instead of its address, so foca's member list holds 12
/// bytes per member and finds a member by comparing integers. The codec
/// turns it into a [`NodeId`] on the wire and back.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) struct SwimId {
    pub(crate) key: Key,
    pub(crate) generation: u32,
}

impl SwimId {
    /// The key form of `id`, giving its address a key if needed.
    pub(crate) fn of(id: NodeId, book: &AddrBook) -> Self {
        Self {
            key: book.key(id.addr),
            generation: id.generation,
        }
    }

    /// The address form.
    pub(crate) fn node_id(self, book: &AddrBook) -> NodeId {
        NodeId::new(book.addr(self.key), self.generation)
    }
}

impl foca::Identity for SwimId {
    type Addr = Key;

    fn renew(&self) -> Option<Self> {
        Some(Self {
            key: self.key,
            generation: self.generation.wrapping_add(1),
        })
    }

    fn addr(&self) -> Key {
        self.key
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.generation > adversary.generation
    }
}
