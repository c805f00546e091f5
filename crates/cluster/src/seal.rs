//! Sealing: every datagram is encrypted and authenticated with the cluster key.
//!
//! # Sealed datagram layout
//!
//! ```text
//! offset size  field
//! 0      2     magic "wC" (0x77 0x43)
//! 2      1     wire format version (2; 1 had no digest in SyncRequest)
//! 3      1     key epoch
//! 4      1     kind: 1 cluster message, 2 discovery announcement
//! 5      24    random XChaCha20 nonce
//! 29     n     ciphertext of the message
//! 29+n   16    Poly1305 tag
//! ```
//!
//! Bytes 0..29 are the associated data: magic, version, epoch and kind are
//! authenticated, so none can be altered without failing the tag check, and a
//! discovery announcement can never be taken for a cluster message or back.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::Rng;

use crate::error::DecodeError;
use crate::key::ClusterKey;

/// Wire magic of every sealed datagram.
pub const MAGIC: [u8; 2] = *b"wC";
/// The wire format version this build speaks.
pub const WIRE_VERSION: u8 = 2;
/// Bytes of the authenticated header (magic to nonce).
pub const HEADER_LEN: usize = 29;
/// Bytes a sealed datagram adds to its message: header plus tag.
pub const SEAL_OVERHEAD: usize = HEADER_LEN + 16;

/// What a sealed datagram carries; part of the authenticated header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatagramKind {
    /// A message between cluster members.
    Cluster = 1,
    /// A discovery announcement (multicast on a LAN segment).
    Discovery = 2,
}

/// Seals and opens datagrams with one cluster key.
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
    epoch: u8,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer")
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl Sealer {
    /// A sealer for `key`.
    pub fn new(key: &ClusterKey) -> Self {
        let cipher = XChaCha20Poly1305::new(&(*key.bytes()).into());
        Self {
            cipher,
            epoch: key.epoch(),
        }
    }

    /// Encrypts `message` into a datagram with a fresh random nonce from `rng`.
    pub fn seal(&self, kind: DatagramKind, message: &[u8], rng: &mut impl Rng) -> Vec<u8> {
        let mut header = [0u8; HEADER_LEN];
        header[..2].copy_from_slice(&MAGIC);
        header[2] = WIRE_VERSION;
        header[3] = self.epoch;
        header[4] = kind as u8;
        rng.fill_bytes(&mut header[5..]);
        let nonce = XNonce::try_from(&header[5..]).expect("nonce slice is 24 bytes");
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: message,
                    aad: &header,
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for datagram sizes");
        let mut out = Vec::with_capacity(HEADER_LEN + sealed.len());
        out.extend_from_slice(&header);
        out.extend_from_slice(&sealed);
        out
    }

    /// Checks and decrypts a datagram of the expected kind.
    pub fn open(&self, kind: DatagramKind, datagram: &[u8]) -> Result<Vec<u8>, DecodeError> {
        if datagram.len() < SEAL_OVERHEAD {
            if datagram.len() >= 2 && datagram[..2] != MAGIC {
                return Err(DecodeError::BadMagic);
            }
            return Err(DecodeError::Truncated {
                needed: SEAL_OVERHEAD - datagram.len(),
            });
        }
        let (header, body) = datagram.split_at(HEADER_LEN);
        if header[..2] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        if header[2] != WIRE_VERSION {
            return Err(DecodeError::UnsupportedVersion(header[2]));
        }
        if header[3] != self.epoch {
            return Err(DecodeError::KeyEpoch {
                expected: self.epoch,
                got: header[3],
            });
        }
        if header[4] != kind as u8 {
            return Err(DecodeError::UnknownTag {
                what: "datagram kind",
                tag: header[4],
            });
        }
        let nonce = XNonce::try_from(&header[5..]).map_err(|_| DecodeError::BadMagic)?;
        self.cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: header,
                },
            )
            .map_err(|_| DecodeError::Unauthentic)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let mut rng = StdRng::seed_from_u64(1);
        let s = Sealer::new(&ClusterKey::from_bytes([1; 32], 0));
        let d = s.seal(DatagramKind::Cluster, b"hello", &mut rng);
        assert_eq!(d.len(), 5 + SEAL_OVERHEAD);
        assert_eq!(s.open(DatagramKind::Cluster, &d).unwrap(), b"hello");
        assert!(s.open(DatagramKind::Discovery, &d).is_err());
        for i in 0..d.len() {
            let mut t = d.clone();
            t[i] ^= 0x40;
            assert!(
                s.open(DatagramKind::Cluster, &t).is_err(),
                "flip at {i} accepted"
            );
        }
        let other = Sealer::new(&ClusterKey::from_bytes([2; 32], 0));
        assert_eq!(
            other.open(DatagramKind::Cluster, &d),
            Err(DecodeError::Unauthentic)
        );
        let epoch = Sealer::new(&ClusterKey::from_bytes([1; 32], 9));
        assert!(matches!(
            epoch.open(DatagramKind::Cluster, &d),
            Err(DecodeError::KeyEpoch { .. })
        ));
        let d2 = s.seal(DatagramKind::Cluster, b"hello", &mut rng);
        assert_ne!(d, d2, "nonce must differ per datagram");
    }
}
