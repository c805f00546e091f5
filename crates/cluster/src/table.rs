//! The load table: the freshest vector known for every node, and the queue
//! of hot rumours still to forward.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::load::LoadVector;

/// A known vector and when it arrived.
#[derive(Debug, Clone)]
pub struct TableEntry {
    /// The vector.
    pub vector: LoadVector,
    /// Local time it was merged.
    pub received_at: Duration,
    hot: u8,
}

/// Vectors by node address, merged by `(generation, version)`.
#[derive(Debug, Default)]
pub struct LoadTable {
    entries: BTreeMap<SocketAddr, TableEntry>,
    hot: VecDeque<SocketAddr>,
}

impl LoadTable {
    /// Merges `v`; returns true if it was news. News becomes a hot rumour
    /// forwarded `rumour_tx` times.
    pub fn merge(&mut self, v: LoadVector, now: Duration, rumour_tx: u8) -> bool {
        let addr = v.addr();
        let was_hot = match self.entries.get(&addr) {
            Some(old) if !v.supersedes(&old.vector) => return false,
            Some(old) => old.hot > 0,
            None => false,
        };
        self.entries.insert(
            addr,
            TableEntry {
                vector: v,
                received_at: now,
                hot: rumour_tx,
            },
        );
        if !was_hot && rumour_tx > 0 {
            self.hot.push_back(addr);
        }
        true
    }

    /// The entry of `addr`.
    pub fn get(&self, addr: &SocketAddr) -> Option<&TableEntry> {
        self.entries.get(addr)
    }

    /// Number of vectors known (own included).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no vector is known.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Hot rumours still queued.
    pub fn hot_len(&self) -> usize {
        self.hot.len()
    }

    /// Drops the vector of `addr` (a member forgotten by the cluster).
    pub fn remove(&mut self, addr: &SocketAddr) {
        self.entries.remove(addr);
    }

    /// Takes hot vectors round-robin until `budget` bytes are used, counting
    /// one transmission for each.
    pub fn take_hot(&mut self, mut budget: usize) -> Vec<LoadVector> {
        let mut out = Vec::new();
        let mut requeue = Vec::new();
        while out.len() < 255 {
            let Some(addr) = self.hot.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&addr) else {
                continue;
            };
            if entry.hot == 0 {
                continue;
            }
            let len = entry.vector.encoded_len();
            if len > budget {
                self.hot.push_front(addr);
                break;
            }
            budget -= len;
            entry.hot -= 1;
            out.push(entry.vector.clone());
            if entry.hot > 0 {
                requeue.push(addr);
            }
        }
        self.hot.extend(requeue);
        out
    }

    /// All vectors in address order starting at index `start` (wrapping),
    /// each chunk at most `budget` bytes and 255 vectors, at most `max_chunks`.
    /// Only vectors passing `keep` are included.
    pub fn chunks(
        &self,
        start: usize,
        budget: usize,
        max_chunks: usize,
        keep: impl Fn(&TableEntry) -> bool,
    ) -> Vec<Vec<LoadVector>> {
        let n = self.entries.len();
        let mut chunks = Vec::new();
        if n == 0 {
            return chunks;
        }
        let start = start % n;
        let ordered = self
            .entries
            .values()
            .skip(start)
            .chain(self.entries.values().take(start));
        let (mut cur, mut used) = (Vec::new(), 0usize);
        for e in ordered.filter(|e| keep(e)) {
            let len = e.vector.encoded_len();
            if !cur.is_empty() && (used + len > budget || cur.len() == 255) {
                chunks.push(std::mem::take(&mut cur));
                used = 0;
                if chunks.len() == max_chunks {
                    return chunks;
                }
            }
            used += len;
            cur.push(e.vector.clone());
        }
        if !cur.is_empty() && chunks.len() < max_chunks {
            chunks.push(cur);
        }
        chunks
    }

    /// Iterates entries in address order.
    pub fn iter(&self) -> impl Iterator<Item = &TableEntry> {
        self.entries.values()
    }
}
