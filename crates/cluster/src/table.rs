//! The load table: the freshest vector known for every node, and the queue
//! of hot rumours still to forward.
//!
//! Entries are kept compact, because a node holds one per member and the
//! simulator holds N of them per node: the values in their wire units
//! (thousandths, MiB), the name shared through the [`AddrBook`], the
//! arrival time in milliseconds, indexed by the member's book key. An
//! entry is 56 bytes; the table of a 5,000-member cluster is 280 KB.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::book::{AddrBook, Key};
use crate::identity::NodeId;
use crate::load::{mib, milli, LoadVector, LocalLoad, MAX_NAME_LEN};
use crate::wire::{addr_len, truncate_utf8};

/// A known vector, compactly, and when it arrived.
#[derive(Debug, Clone)]
pub struct Slot {
    name: Arc<str>,
    received_ms: u64,
    generation: u32,
    version: u32,
    speed: u32,
    load: u32,
    mem_free: u32,
    mem_total: u32,
    cpus: u16,
    guests: u16,
    flags: u8,
    hot: u8,
}

const ACCEPTING: u8 = 1;
const LEAVING: u8 = 2;

impl Slot {
    /// The generation of the identity that published it.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Its version within that generation.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Whether it announces its author's departure.
    pub fn leaving(&self) -> bool {
        self.flags & LEAVING != 0
    }

    /// The node name it carries.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Local time it was merged.
    pub fn received_at(&self) -> Duration {
        Duration::from_millis(self.received_ms)
    }

    /// Whether it was published by `id` (same address assumed).
    pub fn is_from(&self, id: &NodeId) -> bool {
        self.generation == id.generation
    }

    /// The vector, for the node at `addr`.
    pub fn vector(&self, addr: SocketAddr) -> LoadVector {
        LoadVector {
            name: self.name.to_string(),
            id: NodeId::new(addr, self.generation),
            version: self.version,
            load: LocalLoad {
                cpus: self.cpus,
                speed: f64::from(self.speed) / 1000.0,
                load: f64::from(self.load) / 1000.0,
                mem_free: u64::from(self.mem_free) << 20,
                mem_total: u64::from(self.mem_total) << 20,
                guests: self.guests,
                accepting: self.flags & ACCEPTING != 0,
            },
            leaving: self.leaving(),
        }
    }

    /// Size of its wire form, for the node at `addr`.
    pub fn encoded_len(&self, addr: &SocketAddr) -> usize {
        addr_len(addr) + 30 + self.name.len()
    }
}

/// Vectors by member key, merged by `(generation, version)`.
///
/// Hot rumours are sent freshest first: `hot[n]` queues the vectors with
/// `n` transmissions left, and [`LoadTable::take_hot`] serves the highest
/// `n` first. A new vector therefore goes out in the next round even when
/// a burst (a cold start, many nodes publishing at once) left hundreds of
/// older rumours queued; those drain afterwards, and pulls repair what
/// they miss. Queue entries carry the version they were queued for; an
/// entry whose slot has moved on (newer version, fewer transmissions left)
/// is skipped.
#[derive(Debug, Default)]
pub struct LoadTable {
    slots: Vec<Option<Slot>>,
    len: usize,
    hot: Vec<VecDeque<(Key, u32)>>,
    hot_entries: usize,
}

impl LoadTable {
    /// Merges `v`, the vector of the member `key`; returns true if it was
    /// news. News becomes a hot rumour forwarded `rumour_tx` times.
    pub fn merge(
        &mut self,
        key: Key,
        v: &LoadVector,
        now: Duration,
        rumour_tx: u8,
        book: &AddrBook,
    ) -> bool {
        let i = key as usize;
        if self.slots.len() <= i {
            self.slots.resize(i + 1, None);
        }
        match &self.slots[i] {
            Some(old) if (v.id.generation, v.version) <= (old.generation, old.version) => {
                return false
            }
            Some(_) => {}
            None => self.len += 1,
        }
        let l = &v.load;
        self.slots[i] = Some(Slot {
            name: book.name(key, truncate_utf8(&v.name, MAX_NAME_LEN)),
            received_ms: u64::try_from(now.as_millis()).unwrap_or(u64::MAX),
            generation: v.id.generation,
            version: v.version,
            speed: milli(l.speed),
            load: milli(l.load),
            mem_free: mib(l.mem_free),
            mem_total: mib(l.mem_total),
            cpus: l.cpus,
            guests: l.guests,
            flags: (u8::from(l.accepting) * ACCEPTING) | (u8::from(v.leaving) * LEAVING),
            hot: rumour_tx,
        });
        self.queue_hot(key, v.version, rumour_tx);
        true
    }

    fn queue_hot(&mut self, key: Key, version: u32, left: u8) {
        if left == 0 {
            return;
        }
        let n = usize::from(left);
        if self.hot.len() <= n {
            self.hot.resize_with(n + 1, VecDeque::new);
        }
        self.hot[n].push_back((key, version));
        self.hot_entries += 1;
    }

    /// The entry of `key`.
    pub fn get(&self, key: Key) -> Option<&Slot> {
        self.slots.get(key as usize).and_then(Option::as_ref)
    }

    /// Number of vectors known (own included).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no vector is known.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Hot rumours still queued (an upper bound: superseded entries are
    /// dropped when reached).
    pub fn hot_len(&self) -> usize {
        self.hot_entries
    }

    /// Drops the vector of `key` (a member forgotten by the cluster).
    pub fn remove(&mut self, key: Key) {
        if let Some(slot) = self.slots.get_mut(key as usize) {
            if slot.take().is_some() {
                self.len -= 1;
            }
        }
    }

    /// Takes hot vectors, those with the most transmissions left first,
    /// until `budget` bytes are used, counting one transmission for each.
    pub fn take_hot(&mut self, mut budget: usize, book: &AddrBook) -> Vec<LoadVector> {
        let mut out = Vec::new();
        let mut requeue = Vec::new();
        let mut n = self.hot.len();
        'levels: while n > 1 && out.len() < 255 {
            n -= 1;
            while out.len() < 255 {
                let Some((key, version)) = self.hot[n].pop_front() else {
                    continue 'levels;
                };
                self.hot_entries -= 1;
                let Some(slot) = self.slots.get_mut(key as usize).and_then(Option::as_mut) else {
                    continue;
                };
                if usize::from(slot.hot) != n || slot.version != version {
                    continue;
                }
                let addr = book.addr(key);
                let len = slot.encoded_len(&addr);
                if len > budget {
                    self.hot[n].push_front((key, version));
                    self.hot_entries += 1;
                    break 'levels;
                }
                budget -= len;
                slot.hot -= 1;
                out.push(slot.vector(addr));
                requeue.push((key, version, slot.hot));
            }
        }
        for (key, version, left) in requeue {
            self.queue_hot(key, version, left);
        }
        out
    }

    /// The vectors passing `keep`, in key order starting at index `start`
    /// (wrapping), each chunk at most `budget` bytes and 255 vectors, at
    /// most `max_chunks` chunks.
    pub fn chunks(
        &self,
        start: usize,
        budget: usize,
        max_chunks: usize,
        book: &AddrBook,
        keep: impl Fn(Key, &Slot) -> bool,
    ) -> Vec<Vec<LoadVector>> {
        let n = self.slots.len();
        let mut chunks = Vec::new();
        if n == 0 {
            return chunks;
        }
        let start = start % n;
        let ordered = (start..n).chain(0..start);
        let (mut cur, mut used) = (Vec::new(), 0usize);
        for i in ordered {
            let Some(slot) = &self.slots[i] else {
                continue;
            };
            let key = i as Key;
            if !keep(key, slot) {
                continue;
            }
            let addr = book.addr(key);
            let len = slot.encoded_len(&addr);
            if !cur.is_empty() && (used + len > budget || cur.len() == 255) {
                chunks.push(std::mem::take(&mut cur));
                used = 0;
                if chunks.len() == max_chunks {
                    return chunks;
                }
            }
            used += len;
            cur.push(slot.vector(addr));
        }
        if !cur.is_empty() && chunks.len() < max_chunks {
            chunks.push(cur);
        }
        chunks
    }

    /// Iterates entries in key order.
    pub fn iter(&self) -> impl Iterator<Item = (Key, &Slot)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|s| (i as Key, s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(addr: SocketAddr, generation: u32, version: u32, load: f64) -> LoadVector {
        LoadVector {
            name: "n".into(),
            id: NodeId::new(addr, generation),
            version,
            load: LocalLoad {
                load,
                mem_free: 3 << 20,
                mem_total: 8 << 20,
                ..LocalLoad::default()
            },
            leaving: false,
        }
    }

    #[test]
    fn merges_newer_only_and_round_trips_values() {
        let book = AddrBook::new();
        let addr: SocketAddr = "10.0.0.7:7946".parse().unwrap();
        let k = book.key(addr);
        let mut t = LoadTable::default();
        let v = vector(addr, 2, 5, 1.25);
        assert!(t.merge(k, &v, Duration::from_millis(1500), 3, &book));
        assert!(!t.merge(k, &vector(addr, 2, 5, 9.0), Duration::ZERO, 3, &book));
        assert!(!t.merge(k, &vector(addr, 1, 9, 9.0), Duration::ZERO, 3, &book));
        assert_eq!(t.len(), 1);
        let slot = t.get(k).unwrap();
        assert_eq!(slot.vector(addr), v);
        assert_eq!(slot.received_at(), Duration::from_millis(1500));
        let mut wire = Vec::new();
        v.encode(&mut wire);
        assert_eq!(slot.encoded_len(&addr), wire.len());
        assert!(t.merge(k, &vector(addr, 3, 1, 2.0), Duration::ZERO, 0, &book));
        assert_eq!(t.get(k).unwrap().generation(), 3);
        t.remove(k);
        assert!(t.is_empty());
    }

    #[test]
    fn hot_rumours_count_down() {
        let book = AddrBook::new();
        let mut t = LoadTable::default();
        for i in 0..3u8 {
            let addr = SocketAddr::from(([10, 0, 0, i], 1));
            t.merge(
                book.key(addr),
                &vector(addr, 1, 1, 0.0),
                Duration::ZERO,
                2,
                &book,
            );
        }
        assert_eq!(t.take_hot(10_000, &book).len(), 3);
        assert_eq!(t.take_hot(10_000, &book).len(), 3);
        assert!(t.take_hot(10_000, &book).is_empty());
        assert_eq!(t.hot_len(), 0);
    }
}
