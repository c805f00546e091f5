//! Helpers for daemon tests on loopback: daemons run on one Tokio runtime in this process,
//! bound to 127.0.0.1 port 0, with their API sockets in a temporary directory; tests talk to
//! them with the blocking client from the test thread.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use tempfile::TempDir;
use wend_cluster::ClusterKey;
use wend_daemon::client::Client;
use wend_daemon::config::{DiscoveryConfig, DEFAULT_DISCOVERY_GROUP};
use wend_daemon::{Daemon, DaemonConfig};
use wend_proto::{NodeInfo, NodeState};

/// Generous: failure detection takes seconds, CI machines are slow.
pub const TIMEOUT: Duration = Duration::from_secs(60);

pub fn key(seed: u8) -> ClusterKey {
    ClusterKey::from_bytes([seed; 32], 0)
}

pub struct Harness {
    pub rt: tokio::runtime::Runtime,
    pub dir: TempDir,
}

impl Harness {
    pub fn new() -> Harness {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        Harness {
            rt,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn config(&self, name: &str, listen: SocketAddr, seeds: Vec<SocketAddr>) -> DaemonConfig {
        DaemonConfig {
            name: name.to_owned(),
            listen,
            seeds,
            key: self.dir.path().join("unused.key"),
            api: self.api(name),
            speed: Some(1.0),
            cpus: None,
            accept_guests: true,
            balance: false,
            discovery: DiscoveryConfig {
                enabled: false,
                group: DEFAULT_DISCOVERY_GROUP,
                port: 7101,
            },
        }
    }

    pub fn api(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.sock"))
    }

    pub fn start(&self, cfg: DaemonConfig, key: &ClusterKey) -> Daemon {
        self.rt
            .block_on(Daemon::start_with_key(cfg, key))
            .expect("daemon starts")
    }

    pub fn stop(&self, d: Daemon) {
        self.rt.block_on(d.stop());
    }

    pub fn nodes(&self, name: &str) -> Vec<NodeInfo> {
        Client::connect(&self.api(name))
            .and_then(|mut c| c.nodes())
            .unwrap_or_default()
    }
}

/// Polls `f` every 100 ms until it holds or `TIMEOUT` passes; panics with `what` then.
pub fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn state_of(nodes: &[NodeInfo], name: &str) -> Option<NodeState> {
    nodes.iter().find(|n| n.name == name).map(|n| n.state)
}

pub fn alive_count(nodes: &[NodeInfo]) -> usize {
    nodes.iter().filter(|n| n.state == NodeState::Alive).count()
}

pub fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}
