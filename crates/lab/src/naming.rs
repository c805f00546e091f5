//! How every kernel object and file of a lab is named.
//!
//! All names carry the lab's prefix so that several labs (a user's and the tests', in
//! parallel) coexist and so that `down` can find a crashed lab's debris without its state
//! file. Interface names must fit IFNAMSIZ (15 bytes plus the NUL): `wl-<lab>-br` for the
//! bridge and `wl-<lab>-<index>` for the host end of a node's veth pair, so a lab name has at
//! most 8 bytes and a lab at most 250 nodes. Lab names are lowercase letters and digits only,
//! so the `-` that ends every prefix can never be part of another lab's name: `wl-t1-` never
//! matches objects of lab `t12`.

use std::path::{Path, PathBuf};

use crate::error::LabError;

/// The longest lab name (bytes): `wl-` + 8 + `-` + 3 digits = 15 = IFNAMSIZ - 1.
pub const MAX_NAME_LEN: usize = 8;
/// The most nodes a lab can have (one /24, with .254 for the bridge).
pub const MAX_NODES: usize = 250;
/// The default lab name.
pub const DEFAULT_LAB: &str = "wend";
/// Where labs record their state, one directory per lab.
pub const STATE_ROOT: &str = "/run/wend-lab";
/// The daemon's API socket as seen inside a node.
pub const NODE_API_SOCKET: &str = "/run/wend/wend.sock";
/// The directory, inside a node, that is bind-mounted from the host.
pub const NODE_API_DIR: &str = "/run/wend";

/// A validated lab name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabName(String);

impl LabName {
    /// Checks a lab name: 1 to 8 lowercase ascii letters or digits.
    pub fn new(name: &str) -> Result<Self, LabError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_NAME_LEN
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(LabName(name.to_owned()))
        } else {
            Err(LabError::BadName(name.to_owned()))
        }
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The prefix of the lab's network namespaces and interfaces: `wl-<lab>-`.
    pub fn net_prefix(&self) -> String {
        format!("wl-{}-", self.0)
    }

    /// The bridge joining the nodes.
    pub fn bridge(&self) -> String {
        format!("wl-{}-br", self.0)
    }

    /// The network namespace of node `index` (1-based), as `ip netns` names it.
    pub fn netns(&self, index: usize) -> String {
        format!("wl-{}-node{index}", self.0)
    }

    /// The host end of node `index`'s veth pair.
    pub fn veth(&self, index: usize) -> String {
        format!("wl-{}-{index}", self.0)
    }

    /// The cgroup directory (in every hierarchy) holding the lab's node cgroups.
    pub fn cgroup_dir(&self) -> String {
        format!("wend-lab-{}", self.0)
    }

    /// The host directory with the lab's state, key, logs and API sockets.
    pub fn state_dir(&self, root: &Path) -> PathBuf {
        root.join(&self.0)
    }
}

impl TryFrom<String> for LabName {
    type Error = LabError;
    fn try_from(s: String) -> Result<Self, LabError> {
        LabName::new(&s)
    }
}

impl From<LabName> for String {
    fn from(n: LabName) -> String {
        n.0
    }
}

impl std::fmt::Display for LabName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name of node `index` (1-based): `node1`, `node2`, ...
pub fn node_name(index: usize) -> String {
    format!("node{index}")
}

/// The index of a node name (`node3` -> 3), if it is one.
pub fn node_index(name: &str) -> Option<usize> {
    let digits = name.strip_prefix("node")?;
    if digits.starts_with('0') {
        return None;
    }
    digits.parse().ok().filter(|i| *i >= 1)
}

/// Checks a node count.
pub fn check_node_count(n: usize) -> Result<(), LabError> {
    if (1..=MAX_NODES).contains(&n) {
        Ok(())
    } else {
        Err(LabError::BadNodeCount(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_ifnamsiz_and_prefixes_do_not_overlap() {
        let lab = LabName::new("abcdefgh").unwrap();
        assert_eq!(lab.veth(MAX_NODES), "wl-abcdefgh-250");
        assert!(lab.veth(MAX_NODES).len() <= 15);
        assert!(lab.bridge().len() <= 15);
        let short = LabName::new("t1").unwrap();
        let long = LabName::new("t12").unwrap();
        assert!(!long.bridge().starts_with(&short.net_prefix()));
        assert!(!long.netns(1).starts_with(&short.net_prefix()));
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "abcdefghi", "a-b", "A", "a b", "wénd"] {
            assert!(
                matches!(LabName::new(bad), Err(LabError::BadName(_))),
                "{bad}"
            );
        }
        assert!(LabName::new("wend").is_ok());
    }

    #[test]
    fn node_names_round_trip() {
        assert_eq!(node_index(&node_name(7)), Some(7));
        assert_eq!(node_index("node0"), None);
        assert_eq!(node_index("node01"), None);
        assert_eq!(node_index("nodex"), None);
        assert!(check_node_count(0).is_err());
        assert!(check_node_count(251).is_err());
    }
}
