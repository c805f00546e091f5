//! Entry points for fuzzing and mutation tests: feed arbitrary bytes to
//! every decoder and to a live node. Each must return without panicking
//! whatever the input.

use std::net::SocketAddr;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::codec;
use crate::key::ClusterKey;
use crate::load::{LoadVector, LocalLoad};
use crate::message::{Announcement, Message};
use crate::node::ClusterNode;
use crate::seal::{DatagramKind, Sealer};
use crate::wire::Reader;
use crate::{ClusterConfig, NodeId};

/// The key the fuzzing helpers seal with.
pub fn fuzz_key() -> ClusterKey {
    ClusterKey::from_bytes([0xf0; 32], 0)
}

/// Runs every plaintext decoder of the crate over `data`.
pub fn decode_everything(data: &[u8]) {
    let _ = Message::decode(data);
    let _ = Announcement::decode(data);
    let _ = LoadVector::decode(&mut Reader::new(data));
    let _ = NodeId::decode(&mut Reader::new(data));
    let mut r = Reader::new(data);
    if codec::decode_header(&mut r).is_ok() {
        while r.remaining() > 0 && codec::decode_member(&mut r).is_ok() {}
    }
    let _ = crate::open_announcement(&fuzz_key(), data);
    let _ = Sealer::new(&fuzz_key()).open(DatagramKind::Cluster, data);
}

fn addr(i: u8) -> SocketAddr {
    SocketAddr::from(([10, 9, 0, i], 7946))
}

/// A node that knows two peers, as a target for hostile datagrams.
pub fn target_node() -> ClusterNode {
    let key = fuzz_key();
    let mut node = ClusterNode::new_seeded(ClusterConfig::new("target", addr(1), 1), &key, 7)
        .expect("valid fuzz node");
    let sealer = Sealer::new(&key);
    let mut rng = StdRng::seed_from_u64(3);
    let vectors = [2u8, 3]
        .iter()
        .map(|&i| LoadVector {
            name: format!("peer{i}"),
            id: NodeId::new(addr(i), 1),
            version: 1,
            load: LocalLoad::default(),
            leaving: false,
        })
        .collect();
    let msg = Message::LoadGossip {
        sender: NodeId::new(addr(2), 1),
        vectors,
    };
    let d = sealer.seal(DatagramKind::Cluster, &msg.encode(), &mut rng);
    node.handle_datagram(addr(2), &d, Duration::from_millis(1))
        .expect("fuzz node accepts its setup datagram");
    node.tick(Duration::from_millis(2));
    node.drain_outgoing();
    node
}

/// Feeds `data` to `node` both raw and sealed with the fuzz key (as an
/// insider holding the key would send it), then runs its timers.
pub fn feed_node(node: &mut ClusterNode, data: &[u8], now: Duration) {
    let _ = node.handle_datagram(addr(2), data, now);
    let _ = node.handle_discovery(data, now);
    let mut rng = StdRng::seed_from_u64(data.len() as u64);
    let sealer = Sealer::new(&fuzz_key());
    let sealed = sealer.seal(DatagramKind::Cluster, data, &mut rng);
    let _ = node.handle_datagram(addr(3), &sealed, now);
    let sealed = sealer.seal(DatagramKind::Discovery, data, &mut rng);
    let _ = node.handle_discovery(&sealed, now);
    node.tick(now + Duration::from_secs(2));
    let _ = node.members();
    node.drain_outgoing();
    node.drain_events();
}
