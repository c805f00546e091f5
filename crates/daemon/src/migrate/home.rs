//! The home side of a moved process: freeze it, send it, keep it as the deputy that runs its
//! forwarded calls, pass its signals on, bring it back, end it as the remote says.
//!
//! One thread per process, from the freeze until it is home again or has ended: the thread
//! that froze it is its tracer.
//!
//! Moves from home are post-copy by default ([`push`]): the image leaves anonymous memory
//! out, so the process is frozen only while its metadata travels and the target rebuilds the
//! rest; the target then fetches pages on fault while home pushes the others whenever it is
//! idle, from the original, which stays home frozen anyway. Until the guest changes something
//! at home ([`commit`]), a lost target leaves the process running at home; `wend migrate`
//! answers once every page has arrived. `WEND_POSTCOPY=0` in the
//! daemon's environment sends the whole image before the process runs (stop and copy), as
//! do moves between remote nodes and home-comings.

mod commit;
mod push;

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use wend_ckpt::{CheckpointOptions, RestoreOptions, StayPath};
use wend_deputy::home::{Deputy, Executed, Signal};
use wend_image::{ImageReader, ImageWriter, WriteOptions};
use wend_link::Link;
use wend_proto::{ApiError, ErrorCode, MigrateReport, ProcState};

use super::stream::{LinkSink, LinkSource};
use super::wire::{
    readable, readable3_spin, recv_msg, send_bulk, AutoTerms, Cadence, Dest, HomeRef, Msg, Offer,
    PEER_VERSION,
};
use super::{
    Manager, BEHIND_IDS, BEHIND_SLOTS, HOME_RUNS_IDS, LINK_SILENCE, LOST_STATUS, PING_EVERY,
    STEP_TIMEOUT,
};
use push::Push;

/// Whether this daemon offers post-copy (default yes; `WEND_POSTCOPY=0` turns it off).
fn postcopy_wanted() -> bool {
    std::env::var("WEND_POSTCOPY").map_or(true, |v| v != "0")
}

pub type Reply = oneshot::Sender<Result<MigrateReport, ApiError>>;

/// What other threads ask of a deputy thread.
pub enum Command {
    /// Move the process (home when `to` is None).
    Move { to: Option<Dest>, reply: Reply },
    /// A new remote (a node the process was passed on to) attached.
    Attach {
        link: Link,
        token: u64,
        node: String,
    },
    /// It was locked or unlocked: tell the node it runs on.
    Lock { locked: bool },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Move { to, .. } => write!(f, "Move({to:?})"),
            Command::Attach { node, .. } => write!(f, "Attach({node})"),
            Command::Lock { locked } => write!(f, "Lock({locked})"),
        }
    }
}

fn failed(msg: impl Into<String>) -> ApiError {
    ApiError::new(ErrorCode::MigrationFailed, msg)
}

/// Start moving `pid` (at home now) to `dest` on a thread of its own; the outcome goes to
/// `reply`.
pub fn start(
    mgr: Arc<Manager>,
    pid: i32,
    dest: Dest,
    auto: Option<AutoTerms>,
    reply: Reply,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name(format!("wend-home-{pid}"))
        .spawn(move || {
            let (tx, rx) = mpsc::channel();
            let automatic = auto.is_some();
            match send_away(&mgr, pid, &dest, auto, tx) {
                Ok((mut away, report)) => {
                    if away.push.is_some() {
                        // Post-copy: the answer waits until every page has arrived.
                        away.arrival = Some((reply, report, Instant::now()));
                    } else {
                        let _ = reply.send(Ok(report));
                    }
                    away.run(rx);
                }
                Err(e) if ended(pid) => {
                    // Whatever failed on the way, the reason is that there is nothing to move.
                    tracing::info!(pid, to = %dest.node, "not moved: it ended ({e})");
                    mgr.registry.set_state(pid, ProcState::Home, None);
                    let _ = reply.send(Err(ApiError::new(
                        ErrorCode::NoSuchProcess,
                        format!("process {pid} ended before it could be moved"),
                    )));
                }
                Err(e) => {
                    // The balancer's offers are refused routinely (the target judged its own
                    // load fresher) and it tries elsewhere: not worth a warning.
                    if automatic {
                        tracing::info!(pid, to = %dest.node, "automatic move not made: {e}");
                    } else {
                        tracing::warn!(pid, to = %dest.node, "migration failed: {e}");
                    }
                    mgr.registry.set_state(pid, ProcState::Home, None);
                    let _ = reply.send(Err(e));
                }
            }
        })
        .map(|_| ())
}

/// Whether the process has exited (a zombie its parent has not reaped yet, or gone).
fn ended(pid: i32) -> bool {
    !matches!(wend_sys::proc::stat::state(pid), Ok(st) if st != 'Z' && st != 'X')
}

/// A random token naming one move (it only needs to be unguessable by confused peers; the
/// link is already authenticated). Falls back to the clock if /dev/urandom is unreadable.
fn token() -> u64 {
    use std::io::Read;
    let mut b = [0u8; 8];
    match std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)) {
        Ok(()) => u64::from_ne_bytes(b),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64),
    }
}

/// Freeze, send, confirm: the process is away and this thread is its deputy's tracer.
fn send_away(
    mgr: &Arc<Manager>,
    pid: i32,
    dest: &Dest,
    auto: Option<AutoTerms>,
    ctl: Sender<Command>,
) -> Result<(Away, MigrateReport), ApiError> {
    let t0 = Instant::now();
    if !mgr.registry.begin_move(pid) {
        return Err(failed(format!("process {pid} is being moved already")));
    }
    let reasons = wend_ckpt::check(pid, StayPath::Migration)
        .map_err(|e| ApiError::new(ErrorCode::NoSuchProcess, e.to_string()))?;
    if !reasons.is_empty() {
        let list: Vec<String> = reasons.iter().map(|r| r.to_string()).collect();
        return Err(ApiError::new(
            ErrorCode::Stay,
            format!("process {pid} must stay: {}", list.join("; ")),
        ));
    }
    tracing::debug!(pid, elapsed = ?t0.elapsed(), "checked: it may move");
    let mut link = Link::connect(dest.addr, &mgr.key, STEP_TIMEOUT)
        .map_err(|e| failed(format!("cannot reach {} at {}: {e}", dest.node, dest.addr)))?;
    tracing::debug!(pid, elapsed = ?t0.elapsed(), "link to {} up", dest.node);
    link.set_read_timeout(Some(STEP_TIMEOUT))
        .map_err(|e| failed(e.to_string()))?;
    let offer = Offer {
        version: PEER_VERSION,
        home: HomeRef {
            node: mgr.node.clone(),
            addr: mgr.addr,
            pid,
        },
        cmd: super::registry::cmdline(pid),
        uid: super::registry::owner(pid),
        from_home: true,
        token: token(),
        mem_bytes: super::registry::mem_bytes(pid),
        migrations: mgr.registry.migrations(pid),
        cpu_secs: super::registry::cpu_secs(pid),
        auto,
        lazy: postcopy_wanted(),
        locked: mgr.registry.is_locked(pid),
    };
    link.send(&Msg::Offer(offer).encode())
        .map_err(|e| failed(format!("{}: {e}", dest.node)))?;
    let lazy = match recv_msg(&mut link).map_err(|e| failed(format!("{}: {e}", dest.node)))? {
        Msg::Accept => false,
        Msg::AcceptLazy => true,
        Msg::Refuse { reason } => {
            return Err(failed(format!(
                "{} refused the process: {reason}",
                dest.node
            )))
        }
        other => {
            return Err(failed(format!(
                "{} answered the offer with {}",
                dest.node,
                other.name()
            )))
        }
    };
    let opts = CheckpointOptions {
        leave_running: false,
        path: StayPath::Migration,
        snapshot: false,
        lazy,
        ..CheckpointOptions::default()
    };
    let writer = ImageWriter::new(LinkSink::new(&mut link), &WriteOptions::default())
        .map_err(|e| failed(e.to_string()))?;
    // On failure the process runs on unchanged; the target sees the stream break.
    let (frozen, sink, dumped) =
        wend_ckpt::dump(pid, writer, &opts).map_err(|e| match e.stay_reasons() {
            Some(_) => ApiError::new(ErrorCode::Stay, e.to_string()),
            None => failed(e.to_string()),
        })?;
    let frozen_at = frozen.since();
    let image_bytes = match sink.finish() {
        Ok(n) => n,
        Err(e) => {
            let _ = frozen.resume();
            return Err(failed(format!("sending the image failed: {e}")));
        }
    };
    let push = if lazy {
        let runs = Msg::Lazy {
            runs: dumped.lazy.clone(),
        };
        if let Err(e) = link.send(&runs.encode()) {
            let _ = frozen.resume();
            return Err(failed(format!("sending the image failed: {e}")));
        }
        Some(Push::new(pid, dumped.lazy))
    } else {
        None
    };
    // The target rebuilds; a large process takes a while.
    let _ = link.set_read_timeout(Some(STEP_TIMEOUT * 3));
    match recv_msg(&mut link) {
        Ok(Msg::Ready) => {}
        Ok(Msg::Failed { reason }) => {
            let _ = frozen.resume();
            return Err(failed(format!(
                "{} could not rebuild it: {reason}",
                dest.node
            )));
        }
        Ok(other) => {
            let _ = frozen.resume();
            return Err(failed(format!(
                "{} sent {} instead of ready",
                dest.node,
                other.name()
            )));
        }
        Err(e) => {
            let _ = frozen.resume();
            return Err(failed(format!("{} did not confirm: {e}", dest.node)));
        }
    }
    let st = frozen
        .into_stopped()
        .map_err(|e| failed(format!("the process ran on: {e}")))?;
    // The signals pending now travelled in the image: the deputy must not send them again.
    let known: Vec<Signal> = st
        .pending_signals()
        .map(|v| v.iter().map(Signal::from).collect())
        .unwrap_or_default();
    // Dropping the link before Go makes the target throw its copy away.
    let mut deputy = Deputy::new(st).map_err(|e| failed(format!("cannot keep a deputy: {e}")))?;
    deputy.set_known_signals(known);
    if let Err(e) = link.send(&Msg::Go.encode()) {
        if let Ok(st) = deputy.into_stopped() {
            drop(st); // detaches: runs on at home
        }
        return Err(failed(format!(
            "{} went away at the last step: {e}",
            dest.node
        )));
    }
    let frozen_ms = frozen_at.elapsed().as_secs_f64() * 1e3;
    let _ = link.set_read_timeout(None);
    mgr.registry.moved(pid, Some(&dest.node), Some(ctl));
    tracing::info!(pid, to = %dest.node, frozen_ms, image_bytes, lazy, "migrated");
    let report = MigrateReport {
        pid,
        now_on: dest.node.clone(),
        frozen_ms,
        total_ms: t0.elapsed().as_secs_f64() * 1e3,
        image_bytes,
    };
    Ok((
        Away {
            mgr: mgr.clone(),
            pid,
            deputy: Some(deputy),
            wake: link.as_fd().try_clone_to_owned().ok(),
            link: Some(link),
            node: dest.node.clone(),
            heard: Instant::now(),
            said: Instant::now(),
            cadence: Cadence::default(),
            looked: Instant::now(),
            deferred: HashMap::new(),
            behind: (0, 0),
            pending: None,
            early: VecDeque::new(),
            uncommitted: push.is_some(),
            push,
            arrival: None,
        },
        report,
    ))
}

/// The remote has every page: the move is final; answer the `wend migrate` that made it.
fn pages_done(
    pid: i32,
    node: &str,
    push: &mut Option<Push>,
    arrival: &mut Option<(Reply, MigrateReport, Instant)>,
    uncommitted: &mut bool,
) {
    if std::mem::take(uncommitted) {
        tracing::debug!(pid, "post-copy move committed: every page arrived");
    }
    if let Some((reply, mut report, since)) = arrival.take() {
        report.total_ms += since.elapsed().as_secs_f64() * 1e3;
        let _ = reply.send(Ok(report));
    }
    if let Some(p) = push.take() {
        tracing::info!(
            pid,
            node,
            mib = p.total >> 20,
            pushed_mib = p.sent >> 20,
            secs = p.since.elapsed().as_secs_f64(),
            "post-copy done"
        );
    }
}

/// A move requested while away, waiting for the remote to carry it out.
struct Pending {
    to: Option<Dest>,
    token: u64,
    reply: Reply,
    since: Instant,
}

/// How long home pushes pages in one go while a forwarded call blocks (between two looks at
/// the call, 10 ms apart).
const PUSH_SLICE: Duration = Duration::from_millis(5);

/// How often signals to the home pid of a process that is away are looked for while it
/// makes calls (every turn of the loop when it makes none).
const SIGNAL_LOOK_EVERY: Duration = Duration::from_millis(1);

/// The process is away; this is its deputy.
struct Away {
    mgr: Arc<Manager>,
    pid: i32,
    deputy: Option<Deputy>,
    /// To the node it runs on (None for a moment while it is passed between nodes).
    link: Option<Link>,
    /// A copy of the link's socket, polled while a forwarded call blocks: the remote's page
    /// requests are answered at once, not at the next 10 ms turn (closed with the link).
    wake: Option<OwnedFd>,
    node: String,
    heard: Instant,
    said: Instant,
    /// Whether the remote sends its calls back to back.
    cadence: Cadence,
    /// When signals to the home pid were last looked for.
    looked: Instant,
    pending: Option<Pending>,
    /// Messages read while a call ran, handled after it.
    early: VecDeque<Msg>,
    /// Post-copy: memory the remote does not have yet (None once it has all).
    push: Option<Push>,
    /// Post-copy before its commit point (see [`commit`]): the original may still run on
    /// here if the remote is lost.
    uncommitted: bool,
    /// The `wend migrate` that sent it post-copy, answered when every page arrived.
    arrival: Option<(Reply, MigrateReport, Instant)>,
    /// Writes sent behind that failed here, by descriptor: the error the process gets at its
    /// next write, fsync or close of it.
    deferred: HashMap<i32, i64>,
    /// Writes sent behind made here, and their bytes.
    behind: (u64, u64),
}

/// How the deputy's time away ended.
enum End {
    /// It runs at home again.
    Home,
    /// It ended (the remote's exit, or killed at home).
    Ended,
    /// The remote node was lost.
    Lost(String),
}

impl Away {
    fn run(mut self, rx: Receiver<Command>) {
        let mut end = self.serve(&rx);
        self.note_direct();
        if !self.deferred.is_empty() {
            // Home, ended or lost: nobody is left to tell.
            tracing::error!(
                pid = self.pid,
                fds = ?self.deferred.keys().collect::<Vec<_>>(),
                "its time away ended before it learnt that writes sent behind failed"
            );
        }
        let pid = self.pid;
        if let End::Lost(why) = &end {
            if self.uncommitted {
                end = self.roll_back(why);
            }
        }
        if let Some((reply, report, _)) = self.arrival.take() {
            // It moved, and ended there.
            let _ = reply.send(Ok(report));
        }
        match end {
            End::Home => {
                tracing::info!(pid, "back home");
            }
            End::Ended => self.mgr.registry.forget(pid),
            End::Lost(why) => {
                tracing::error!(
                    pid,
                    node = %self.node,
                    "process lost: {why}; its home pid ends with status {LOST_STATUS}"
                );
                if let Some(d) = self.deputy.take() {
                    if let Err(e) = d.exit(LOST_STATUS) {
                        tracing::warn!(pid, "ending the deputy failed: {e}");
                    }
                }
                self.mgr.registry.forget(pid);
            }
        }
        if let Some(p) = self.pending.take() {
            let _ = p
                .reply
                .send(Err(failed("the process ended before it could move")));
        }
    }

    /// The remote was lost before the move was committed: the original runs on here.
    fn roll_back(&mut self, why: &str) -> End {
        let pid = self.pid;
        let Some(deputy) = self.deputy.take() else {
            return End::Lost(why.to_owned());
        };
        let resumed = deputy
            .into_stopped()
            .map_err(|e| e.to_string())
            .and_then(|st| st.detach().map_err(|e| e.to_string()));
        if let Err(e) = resumed {
            tracing::error!(pid, "letting it run on at home failed: {e}");
            return End::Lost(format!("{why}; letting it run on at home failed: {e}"));
        }
        tracing::warn!(
            pid,
            node = %self.node,
            "{} was lost during post-copy ({why}); nothing was committed: it runs on at home",
            self.node
        );
        self.mgr.registry.moved(pid, None, None);
        if let Some((reply, _, _)) = self.arrival.take() {
            let _ = reply.send(Err(failed(format!(
                "{} was lost before all its memory arrived ({why}); process {pid} runs on at home",
                self.node
            ))));
        }
        End::Home
    }

    /// From here on, losing the remote loses the process.
    fn commit(&mut self, why: &str) {
        if self.uncommitted {
            self.uncommitted = false;
            tracing::debug!(pid = self.pid, "post-copy move committed: {why}");
        }
    }

    fn send(&mut self, m: &Msg) -> Result<(), String> {
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        self.said = Instant::now();
        link.send(&m.encode()).map_err(|e| e.to_string())
    }

    /// [`Away::send`] for a message with data (pages, a call's answer): the bytes are not
    /// copied into the message first.
    fn send_bulk(&mut self, mut m: Msg) -> Result<(), String> {
        let Some(link) = self.link.as_mut() else {
            return Ok(());
        };
        self.said = Instant::now();
        send_bulk(link, &mut m)
    }

    fn serve(&mut self, rx: &Receiver<Command>) -> End {
        loop {
            loop {
                match rx.try_recv() {
                    Ok(c) => {
                        if let Some(end) = self.command(c) {
                            return end;
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    // The daemon is going away: the deputy dies with it (EXITKILL).
                    Err(TryRecvError::Disconnected) => break,
                }
            }
            // Signals are looked for between calls at most once a millisecond (a wait4 and
            // two PEEKSIGINFO): a call that comes meanwhile takes them first anyway, since the
            // deputy stops for each pending signal when it is resumed for the call.
            if self.looked.elapsed() >= SIGNAL_LOOK_EVERY {
                self.looked = Instant::now();
                if let Some(end) = self.forward_signals() {
                    return end;
                }
            }
            if let Some(m) = self.early.pop_front() {
                if let Some(end) = self.message(m, rx) {
                    return end;
                }
                continue;
            }
            // Pages to push: look at the link without waiting, push a chunk if it is quiet.
            let pushing = self.push.as_ref().is_some_and(|p| !p.finished());
            let wait = if pushing {
                Duration::ZERO
            } else {
                Duration::from_millis(10)
            };
            let spin = self.cadence.spin();
            let ready = match &self.link {
                // Bytes a send read while it waited for room are not seen by poll.
                Some(l) if l.buffered() => true,
                Some(l) => readable3_spin(l.as_fd(), l.as_fd(), l.as_fd(), spin, wait)[0],
                None => {
                    std::thread::sleep(Duration::from_millis(10));
                    false
                }
            };
            if ready {
                let got = self.link.as_mut().map(recv_msg);
                match got {
                    Some(Ok(m)) => {
                        self.heard = Instant::now();
                        if let Some(end) = self.message(m, rx) {
                            return end;
                        }
                    }
                    Some(Err(e)) => {
                        if let Some(end) = self.link_broke(e) {
                            return end;
                        }
                    }
                    None => {}
                }
            } else if pushing {
                if let Some(end) = self.push_chunk() {
                    return end;
                }
            }
            if let Some(end) = self.keepalive() {
                return end;
            }
        }
    }

    /// Send the next background chunk of post-copy memory.
    fn push_chunk(&mut self) -> Option<End> {
        let m = self.push.as_mut()?.next_chunk()?;
        match m {
            Ok(m) => self.send_bulk(m).err().and_then(|e| self.link_broke(e)),
            Err(e) => Some(End::Lost(format!("post-copy failed: {e}"))),
        }
    }

    /// The remote waits for these pages.
    fn page_want(&mut self, addr: u64, len: u64) -> Option<End> {
        match push::read_pages(self.pid, addr, len) {
            Ok(m) => self.send_bulk(m).err().and_then(|e| self.link_broke(e)),
            Err(e) => Some(End::Lost(format!("post-copy failed: {e}"))),
        }
    }

    /// Pings when idle; the remote's silence means it is lost.
    fn keepalive(&mut self) -> Option<End> {
        if self.said.elapsed() >= PING_EVERY {
            if let Err(e) = self.send(&Msg::Ping { cpu_ns: 0 }) {
                return self.link_broke(e);
            }
        }
        if self.link.is_some() && self.heard.elapsed() > LINK_SILENCE {
            return self.link_broke(format!("{} said nothing for {LINK_SILENCE:?}", self.node));
        }
        if let Some(p) = &self.pending {
            if p.since.elapsed() > STEP_TIMEOUT * 3 && self.link.is_none() {
                return Some(End::Lost(format!(
                    "it was being passed to {:?} and nobody took it",
                    p.to.as_ref().map(|d| d.node.as_str())
                )));
            }
        }
        None
    }

    /// The link to the remote failed. While the process is passed on to another node, that
    /// node may still attach; otherwise the process is lost.
    fn link_broke(&mut self, why: String) -> Option<End> {
        self.link = None;
        self.wake = None;
        match &self.pending {
            Some(p) if p.to.is_some() => {
                tracing::warn!(
                    pid = self.pid,
                    "link to {} closed during a pass-on: {why}",
                    self.node
                );
                None
            }
            _ => Some(End::Lost(why)),
        }
    }

    fn forward_signals(&mut self) -> Option<End> {
        let deputy = self.deputy.as_mut()?;
        if let Some(fate) = deputy.gone() {
            // Killed at home (SIGKILL cannot be caught): the guest goes too.
            tracing::info!(pid = self.pid, ?fate, "the home process was killed");
            let _ = self.send(&Msg::Signal {
                signo: libc::SIGKILL,
                siginfo: Vec::new(),
            });
            self.deputy = None;
            return Some(End::Ended);
        }
        let sigs = match deputy.take_signals() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(pid = self.pid, "reading signals failed: {e}");
                return None;
            }
        };
        if !sigs.is_empty() {
            self.commit("a signal was passed on");
        }
        for s in sigs {
            if let Err(e) = self.send(&Msg::Signal {
                signo: s.signo,
                siginfo: s.siginfo.to_vec(),
            }) {
                return self.link_broke(e);
            }
        }
        None
    }

    fn command(&mut self, c: Command) -> Option<End> {
        match c {
            // Without a link (being passed on) the next node gets it with the offer, which
            // carries the lock as the passing node knows it; the window is a moment long.
            Command::Lock { locked } => self
                .send(&Msg::Lock { locked })
                .err()
                .and_then(|e| self.link_broke(e)),
            Command::Move { to, reply } => self.recall(to, reply, None),
            Command::Attach { link, token, node } => self.attach(link, token, node),
        }
    }

    /// Ask the remote to send the process home (`to` None) or on to another node.
    fn recall(&mut self, to: Option<Dest>, reply: Reply, auto: Option<AutoTerms>) -> Option<End> {
        if self.pending.is_some() {
            let _ = reply.send(Err(failed("a move of this process is under way")));
            return None;
        }
        if let Some(d) = &to {
            if d.node == self.node {
                let _ = reply.send(Err(failed(format!(
                    "process {} already runs on {}",
                    self.pid, d.node
                ))));
                return None;
            }
        }
        let token = token();
        let state = if to.is_none() {
            ProcState::Returning
        } else {
            ProcState::Migrating
        };
        self.mgr
            .registry
            .set_state(self.pid, state, Some(&self.node));
        self.pending = Some(Pending {
            to: to.clone(),
            token,
            reply,
            since: Instant::now(),
        });
        if let Err(e) = self.send(&Msg::Recall { to, token, auto }) {
            return self.link_broke(e);
        }
        None
    }

    /// A node the process was passed on to reports it rebuilt: switch to it.
    fn attach(&mut self, mut link: Link, token: u64, node: String) -> Option<End> {
        let ok = matches!(&self.pending, Some(p) if p.token == token && p.to.is_some());
        if !ok {
            tracing::warn!(pid = self.pid, %node, "refused an attach nobody asked for");
            let _ = link.send(
                &Msg::Refuse {
                    reason: "no move to this node is under way".into(),
                }
                .encode(),
            );
            return None;
        }
        if link.send(&Msg::Go.encode()).is_err() {
            return None; // it did not run; the old node keeps it (it hears Failed or EOF)
        }
        let _ = self.send(&Msg::Released);
        // The node it left had every page (it finished post-copy before it sent the image).
        self.push = None;
        let old = std::mem::replace(&mut self.node, node.clone());
        self.wake = link.as_fd().try_clone_to_owned().ok();
        self.link = Some(link);
        self.heard = Instant::now();
        let p = self.pending.take()?;
        self.mgr
            .registry
            .moved(self.pid, Some(&node), self.mgr.registry.control(self.pid));
        let ms = p.since.elapsed().as_secs_f64() * 1e3;
        tracing::info!(pid = self.pid, from = %old, to = %node, "passed on");
        let _ = p.reply.send(Ok(MigrateReport {
            pid: self.pid,
            now_on: node,
            frozen_ms: ms,
            total_ms: ms,
            image_bytes: 0,
        }));
        None
    }

    /// Log how many forwarded calls the daemon made on copies of the deputy's files.
    fn note_direct(&self) {
        if let Some(d) = &self.deputy {
            let st = d.direct_stats();
            if st.direct > 0 {
                tracing::debug!(
                    pid = self.pid,
                    calls = st.direct,
                    bytes = st.bytes,
                    behind = self.behind.0,
                    behind_bytes = self.behind.1,
                    "forwarded file calls made on copies of the descriptors"
                );
            }
        }
    }

    fn message(&mut self, m: Msg, rx: &Receiver<Command>) -> Option<End> {
        match m {
            Msg::Syscall { id, call } => self.syscall(id, call, rx),
            Msg::Exited { code } => {
                tracing::info!(pid = self.pid, code, "exited on {}", self.node);
                self.note_direct();
                if let Some(d) = self.deputy.take() {
                    if let Err(e) = d.exit(code) {
                        tracing::warn!(pid = self.pid, "ending the deputy failed: {e}");
                    }
                }
                Some(End::Ended)
            }
            Msg::Killed { signo } => {
                tracing::info!(pid = self.pid, signo, "killed on {}", self.node);
                self.note_direct();
                if let Some(d) = self.deputy.take() {
                    if let Err(e) = d.kill_by(signo) {
                        tracing::warn!(pid = self.pid, "ending the deputy failed: {e}");
                    }
                }
                Some(End::Ended)
            }
            Msg::Barrier { why } => {
                tracing::info!(pid = self.pid, "comes home for {why}");
                self.mgr
                    .registry
                    .set_state(self.pid, ProcState::Returning, Some(&self.node));
                self.come_home()
            }
            Msg::Returning => self.come_home(),
            Msg::Stayed { reason } => {
                if let Some(p) = self.pending.take() {
                    self.mgr
                        .registry
                        .set_state(self.pid, ProcState::Remote, Some(&self.node));
                    let _ = p.reply.send(Err(failed(format!(
                        "the process stays on {}: {reason}",
                        self.node
                    ))));
                }
                None
            }
            Msg::Ping { cpu_ns } => {
                self.mgr.registry.away_cpu(self.pid, cpu_ns as f64 / 1e9);
                None
            }
            Msg::Suggest { to, auto } => {
                // The node it runs on would pass it on (its balancer found a better node than
                // it and than home): a move home would make, as one step.
                if self.mgr.registry.is_locked(self.pid) || self.pending.is_some() {
                    return None;
                }
                tracing::info!(pid = self.pid, from = %self.node, to = %to.node, "passed on by the balancer");
                let (reply, _) = oneshot::channel();
                let to = (to.node != self.mgr.node).then_some(to);
                self.recall(to, reply, Some(auto))
            }
            Msg::PageWant { addr, len } => self.page_want(addr, len),
            Msg::PagesDone => {
                pages_done(
                    self.pid,
                    &self.node,
                    &mut self.push,
                    &mut self.arrival,
                    &mut self.uncommitted,
                );
                None
            }
            // Nothing runs for these ids (any more).
            Msg::Cancel { .. } => None,
            other => {
                tracing::warn!(
                    pid = self.pid,
                    "unexpected {} from {}",
                    other.name(),
                    self.node
                );
                None
            }
        }
    }

    /// The error a write sent behind to the descriptor `call` writes, syncs or closes met,
    /// if any (taken: reported once).
    fn deferred_error(&mut self, call: &wend_deputy::Call) -> Option<i64> {
        if self.deferred.is_empty() {
            return None;
        }
        let reports = [
            libc::SYS_write,
            libc::SYS_pwrite64,
            libc::SYS_writev,
            libc::SYS_pwritev,
            libc::SYS_pwritev2,
            libc::SYS_fsync,
            libc::SYS_fdatasync,
            libc::SYS_close,
        ];
        if !reports.contains(&i64::from(call.nr)) {
            return None;
        }
        self.deferred.remove(&(call.args[0] as i64 as i32))
    }

    /// A write sent behind was made: a failure is kept for the process's next write, fsync
    /// or close of that descriptor (it was told the write succeeded).
    fn behind_made(&mut self, call: &wend_deputy::Call, ret: i64) {
        let want = call.args[2] as i64;
        self.behind.0 += 1;
        if ret > 0 {
            self.behind.1 += ret as u64;
        }
        if ret != want {
            let fd = call.args[0] as i64 as i32;
            let err = if ret < 0 { ret } else { -i64::from(libc::EIO) };
            tracing::error!(
                pid = self.pid,
                fd,
                bytes = want,
                ret,
                "a write sent behind failed at home; the process gets error {} at its next write, fsync or close of that descriptor",
                -err
            );
            self.deferred.entry(fd).or_insert(err);
        }
    }

    /// After the guest's own write `call` (which it waited for) returned `ret`: home's grant
    /// to write behind on that descriptor, if any.
    fn behind_grant(&mut self, call: &wend_deputy::Call, ret: i64) -> Option<Msg> {
        let nr = i64::from(call.nr);
        let full = ret > 0 && ret as u64 == call.args[2];
        if !(nr == libc::SYS_write || nr == libc::SYS_pwrite64) || !full {
            return None;
        }
        let fd = call.args[0] as i64 as i32;
        let bytes = self.deputy.as_mut()?.behind_credit(fd);
        (bytes > 0).then_some(Msg::Behind { fd, bytes })
    }

    fn syscall(&mut self, id: u64, call: wend_deputy::Call, rx: &Receiver<Command>) -> Option<End> {
        self.cadence.called();
        let behind = (BEHIND_IDS..BEHIND_IDS + BEHIND_SLOTS).contains(&id);
        // The remote's own calls (read-ahead offset syncs, writes sent behind) run here even
        // while a move is pending, or it would land with home's offsets behind what it read
        // and without the writes it was told were made.
        if self.pending.is_some() && id < HOME_RUNS_IDS {
            // A recall is on its way: the call runs wherever the process lands.
            return self
                .send(&Msg::Dropped { id })
                .err()
                .and_then(|e| self.link_broke(e));
        }
        if !commit::looks_only(call.nr) {
            self.commit("a forwarded call changes something at home");
        }
        let report = if behind {
            None
        } else {
            self.deferred_error(&call)
        };
        if let Some(err) = report.filter(|_| call.nr != libc::SYS_close as u32) {
            // A write behind to this descriptor failed: this call fails with its error.
            let out = call
                .regions
                .iter()
                .filter(|r| r.dir != wend_deputy::Dir::In);
            let outcome = wend_deputy::Outcome {
                ret: err,
                out: out.map(|_| Vec::new()).collect(),
            };
            return self
                .send(&Msg::Result { id, outcome })
                .err()
                .and_then(|e| self.link_broke(e));
        }
        let link = self.link.as_mut()?;
        let deputy = self.deputy.as_mut()?;
        let wake = self.wake.as_ref().map(|w| w.as_fd());
        let early = &mut self.early;
        let pid = self.pid;
        let (node, push, arrival) = (&self.node, &mut self.push, &mut self.arrival);
        let uncommitted = &mut self.uncommitted;
        let mut moves = Vec::new();
        let mut said = self.said;
        let mut heard = self.heard;
        let mut broke = None;
        let mut stop = || {
            while let Ok(c) = rx.try_recv() {
                moves.push(c);
            }
            if link.buffered() || readable(link.as_fd(), Duration::ZERO) {
                let got = recv_msg(link);
                if got.is_ok() {
                    // Alive: a call that blocks long must not make the remote look lost.
                    heard = Instant::now();
                }
                match got {
                    Ok(Msg::Cancel { id: c }) if c == id => return true,
                    // The remote faults while this call runs (a signal handler, say): answer now.
                    Ok(Msg::PageWant { addr, len }) => {
                        let sent = push::read_pages(pid, addr, len)
                            .and_then(|mut m| send_bulk(link, &mut m));
                        if let Err(e) = sent {
                            broke = Some(e);
                            return true;
                        }
                    }
                    // The answer to `wend migrate` must not wait for a call that may block
                    // until the caller of `wend migrate` does something.
                    Ok(Msg::PagesDone) => pages_done(pid, node, push, arrival, uncommitted),
                    Ok(m) => early.push_back(m),
                    Err(e) => {
                        broke = Some(e);
                        return true;
                    }
                }
            } else {
                // Keep pushing while a call blocks (it may wait for the end of post-copy): for
                // up to PUSH_SLICE at a time (the call is asked about every 10 ms), stopping
                // as soon as the remote says something.
                let slice = Instant::now();
                while let Some(chunk) = push.as_mut().and_then(Push::next_chunk) {
                    let sent = chunk.and_then(|mut m| send_bulk(link, &mut m));
                    if let Err(e) = sent {
                        broke = Some(e);
                        return true;
                    }
                    said = Instant::now();
                    if slice.elapsed() >= PUSH_SLICE
                        || link.buffered()
                        || readable(link.as_fd(), Duration::ZERO)
                    {
                        break;
                    }
                }
            }
            if said.elapsed() >= PING_EVERY {
                said = Instant::now();
                if let Err(e) = link.send(&Msg::Ping { cpu_ns: 0 }.encode()) {
                    broke = Some(e.to_string());
                    return true;
                }
            }
            // A write sent behind was answered already: it is never cut short.
            !behind && !moves.is_empty()
        };
        let mut taken = Vec::new();
        let done = loop {
            match deputy.execute_waking(&call, &mut stop, wake) {
                // Nothing was made: make it again (the signals go to the guest as always).
                Ok(Executed::Interrupted(sigs)) if behind => taken.extend(sigs),
                Ok(Executed::Cancelled) if behind && !stop() => {}
                done => break done,
            }
        };
        self.said = said;
        self.heard = heard;
        if let Some(e) = broke {
            return self.link_broke(e);
        }
        let signal = |s: Signal| Msg::Signal {
            signo: s.signo,
            siginfo: s.siginfo.to_vec(),
        };
        let mut reply: Vec<Msg> = taken.into_iter().map(signal).collect();
        match done {
            Ok(Executed::Done(mut outcome)) => {
                if behind {
                    self.behind_made(&call, outcome.ret);
                } else if let Some(grant) = self.behind_grant(&call, outcome.ret) {
                    // Before the answer: the remote holds it before the guest's next call.
                    reply.push(grant);
                }
                if let Some(err) = report {
                    outcome.ret = err; // close: made, and it reports the failed write
                }
                reply.push(Msg::Result { id, outcome });
            }
            Ok(Executed::Interrupted(sigs)) => {
                reply.extend(sigs.into_iter().map(signal));
                reply.push(Msg::Interrupted { id });
            }
            Ok(Executed::Cancelled) => reply.push(Msg::Dropped { id }),
            Err(e) => {
                tracing::error!(pid = self.pid, "the deputy failed: {e}");
                return Some(End::Lost(format!("its deputy at home failed: {e}")));
            }
        }
        for m in reply {
            if let Err(e) = self.send_bulk(m) {
                return self.link_broke(e);
            }
        }
        self.cadence.answered();
        for c in moves {
            if let Some(end) = self.command(c) {
                return Some(end);
            }
        }
        None
    }

    /// The image of the returning process is on the link: rebuild it into the deputy and let
    /// it run at home.
    fn come_home(&mut self) -> Option<End> {
        let t = Instant::now();
        self.push = None;
        let link = self.link.as_mut()?;
        let _ = link.set_read_timeout(Some(STEP_TIMEOUT * 3));
        let mut src = LinkSource::new(link);
        // The metadata first, while the deputy is still whole: if the image never comes,
        // the process is lost, and its home pid must end (its state there is stale).
        let mut reader = match ImageReader::new(&mut src) {
            Ok(r) => r,
            Err(e) => return Some(End::Lost(format!("its image did not come: {e}"))),
        };
        let image: wend_ckpt::ProcessImage = match reader.read_meta() {
            Ok(m) => m,
            Err(e) => return Some(End::Lost(format!("its image did not come: {e}"))),
        };
        let deputy = self.deputy.take()?;
        let rebuilt = deputy
            .into_stopped()
            .map_err(|e| e.to_string())
            .and_then(|mut st| {
                st.set_drop_action(wend_sys::DropAction::Kill);
                wend_ckpt::restore_into(st, &image, &mut reader, &RestoreOptions::default())
                    .map_err(|e| e.to_string())
            });
        drop(reader);
        let drained = src
            .drain()
            .map_err(|e| format!("the image stream broke: {e}"));
        let st = match rebuilt.and_then(|st| drained.map(|()| st)) {
            Ok(st) => st,
            Err(e) => {
                let _ = self.send(&Msg::Failed { reason: e.clone() });
                // What is left of it was killed (its Stopped drops with the kill action).
                return Some(End::Lost(format!("rebuilding it at home failed: {e}")));
            }
        };
        let _ = self.send(&Msg::Released);
        if let Err(e) = st.detach() {
            tracing::error!(pid = self.pid, "letting it run at home failed: {e}");
        }
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let from = self.node.clone();
        self.mgr.registry.moved(self.pid, None, None);
        tracing::info!(pid = self.pid, %from, ms, "runs at home again");
        if let Some(p) = self.pending.take() {
            let _ = p.reply.send(Ok(MigrateReport {
                pid: self.pid,
                now_on: "home".into(),
                frozen_ms: p.since.elapsed().as_secs_f64() * 1e3,
                total_ms: p.since.elapsed().as_secs_f64() * 1e3,
                image_bytes: 0,
            }));
        }
        Some(End::Home)
    }
}
