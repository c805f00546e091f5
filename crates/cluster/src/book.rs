//! The address book: peer addresses as small integer keys, and node names
//! shared instead of copied.
//!
//! A node refers to members by a `u32` key everywhere inside (foca's member
//! list, the load table, the active set), so its per-member state is a few
//! machine words and lookups are array indexing. The book maps keys to
//! addresses and back. One book per daemon; the simulator shares one book
//! among all its nodes, so that 5,000 nodes do not hold 5,000 copies of the
//! same 5,000 addresses and names (docs/perf/cluster-scale.md).
//!
//! Keys are never reused: an address keeps its key for the life of the
//! book (about 80 bytes per address ever seen).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A member's key in an [`AddrBook`].
pub type Key = u32;

#[derive(Debug, Default)]
struct Inner {
    addrs: Vec<SocketAddr>,
    keys: HashMap<SocketAddr, Key>,
    names: Vec<Option<Arc<str>>>,
}

/// Addresses to keys and back, and one shared copy of each member's name.
/// Cloning gives another handle to the same book.
#[derive(Debug, Clone, Default)]
pub struct AddrBook {
    inner: Arc<Mutex<Inner>>,
}

impl AddrBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The book is consistent after every call (no call panics half-way),
        // so a poisoned lock is still usable.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key of `addr`, giving it one if it has none.
    pub fn key(&self, addr: SocketAddr) -> Key {
        let mut b = self.lock();
        if let Some(&k) = b.keys.get(&addr) {
            return k;
        }
        let k = Key::try_from(b.addrs.len()).expect("fewer than 2^32 addresses");
        b.addrs.push(addr);
        b.names.push(None);
        b.keys.insert(addr, k);
        k
    }

    /// The key of `addr` if it has one.
    pub fn find(&self, addr: &SocketAddr) -> Option<Key> {
        self.lock().keys.get(addr).copied()
    }

    /// The address of `key`.
    ///
    /// # Panics
    /// If `key` did not come from this book.
    pub fn addr(&self, key: Key) -> SocketAddr {
        self.lock().addrs[key as usize]
    }

    /// Number of addresses known (keys are `0..len`).
    pub fn len(&self) -> usize {
        self.lock().addrs.len()
    }

    /// Whether no address is known.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The shared copy of `name` for the member `key`: the one already held
    /// if it is equal, else a new one that replaces it.
    pub fn name(&self, key: Key, name: &str) -> Arc<str> {
        let mut b = self.lock();
        let slot = &mut b.names[key as usize];
        match slot {
            Some(held) if &**held == name => Arc::clone(held),
            _ => {
                let fresh: Arc<str> = Arc::from(name);
                *slot = Some(Arc::clone(&fresh));
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_stable_and_names_shared() {
        let book = AddrBook::new();
        let a: SocketAddr = "10.0.0.1:7946".parse().unwrap();
        let b: SocketAddr = "[fd00::1]:7946".parse().unwrap();
        let ka = book.key(a);
        let kb = book.key(b);
        assert_ne!(ka, kb);
        assert_eq!(book.key(a), ka);
        assert_eq!(book.find(&b), Some(kb));
        assert_eq!(book.find(&"10.0.0.2:1".parse().unwrap()), None);
        assert_eq!(book.addr(kb), b);
        assert_eq!(book.len(), 2);
        let n1 = book.name(ka, "node1");
        let n2 = book.clone().name(ka, "node1");
        assert!(Arc::ptr_eq(&n1, &n2));
        let renamed = book.name(ka, "other");
        assert_eq!(&*renamed, "other");
        assert!(!Arc::ptr_eq(&n1, &renamed));
    }
}
