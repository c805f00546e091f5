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
pub const PEER_VERSION: u16 = 5;

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

/// Byte fields shorter than this travel in the header (a copy costs less than a part).
const BULK_MIN: usize = 4096;

/// The slot (1 + index) of the longest of byte fields of these lengths, if it is worth
/// sending apart; else 0.
fn largest(lens: impl IntoIterator<Item = usize>) -> Slot {
    lens.into_iter()
        .enumerate()
        .max_by_key(|&(_, n)| n)
        .filter(|&(i, n)| n >= BULK_MIN && i < usize::from(Slot::MAX))
        .map_or(0, |(i, _)| i as Slot + 1)
}

/// The postcard encoding of `m`.
fn header(m: &Msg) -> Vec<u8> {
    // Plain data (no maps with non-string keys, no failing Serialize impls): cannot fail.
    postcard::to_stdvec(m).unwrap_or_default()
}

/// Appends the trailer of a message whose header is all of `out` so far.
fn trailer(out: &mut Vec<u8>, slot: Slot) {
    let hlen = u32::try_from(out.len()).expect("headers are far below 4 GiB");
    out.extend_from_slice(&hlen.to_le_bytes());
    out.push(slot);
}

/// The next message on `link` (errors as text for logs and replies).
pub fn recv_msg(link: &mut Link) -> Result<Msg, String> {
    let bytes = link.recv().map_err(|e| e.to_string())?;
    Msg::decode(bytes).map_err(|e| e.to_string())
}

/// Send `m` on `link`.
pub fn send(link: &mut Link, m: &Msg) -> Result<(), String> {
    link.send(&m.encode()).map_err(|e| e.to_string())
}

/// Send `m` on `link`, its largest byte field handed to the link as it is (not copied into
/// the message first); `m` is whole again afterwards.
pub fn send_bulk(link: &mut Link, m: &mut Msg) -> Result<(), String> {
    let (slot, bulk, head) = split(m);
    let sent = link.send_parts(&[&bulk, &head]);
    if let Some(field) = m.bulk_field(slot) {
        *field = bulk;
    }
    sent.map_err(|e| e.to_string())
}

/// `m`'s bulk slot, its bulk (taken out of `m`) and the rest of the message (header and
/// trailer): the two parts of the message on the wire.
fn split(m: &mut Msg) -> (Slot, Vec<u8>, Vec<u8>) {
    let slot = m.bulk_slot();
    let bulk = m.bulk_field(slot).map(std::mem::take).unwrap_or_default();
    let mut head = header(m);
    trailer(&mut head, slot);
    (slot, bulk, head)
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
pub enum WireError {
    #[error("undecodable peer message ({0}); the peer runs another wend version or is broken")]
    Decode(#[from] postcard::Error),
    #[error("malformed peer message ({0}); the peer runs another wend version or is broken")]
    Envelope(&'static str),
}

/// Bytes after the header: its length (u32, little-endian) and the bulk slot (u8).
const TRAILER: usize = 5;

/// Where a message's bulk bytes belong: `slot` 0 is none; else the byte field it names
/// ([`Msg::bulk_field`]).
type Slot = u8;

/// A message on the wire is `BULK HEADER LEN SLOT`: HEADER is the postcard encoding of the
/// message with one byte field (the largest, for a message that carries data: a write's
/// bytes, a read's answer, pages, a piece of an image) left empty, and BULK is that field's
/// bytes; LEN is HEADER's length, SLOT says which field BULK fills (0: none, BULK is empty).
/// With the bulk first, a received message gives its bytes up without a copy (the buffer is
/// cut to BULK's length and becomes the field), and a sent one hands them to the link as
/// they are (`send_bulk`). Anything else in the trailer, or a header that does not decode
/// to its last byte, makes the whole message rejected.
impl Msg {
    /// The whole message, its bulk field (if any) in the header (for small messages and
    /// callers that keep `self`; [`send_bulk`] copies nothing).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = header(self);
        trailer(&mut out, 0);
        out
    }

    /// Decodes a message; `bytes` becomes its bulk field (no copy of the data).
    pub fn decode(mut bytes: Vec<u8>) -> Result<Msg, WireError> {
        let n = bytes.len();
        if n < TRAILER {
            return Err(WireError::Envelope("shorter than its trailer"));
        }
        let slot: Slot = bytes[n - 1];
        let hlen = u32::from_le_bytes(bytes[n - TRAILER..n - 1].try_into().expect("4 bytes"));
        let bulk = (n - TRAILER)
            .checked_sub(hlen as usize)
            .ok_or(WireError::Envelope("header longer than the message"))?;
        if slot == 0 && bulk != 0 {
            return Err(WireError::Envelope(
                "bytes before the header with no field for them",
            ));
        }
        let (mut m, rest) = postcard::take_from_bytes::<Msg>(&bytes[bulk..n - TRAILER])?;
        if !rest.is_empty() {
            return Err(WireError::Envelope("bytes after the header"));
        }
        if slot != 0 {
            let field = m.bulk_field(slot).ok_or(WireError::Envelope(
                "bulk for a field the message does not have",
            ))?;
            if !field.is_empty() {
                return Err(WireError::Envelope(
                    "bulk for a field that has bytes already",
                ));
            }
            bytes.truncate(bulk);
            *field = bytes;
        }
        Ok(m)
    }

    /// The byte field `slot` names: 1 for the data of pages or an image; 1 + i for the data
    /// of a call's region i, or for out region i of a call's outcome.
    fn bulk_field(&mut self, slot: Slot) -> Option<&mut Vec<u8>> {
        let i = usize::from(slot.checked_sub(1)?);
        match self {
            Msg::Pages { data, .. } | Msg::Image(data) if i == 0 => Some(data),
            Msg::Syscall { call, .. } => call.regions.get_mut(i).map(|r| &mut r.data),
            Msg::Result { outcome, .. } => outcome.out.get_mut(i),
            _ => None,
        }
    }

    /// The slot of the largest byte field worth sending apart (none for small ones).
    fn bulk_slot(&self) -> Slot {
        match self {
            Msg::Pages { data, .. } | Msg::Image(data) => largest([data.len()]),
            Msg::Syscall { call, .. } => largest(call.regions.iter().map(|r| r.data.len())),
            Msg::Result { outcome, .. } => largest(outcome.out.iter().map(Vec::len)),
            _ => 0,
        }
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

    /// The message as [`send_bulk`] puts it on the wire; `m` is left whole.
    fn wire(m: &mut Msg) -> Vec<u8> {
        let (slot, mut bulk, head) = split(m);
        if let Some(f) = m.bulk_field(slot) {
            *f = bulk.clone();
        }
        bulk.extend_from_slice(&head);
        bulk
    }

    fn write_call(sizes: &[usize]) -> Call {
        let mut c = Call::scalar(1, [3, 0, 0, 0, 0, 0]);
        for (i, &n) in sizes.iter().enumerate() {
            c.regions.push(wend_deputy::Region {
                arg: i as u8 + 1,
                dir: wend_deputy::Dir::In,
                len: n as u32,
                data: (0..n).map(|b| b as u8).collect(),
                back: wend_deputy::Back::All,
            });
        }
        c
    }

    #[test]
    fn bulk_goes_first_and_comes_back_in_its_field() {
        let mut r = Msg::Result {
            id: 7,
            outcome: Outcome {
                ret: 262_144,
                out: vec![vec![1; 16], (0..262_144).map(|b| (b % 251) as u8).collect()],
            },
        };
        let bytes = wire(&mut r);
        assert_eq!(
            bytes[..262_144],
            (0..262_144).map(|b| (b % 251) as u8).collect::<Vec<_>>()[..]
        );
        assert_eq!(
            *bytes.last().unwrap(),
            2,
            "the larger out region is the bulk"
        );
        assert_eq!(Msg::decode(bytes).unwrap(), r);

        let mut c = Msg::Syscall {
            id: 9,
            call: write_call(&[100, 70_000, 5_000]),
        };
        let bytes = wire(&mut c);
        assert_eq!(*bytes.last().unwrap(), 2);
        assert_eq!(Msg::decode(bytes).unwrap(), c);

        // Small fields stay in the header.
        let mut small = Msg::Syscall {
            id: 9,
            call: write_call(&[100]),
        };
        let bytes = wire(&mut small);
        assert_eq!(*bytes.last().unwrap(), 0);
        assert_eq!(bytes, small.encode());
        assert_eq!(Msg::decode(bytes).unwrap(), small);

        for mut m in [
            Msg::Pages {
                addr: 0x1000,
                data: vec![9; 1 << 20],
            },
            Msg::Image(vec![4; 70_000]),
        ] {
            let bytes = wire(&mut m);
            assert_eq!(*bytes.last().unwrap(), 1);
            assert_eq!(Msg::decode(bytes).unwrap(), m);
        }
    }

    #[test]
    fn a_bad_envelope_is_refused_whole() {
        let mut m = Msg::Pages {
            addr: 0x1000,
            data: vec![9; 8192],
        };
        let good = wire(&mut m);
        let n = good.len();
        let bad = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut b = good.clone();
            edit(&mut b);
            Msg::decode(b)
        };
        assert!(Msg::decode(good.clone()).is_ok());
        // A slot the message does not have.
        assert!(matches!(
            bad(&|b| b[n - 1] = 9),
            Err(WireError::Envelope(_))
        ));
        // Bulk bytes with no slot for them.
        assert!(matches!(
            bad(&|b| b[n - 1] = 0),
            Err(WireError::Envelope(_))
        ));
        // A header length past the start, or one that leaves header bytes undecoded.
        assert!(matches!(
            bad(&|b| b[n - 5..n - 1].copy_from_slice(&(n as u32).to_le_bytes())),
            Err(WireError::Envelope(_))
        ));
        let hlen = u32::from_le_bytes(good[n - 5..n - 1].try_into().unwrap());
        assert!(bad(&|b| b[n - 5..n - 1].copy_from_slice(&(hlen + 1).to_le_bytes())).is_err());
        // Bulk for a field the header fills already.
        let mut full = vec![1u8; 4096];
        let mut head = m.encode();
        head.truncate(head.len() - TRAILER);
        full.extend_from_slice(&head);
        trailer_after(&mut full, head.len(), 1);
        assert!(matches!(Msg::decode(full), Err(WireError::Envelope(_))));
        // Shorter than a trailer.
        assert!(Msg::decode(vec![0; 4]).is_err());
    }

    /// Appends a trailer for a header of `hlen` bytes and `slot`.
    fn trailer_after(out: &mut Vec<u8>, hlen: usize, slot: Slot) {
        out.extend_from_slice(&(hlen as u32).to_le_bytes());
        out.push(slot);
    }

    #[test]
    fn round_trip_and_garbage() {
        let m = Msg::Syscall {
            id: 3,
            call: Call::scalar(110, [0; 6]),
        };
        assert_eq!(Msg::decode(m.encode()).unwrap(), m);
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
        assert_eq!(Msg::decode(o.encode()).unwrap(), o);
        let p = Msg::Pages {
            addr: 0x7f00_0000_0000,
            data: vec![7; 8192],
        };
        assert_eq!(Msg::decode(p.encode()).unwrap(), p);
        let l = Msg::Lazy {
            runs: vec![(0x1000, 0x3000), (0x10_0000, 0x1000)],
        };
        assert_eq!(Msg::decode(l.encode()).unwrap(), l);
        assert!(Msg::decode(vec![0xff, 0xff, 0xff]).is_err());
        assert!(Msg::decode(Vec::new()).is_err());
        // Truncations of a valid message are refused, never half-used.
        let bytes = o.encode();
        for n in 0..bytes.len() {
            assert!(
                Msg::decode(bytes[..n].to_vec()).is_err(),
                "prefix {n} decoded"
            );
        }
    }
}
