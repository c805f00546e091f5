//! The cluster key: 32 secret bytes shared by every node, plus an epoch byte.
//!
//! # File format (text, one item a line, mode 0600)
//!
//! ```text
//! # wend cluster key: the same file on every node; keep it secret
//! wend-cluster-key 1
//! epoch 0
//! key 9f0c…(64 lowercase hex digits)
//! ```
//!
//! Lines starting with `#` and blank lines are ignored. `wend-cluster-key 1`
//! names the format and its version and must come first. `epoch` (0-255)
//! travels in every datagram so that a node holding an older key fails with
//! a clear "key epoch" error instead of a bare authentication failure when the
//! key is rotated. `key` is the 32-byte XChaCha20-Poly1305 key.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use rand::rngs::SysRng;
use rand::TryRng;

use crate::error::KeyError;

const HEADER: &str = "wend-cluster-key 1";

/// The shared secret of a cluster. `Debug` never prints the key bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterKey {
    bytes: [u8; 32],
    epoch: u8,
}

impl fmt::Debug for ClusterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClusterKey")
            .field("epoch", &self.epoch)
            .field("bytes", &"<secret>")
            .finish()
    }
}

impl ClusterKey {
    /// A key from raw bytes (tests and the simulator use fixed keys).
    pub fn from_bytes(bytes: [u8; 32], epoch: u8) -> Self {
        Self { bytes, epoch }
    }

    /// A fresh random key from the operating system's random source.
    pub fn generate(epoch: u8) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        SysRng
            .try_fill_bytes(&mut bytes)
            .map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self { bytes, epoch })
    }

    /// The raw key bytes.
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// The key epoch carried in every datagram.
    pub fn epoch(&self) -> u8 {
        self.epoch
    }

    /// The key in the documented text format.
    pub fn to_text(&self) -> String {
        let hex: String = self.bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!(
            "# wend cluster key: the same file on every node; keep it secret\n{HEADER}\nepoch {}\nkey {hex}\n",
            self.epoch
        )
    }

    /// Parses the text format; `path` is only used in error messages.
    pub fn from_text(text: &str, path: &Path) -> Result<Self, KeyError> {
        let bad = |reason: &str| KeyError::Malformed {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        let mut lines = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        if lines.next() != Some(HEADER) {
            return Err(bad("the first line must be `wend-cluster-key 1`"));
        }
        let (mut epoch, mut key) = (None, None);
        for line in lines {
            match line.split_once(' ') {
                Some(("epoch", v)) => {
                    epoch = Some(
                        v.trim()
                            .parse::<u8>()
                            .map_err(|_| bad("epoch must be 0-255"))?,
                    )
                }
                Some(("key", v)) => {
                    key = Some(
                        parse_hex32(v.trim()).ok_or_else(|| bad("key must be 64 hex digits"))?,
                    )
                }
                _ => return Err(bad(&format!("unknown line `{line}`"))),
            }
        }
        Ok(Self {
            bytes: key.ok_or_else(|| bad("missing `key` line"))?,
            epoch: epoch.ok_or_else(|| bad("missing `epoch` line"))?,
        })
    }

    /// Writes the key to a new file with mode 0600; refuses to overwrite.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => KeyError::Exists {
                    path: path.to_path_buf(),
                },
                _ => io(e),
            })?;
        file.write_all(self.to_text().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Reads a key file; refuses a file readable by group or others.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = fs::metadata(path).map_err(io)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(KeyError::TooOpen {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = fs::read_to_string(path).map_err(io)?;
        Self::from_text(&text, path)
    }
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 || !s.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trip_and_errors() {
        let key = ClusterKey::from_bytes([7; 32], 3);
        let p = Path::new("k");
        assert_eq!(ClusterKey::from_text(&key.to_text(), p).unwrap(), key);
        assert!(!format!("{key:?}").contains("07"));
        for bad in [
            "",
            "wend-cluster-key 2\nepoch 0\nkey 00",
            "wend-cluster-key 1\nepoch 300\n",
            "wend-cluster-key 1\nepoch 1\nkey zz",
            "wend-cluster-key 1\nkey 0707070707070707070707070707070707070707070707070707070707070707",
        ] {
            assert!(matches!(ClusterKey::from_text(bad, p), Err(KeyError::Malformed { .. })), "{bad}");
        }
    }

    #[test]
    fn save_load_mode_and_no_overwrite() {
        let dir = std::env::temp_dir().join(format!("wend-cluster-key-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("cluster.key");
        let key = ClusterKey::generate(1).unwrap();
        key.save(&path).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(ClusterKey::load(&path).unwrap(), key);
        assert!(matches!(key.save(&path), Err(KeyError::Exists { .. })));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            ClusterKey::load(&path),
            Err(KeyError::TooOpen { .. })
        ));
        let missing = ClusterKey::load(&dir.join("missing")).unwrap_err();
        assert!(missing.to_string().contains("missing"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
