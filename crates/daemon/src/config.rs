//! The daemon's configuration: a TOML file (every key optional) overridden by command-line
//! flags, resolved into one [`DaemonConfig`] with every value checked. Errors name the field
//! and the fix.
//!
//! ```toml
//! name = "node1"                 # default: the host name
//! listen = "10.0.0.1:7100"       # peer UDP address; default 0.0.0.0:7100
//! seeds = ["10.0.0.2:7100"]      # static peers, for routed networks
//! key = "/etc/wend/cluster.key"  # written by `wend keygen -o FILE`
//! api = "/run/wend/wend.sock"    # local API socket
//! speed = 1.0                    # skip calibration (as `mosctl setspeed`)
//! cpus = 0.5                     # CPU share when the cgroup cannot be read
//! accept_guests = true
//! balance = true                 # move processes automatically (wend-balance)
//!
//! [discovery]                    # multicast on the local segment
//! enabled = true
//! group = "239.255.87.68"
//! port = 7101
//! ```

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

/// Where the local API socket lives unless configured.
pub const DEFAULT_API_SOCKET: &str = "/run/wend/wend.sock";
/// Where the cluster key lives unless configured.
pub const DEFAULT_KEY_FILE: &str = "/etc/wend/cluster.key";
/// The peer port unless configured.
pub const DEFAULT_PEER_PORT: u16 = 7100;
/// The multicast group for discovery unless configured (administratively scoped).
pub const DEFAULT_DISCOVERY_GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 87, 68);
/// The discovery port unless configured.
pub const DEFAULT_DISCOVERY_PORT: u16 = 7101;
/// The longest node name accepted.
pub const MAX_NAME_LEN: usize = 63;

/// A configuration problem.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {error}; check the --config path")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        error: std::io::Error,
    },
    /// The file is not valid TOML for this schema (unknown key, wrong type, ...).
    #[error("config file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the key and the line.
        message: String,
    },
    /// A value is out of range.
    #[error("config field `{field}`: {problem}; {fix}")]
    Invalid {
        /// The field, as named in the file.
        field: &'static str,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: &'static str,
    },
}

/// The file's contents: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Node name.
    pub name: Option<String>,
    /// Peer listen address `IP:PORT`.
    pub listen: Option<SocketAddr>,
    /// Seed peers `IP:PORT`.
    pub seeds: Option<Vec<SocketAddr>>,
    /// Cluster key file.
    pub key: Option<PathBuf>,
    /// Local API socket.
    pub api: Option<PathBuf>,
    /// CPU speed relative to the yardstick; skips calibration.
    pub speed: Option<f64>,
    /// The node's CPU share (CPUs, may be fractional); read from the cgroup otherwise.
    pub cpus: Option<f64>,
    /// Whether to accept guest processes.
    pub accept_guests: Option<bool>,
    /// Whether the balancer moves processes by itself.
    pub balance: Option<bool>,
    /// Multicast discovery.
    pub discovery: Option<DiscoveryFile>,
}

/// The `[discovery]` table.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryFile {
    /// On or off.
    pub enabled: Option<bool>,
    /// Multicast group (IPv4).
    pub group: Option<Ipv4Addr>,
    /// UDP port.
    pub port: Option<u16>,
}

/// Values given on the command line; each one wins over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--name`.
    pub name: Option<String>,
    /// `--listen`.
    pub listen: Option<SocketAddr>,
    /// `--seed`, repeatable; replaces the file's seeds when given.
    pub seeds: Vec<SocketAddr>,
    /// `--key`.
    pub key: Option<PathBuf>,
    /// `--api`.
    pub api: Option<PathBuf>,
    /// `--speed`.
    pub speed: Option<f64>,
    /// `--cpus`.
    pub cpus: Option<f64>,
    /// `--accept-guests` / `--no-accept-guests`.
    pub accept_guests: Option<bool>,
    /// `--balance` / `--no-balance`.
    pub balance: Option<bool>,
    /// `--discovery` / `--no-discovery`.
    pub discovery: Option<bool>,
}

/// Multicast discovery settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// On or off.
    pub enabled: bool,
    /// Multicast group.
    pub group: Ipv4Addr,
    /// UDP port.
    pub port: u16,
}

/// The resolved configuration the daemon runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct DaemonConfig {
    /// Node name, unique in the cluster.
    pub name: String,
    /// Peer listen address (port 0 picks a free port).
    pub listen: SocketAddr,
    /// Seed peers.
    pub seeds: Vec<SocketAddr>,
    /// Cluster key file.
    pub key: PathBuf,
    /// Local API socket path.
    pub api: PathBuf,
    /// Fixed CPU speed, or `None` to calibrate at start.
    pub speed: Option<f64>,
    /// Fixed CPU share, or `None` to read the cgroup's quota.
    pub cpus: Option<f64>,
    /// Whether to accept guest processes.
    pub accept_guests: bool,
    /// Whether the balancer moves processes by itself (manual moves work either way).
    pub balance: bool,
    /// Multicast discovery.
    pub discovery: DiscoveryConfig,
}

impl ConfigFile {
    /// Reads and parses a config file.
    pub fn load(path: &Path) -> Result<ConfigFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Self::parse(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses config text; the error is the parser's message.
    pub fn parse(text: &str) -> Result<ConfigFile, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
    }
}

impl DaemonConfig {
    /// Reads the file (if any), applies the overrides, fills defaults and checks the result.
    pub fn resolve(file: Option<&Path>, overrides: Overrides) -> Result<DaemonConfig, ConfigError> {
        let file = match file {
            Some(path) => ConfigFile::load(path)?,
            None => ConfigFile::default(),
        };
        Self::merge(file, overrides)
    }

    /// Merges a parsed file with overrides, fills defaults and checks the result.
    pub fn merge(file: ConfigFile, o: Overrides) -> Result<DaemonConfig, ConfigError> {
        let disc = file.discovery.unwrap_or_default();
        let name = match o.name.or(file.name) {
            Some(n) => n,
            None => default_name()?,
        };
        let cfg = DaemonConfig {
            name,
            listen: o
                .listen
                .or(file.listen)
                .unwrap_or(SocketAddr::from((Ipv4Addr::UNSPECIFIED, DEFAULT_PEER_PORT))),
            seeds: if o.seeds.is_empty() {
                file.seeds.unwrap_or_default()
            } else {
                o.seeds
            },
            key: o
                .key
                .or(file.key)
                .unwrap_or_else(|| DEFAULT_KEY_FILE.into()),
            api: o
                .api
                .or(file.api)
                .unwrap_or_else(|| DEFAULT_API_SOCKET.into()),
            speed: o.speed.or(file.speed),
            cpus: o.cpus.or(file.cpus),
            accept_guests: o.accept_guests.or(file.accept_guests).unwrap_or(true),
            balance: o.balance.or(file.balance).unwrap_or(true),
            discovery: DiscoveryConfig {
                enabled: o.discovery.or(disc.enabled).unwrap_or(true),
                group: disc.group.unwrap_or(DEFAULT_DISCOVERY_GROUP),
                port: disc.port.unwrap_or(DEFAULT_DISCOVERY_PORT),
            },
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Checks every value; the error names the first bad field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_name(&self.name)?;
        if let Some(speed) = self.speed {
            if !(speed.is_finite() && speed > 0.0 && speed <= 1.0e6) {
                return Err(ConfigError::Invalid {
                    field: "speed",
                    problem: format!("{speed} is not a positive speed"),
                    fix: "give a number such as 1.0 (one yardstick CPU), or leave it out to calibrate",
                });
            }
        }
        if let Some(cpus) = self.cpus {
            if !(0.01..=65_535.0).contains(&cpus) {
                return Err(ConfigError::Invalid {
                    field: "cpus",
                    problem: format!("{cpus} is not a CPU share"),
                    fix: "give the CPUs this node may use, such as 2 or 0.5, or leave it out to read the cgroup",
                });
            }
        }
        if !self.listen.is_ipv4() {
            return Err(ConfigError::Invalid {
                field: "listen",
                problem: format!("{} is not an IPv4 address", self.listen),
                fix: "give IPv4 IP:PORT such as 0.0.0.0:7100",
            });
        }
        if let Some(bad) = self
            .seeds
            .iter()
            .find(|s| s.port() == 0 || s.ip().is_unspecified())
        {
            return Err(ConfigError::Invalid {
                field: "seeds",
                problem: format!("{bad} is not a reachable peer address"),
                fix: "give each seed as the IP:PORT another node listens on",
            });
        }
        if self.api.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                field: "api",
                problem: "empty path".into(),
                fix: "give a socket path such as /run/wend/wend.sock",
            });
        }
        if self.key.as_os_str().is_empty() {
            return Err(ConfigError::Invalid {
                field: "key",
                problem: "empty path".into(),
                fix: "give the cluster key file written by `wend keygen -o FILE`",
            });
        }
        if !self.discovery.group.is_multicast() {
            return Err(ConfigError::Invalid {
                field: "discovery.group",
                problem: format!("{} is not a multicast address", self.discovery.group),
                fix: "use an address in 239.0.0.0/8 such as 239.255.87.68",
            });
        }
        if self.discovery.port == 0 {
            return Err(ConfigError::Invalid {
                field: "discovery.port",
                problem: "port 0".into(),
                fix: "use a fixed port shared by every node, such as 7101",
            });
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), ConfigError> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(ok_char) {
        return Err(ConfigError::Invalid {
            field: "name",
            problem: format!("{name:?} is not a valid node name"),
            fix: "use 1 to 63 characters among letters, digits, '-', '_' and '.'",
        });
    }
    Ok(())
}

fn default_name() -> Result<String, ConfigError> {
    let host = nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_default();
    // The short host name: a dotted FQDN is allowed, but the first label is what people use.
    let short = host.split('.').next().unwrap_or_default().to_owned();
    check_name(&short).map_err(|_| ConfigError::Invalid {
        field: "name",
        problem: format!("the host name {host:?} cannot be used as a node name"),
        fix: "set `name` in the config file or pass --name",
    })?;
    Ok(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ConfigFile {
        ConfigFile::parse(text).unwrap()
    }

    #[test]
    fn file_values_and_defaults() {
        let f = parse(
            r#"
            name = "alpha"
            listen = "10.0.0.1:7200"
            seeds = ["10.0.0.2:7200"]
            speed = 2.5
            accept_guests = false
            [discovery]
            enabled = false
            port = 7300
            "#,
        );
        let c = DaemonConfig::merge(f, Overrides::default()).unwrap();
        assert_eq!(c.name, "alpha");
        assert_eq!(c.listen, "10.0.0.1:7200".parse().unwrap());
        assert_eq!(c.seeds, vec!["10.0.0.2:7200".parse().unwrap()]);
        assert_eq!(c.speed, Some(2.5));
        assert!(!c.accept_guests);
        assert!(!c.discovery.enabled);
        assert_eq!(c.discovery.port, 7300);
        assert_eq!(c.discovery.group, DEFAULT_DISCOVERY_GROUP);
        assert_eq!(c.api, Path::new(DEFAULT_API_SOCKET));
        assert_eq!(c.key, Path::new(DEFAULT_KEY_FILE));
    }

    #[test]
    fn flags_override_the_file() {
        let f = parse("name = \"alpha\"\nseeds = [\"10.0.0.2:1\"]\nspeed = 2.0\n");
        let o = Overrides {
            name: Some("beta".into()),
            seeds: vec!["10.0.0.3:2".parse().unwrap()],
            speed: Some(0.5),
            discovery: Some(false),
            ..Overrides::default()
        };
        let c = DaemonConfig::merge(f, o).unwrap();
        assert_eq!(c.name, "beta");
        assert_eq!(c.seeds, vec!["10.0.0.3:2".parse().unwrap()]);
        assert_eq!(c.speed, Some(0.5));
        assert!(!c.discovery.enabled);
    }

    #[test]
    fn unknown_keys_and_bad_types_are_named() {
        let err = ConfigFile::parse("nmae = \"x\"").unwrap_err();
        assert!(err.contains("nmae"), "{err}");
        let err = ConfigFile::parse("listen = \"not an address\"").unwrap_err();
        assert!(err.contains("listen"), "{err}");
    }

    #[test]
    fn bad_values_name_their_field() {
        let cases: [(&str, &str); 6] = [
            ("name = \"a b\"", "name"),
            ("name = \"a\"\nspeed = -1.0", "speed"),
            ("name = \"a\"\ncpus = 0.0", "cpus"),
            ("name = \"a\"\nseeds = [\"0.0.0.0:7100\"]", "seeds"),
            (
                "name = \"a\"\n[discovery]\ngroup = \"10.0.0.1\"",
                "discovery.group",
            ),
            ("name = \"a\"\nlisten = \"[::1]:7100\"", "listen"),
        ];
        for (text, field) in cases {
            match DaemonConfig::merge(parse(text), Overrides::default()) {
                Err(ConfigError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
                other => panic!("{text}: expected an error on {field}, got {other:?}"),
            }
        }
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = DaemonConfig::resolve(
            Some(Path::new("/nonexistent/wend.toml")),
            Overrides::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/wend.toml"));
    }
}
