//! The peer loop: the one task that owns the cluster core ([`ClusterNode`]), the peer UDP
//! socket and the discovery socket. It feeds the core datagrams, time and local load, sends
//! what the core drains, and answers snapshot queries from the API. On shutdown it announces
//! the leave, sends the last datagrams and ends.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};
use tokio_util::sync::CancellationToken;
use wend_cluster::{ClusterEvent, ClusterNode, LocalLoad, MemberState, MemberView};
use wend_proto::{NodeInfo, NodeState};

use crate::discovery::{Discovery, ANNOUNCE_ALONE, ANNOUNCE_JOINED, MAX_ANNOUNCEMENT};

/// Largest peer datagram read (the core refuses anything over its own limit).
const RECV_BUF: usize = 65_536;
/// Pause after a failed receive.
const RECV_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Used when the core has no deadline (after leaving).
const IDLE_TICK: Duration = Duration::from_secs(1);

/// A question from the API to the peer loop.
#[derive(Debug)]
pub enum Query {
    /// Every member with its load vector.
    Nodes(oneshot::Sender<Vec<NodeInfo>>),
    /// Counts: (alive members including self, known members including self).
    Counts(oneshot::Sender<(u32, u32)>),
}

/// Everything the peer loop runs with.
#[derive(Debug)]
pub struct PeerLoop {
    /// The core.
    pub node: ClusterNode,
    /// The peer socket.
    pub socket: UdpSocket,
    /// The discovery socket, when discovery is on and could be set up.
    pub discovery: Option<Discovery>,
    /// Seeds to join at start.
    pub seeds: Vec<SocketAddr>,
    /// Time origin of the core's clock.
    pub origin: Instant,
    /// Fresh local load vectors from the sampler.
    pub loads: watch::Receiver<LocalLoad>,
    /// API questions.
    pub queries: mpsc::Receiver<Query>,
    /// Cancelled at shutdown.
    pub shutdown: CancellationToken,
}

impl PeerLoop {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// Runs until shutdown; leaves the cluster before returning.
    pub async fn run(mut self) {
        let now = self.now();
        self.node
            .set_local_load(self.loads.borrow_and_update().clone(), now);
        for seed in std::mem::take(&mut self.seeds) {
            if let Err(err) = self.node.join(seed, now) {
                tracing::warn!(%seed, %err, "cannot join seed");
            }
        }
        self.flush().await;
        let mut buf = vec![0u8; RECV_BUF];
        let mut dbuf = vec![0u8; MAX_ANNOUNCEMENT];
        let mut next_announce = Instant::now();
        let mut loads_open = true;
        loop {
            let deadline = self
                .node
                .next_deadline()
                .map_or(Instant::now() + IDLE_TICK, |d| self.origin + d);
            let discovery = self.discovery.as_ref();
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => break,
                r = self.socket.recv_from(&mut buf) => match r {
                    Ok((n, from)) => {
                        let now = self.origin.elapsed();
                        if let Err(err) = self.node.handle_datagram(from, &buf[..n], now) {
                            tracing::debug!(%from, %err, "peer datagram refused");
                        }
                    }
                    Err(err) => {
                        // Not expected on an unconnected UDP socket; never spin on it.
                        tracing::warn!(%err, "peer socket receive failed");
                        tokio::time::sleep(RECV_ERROR_PAUSE).await;
                    }
                },
                r = recv_discovery(discovery, &mut dbuf) => match r {
                    Ok((n, from)) => {
                        let now = self.origin.elapsed();
                        match self.node.handle_discovery(&dbuf[..n], now) {
                            Ok(a) => tracing::trace!(%from, name = %a.name, "discovery announcement"),
                            Err(err) => tracing::debug!(%from, %err, "discovery datagram refused"),
                        }
                    }
                    Err(err) => {
                        tracing::warn!(%err, "discovery socket receive failed");
                        tokio::time::sleep(RECV_ERROR_PAUSE).await;
                    }
                },
                () = announce_due(discovery, next_announce) => {
                    let sealed = self.node.discovery_announcement();
                    if let Some(d) = &self.discovery {
                        if let Err(err) = d.announce(&sealed).await {
                            tracing::debug!(%err, "discovery announcement not sent");
                        }
                    }
                    let period = if self.node.active_members() == 0 {
                        ANNOUNCE_ALONE
                    } else {
                        ANNOUNCE_JOINED
                    };
                    next_announce = Instant::now() + period;
                }
                r = self.loads.changed(), if loads_open => match r {
                    Ok(()) => {
                        let load = self.loads.borrow_and_update().clone();
                        let now = self.origin.elapsed();
                        self.node.set_local_load(load, now);
                    }
                    Err(_) => loads_open = false,
                },
                Some(q) = self.queries.recv() => self.answer(q),
                () = sleep_until(deadline) => {}
            }
            let now = self.now();
            self.node.tick(now);
            self.flush().await;
        }
        let now = self.now();
        self.node.leave(now);
        self.flush().await;
        tracing::info!("left the cluster");
    }

    fn answer(&self, q: Query) {
        match q {
            Query::Nodes(reply) => {
                let _ = reply.send(self.node.members().iter().map(node_info).collect());
            }
            Query::Counts(reply) => {
                let members = self.node.members();
                let alive = members
                    .iter()
                    .filter(|m| m.state == MemberState::Alive)
                    .count();
                let _ = reply.send((count(alive), count(members.len())));
            }
        }
    }

    async fn flush(&mut self) {
        for (to, bytes) in self.node.drain_outgoing() {
            if let Err(err) = self.socket.send_to(&bytes, to).await {
                tracing::debug!(%to, %err, "peer datagram not sent");
            }
        }
        for event in self.node.drain_events() {
            log_event(&event);
        }
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

async fn recv_discovery(
    d: Option<&Discovery>,
    buf: &mut [u8],
) -> std::io::Result<(usize, SocketAddr)> {
    match d {
        Some(d) => d.recv(buf).await,
        None => std::future::pending().await,
    }
}

async fn announce_due(d: Option<&Discovery>, at: Instant) {
    match d {
        Some(_) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn log_event(event: &ClusterEvent) {
    match event {
        ClusterEvent::Joined => tracing::info!("joined the cluster"),
        ClusterEvent::Isolated => tracing::warn!("no other member is reachable"),
        ClusterEvent::Rejoined { id } => tracing::warn!(%id, "rejoined after being declared dead"),
        ClusterEvent::MemberUp { id } => tracing::info!(%id, "member up"),
        ClusterEvent::MemberRestarted { old, new } => {
            tracing::info!(%old, %new, "member restarted")
        }
        ClusterEvent::MemberDown { id, state } => {
            tracing::info!(%id, state = state.as_str(), "member down")
        }
        ClusterEvent::MemberLeft { id } => tracing::info!(%id, "member leaving"),
    }
}

/// The API's view of one member.
pub fn node_info(m: &MemberView) -> NodeInfo {
    let state = match m.state {
        MemberState::Alive => NodeState::Alive,
        MemberState::Suspect => NodeState::Suspect,
        MemberState::Dead => NodeState::Dead,
        MemberState::Left => NodeState::Left,
    };
    let load = m.load.as_ref().map(|v| &v.load);
    NodeInfo {
        name: if m.name.is_empty() {
            m.id.addr.to_string()
        } else {
            m.name.clone()
        },
        state,
        addr: m.id.addr.to_string(),
        cpus: load.map_or(0.0, |l| f64::from(l.cpus)),
        speed: load.map_or(0.0, |l| l.speed),
        load: load.map_or(0.0, |l| l.load),
        mem_free: load.map_or(0, |l| l.mem_free),
        mem_total: load.map_or(0, |l| l.mem_total),
        guests: load.map_or(0, |l| u32::from(l.guests)),
        accepting: load.is_some_and(|l| l.accepting) && state == NodeState::Alive,
        local: m.is_self,
        age_ms: m
            .load_age
            .map(|a| u64::try_from(a.as_millis()).unwrap_or(u64::MAX)),
    }
}
