//! [`ClusterNode`]: one member's protocol state machine, without I/O.
//!
//! The daemon feeds it datagrams and the time, and sends what it drains:
//!
//! ```text
//! loop {
//!     recv (from, bytes) or sleep until node.next_deadline()
//!     node.handle_datagram(from, &bytes, now)   // errors: count, log at debug
//!     node.tick(now)
//!     for (to, bytes) in node.drain_outgoing() { socket.send_to(bytes, to) }
//!     for event in node.drain_events() { ... }
//! }
//! ```
//!
//! `now` is any monotonic clock as a `Duration` since a fixed origin
//! (the daemon passes `start.elapsed()`, the simulator its simulated time).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use foca::{AccumulatingRuntime, Foca, NoCustomBroadcast, OwnedNotification, State, Timer};
use rand::rngs::{StdRng, SysRng};
use rand::{Rng, RngExt, SeedableRng};

use crate::book::{AddrBook, Key};
use crate::codec::WireCodec;
use crate::config::ClusterConfig;
use crate::digest::{self, Digest};
use crate::error::{ClusterError, DecodeError};
use crate::identity::{NodeId, SwimId};
use crate::key::ClusterKey;
use crate::load::{LoadVector, LocalLoad};
use crate::message::{Announcement, Message};
use crate::seal::{DatagramKind, Sealer, SEAL_OVERHEAD};
use crate::table::LoadTable;
use crate::view::{ClusterEvent, MemberState, MemberView, NodeStats};

mod loads;

/// Most members asked for by name in one `Want` (fits a datagram with IPv6).
const MAX_WANT: usize = 64;

type Swim = Foca<SwimId, WireCodec, StdRng, NoCustomBroadcast>;

/// `active_pos` value of a member not in the active set.
const INACTIVE: u32 = u32::MAX;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Due {
    at: Duration,
    seq: u64,
}

/// One cluster member's protocol core: SWIM membership (foca), load-vector
/// dissemination and sealing. Does no I/O; see the module docs for the loop.
pub struct ClusterNode {
    config: ClusterConfig,
    sealer: Sealer,
    rng: StdRng,
    book: AddrBook,
    self_key: Key,
    swim: Swim,
    runtime: AccumulatingRuntime<SwimId>,
    timers: BinaryHeap<Reverse<Due>>,
    timer_events: HashMap<u64, Timer<SwimId>>,
    timer_seq: u64,
    active: Vec<SwimId>,
    active_pos: Vec<u32>,
    digest: Digest,
    bucket_of: Vec<u8>,
    table: LoadTable,
    local: LocalLoad,
    version: u32,
    published: Option<(LocalLoad, Duration)>,
    publish_jitter: f64,
    next_refresh: Duration,
    next_gossip: Duration,
    next_sync: Duration,
    next_anti_entropy: Duration,
    next_recent_pull: Duration,
    next_want: Duration,
    many_missing: bool,
    left: bool,
    seeds: Vec<SocketAddr>,
    sync_answered: HashMap<SocketAddr, Duration>,
    suspects: HashMap<Key, (SwimId, u16, Duration)>,
    suspect_timeout: Duration,
    next_suspect_sweep: Duration,
    next_seed_announce: Duration,
    outgoing: Vec<(SocketAddr, Vec<u8>)>,
    events: Vec<ClusterEvent>,
    stats: NodeStats,
    now: Duration,
}

impl std::fmt::Debug for ClusterNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterNode")
            .field("id", &self.id())
            .field("members", &self.active.len())
            .finish()
    }
}

impl ClusterNode {
    /// A node whose randomness (nonces, peer choice) comes from the OS.
    pub fn new(config: ClusterConfig, key: &ClusterKey) -> Result<Self, ClusterError> {
        let rng = StdRng::try_from_rng(&mut SysRng)
            .map_err(|e| ClusterError::Config(format!("no OS randomness: {e}")))?;
        Self::with_rng(config, key, rng, AddrBook::new())
    }

    /// A node with a seeded random generator: for the simulator and tests
    /// only (nonces become predictable across runs with the same seed).
    pub fn new_seeded(
        config: ClusterConfig,
        key: &ClusterKey,
        seed: u64,
    ) -> Result<Self, ClusterError> {
        Self::with_rng(config, key, StdRng::seed_from_u64(seed), AddrBook::new())
    }

    /// Like [`ClusterNode::new_seeded`], keeping addresses and names in
    /// `book`, which other nodes of this process may share (the
    /// simulator's nodes share one, to save memory).
    pub fn new_seeded_in(
        config: ClusterConfig,
        key: &ClusterKey,
        seed: u64,
        book: &AddrBook,
    ) -> Result<Self, ClusterError> {
        Self::with_rng(config, key, StdRng::seed_from_u64(seed), book.clone())
    }

    fn with_rng(
        config: ClusterConfig,
        key: &ClusterKey,
        mut rng: StdRng,
        book: AddrBook,
    ) -> Result<Self, ClusterError> {
        if config.max_datagram < 512 || config.max_datagram > 65_000 {
            return Err(ClusterError::Config(format!(
                "max_datagram {} must be between 512 and 65000",
                config.max_datagram
            )));
        }
        if config.gossip_interval.is_zero() || config.gossip_fanout == 0 {
            return Err(ClusterError::Config(
                "gossip_interval and gossip_fanout must be positive".into(),
            ));
        }
        let size = NonZeroU32::new(config.expected_size.max(1)).expect("max(1) is non-zero");
        let mut swim_config = foca::Config::new_lan(size);
        swim_config.max_packet_size = NonZeroUsize::new(config.max_datagram - SEAL_OVERHEAD - 1)
            .expect("max_datagram checked above");
        swim_config.remove_down_after = Some(config.forget_down_after);
        swim_config.periodic_gossip = NonZeroUsize::new(config.swim_gossip_fanout)
            .filter(|_| !config.swim_gossip_interval.is_zero())
            .map(|num_members| foca::PeriodicParams {
                frequency: config.swim_gossip_interval,
                num_members,
            });
        let suspect_timeout = swim_config.suspect_to_down_after;
        let swim_rng = StdRng::seed_from_u64(rng.next_u64());
        let id = SwimId::of(NodeId::new(config.addr, config.generation), &book);
        let codec = WireCodec { book: book.clone() };
        let swim = Foca::new(id, swim_config, swim_rng, codec);
        let local = config.initial_load.clone();
        let mut node = Self {
            sealer: Sealer::new(key),
            rng,
            self_key: id.key,
            book,
            swim,
            runtime: AccumulatingRuntime::new(),
            timers: BinaryHeap::new(),
            timer_events: HashMap::new(),
            timer_seq: 0,
            active: Vec::new(),
            active_pos: Vec::new(),
            digest: Digest::default(),
            bucket_of: Vec::new(),
            table: LoadTable::default(),
            local,
            version: 0,
            published: None,
            publish_jitter: 1.0,
            next_refresh: Duration::ZERO,
            next_gossip: Duration::ZERO,
            next_sync: Duration::ZERO,
            next_anti_entropy: config.anti_entropy_interval,
            next_recent_pull: config.recent_pull_interval,
            next_want: Duration::from_secs(1),
            many_missing: true,
            left: false,
            seeds: Vec::new(),
            sync_answered: HashMap::new(),
            suspects: HashMap::new(),
            suspect_timeout,
            next_suspect_sweep: Duration::ZERO,
            next_seed_announce: Duration::ZERO,
            outgoing: Vec::new(),
            events: Vec::new(),
            stats: NodeStats::default(),
            now: Duration::ZERO,
            config,
        };
        let addr = node.config.addr;
        node.digest.toggle(&addr);
        node.set_bucket(node.self_key, &addr);
        node.publish(Duration::ZERO);
        Ok(node)
    }

    /// This node's current identity (the generation changes on a rejoin).
    pub fn id(&self) -> NodeId {
        self.swim.identity().node_id(&self.book)
    }

    /// The configuration.
    pub fn config(&self) -> &ClusterConfig {
        &self.config
    }

    /// Traffic and work counters.
    pub fn stats(&self) -> NodeStats {
        self.stats
    }

    /// Number of active members besides this node.
    pub fn active_members(&self) -> usize {
        self.active.len()
    }

    /// Whether the member at `addr` is active (alive or suspect) here. O(1).
    pub fn is_active_member(&self, addr: &SocketAddr) -> bool {
        self.book.find(addr).is_some_and(|k| self.is_active_key(k))
    }

    fn is_active_key(&self, key: Key) -> bool {
        self.active_pos
            .get(key as usize)
            .is_some_and(|&p| p != INACTIVE)
    }

    /// The active member with this key (its current identity).
    fn active_id(&self, key: Key) -> Option<SwimId> {
        match self.active_pos.get(key as usize) {
            Some(&p) if p != INACTIVE => Some(self.active[p as usize]),
            _ => None,
        }
    }

    /// Number of load vectors known (this node's own included).
    pub fn known_loads(&self) -> usize {
        self.table.len()
    }

    /// The freshest load vector known for `addr`.
    pub fn load_of(&self, addr: &SocketAddr) -> Option<LoadVector> {
        let key = self.book.find(addr)?;
        self.table.get(key).map(|s| s.vector(*addr))
    }

    /// The version of the freshest load vector known for `addr`, as
    /// `(generation, version)`; cheaper than [`ClusterNode::load_of`].
    pub fn load_version_of(&self, addr: &SocketAddr) -> Option<(u32, u32)> {
        let key = self.book.find(addr)?;
        self.table.get(key).map(|s| (s.generation(), s.version()))
    }

    /// Whether [`ClusterNode::leave`] was called.
    pub fn has_left(&self) -> bool {
        self.left
    }

    /// Asks the member at `seed` to let this node in. Call for each seed and
    /// for each address discovery finds; joining twice is harmless. The node
    /// remembers its seeds and announces itself to one again every
    /// `seed_retry_interval` while it knows no member (the first announce may
    /// be lost), and every `seed_reannounce_interval` after that, so islands
    /// formed by lost announcements or partitions merge again.
    pub fn join(&mut self, seed: SocketAddr, now: Duration) -> Result<(), ClusterError> {
        self.now = now;
        if self.left {
            return Err(ClusterError::InvalidState(
                "this node has left the cluster; create a new node to rejoin",
            ));
        }
        if seed == self.config.addr {
            return Ok(());
        }
        if !self.seeds.contains(&seed) {
            self.seeds.push(seed);
        }
        self.next_seed_announce = now + self.config.seed_retry_interval;
        let seed_id = SwimId::of(NodeId::new(seed, 0), &self.book);
        let res = self.swim.announce(seed_id, &mut self.runtime);
        self.flush_swim();
        res.map_err(|e| ClusterError::Membership(e.to_string()))
    }

    /// Handles one received datagram. Errors mean the datagram was refused
    /// (foreign, unauthentic, malformed, stale); nothing changed then except
    /// the `rejected` counter.
    pub fn handle_datagram(
        &mut self,
        from: SocketAddr,
        data: &[u8],
        now: Duration,
    ) -> Result<(), ClusterError> {
        self.now = now;
        self.stats.datagrams_received += 1;
        self.stats.bytes_received += data.len() as u64;
        let res = self.handle_inner(from, data);
        if res.is_err() {
            self.stats.rejected += 1;
        }
        res
    }

    fn handle_inner(&mut self, _from: SocketAddr, data: &[u8]) -> Result<(), ClusterError> {
        if self.left {
            return Ok(());
        }
        if data.len() > self.config.max_datagram.max(1400) + 64 {
            return Err(DecodeError::TooLarge {
                len: data.len(),
                max: self.config.max_datagram,
            }
            .into());
        }
        let plain = self.sealer.open(DatagramKind::Cluster, data)?;
        match Message::decode(&plain)? {
            Message::Membership(bytes) => {
                let res = self.swim.handle_data(bytes, &mut self.runtime);
                self.flush_swim();
                res.map_err(|e| ClusterError::Membership(e.to_string()))
            }
            Message::LoadGossip { vectors, .. } => {
                self.merge_vectors(vectors, self.config.rumour_tx());
                Ok(())
            }
            Message::SyncReply { vectors, .. } => {
                // News to this node is likely news to others nearby: rumour
                // it on, but only a few times: pulled vectors are old news
                // to the answerer's neighbourhood, and in a cold start every
                // node pulls (docs/CLUSTER.md).
                self.merge_vectors(vectors, self.config.pulled_rumour_transmissions);
                Ok(())
            }
            Message::Want { sender, addrs } => {
                if sender.addr != self.config.addr {
                    self.answer_want(sender.addr, &addrs);
                }
                Ok(())
            }
            Message::SyncRequest {
                sender,
                window_ms,
                digest,
                ..
            } => {
                if sender.addr != self.config.addr {
                    self.answer_sync(sender.addr, window_ms, &digest);
                }
                Ok(())
            }
        }
    }

    /// Runs everything due at `now`: foca timers, rumour pushes, table pulls,
    /// periodic and pending publications. Call at least by `next_deadline`.
    pub fn tick(&mut self, now: Duration) {
        self.now = now;
        if self.left {
            return;
        }
        while let Some(Reverse(due)) = self.timers.peek() {
            if due.at > now {
                break;
            }
            let seq = due.seq;
            self.timers.pop();
            if let Some(timer) = self.timer_events.remove(&seq) {
                // Timer errors (e.g. a probe cycle cut short by a rejoin) are
                // foca's own bookkeeping; it recovers on the next cycle.
                let _ = self.swim.handle_timer(timer, &mut self.runtime);
                self.flush_swim();
            }
        }
        self.maybe_publish(now);
        if now >= self.next_suspect_sweep {
            self.next_suspect_sweep = now + Duration::from_secs(1);
            self.sweep_suspects(now);
        }
        if !self.seeds.is_empty() && now >= self.next_seed_announce {
            let alone = self.active.is_empty();
            self.next_seed_announce = now
                + if alone {
                    self.config.seed_retry_interval
                } else {
                    self.config.seed_reannounce_interval
                };
            let seed = self.seeds[self.rng.random_range(0..self.seeds.len())];
            let seed_id = SwimId::of(NodeId::new(seed, 0), &self.book);
            let _ = self.swim.announce(seed_id, &mut self.runtime);
            self.flush_swim();
        }
        if now >= self.next_gossip {
            self.next_gossip = now + self.config.gossip_interval;
            self.push_rumours();
        }
        if now >= self.next_want {
            // Ask for the few vectors still missing by name (cheap); pull a
            // whole table only when many are missing.
            self.next_want = now + Duration::from_secs(1);
            let missing: Vec<Key> = self
                .active
                .iter()
                .filter(|m| {
                    self.table
                        .get(m.key)
                        .is_none_or(|s| s.generation() < m.generation)
                })
                .map(|m| m.key)
                .take(MAX_WANT + 1)
                .collect();
            self.many_missing = missing.len() > MAX_WANT;
            if !missing.is_empty() && !self.many_missing {
                if let Some(to) = self.choose_active(1).pop() {
                    let msg = Message::Want {
                        sender: self.id(),
                        addrs: missing.iter().map(|&k| self.book.addr(k)).collect(),
                    };
                    self.send_to(to, &msg);
                }
            }
        }
        if now >= self.next_sync {
            self.next_sync = now + self.config.sync_interval;
            if self.many_missing || now >= self.next_anti_entropy {
                self.next_anti_entropy = now + self.config.anti_entropy_interval;
                self.next_recent_pull = now + self.config.recent_pull_interval;
                self.request_sync(Duration::ZERO);
            }
        }
        if now >= self.next_recent_pull {
            self.next_recent_pull = now + self.config.recent_pull_interval;
            self.request_sync(self.config.recent_window);
        }
    }

    /// When `tick` should next be called.
    pub fn next_deadline(&self) -> Option<Duration> {
        if self.left {
            return None;
        }
        let timer = self.timers.peek().map(|Reverse(d)| d.at);
        let mut periodic = self
            .next_gossip
            .min(self.next_sync)
            .min(self.next_suspect_sweep)
            .min(self.next_recent_pull)
            .min(self.next_want);
        if !self.seeds.is_empty() {
            periodic = periodic.min(self.next_seed_announce);
        }
        Some(timer.map_or(periodic, |t| t.min(periodic)))
    }

    /// Records the latest local measurement; it is published at once when it
    /// differs significantly from the last publication (at most once per
    /// [`ClusterNode::publish_interval`]), else with the next periodic
    /// refresh.
    pub fn set_local_load(&mut self, load: LocalLoad, now: Duration) {
        self.now = now;
        self.local = load;
        self.maybe_publish(now);
    }

    /// Publishes the local vector at once, whatever the publication
    /// interval: for a change that must not wait (an operator stopping the
    /// node from accepting guests). Each call costs one rumour through the
    /// whole cluster; the scale benchmark uses it on sampled changes to
    /// measure spreading where the interval is longer than the run.
    pub fn publish_now(&mut self, now: Duration) {
        self.now = now;
        if !self.left {
            self.publish(now);
        }
    }

    /// Leaves the cluster gracefully: publishes a last vector marked
    /// `leaving`, tells `leave_fanout` members directly and lets foca
    /// announce the departure. Drain and send the outgoing datagrams before
    /// closing the socket; the node is inert afterwards.
    pub fn leave(&mut self, now: Duration) {
        self.now = now;
        if self.left {
            return;
        }
        self.local.accepting = false;
        self.version = self.version.wrapping_add(1);
        let vector = self.local_vector(true);
        self.table.merge(self.self_key, &vector, now, 0, &self.book);
        let targets = self.choose_active(self.config.leave_fanout);
        for to in targets {
            self.send_to(
                to,
                &Message::LoadGossip {
                    sender: self.id(),
                    vectors: vec![vector.clone()],
                },
            );
        }
        let _ = self.swim.leave_cluster(&mut self.runtime);
        self.flush_swim();
        self.left = true;
    }

    /// Takes the datagrams to send, as `(destination, sealed bytes)`.
    pub fn drain_outgoing(&mut self) -> Vec<(SocketAddr, Vec<u8>)> {
        std::mem::take(&mut self.outgoing)
    }

    /// Takes the events since the last call.
    pub fn drain_events(&mut self) -> Vec<ClusterEvent> {
        std::mem::take(&mut self.events)
    }

    /// Every member this node knows (itself first), with state and load.
    pub fn members(&self) -> Vec<MemberView> {
        let mut out = Vec::with_capacity(self.swim.iter_membership_state().len() + 1);
        let me = self.id();
        out.push(self.view(
            me,
            if self.left {
                MemberState::Left
            } else {
                MemberState::Alive
            },
            true,
        ));
        for m in self.swim.iter_membership_state() {
            let state = match m.state() {
                State::Alive => MemberState::Alive,
                State::Suspect => MemberState::Suspect,
                State::Down => MemberState::Dead,
            };
            out.push(self.view(m.id().node_id(&self.book), state, false));
        }
        out
    }

    fn view(&self, id: NodeId, state: MemberState, is_self: bool) -> MemberView {
        let entry = self
            .book
            .find(&id.addr)
            .and_then(|k| self.table.get(k))
            .filter(|s| s.generation() >= id.generation);
        let state = match entry {
            Some(s) if s.leaving() && s.is_from(&id) => MemberState::Left,
            _ => state,
        };
        MemberView {
            id,
            name: entry.map(|s| s.name().to_string()).unwrap_or_default(),
            state,
            is_self,
            load: entry.map(|s| s.vector(id.addr)),
            load_age: entry.map(|s| self.now.saturating_sub(s.received_at())),
        }
    }

    /// A sealed discovery announcement of this node, to multicast.
    pub fn discovery_announcement(&mut self) -> Vec<u8> {
        let a = Announcement {
            id: self.id(),
            name: self.config.name.clone(),
        };
        self.sealer
            .seal(DatagramKind::Discovery, &a.encode(), &mut self.rng)
    }

    /// Handles a received discovery announcement: opens it and joins the
    /// announced node if it is not a known active member. Returns the
    /// announcement (for logging) or why it was refused.
    pub fn handle_discovery(
        &mut self,
        data: &[u8],
        now: Duration,
    ) -> Result<Announcement, ClusterError> {
        self.now = now;
        let plain = self.sealer.open(DatagramKind::Discovery, data)?;
        let a = Announcement::decode(&plain)?;
        if a.id.addr != self.config.addr && !self.is_active_member(&a.id.addr) && !self.left {
            self.join(a.id.addr, now)?;
        }
        Ok(a)
    }

    /// SWIM starts a suspicion timer on every member that learns of a
    /// suspicion; foca starts one only on the member whose probe failed and
    /// relies on its Down update reaching everyone. A member that missed
    /// that update would keep the suspect forever (until it probes it
    /// itself: N probe periods). So: a suspect not refuted within twice the
    /// suspicion time here is declared down here, and foca spreads that.
    fn sweep_suspects(&mut self, now: Duration) {
        let mut seen = HashMap::new();
        let mut expired = Vec::new();
        for m in self.swim.iter_membership_state() {
            if m.state() != State::Suspect {
                continue;
            }
            let key = (*m.id(), m.incarnation());
            let since = match self.suspects.get(&m.id().key) {
                Some(&(id, inc, since)) if (id, inc) == key => since,
                _ => now,
            };
            if now.saturating_sub(since) >= 2 * self.suspect_timeout {
                expired.push(foca::Member::new(key.0, key.1, State::Down));
            } else {
                seen.insert(m.id().key, (key.0, key.1, since));
            }
        }
        self.suspects = seen;
        if !expired.is_empty() {
            let _ = self
                .swim
                .apply_many(expired.into_iter(), true, &mut self.runtime);
            self.flush_swim();
        }
    }

    fn choose_active(&mut self, k: usize) -> Vec<SwimId> {
        let n = self.active.len();
        if k >= n {
            return self.active.clone();
        }
        let mut picked: Vec<usize> = Vec::with_capacity(k);
        while picked.len() < k {
            let i = self.rng.random_range(0..n);
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked.into_iter().map(|i| self.active[i]).collect()
    }

    fn send_to(&mut self, to: SwimId, msg: &Message<'_>) {
        let addr = self.book.addr(to.key);
        self.send_message(addr, msg);
    }

    fn send_message(&mut self, to: SocketAddr, msg: &Message<'_>) {
        let sealed = self
            .sealer
            .seal(DatagramKind::Cluster, &msg.encode(), &mut self.rng);
        let len = sealed.len() as u64;
        self.stats.datagrams_sent += 1;
        self.stats.bytes_sent += len;
        match msg {
            Message::Membership(_) => self.stats.membership_bytes_sent += len,
            Message::LoadGossip { .. } => self.stats.rumour_bytes_sent += len,
            _ => {}
        }
        self.outgoing.push((to, sealed));
    }

    fn flush_swim(&mut self) {
        while let Some((to, bytes)) = self.runtime.to_send() {
            self.send_to(to, &Message::Membership(&bytes));
        }
        while let Some((after, timer)) = self.runtime.to_schedule() {
            let seq = self.timer_seq;
            self.timer_seq += 1;
            self.timers.push(Reverse(Due {
                at: self.now + after,
                seq,
            }));
            self.timer_events.insert(seq, timer);
        }
        while let Some(n) = self.runtime.to_notify() {
            self.on_notification(n);
        }
    }

    fn on_notification(&mut self, n: OwnedNotification<SwimId>) {
        match n {
            OwnedNotification::MemberUp(sid) => {
                self.activate(sid);
                let id = sid.node_id(&self.book);
                self.events.push(ClusterEvent::MemberUp { id });
            }
            OwnedNotification::MemberDown(sid) => {
                self.deactivate(sid.key);
                let left = self
                    .table
                    .get(sid.key)
                    .is_some_and(|s| s.leaving() && s.generation() == sid.generation);
                let state = if left {
                    MemberState::Left
                } else {
                    MemberState::Dead
                };
                let id = sid.node_id(&self.book);
                self.events.push(ClusterEvent::MemberDown { id, state });
            }
            OwnedNotification::Rename(old, new) => {
                if let Some(&p) = self.active_pos.get(old.key as usize) {
                    if p != INACTIVE {
                        self.active[p as usize] = new;
                    }
                }
                self.events.push(ClusterEvent::MemberRestarted {
                    old: old.node_id(&self.book),
                    new: new.node_id(&self.book),
                });
            }
            OwnedNotification::Active => {
                // Just joined: pull a member's whole table at the next tick.
                self.next_sync = self.now;
                self.events.push(ClusterEvent::Joined);
            }
            OwnedNotification::Idle => self.events.push(ClusterEvent::Isolated),
            OwnedNotification::Rejoin(sid) => {
                let id = sid.node_id(&self.book);
                self.events.push(ClusterEvent::Rejoined { id });
                // A new generation: republish so peers replace the old vector.
                self.version = 0;
                self.publish(self.now);
            }
            OwnedNotification::Defunct => {
                // Identities always renew, so foca rejoins by itself; nothing to do.
            }
        }
    }

    fn activate(&mut self, id: SwimId) {
        let k = id.key as usize;
        if self.active_pos.len() <= k {
            self.active_pos.resize(k + 1, INACTIVE);
        }
        match self.active_pos[k] {
            INACTIVE => {
                self.active_pos[k] = u32::try_from(self.active.len()).expect("< 2^32 members");
                self.active.push(id);
                let addr = self.book.addr(id.key);
                self.digest.toggle(&addr);
                self.set_bucket(id.key, &addr);
            }
            p => self.active[p as usize] = id,
        }
    }

    fn set_bucket(&mut self, key: Key, addr: &SocketAddr) {
        let k = key as usize;
        if self.bucket_of.len() <= k {
            self.bucket_of.resize(k + 1, u8::MAX);
        }
        self.bucket_of[k] = digest::place(addr).0 as u8;
    }

    /// The digest bucket of an active member (or this node).
    fn bucket(&self, key: Key) -> usize {
        usize::from(self.bucket_of.get(key as usize).copied().unwrap_or(u8::MAX))
    }

    fn deactivate(&mut self, key: Key) {
        let Some(slot) = self.active_pos.get_mut(key as usize) else {
            return;
        };
        let p = std::mem::replace(slot, INACTIVE);
        if p == INACTIVE {
            return;
        }
        self.active.swap_remove(p as usize);
        let addr = self.book.addr(key);
        self.digest.toggle(&addr);
        if let Some(moved) = self.active.get(p as usize) {
            self.active_pos[moved.key as usize] = p;
        }
    }
}
