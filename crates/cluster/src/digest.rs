//! The membership digest: a summary of which members a node counts as
//! active, small enough to ride on every window pull, so that two nodes
//! find out cheaply whether one of them misses a member entirely.
//!
//! Rumours reach all but about e^-transmissions of the nodes, and `Want`
//! repairs a missing vector only for a member the node already knows. A
//! node that never heard of a member (its vector and every membership
//! update about it missed it) had no repair but the table pull every
//! 120 s. The digest closes that gap: the members (this node included) are
//! spread over [`BUCKETS`] buckets by a hash of their address, and each
//! bucket holds the XOR of its members' address hashes. A pull carries the
//! asker's buckets (256 bytes); the answerer sends the vectors of its
//! active members in every bucket that differs. Equal digests cost nothing
//! more; the XOR is kept up to date as members come and go, so building a
//! digest is a copy.

use std::net::SocketAddr;

use crate::wire::put_addr;

/// Buckets in a digest.
pub const BUCKETS: usize = 64;

/// The bucket and the 32-bit hash of `addr` (FNV-1a over its wire form, so
/// every node computes the same).
pub fn place(addr: &SocketAddr) -> (usize, u32) {
    let mut bytes = Vec::with_capacity(19);
    put_addr(&mut bytes, addr);
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    ((h % BUCKETS as u64) as usize, (h >> 32) as u32)
}

/// A digest kept up to date by toggling members in and out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    buckets: [u32; BUCKETS],
}

impl Default for Digest {
    fn default() -> Self {
        Self {
            buckets: [0; BUCKETS],
        }
    }
}

impl Digest {
    /// Adds `addr` if absent, removes it if present.
    pub fn toggle(&mut self, addr: &SocketAddr) {
        let (b, h) = place(addr);
        self.buckets[b] ^= h;
    }

    /// The buckets, for a request.
    pub fn buckets(&self) -> &[u32] {
        &self.buckets
    }

    /// Which buckets differ from `other` (a peer's digest). A digest of
    /// the wrong size differs everywhere.
    pub fn differing(&self, other: &[u32]) -> Vec<bool> {
        if other.len() != BUCKETS {
            return vec![true; BUCKETS];
        }
        self.buckets
            .iter()
            .zip(other)
            .map(|(a, b)| a != b)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_member_shows_in_its_bucket_only() {
        let addrs: Vec<SocketAddr> = (1..=200u8)
            .map(|i| SocketAddr::from(([10, 0, 1, i], 7946)))
            .collect();
        let mut all = Digest::default();
        let mut most = Digest::default();
        for a in &addrs {
            all.toggle(a);
        }
        for a in &addrs[1..] {
            most.toggle(a);
        }
        let diff = all.differing(most.buckets());
        assert_eq!(diff.iter().filter(|d| **d).count(), 1);
        assert!(diff[place(&addrs[0]).0]);
        most.toggle(&addrs[0]);
        assert_eq!(all, most);
        assert!(all.differing(&[1, 2]).iter().all(|d| *d));
    }
}
