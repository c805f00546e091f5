//! What the node's owner decided about guests, shared by the sampler (which publishes it in
//! the load vector), the admission check, the balancer and the guest threads.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

/// The node's guest policy and guest count. Cheap to read from any thread.
#[derive(Debug)]
pub struct NodeFlags {
    guests: AtomicU32,
    accepting: AtomicBool,
    expelling: AtomicBool,
}

impl NodeFlags {
    /// A node that accepts guests or not (`accept_guests` in the configuration).
    pub fn new(accepting: bool) -> NodeFlags {
        NodeFlags {
            guests: AtomicU32::new(0),
            accepting: AtomicBool::new(accepting),
            expelling: AtomicBool::new(false),
        }
    }

    /// Guests running here.
    pub fn guests(&self) -> u32 {
        self.guests.load(Ordering::Relaxed)
    }

    pub(crate) fn set_guests(&self, n: u32) {
        self.guests.store(n, Ordering::Relaxed);
    }

    /// Whether new guests are taken (`wend block` clears it, `wend unblock` sets it).
    pub fn accepting(&self) -> bool {
        self.accepting.load(Ordering::Relaxed) && !self.expelling()
    }

    /// Whether every guest must leave (`wend expel`, until `wend unblock`).
    pub fn expelling(&self) -> bool {
        self.expelling.load(Ordering::Relaxed)
    }

    /// `wend block` (true) or `wend unblock` (false, which also ends an expel).
    pub fn set_blocked(&self, blocked: bool) {
        self.accepting.store(!blocked, Ordering::Relaxed);
        if !blocked {
            self.expelling.store(false, Ordering::Relaxed);
        }
    }

    /// `wend expel`: refuse new guests and send every guest home.
    pub fn expel(&self) {
        self.accepting.store(false, Ordering::Relaxed);
        self.expelling.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_expel_unblock() {
        let f = NodeFlags::new(true);
        assert!(f.accepting() && !f.expelling());
        f.set_blocked(true);
        assert!(!f.accepting() && !f.expelling());
        f.expel();
        assert!(!f.accepting() && f.expelling());
        f.set_blocked(false);
        assert!(f.accepting() && !f.expelling());
        let off = NodeFlags::new(false);
        assert!(!off.accepting());
    }
}
