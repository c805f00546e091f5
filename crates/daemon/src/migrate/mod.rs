//! Live migration: the processes this node manages as their home, the guests it runs for
//! other nodes, and the links between them.
//!
//! Every moved process has one OS thread on each side, because ptrace belongs to the thread
//! that attached: at home the thread that froze it keeps it as the deputy and runs its
//! forwarded calls ([`home`]); on the remote node the thread that rebuilt it serves its
//! seccomp notifications ([`guest`]). Links between daemons are TCP on the peer port,
//! authenticated and encrypted with the cluster key (wend-link); [`listener`] accepts them.
//!
//! Invariant: until the target confirms the rebuild, the sender's copy is intact and frozen,
//! so a refused, interrupted or failed move leaves the process running where it was.

mod admission;
mod balancer;
mod control;
mod guest;
mod home;
mod listener;
mod registry;
mod stream;
pub mod wire;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use wend_balance::{Params, Pending};
use wend_cluster::LocalLoad;
use wend_proto::{
    ApiError, Caller, Destination, ErrorCode, ManageRequest, MigrateReport, MigrateRequest,
    NodeState, ProcInfo,
};

use crate::flags::NodeFlags;
use crate::peer::Query;
use crate::probe::Probe;
pub use admission::Admitted;
pub use balancer::{spawn as spawn_balancer, BALANCE_EVERY};
pub use listener::spawn_listener;
pub use registry::Registry;

/// Exit status of a home process whose remote node was lost (crashed, cut off) while it ran
/// there: its state existed only on that node.
pub const LOST_STATUS: i32 = 113;
/// How long a link may stay silent before the other side is declared lost.
pub const LINK_SILENCE: Duration = Duration::from_secs(6);
/// How often an idle link carries a ping.
pub const PING_EVERY: Duration = Duration::from_secs(1);
/// Handshake and request/answer steps of a move.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the remote's thread looks for the answer to a forwarded call before it sleeps.
/// A round trip takes tens of microseconds; a sleep and a wake-up on an idle machine cost
/// about as much again (see `wire::readable3_spin`).
pub const SPIN_ANSWER: Duration = Duration::from_micros(300);
/// How long a thread that just answered a call looks for the next one before it sleeps: a
/// program making calls back to back makes its next one within a few microseconds.
pub const SPIN_NEXT: Duration = Duration::from_micros(200);

/// Call ids at and above this one are the remote's own calls, which home runs even while a
/// move is pending (the process must land with them done): the read-ahead's offset syncs
/// (`u64::MAX` down, see `guest::flush_readahead`) and writes sent behind ([`BEHIND_IDS`]).
/// Seccomp notification ids count up from a random 64-bit start: one of them lands here with
/// a chance of 2^-52 per listener, and then only loses a move's dropping of that call.
pub const HOME_RUNS_IDS: u64 = u64::MAX - 4096;

/// Writes sent behind: a write to a regular file home allows it for (`Msg::Behind`) is
/// answered on the remote at once and sent home under an id of `BEHIND_IDS ..
/// BEHIND_IDS + BEHIND_SLOTS`, where it runs in order before any later call. Home never drops
/// or cancels one (it retries one a signal interrupted) and answers each; one that fails is
/// reported at the process's next write, fsync or close of that descriptor, as NFS does.
pub const BEHIND_IDS: u64 = HOME_RUNS_IDS;
/// How many writes may be on their way behind at once (ids are reused in turn).
pub const BEHIND_SLOTS: u64 = 1024;

/// What the migration side of a daemon shares between its threads.
#[derive(Debug)]
pub struct Manager {
    pub node: String,
    pub addr: SocketAddr,
    pub(crate) key: [u8; 32],
    pub registry: Registry,
    /// The owner's guest policy (`wend block`, `wend expel`) and the guest count.
    pub flags: Arc<NodeFlags>,
    queries: mpsc::Sender<Query>,
    /// Set when the daemon stops: guests go home, nothing new is accepted.
    stopping: AtomicBool,
    /// The daemon's shutdown, for the balancer thread.
    shutdown: CancellationToken,
    /// Whether the balancer moves processes by itself.
    balance: bool,
    /// The balancing policy's tunables.
    params: Params,
    /// Arrivals admitted that have not landed yet.
    pending: Mutex<Pending>,
    /// The sampler's published load vector.
    loads: watch::Receiver<LocalLoad>,
    /// For fresh run-queue readings at admission.
    probe: Probe,
}

/// What a [`Manager`] is built from.
#[derive(Debug)]
pub struct Setup {
    pub node: String,
    pub addr: SocketAddr,
    pub key: [u8; 32],
    pub queries: mpsc::Sender<Query>,
    pub flags: Arc<NodeFlags>,
    pub shutdown: CancellationToken,
    pub balance: bool,
    pub loads: watch::Receiver<LocalLoad>,
    pub probe: Probe,
}

impl Manager {
    pub fn new(s: Setup) -> Arc<Manager> {
        Arc::new(Manager {
            node: s.node,
            addr: s.addr,
            key: s.key,
            registry: Registry::new(s.flags.clone()),
            flags: s.flags,
            queries: s.queries,
            stopping: AtomicBool::new(false),
            shutdown: s.shutdown,
            balance: s.balance,
            params: Params::default(),
            pending: Mutex::new(Pending::default()),
            loads: s.loads,
            probe: s.probe,
        })
    }

    /// Whether the balancer moves processes by itself here.
    pub fn auto_balance(&self) -> bool {
        self.balance
    }

    /// Why the guest `local` must leave this node now, if it must.
    pub(crate) fn leave_reason(&self, local: i32) -> Option<String> {
        if self.stopping() {
            return Some(format!("{} is stopping", self.node));
        }
        if self.flags.expelling() {
            return Some(format!("{} expels its guests (`wend expel`)", self.node));
        }
        self.registry.leave_reason(local)
    }

    /// `wend run`: manage `pid`.
    pub fn manage(&self, req: &ManageRequest, caller: Caller) -> Result<(), ApiError> {
        check_owner(req.pid, caller)?;
        self.registry.adopt(req.pid, req.lock);
        Ok(())
    }

    /// `wend ps`: what this caller may see.
    pub fn ps(&self, caller: Caller) -> Vec<ProcInfo> {
        self.registry.list(&self.node, caller)
    }

    /// `wend migrate`: move `req.pid` now. Blocks (call it off the async runtime).
    pub fn migrate(
        self: &Arc<Self>,
        req: &MigrateRequest,
        caller: Caller,
    ) -> Result<MigrateReport, ApiError> {
        check_owner(req.pid, caller)?;
        let dest = match &req.to {
            Destination::Home => None,
            Destination::Node(n) if *n == self.node => None,
            Destination::Node(n) => Some(self.resolve(n)?),
        };
        let (tx, rx) = oneshot::channel();
        match self.registry.control(req.pid) {
            // Away: its deputy thread moves it.
            Some(ctl) => {
                ctl.send(home::Command::Move {
                    to: dest,
                    reply: tx,
                })
                .map_err(|_| gone(req.pid))?;
            }
            None => {
                let Some(dest) = dest else {
                    return Err(ApiError::new(
                        ErrorCode::MigrationFailed,
                        format!("process {} is already at home", req.pid),
                    ));
                };
                self.registry.adopt(req.pid, false);
                home::start(self.clone(), req.pid, dest, None, tx).map_err(|e| {
                    ApiError::new(ErrorCode::Internal, format!("cannot start a thread: {e}"))
                })?;
            }
        }
        rx.blocking_recv().map_err(|_| gone(req.pid))?
    }

    /// Whether the daemon is stopping.
    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// Before the daemon stops: call this node's processes home from wherever they run, and
    /// send the guests it runs back to their homes, waiting up to `within`. What is still
    /// away after that is lost when the daemon exits (its deputies die with it).
    pub fn evacuate(&self, within: Duration) {
        self.stopping.store(true, Ordering::Relaxed);
        let deadline = Instant::now() + within;
        let mut waiting = Vec::new();
        for (pid, ctl) in self.registry.away() {
            let (tx, rx) = oneshot::channel();
            if ctl
                .send(home::Command::Move {
                    to: None,
                    reply: tx,
                })
                .is_ok()
            {
                waiting.push((pid, rx));
            }
        }
        for (pid, rx) in waiting {
            let left = deadline.saturating_duration_since(Instant::now());
            match control::wait(rx, left) {
                Some(Ok(_)) => tracing::info!(pid, "called home before stopping"),
                Some(Err(e)) => tracing::warn!(pid, "could not call it home: {e}"),
                None if Instant::now() > deadline => {
                    tracing::warn!(pid, "still away as the daemon stops: it is lost")
                }
                None => {}
            }
        }
        while self.registry.guest_count() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        if self.registry.guest_count() > 0 {
            tracing::warn!(
                guests = self.registry.guest_count(),
                "guests still here as the daemon stops: they end with it"
            );
        }
    }

    /// A node's link address from the cluster view.
    fn resolve(&self, name: &str) -> Result<wire::Dest, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.queries
            .blocking_send(Query::Nodes(tx))
            .map_err(|_| stopping())?;
        let nodes = rx.blocking_recv().map_err(|_| stopping())?;
        let Some(n) = nodes.iter().find(|n| n.name == name) else {
            let known: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
            return Err(ApiError::new(
                ErrorCode::MigrationFailed,
                format!(
                    "no node named {name:?} in this cluster (known: {}); see `wend nodes`",
                    known.join(", ")
                ),
            ));
        };
        if n.state != NodeState::Alive {
            return Err(ApiError::new(
                ErrorCode::MigrationFailed,
                format!(
                    "node {name} is {}; pick an alive node (`wend nodes`)",
                    n.state
                ),
            ));
        }
        let addr = n.addr.parse().map_err(|_| {
            ApiError::new(
                ErrorCode::Internal,
                format!("node {name} has a bad address {:?}", n.addr),
            )
        })?;
        Ok(wire::Dest {
            node: name.to_owned(),
            addr,
        })
    }
}

fn stopping() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the daemon is stopping")
}

fn gone(pid: i32) -> ApiError {
    ApiError::new(
        ErrorCode::NoSuchProcess,
        format!("process {pid} ended while it was being moved"),
    )
}

/// "If you can kill it, you can migrate it": root, or the process's real or effective uid
/// is the caller's.
fn check_owner(pid: i32, caller: Caller) -> Result<(), ApiError> {
    let status = wend_sys::proc::status(pid).map_err(|_| {
        ApiError::new(
            ErrorCode::NoSuchProcess,
            format!("no process {pid} on this node; check the pid with `wend ps` or ps(1)"),
        )
    })?;
    let uids: Vec<u32> = wend_sys::proc::status_field(&status, "Uid")
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|u| u.parse().ok())
        .collect();
    if uids.iter().take(2).any(|u| caller.may_access(*u)) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::PermissionDenied,
            format!("process {pid} is not yours; only its owner or root may move it"),
        ))
    }
}
