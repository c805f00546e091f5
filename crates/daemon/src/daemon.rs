//! Starting and stopping a daemon: bind the sockets (so every startup error comes back before
//! anything runs), calibrate, start the sampler, the peer loop and the API server, and on
//! shutdown cancel them all, let the peer loop announce the leave, and wait for every task.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket as StdUdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use wend_cluster::{ClusterConfig, ClusterKey, ClusterNode};

use crate::api::{self, ServerInfo};
use crate::calibrate::calibrate;
use crate::config::DaemonConfig;
use crate::discovery::Discovery;
use crate::error::DaemonError;
use crate::flags::NodeFlags;
use crate::migrate::{spawn_balancer, spawn_listener, Manager, Setup};
use crate::peer::PeerLoop;
use crate::probe::Probe;
use crate::sampler::{self, NodeTraits};

/// How long a stopping daemon waits for its processes to come home and its guests to leave.
pub const EVACUATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long stopping may take before the remaining tasks are abandoned.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// 2025-01-01T00:00:00Z, the origin of generations.
const GENERATION_EPOCH_SECS: u64 = 1_735_689_600;

/// A running daemon on the current Tokio runtime.
#[derive(Debug)]
pub struct Daemon {
    peer_addr: SocketAddr,
    api_path: PathBuf,
    speed: f64,
    discovery: bool,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    sampler: Option<JoinHandle<()>>,
    links: Option<JoinHandle<()>>,
    balancer: Option<JoinHandle<()>>,
    manager: Arc<Manager>,
}

impl Daemon {
    /// Starts a daemon with the key in `config.key`.
    pub async fn start(config: DaemonConfig) -> Result<Daemon, DaemonError> {
        let key = ClusterKey::load(&config.key).map_err(|error| DaemonError::Key {
            path: config.key.clone(),
            error,
        })?;
        Self::start_with_key(config, &key).await
    }

    /// Starts a daemon with an explicit key (`config.key` is not read).
    pub async fn start_with_key(
        config: DaemonConfig,
        key: &ClusterKey,
    ) -> Result<Daemon, DaemonError> {
        config.validate()?;
        let socket =
            UdpSocket::bind(config.listen)
                .await
                .map_err(|error| DaemonError::BindPeer {
                    addr: config.listen,
                    error,
                })?;
        let bound = socket.local_addr().map_err(|error| DaemonError::BindPeer {
            addr: config.listen,
            error,
        })?;
        let peer_addr = SocketAddr::new(advertised_ip(bound.ip(), &config.seeds), bound.port());
        let listener = api::bind(&config.api)?;

        let base_speed = match config.speed {
            Some(s) => s,
            None => tokio::task::spawn_blocking(calibrate)
                .await
                .ok()
                .flatten()
                .map_or(1.0, |c| c.speed),
        };
        tracing::info!(speed = base_speed, "cpu speed");
        let shutdown = CancellationToken::new();
        let traits = NodeTraits {
            base_speed,
            accepting: config.accept_guests,
            guests: 0,
        };
        let mut probe = Probe::new().map_err(DaemonError::Probe)?;
        if let Some(share) = config.cpus {
            probe.set_cpu_share(share);
        }
        probe.skip_process(std::process::id() as i32);
        let flags = Arc::new(NodeFlags::new(config.accept_guests));
        let (loads, sampler) =
            sampler::spawn(probe.clone(), traits, flags.clone(), shutdown.clone())
                .map_err(DaemonError::Probe)?;

        let mut cc = ClusterConfig::new(config.name.clone(), peer_addr, generation_now());
        cc.initial_load = loads.borrow().clone();
        let node = ClusterNode::new(cc, key)?;

        let discovery = if config.discovery.enabled {
            let iface = match peer_addr.ip() {
                IpAddr::V4(ip) => ip,
                IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
            };
            match Discovery::open(&config.discovery, iface) {
                Ok(d) => Some(d),
                Err(err) => {
                    tracing::warn!(%err, "multicast discovery unavailable; using seeds only");
                    None
                }
            }
        } else {
            None
        };
        let discovery_on = discovery.is_some();

        let tracker = TaskTracker::new();
        let (qtx, qrx) = mpsc::channel(64);
        let peer = PeerLoop {
            node,
            socket,
            discovery,
            seeds: config.seeds.clone(),
            origin: tokio::time::Instant::now(),
            loads: loads.clone(),
            queries: qrx,
            shutdown: shutdown.clone(),
        };
        tracker.spawn(peer.run());
        let manager = Manager::new(Setup {
            node: config.name.clone(),
            addr: peer_addr,
            key: *key.bytes(),
            queries: qtx.clone(),
            flags,
            shutdown: shutdown.clone(),
            balance: config.balance,
            loads,
            probe,
        });
        let links = spawn_listener(manager.clone(), bound, shutdown.clone())
            .map_err(|error| DaemonError::BindPeer { addr: bound, error })?;
        let balancer = spawn_balancer(manager.clone()).map_err(DaemonError::Runtime)?;
        let info = Arc::new(ServerInfo {
            name: config.name.clone(),
            listen: peer_addr.to_string(),
            accepting: config.accept_guests,
            discovery: discovery_on,
            started: Instant::now(),
        });
        tracker.spawn(api::serve(
            listener,
            config.api.clone(),
            info,
            qtx,
            manager.clone(),
            shutdown.clone(),
            tracker.clone(),
        ));
        tracing::info!(name = %config.name, peer = %peer_addr, api = %config.api.display(), "daemon started");
        Ok(Daemon {
            peer_addr,
            api_path: config.api,
            speed: base_speed,
            discovery: discovery_on,
            shutdown,
            tracker,
            sampler: Some(sampler),
            links: Some(links),
            balancer: Some(balancer),
            manager,
        })
    }

    /// The address peers reach this daemon at.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// The API socket path.
    pub fn api_path(&self) -> &Path {
        &self.api_path
    }

    /// The per-CPU speed in use (calibrated or configured).
    pub fn speed(&self) -> f64 {
        self.speed
    }

    /// Whether multicast discovery is running.
    pub fn discovery(&self) -> bool {
        self.discovery
    }

    /// A token that stops the daemon when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops the daemon: leave the cluster, close the API, wait for every task.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.wait().await;
    }

    /// Waits until the daemon has stopped (after its shutdown token was cancelled).
    pub async fn wait(mut self) {
        self.shutdown.cancelled().await;
        let mgr = self.manager.clone();
        let _ = tokio::task::spawn_blocking(move || mgr.evacuate(EVACUATE_TIMEOUT)).await;
        self.tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop in time");
        }
        if let Some(h) = self.balancer.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        if let Some(h) = self.links.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        if let Some(h) = self.sampler.take() {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
        tracing::info!("daemon stopped");
    }
}

/// Runs a daemon in the foreground until SIGTERM or SIGINT, then stops it cleanly.
pub fn run_until_signal(config: DaemonConfig) -> Result<(), DaemonError> {
    unblock_stop_signals()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("wend-daemon")
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Runtime)?;
        let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Runtime)?;
        let daemon = Daemon::start(config).await?;
        tokio::select! {
            _ = term.recv() => tracing::info!("SIGTERM: leaving the cluster"),
            _ = int.recv() => tracing::info!("SIGINT: leaving the cluster"),
        }
        daemon.stop().await;
        Ok(())
    })
}

/// A parent may have left SIGTERM/SIGINT blocked (a supervisor waiting on signalfd passes
/// its mask to its children); blocked, they would never stop the daemon.
fn unblock_stop_signals() -> Result<(), DaemonError> {
    use nix::sys::signal::{sigprocmask, SigSet, SigmaskHow, Signal};
    let mut set = SigSet::empty();
    set.add(Signal::SIGTERM);
    set.add(Signal::SIGINT);
    sigprocmask(SigmaskHow::SIG_UNBLOCK, Some(&set), None)
        .map_err(|e| DaemonError::Runtime(e.into()))
}

/// Generation of this start: tenths of a second since 2025, so a restart (even a quick one)
/// always has a higher generation than the run before it.
fn generation_now() -> u32 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .saturating_sub(Duration::from_secs(GENERATION_EPOCH_SECS));
    u32::try_from(since.as_millis() / 100).unwrap_or(u32::MAX)
}

/// The IP peers should use: the bound one, or for a wildcard bind the source address towards
/// the first seed, else a non-loopback address of this host, else loopback.
fn advertised_ip(bound: IpAddr, seeds: &[SocketAddr]) -> IpAddr {
    if !bound.is_unspecified() {
        return bound;
    }
    let towards = |dest: SocketAddr| -> Option<IpAddr> {
        let s = StdUdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).ok()?;
        s.connect(dest).ok()?;
        Some(s.local_addr().ok()?.ip()).filter(|ip| !ip.is_unspecified())
    };
    seeds
        .iter()
        .find_map(|s| towards(*s))
        .or_else(first_interface_ip)
        .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
}

fn first_interface_ip() -> Option<IpAddr> {
    let addrs = nix::ifaddrs::getifaddrs().ok()?;
    addrs
        .filter_map(|a| a.address?.as_sockaddr_in().map(|s| IpAddr::V4(s.ip())))
        .find(|ip| !ip.is_loopback() && !ip.is_unspecified())
}
