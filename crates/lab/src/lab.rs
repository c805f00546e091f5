//! [`Lab`]: a running lab as a value, for tests and programs; dropping it tears it down.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::down::{self, DownReport};
use crate::error::LabError;
use crate::host::{Sig, SystemHost};
use crate::naming::LabName;
use crate::state::LabState;
use crate::status::{self, LabStatus};
use crate::up::{self, LabSpec};

/// A running lab. Built by [`Lab::up`]; [`Lab::down`] (or dropping it) removes everything.
#[derive(Debug)]
pub struct Lab {
    host: SystemHost,
    state: LabState,
    wend: PathBuf,
    root: PathBuf,
    down: bool,
}

impl Lab {
    /// Builds a lab as `spec` says and waits until every node is ready (the daemons may still
    /// be starting: see [`Lab::wait_api`]).
    pub fn up(spec: LabSpec) -> Result<Lab, LabError> {
        let mut host = SystemHost::new();
        let state = up::up(&mut host, &spec)?;
        Ok(Lab {
            host,
            state,
            wend: spec.wend,
            root: spec.root,
            down: false,
        })
    }

    /// Takes hold of a lab that is already running (built by `wend lab up`, say). Dropping the
    /// handle leaves that lab running; [`Lab::down`] still removes it.
    pub fn attach(name: LabName, wend: impl Into<PathBuf>) -> Result<Lab, LabError> {
        let root = PathBuf::from(crate::naming::STATE_ROOT);
        let mut host = SystemHost::new();
        let state = status::load(&mut host, &name, &root)?;
        Ok(Lab {
            host,
            state,
            wend: wend.into(),
            root,
            down: true,
        })
    }

    /// The `wend` binary the lab runs (for commands to [`Lab::exec`] in a node).
    pub fn wend(&self) -> &Path {
        &self.wend
    }

    /// A lab name unique to this process and call, for tests: `t<pid><n>` in base 36.
    pub fn unique_name() -> LabName {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("t{}{}", base36(std::process::id()), base36(n));
        LabName::new(&name).expect("a short lowercase name")
    }

    /// The lab's name.
    pub fn name(&self) -> &LabName {
        &self.state.name
    }

    /// The lab's recorded state (nodes, addresses, subnet, holders).
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The node names, `node1`..`nodeN`.
    pub fn nodes(&self) -> Vec<String> {
        self.state.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// A node's address on the lab's bridge.
    pub fn addr(&self, node: &str) -> Result<Ipv4Addr, LabError> {
        Ok(self.state.node(node)?.addr)
    }

    /// A node daemon's peer address (`addr:port`).
    pub fn peer_addr(&self, node: &str) -> Result<SocketAddrV4, LabError> {
        Ok(SocketAddrV4::new(self.addr(node)?, self.state.port))
    }

    /// The host path of a node daemon's API socket (`/run/wend/wend.sock` inside the node).
    pub fn api_socket(&self, node: &str) -> PathBuf {
        self.state.api_socket(node)
    }

    /// The host path of a node daemon's log.
    pub fn daemon_log(&self, node: &str) -> PathBuf {
        self.state.daemon_log(node)
    }

    /// A command that runs `argv` inside `node` (through `wend lab exec`), with `WEND_API`
    /// set to the node's daemon. Spawn it, or take its `output()` / `status()`.
    pub fn exec<S: AsRef<str>>(&self, node: &str, argv: &[S]) -> Command {
        let mut cmd = Command::new(&self.wend);
        cmd.args(["lab", "exec", "--name", self.state.name.as_str(), "--root"])
            .arg(&self.root)
            .arg(node)
            .arg("--")
            .args(argv.iter().map(|a| a.as_ref()));
        cmd
    }

    /// Waits until a node's daemon accepts connections on its API socket.
    pub fn wait_api(&self, node: &str, timeout: Duration) -> Result<(), LabError> {
        self.state.node(node)?;
        let sock = self.api_socket(node);
        let deadline = Instant::now() + timeout;
        while UnixStream::connect(&sock).is_err() {
            if Instant::now() > deadline {
                return Err(LabError::Timeout {
                    what: format!("the API socket {} of {node}", sock.display()),
                    secs: timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// The pid of a node's daemon while it runs.
    pub fn daemon_pid(&mut self, node: &str) -> Option<u32> {
        status::daemon_pid(&mut self.host, &self.state, node)
    }

    /// Stops a node's daemon with SIGTERM (it leaves the cluster) and waits for it.
    pub fn stop_daemon(&mut self, node: &str) -> Result<(), LabError> {
        let t = Duration::from_secs(30);
        status::stop_daemon(&mut self.host, &self.state, node, Sig::Term, t)
    }

    /// Kills a node's daemon with SIGKILL (a crash) and waits for it.
    pub fn kill_daemon(&mut self, node: &str) -> Result<(), LabError> {
        let t = Duration::from_secs(30);
        status::stop_daemon(&mut self.host, &self.state, node, Sig::Kill, t)
    }

    /// Starts a node's daemon again (after a stop or a kill); returns its pid.
    pub fn start_daemon(&mut self, node: &str) -> Result<u32, LabError> {
        status::start_daemon(&mut self.host, &self.state, node, Duration::from_secs(30))
    }

    /// What `wend lab status` shows for this lab.
    pub fn status(&mut self) -> LabStatus {
        status::status(&mut self.host, &self.state)
    }

    /// Removes everything the lab created.
    /// (Also for a handle from [`Lab::attach`].)
    pub fn down(mut self) -> Result<DownReport, LabError> {
        self.down = true;
        down::down(&mut self.host, &self.state.name, &self.root)
    }

    /// The lab's state root (normally /run/wend-lab).
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if !self.down {
            if let Err(e) = down::down(&mut self.host, &self.state.name, &self.root) {
                eprintln!("wend-lab: tearing down lab {} failed: {e}", self.state.name);
            }
        }
    }
}

fn base36(mut n: u32) -> String {
    let digits = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(digits[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).expect("ascii")
}
