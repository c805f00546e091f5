//! wend-cluster: membership, failure detection, load dissemination and
//! authentication for wend, as a protocol core that does no I/O.
//!
//! - Membership and failure detection are SWIM, by the `foca` crate
//!   (alive, suspect, dead; a graceful leave is told apart as left).
//! - Each node publishes a [`LoadVector`]; vectors spread as rumours pushed
//!   to random peers and are pulled whole by nodes missing some
//!   ([`ClusterNode`]), merged by `(generation, version)`.
//! - Every datagram is sealed with the [`ClusterKey`] (XChaCha20-Poly1305);
//!   see [`seal`] for the layout and `docs/CLUSTER.md` for the threat model.
//! - [`sim`] is an in-memory network with a simulated clock that runs
//!   thousands of nodes deterministically; tests and the scale benchmark
//!   use it.
//!
//! The daemon owns sockets and clocks: it feeds datagrams and time to
//! [`ClusterNode::handle_datagram`] / [`ClusterNode::tick`] and sends what
//! [`ClusterNode::drain_outgoing`] returns.
#![forbid(unsafe_code)]

mod book;
pub mod codec;
mod config;
pub mod digest;
mod error;
pub mod fuzzing;
mod identity;
mod key;
pub mod load;
pub mod message;
mod node;
pub mod seal;
pub mod sim;
pub mod table;
mod view;
pub mod wire;

pub use book::{AddrBook, Key as MemberKey};
pub use config::ClusterConfig;
pub use error::{ClusterError, DecodeError, KeyError};
pub use identity::NodeId;
pub use key::ClusterKey;
pub use load::{
    is_significant_change, normalise_load, smooth_load, ChangeThresholds, LoadSmoother, LoadVector,
    LocalLoad,
};
pub use message::Announcement;
pub use node::ClusterNode;
pub use seal::{DatagramKind, Sealer};
pub use view::{ClusterEvent, MemberState, MemberView, NodeStats};

/// Opens and decodes a discovery announcement without a node (for tools).
pub fn open_announcement(key: &ClusterKey, datagram: &[u8]) -> Result<Announcement, DecodeError> {
    let plain = Sealer::new(key).open(DatagramKind::Discovery, datagram)?;
    Announcement::decode(&plain)
}
