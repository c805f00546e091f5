//! Load-vector publication and dissemination of [`ClusterNode`]: hot
//! rumours, window and table pulls.

use std::net::SocketAddr;
use std::time::Duration;

use foca::State;
use rand::RngExt;

use super::{ClusterNode, MAX_WANT};

/// A window pull also answers the members of at most this many differing
/// digest buckets.
const MAX_DIGEST_REPAIR: usize = 8;
use crate::identity::SwimId;
use crate::load::{is_significant_change, LoadVector};
use crate::message::Message;
use crate::seal::SEAL_OVERHEAD;
use crate::view::ClusterEvent;

impl ClusterNode {
    pub(super) fn local_vector(&self, leaving: bool) -> LoadVector {
        LoadVector {
            name: self.config.name.clone(),
            id: self.id(),
            version: self.version,
            load: self.local.clone(),
            leaving,
        }
    }

    pub(super) fn publish(&mut self, now: Duration) {
        self.version = self.version.wrapping_add(1);
        let v = self.local_vector(false);
        let tx = self.config.rumour_tx();
        self.table.merge(self.self_key, &v, now, tx, &self.book);
        self.published = Some((self.local.clone(), now));
        // Jitter the refresh (0.75-1.25 x) so nodes started together do not
        // refresh together.
        let jitter = 0.75 + 0.5 * self.rng.random::<f64>();
        self.next_refresh = now + self.config.refresh_interval.mul_f64(jitter);
        // Likewise the spacing of publications: nodes that published
        // together (a cold start) must not all publish again together when
        // the publication interval ends.
        self.publish_jitter = 0.75 + 0.5 * self.rng.random::<f64>();
    }

    /// The shortest time between two publications of the local vector: the
    /// configured minimum, raised so that if every member published that
    /// often, rumours would stay within `rumour_budget` bytes per second per
    /// node (each publication costs about members x transmissions x 48 bytes
    /// cluster-wide, spread over all members).
    pub fn publish_interval(&self) -> Duration {
        let members = (self.active.len() + 1) as f64;
        let per_publication = members * f64::from(self.config.rumour_tx()) * 48.0;
        let budget = f64::from(self.config.rumour_budget.max(1));
        let budget_interval = Duration::from_secs_f64(per_publication / budget);
        self.config.min_publish_interval.max(budget_interval)
    }

    pub(super) fn maybe_publish(&mut self, now: Duration) {
        let Some((published, at)) = &self.published else {
            self.publish(now);
            return;
        };
        let since = now.saturating_sub(*at);
        let due = now >= self.next_refresh
            || (since >= self.publish_interval().mul_f64(self.publish_jitter)
                && is_significant_change(published, &self.local, &self.config.thresholds));
        if due {
            self.publish(now);
        }
    }

    pub(super) fn merge_vectors(&mut self, vectors: Vec<LoadVector>, tx: u8) {
        let me = self.config.addr;
        let mut introduce = Vec::new();
        for v in vectors {
            self.stats.vectors_received += 1;
            if v.addr() == me {
                continue;
            }
            let key = self.book.key(v.addr());
            let sid = SwimId {
                key,
                generation: v.id.generation,
            };
            let leaving = v.leaving;
            let known_leaving = self
                .table
                .get(key)
                .is_some_and(|s| s.leaving() && s.generation() == sid.generation);
            if self.table.merge(key, &v, self.now, tx, &self.book) {
                self.stats.vectors_merged += 1;
                if leaving && !known_leaving {
                    self.events.push(ClusterEvent::MemberLeft { id: v.id });
                }
                if !leaving && self.active_id(key) != Some(sid) {
                    introduce.push(sid);
                }
            }
        }
        if !introduce.is_empty() {
            // A fresh vector proves its author was alive when it published:
            // tell foca about authors it does not know (or knows by an older
            // generation). foca keeps its own rules: a known-dead identity
            // stays dead, a member that does not answer probes is suspected.
            // Not re-broadcast as a membership update.
            let members = introduce
                .into_iter()
                .map(|id| foca::Member::new(id, 0, State::Alive));
            let _ = self.swim.apply_many(members, false, &mut self.runtime);
            self.flush_swim();
        }
    }

    pub(super) fn push_rumours(&mut self) {
        if self.table.hot_len() == 0 || self.active.is_empty() {
            return;
        }
        let me = self.id();
        let budget = self.config.max_datagram - SEAL_OVERHEAD - Message::load_header_len(&me);
        for to in self.choose_active(self.config.gossip_fanout) {
            let vectors = self.table.take_hot(budget, &self.book);
            if vectors.is_empty() {
                break;
            }
            self.send_to(
                to,
                &Message::LoadGossip {
                    sender: me,
                    vectors,
                },
            );
        }
    }

    pub(super) fn request_sync(&mut self, window: Duration) {
        if let Some(to) = self.choose_active(1).pop() {
            // Window pulls carry the membership digest; a whole-table pull
            // needs none.
            let digest = if window.is_zero() {
                Vec::new()
            } else {
                self.digest.buckets().to_vec()
            };
            let msg = Message::SyncRequest {
                sender: self.id(),
                known: u32::try_from(self.table.len()).unwrap_or(u32::MAX),
                window_ms: u32::try_from(window.as_millis()).unwrap_or(u32::MAX),
                digest,
            };
            self.send_to(to, &msg);
        }
    }

    pub(super) fn answer_sync(&mut self, to: SocketAddr, window_ms: u32, digest: &[u32]) {
        // At most one whole-table answer per asker per half sync interval: a
        // replayed request cannot make this node flood the asker. Window
        // answers are small and bounded by the window.
        let min_gap = self.config.sync_interval / 2;
        if window_ms == 0 {
            if let Some(&last) = self.sync_answered.get(&to) {
                if self.now.saturating_sub(last) < min_gap && last <= self.now {
                    return;
                }
            }
        }
        if self.sync_answered.len() > 4 * (self.active.len() + 16) {
            let horizon = self.now.saturating_sub(self.config.sync_interval);
            self.sync_answered.retain(|_, t| *t >= horizon);
        }
        if window_ms == 0 {
            self.sync_answered.insert(to, self.now);
        }
        let since = if window_ms == 0 {
            None
        } else {
            Some(
                self.now
                    .saturating_sub(Duration::from_millis(u64::from(window_ms))),
            )
        };
        let me = self.id();
        let budget = self.config.max_datagram - SEAL_OVERHEAD - Message::load_header_len(&me);
        // The members of differing digest buckets, when only a few differ
        // (a node missing a member or two). When many differ, the asker is
        // still catching up through table pulls and `Want`.
        let mut differing = if digest.is_empty() {
            Vec::new()
        } else {
            self.digest.differing(digest)
        };
        if differing.iter().filter(|d| **d).count() > MAX_DIGEST_REPAIR {
            differing.clear();
        }
        let start = self.rng.random_range(0..self.book.len().max(1));
        let chunks = self.table.chunks(
            start,
            budget,
            self.config.max_sync_datagrams,
            &self.book,
            |key, slot| {
                let recent = since.is_none_or(|t| slot.received_at() >= t);
                let active = key == self.self_key || self.is_active_key(key);
                // A recent leaving vector goes out although its author is
                // no longer active: a node that missed its rumour would
                // otherwise never tell "left" from "dead".
                (active && (recent || differing.get(self.bucket(key)).is_some_and(|d| *d)))
                    || (recent && since.is_some() && slot.leaving())
            },
        );
        for vectors in chunks {
            self.send_message(
                to,
                &Message::SyncReply {
                    sender: me,
                    vectors,
                },
            );
        }
    }

    pub(super) fn answer_want(&mut self, to: SocketAddr, addrs: &[SocketAddr]) {
        let me = self.id();
        let budget = self.config.max_datagram - SEAL_OVERHEAD - Message::load_header_len(&me);
        let mut chunk = Vec::new();
        let mut used = 0;
        for addr in addrs.iter().take(MAX_WANT) {
            let Some(key) = self.book.find(addr) else {
                continue;
            };
            let Some(slot) = self.table.get(key) else {
                continue;
            };
            if key != self.self_key && !self.is_active_key(key) {
                continue;
            }
            let vector = slot.vector(*addr);
            let len = vector.encoded_len();
            if used + len > budget {
                let vectors = std::mem::take(&mut chunk);
                self.send_message(
                    to,
                    &Message::SyncReply {
                        sender: me,
                        vectors,
                    },
                );
                used = 0;
            }
            used += len;
            chunk.push(vector);
        }
        if !chunk.is_empty() {
            self.send_message(
                to,
                &Message::SyncReply {
                    sender: me,
                    vectors: chunk,
                },
            );
        }
    }
}
