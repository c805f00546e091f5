//! Messages between daemons about one migrated process, over an authenticated link
//! (wend-link). Encoded with postcard; a message that does not decode is refused whole and the
//! link is dropped.

use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use wend_deputy::{Call, Outcome};
use wend_link::Link;

/// Version of this message set; a link whose first message carries another is refused.
pub const PEER_VERSION: u16 = 4;

/// Who a process belongs to: its home node and its pid there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HomeRef {
    pub node: String,
    /// The home daemon's peer address (TCP for links).
    pub addr: SocketAddr,
    pub pid: i32,
}

/// The first message on a link that brings a process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Offer {
    pub version: u16,
    pub home: HomeRef,
    pub cmd: String,
    /// The owner's uid at home (who may see it in `wend ps` here).
    pub uid: u32,
    /// Whether the sender is the home node (else a remote node passing it on, and the
    /// target attaches to home itself).
    pub from_home: bool,
    /// Proof for the home node that a later [`Msg::Attach`] belongs to this move.
    pub token: u64,
    /// Bytes of memory the process maps (the target may refuse if short of memory).
    pub mem_bytes: u64,
    /// Migrations before this one.
    pub migrations: u32,
    /// Seconds of CPU the process used so far.
    pub cpu_secs: f64,
    /// Set when the balancer (not a user) moves it: what the target's admission weighs.
    pub auto: Option<AutoTerms>,
    /// The sender offers post-copy: the image leaves anonymous memory out, the target fetches
    /// it while the process runs ([`Msg::AcceptLazy`] takes the offer).
    pub lazy: bool,
    /// Locked by its user (`wend run --lock`, `wend lock`): the balancer of the node it runs
    /// on must not move it (a user still may).
    pub locked: bool,
}

/// What an automatic move tells the target, so it can refuse a move that would not pay
/// (herds: many senders may pick the same idle node from stale load vectors).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AutoTerms {
    /// CPUs' worth the process wants (1.0 for a busy single thread).
    pub demand: f64,
    /// The rate it gets where it is, in yardstick CPU-seconds per second.
    pub rate_here: f64,
}

/// A node a process is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dest {
    pub node: String,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Msg {
    /// Sender to target: a process for you (an image follows once accepted).
    Offer(Offer),
    /// Target: send it.
    Accept,
    /// Target: send it, post-copy (a [`Msg::Lazy`] follows the image).
    AcceptLazy,
    /// Home to target, after a post-copy image: the runs (address, length) of memory left out
    /// of it, to fetch from home while the process runs.
    Lazy { runs: Vec<(u64, u64)> },
    /// Target to home: send these pages (home addresses) now; a fault waits for them.
    PageWant { addr: u64, len: u64 },
    /// Home: the contents of `[addr, addr+len)` of the frozen original (an answer to
    /// [`Msg::PageWant`], or a background push).
    Pages {
        addr: u64,
        #[serde(with = "serde_bytes")]
        data: Vec<u8>,
    },
    /// Target: every page is present here; stop pushing.
    PagesDone,
    /// Target: no (the process stays where it is).
    Refuse { reason: String },
    /// A piece of the image stream.
    Image(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The image stream ended.
    ImageEnd,
    /// Target: rebuilt and ready, not running yet.
    Ready,
    /// Target: could not rebuild; nothing of it runs there.
    Failed { reason: String },
    /// Sender to target: run it now (the sender's copy is a deputy or gone).
    Go,
    /// Remote to home: run this call in the deputy.
    Syscall { id: u64, call: Call },
    /// Home: what the call did.
    Result { id: u64, outcome: Outcome },
    /// Home: a signal to the home pid interrupted the call (the signals follow as
    /// [`Msg::Signal`] first); if the guest did not see it interrupted, send it again.
    Interrupted { id: u64 },
    /// Remote: the guest stopped waiting for this call (a signal on the remote side).
    Cancel { id: u64 },
    /// Home: the call was not run (or was cut short) after a [`Msg::Cancel`] or a recall.
    Dropped { id: u64 },
    /// Home to remote: a signal sent to the home pid (`siginfo` as the kernel's 128 bytes).
    Signal {
        signo: i32,
        #[serde(with = "serde_bytes")]
        siginfo: Vec<u8>,
    },
    /// Remote to home: the guest exited with this status.
    Exited { code: i32 },
    /// Remote to home: the guest was killed by this signal.
    Killed { signo: i32 },
    /// Remote to home: the guest made a call that must run at home (fork, execve, ...):
    /// its image follows, the process continues at home.
    Barrier { why: String },
    /// Home to remote: stop the guest and send it home (`to: None`) or to another node.
    Recall {
        to: Option<Dest>,
        token: u64,
        /// The balancer's terms when it asked for the move (the target judges them).
        auto: Option<AutoTerms>,
    },
    /// Remote to home: the image of the returning process follows.
    Returning,
    /// Home to remote: it runs at home (or at the new node) now; drop your copy.
    Released,
    /// Remote to home: the move to another node failed; the guest runs on here.
    Stayed { reason: String },
    /// New remote to home, first message of its link: I run your process now.
    Attach {
        version: u16,
        home_pid: i32,
        token: u64,
        node: String,
    },
    /// Liveness, and the guest's CPU time so far on this node (nanoseconds).
    Ping { cpu_ns: u64 },
    /// Remote to home: this node's balancer would move the process on to `to` (home asks it
    /// to pass the process on, unless it is locked or already moving).
    Suggest { to: Dest, auto: AutoTerms },
    /// Home to remote: the process was locked (`wend lock`) or unlocked at home; the node it
    /// runs on must not send it anywhere by itself either.
    Lock { locked: bool },
    /// Home to remote: writes to descriptor `fd` may be written behind, up to `bytes` of them
    /// on their way at once (0: no more); see `migrate::BEHIND_IDS`.
    Behind { fd: i32, bytes: u64 },
}

/// The next message on `link` (errors as text for logs and replies).
pub fn recv_msg(link: &mut Link) -> Result<Msg, String> {
    let bytes = link.recv().map_err(|e| e.to_string())?;
    Msg::decode(&bytes).map_err(|e| e.to_string())
}

/// Send `m` on `link`.
pub fn send(link: &mut Link, m: &Msg) -> Result<(), String> {
    link.send(&m.encode()).map_err(|e| e.to_string())
}

/// Wait up to `wait` until `a` or `b` can be read (or hung up); which ones.
pub fn readable2(a: BorrowedFd<'_>, b: BorrowedFd<'_>, wait: Duration) -> [bool; 2] {
    let [x, y, _] = readable3(a, b, b, wait);
    [x, y]
}

/// Wait up to `wait` until `a`, `b` or `c` can be read (or hung up); which ones.
pub fn readable3(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    c: BorrowedFd<'_>,
    wait: Duration,
) -> [bool; 3] {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    let mut fds = [
        PollFd::new(a, PollFlags::POLLIN),
        PollFd::new(b, PollFlags::POLLIN),
        PollFd::new(c, PollFlags::POLLIN),
    ];
    let ms = PollTimeout::try_from(wait).unwrap_or(PollTimeout::MAX);
    if !matches!(poll(&mut fds, ms), Ok(n) if n > 0) {
        return [false; 3];
    }
    let ready = |f: &PollFd<'_>| {
        f.revents().is_some_and(|e| {
            e.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        })
    };
    [ready(&fds[0]), ready(&fds[1]), ready(&fds[2])]
}

/// Like [`readable3`], but looks without sleeping for up to `spin` first, yielding the CPU
/// between looks. An answer expected within microseconds is then taken without a sleep and a
/// wake-up: on an idle machine (and in a VM whose idle vCPUs halt) waking a sleeping thread
/// costs tens of microseconds, more than the rest of a forwarded call.
pub fn readable3_spin(
    a: BorrowedFd<'_>,
    b: BorrowedFd<'_>,
    c: BorrowedFd<'_>,
    spin: Duration,
    wait: Duration,
) -> [bool; 3] {
    if !spin.is_zero() {
        let t0 = std::time::Instant::now();
        loop {
            let r = readable3(a, b, c, Duration::ZERO);
            if r.contains(&true) {
                return r;
            }
            if t0.elapsed() >= spin {
                break;
            }
            std::thread::yield_now();
        }
    }
    readable3(a, b, c, wait)
}

/// Whether a thread that answered a call should look for the next one without sleeping
/// (see [`readable3_spin`]): only while the calls come back to back, as they did last time.
/// A program that computes between its calls gets no spinning thread beside it.
#[derive(Debug, Clone, Copy)]
pub struct Cadence {
    answered: std::time::Instant,
    quick: bool,
}

impl Default for Cadence {
    fn default() -> Cadence {
        Cadence {
            answered: std::time::Instant::now(),
            quick: true,
        }
    }
}

impl Cadence {
    /// A call was answered.
    pub fn answered(&mut self) {
        self.answered = std::time::Instant::now();
    }

    /// The next call came.
    pub fn called(&mut self) {
        self.quick = self.answered.elapsed() < super::SPIN_NEXT;
    }

    /// How long to look for the next call without sleeping, now.
    pub fn spin(&self) -> Duration {
        if self.quick {
            super::SPIN_NEXT.saturating_sub(self.answered.elapsed())
        } else {
            Duration::ZERO
        }
    }
}

/// Wait up to `wait` until `fd` can be read (or hung up).
pub fn readable(fd: BorrowedFd<'_>, wait: Duration) -> bool {
    readable2(fd, fd, wait)[0]
}

/// Why a message could not be read.
#[derive(Debug, thiserror::Error)]
#[error("undecodable peer message ({0}); the peer runs another wend version or is broken")]
pub struct WireError(#[from] postcard::Error);

impl Msg {
    pub fn encode(&self) -> Vec<u8> {
        // Plain data (no maps with non-string keys, no failing Serialize impls): cannot fail.
        postcard::to_stdvec(self).unwrap_or_default()
    }
    pub fn decode(bytes: &[u8]) -> Result<Msg, WireError> {
        Ok(postcard::from_bytes(bytes)?)
    }
    /// Short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Msg::Offer(_) => "offer",
            Msg::Accept => "accept",
            Msg::AcceptLazy => "accept-lazy",
            Msg::Lazy { .. } => "lazy",
            Msg::PageWant { .. } => "page-want",
            Msg::Pages { .. } => "pages",
            Msg::PagesDone => "pages-done",
            Msg::Refuse { .. } => "refuse",
            Msg::Image(_) => "image",
            Msg::ImageEnd => "image-end",
            Msg::Ready => "ready",
            Msg::Failed { .. } => "failed",
            Msg::Go => "go",
            Msg::Syscall { .. } => "syscall",
            Msg::Result { .. } => "result",
            Msg::Interrupted { .. } => "interrupted",
            Msg::Cancel { .. } => "cancel",
            Msg::Dropped { .. } => "dropped",
            Msg::Signal { .. } => "signal",
            Msg::Exited { .. } => "exited",
            Msg::Killed { .. } => "killed",
            Msg::Barrier { .. } => "barrier",
            Msg::Recall { .. } => "recall",
            Msg::Returning => "returning",
            Msg::Released => "released",
            Msg::Stayed { .. } => "stayed",
            Msg::Attach { .. } => "attach",
            Msg::Ping { .. } => "ping",
            Msg::Lock { .. } => "lock",
            Msg::Suggest { .. } => "suggest",
            Msg::Behind { .. } => "behind",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let m = Msg::Syscall {
            id: 3,
            call: Call::scalar(110, [0; 6]),
        };
        assert_eq!(Msg::decode(&m.encode()).unwrap(), m);
        let o = Msg::Offer(Offer {
            version: PEER_VERSION,
            home: HomeRef {
                node: "node1".into(),
                addr: "10.0.0.1:7100".parse().unwrap(),
                pid: 42,
            },
            cmd: "xz".into(),
            uid: 1000,
            from_home: true,
            token: 9,
            mem_bytes: 1 << 20,
            migrations: 0,
            cpu_secs: 0.5,
            auto: Some(AutoTerms {
                demand: 1.0,
                rate_here: 0.5,
            }),
            lazy: true,
            locked: false,
        });
        assert_eq!(Msg::decode(&o.encode()).unwrap(), o);
        let p = Msg::Pages {
            addr: 0x7f00_0000_0000,
            data: vec![7; 8192],
        };
        assert_eq!(Msg::decode(&p.encode()).unwrap(), p);
        let l = Msg::Lazy {
            runs: vec![(0x1000, 0x3000), (0x10_0000, 0x1000)],
        };
        assert_eq!(Msg::decode(&l.encode()).unwrap(), l);
        assert!(Msg::decode(&[0xff, 0xff, 0xff]).is_err());
        assert!(Msg::decode(&[]).is_err());
        // Truncations of a valid message are refused, never half-used.
        let bytes = o.encode();
        for n in 0..bytes.len() {
            assert!(Msg::decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
    }
}
