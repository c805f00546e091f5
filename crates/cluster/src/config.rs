//! Configuration of a [`crate::ClusterNode`].

use std::net::SocketAddr;
use std::time::Duration;

use crate::load::{ChangeThresholds, LocalLoad};

/// Everything a node needs besides the key. Build with [`ClusterConfig::new`]
/// and adjust fields; the defaults suit a LAN of up to a few thousand nodes.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Node name shown to users (at most 63 bytes travel).
    pub name: String,
    /// The UDP address peers reach this node at (must be unique in the cluster).
    pub addr: SocketAddr,
    /// Grows with every start of the daemon (e.g. Unix time in seconds).
    pub generation: u32,
    /// Expected cluster size; scales suspicion time and rumour retransmissions.
    pub expected_size: u32,
    /// The load published until the daemon calls `set_local_load`.
    pub initial_load: LocalLoad,
    /// Largest datagram sent, sealing included (keep under the path MTU).
    pub max_datagram: usize,
    /// How often hot load rumours are pushed.
    pub gossip_interval: Duration,
    /// Peers each gossip round pushes to.
    pub gossip_fanout: usize,
    /// How many times each node forwards a fresh load vector
    /// (`None`: ceil(ln(expected_size)) + 1).
    pub rumour_transmissions: Option<u8>,
    /// How often foca pushes pending membership updates to
    /// `swim_gossip_fanout` members, besides piggybacking them on probes.
    pub swim_gossip_interval: Duration,
    /// See `swim_gossip_interval`.
    pub swim_gossip_fanout: usize,
    /// How many times a node forwards a vector that was news to it but came
    /// in answer to a pull (it is old news where it came from).
    pub pulled_rumour_transmissions: u8,
    /// Publish the local vector about this often even if nothing changed
    /// (jittered by ±25 %).
    pub refresh_interval: Duration,
    /// Never publish the local vector more often than this.
    pub min_publish_interval: Duration,
    /// Bytes per second per node that rumours may use if every member
    /// published as often as allowed; raises the publication interval in
    /// large clusters (see `ClusterNode::publish_interval`).
    pub rumour_budget: u32,
    /// What counts as a significant change of the local load.
    pub thresholds: ChangeThresholds,
    /// While some member's load is unknown, pull a peer's table this often.
    pub sync_interval: Duration,
    /// Pull from a random peer the vectors it merged in the last
    /// `recent_window` this often (repairs missed rumours within seconds).
    pub recent_pull_interval: Duration,
    /// See `recent_pull_interval`.
    pub recent_window: Duration,
    /// Pull a random peer's table this often in any case (repairs losses).
    pub anti_entropy_interval: Duration,
    /// At most this many datagrams answer one table pull.
    pub max_sync_datagrams: usize,
    /// While no member is known, announce to a seed this often.
    pub seed_retry_interval: Duration,
    /// Once joined, announce to a seed this often (merges islands).
    pub seed_reannounce_interval: Duration,
    /// Peers told directly when this node leaves.
    pub leave_fanout: usize,
    /// Forget dead and left members after this long.
    pub forget_down_after: Duration,
}

impl ClusterConfig {
    /// Defaults for a node called `name` listening at `addr`.
    pub fn new(name: impl Into<String>, addr: SocketAddr, generation: u32) -> Self {
        Self {
            name: name.into(),
            addr,
            generation,
            expected_size: 64,
            initial_load: LocalLoad::default(),
            max_datagram: 1400,
            gossip_interval: Duration::from_millis(200),
            gossip_fanout: 3,
            rumour_transmissions: None,
            pulled_rumour_transmissions: 2,
            swim_gossip_interval: Duration::from_millis(200),
            swim_gossip_fanout: 3,
            refresh_interval: Duration::from_secs(300),
            min_publish_interval: Duration::from_secs(1),
            rumour_budget: 6000,
            thresholds: ChangeThresholds::default(),
            sync_interval: Duration::from_millis(500),
            recent_pull_interval: Duration::from_secs(2),
            recent_window: Duration::from_secs(4),
            anti_entropy_interval: Duration::from_secs(120),
            max_sync_datagrams: 64,
            seed_retry_interval: Duration::from_secs(1),
            seed_reannounce_interval: Duration::from_secs(30),
            leave_fanout: 4,
            forget_down_after: Duration::from_secs(3600),
        }
    }

    /// The effective rumour transmission count.
    pub fn rumour_tx(&self) -> u8 {
        self.rumour_transmissions.unwrap_or_else(|| {
            let ln = f64::from(self.expected_size.max(2)).ln().ceil();
            (ln as u8).saturating_add(1)
        })
    }
}
