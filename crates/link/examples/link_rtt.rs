//! Round trip of small link messages between two processes, for a path that is not loopback:
//! two lab nodes (network namespaces joined by veth pairs and a bridge), or two machines.
//!
//! ```text
//! link_rtt serve ADDR                      # echo every message back (one client, then exit)
//! link_rtt ping ADDR [N] [SIZE] [--tcp]    # N round trips of SIZE bytes (20000, 64)
//! ```
//!
//! For a lab, run the server in one node and the client in another, e.g.
//! `wend lab exec --name L node1 -- link_rtt serve 10.213.84.1:7399` and
//! `wend lab exec --name L node2 -- link_rtt ping 10.213.84.1:7399 20000 4096`.
//! `--tcp` (on both sides) does the same over plain TCP (a 4-byte length and the bytes in one
//! write), so the difference is what the link's crypto and framing add. The client prints the
//! median, p90 and p99 of the round trip, and the CPU time its thread used per round trip
//! (from /proc/thread-self/schedstat: time spent waiting for a CPU does not count; the kernel's
//! network work for a packet is done by whoever sends it, so that is in here too).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use wend_link::Link;

const KEY: [u8; 32] = [0x17; 32];
const T: Duration = Duration::from_secs(30);

fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// One side of the exchange, over the link or plain TCP.
enum Conn {
    Link(Box<Link>),
    Tcp(TcpStream, Vec<u8>),
}

impl Conn {
    fn send(&mut self, m: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Link(l) => l.send(m).map_err(std::io::Error::other),
            Conn::Tcp(s, buf) => {
                buf.clear();
                buf.extend_from_slice(&(m.len() as u32).to_be_bytes());
                buf.extend_from_slice(m);
                s.write_all(buf)
            }
        }
    }

    fn recv(&mut self) -> std::io::Result<Vec<u8>> {
        match self {
            Conn::Link(l) => l.recv().map_err(std::io::Error::other),
            Conn::Tcp(s, _) => {
                let mut len = [0u8; 4];
                s.read_exact(&mut len)?;
                let mut m = vec![0u8; u32::from_be_bytes(len) as usize];
                s.read_exact(&mut m)?;
                Ok(m)
            }
        }
    }
}

fn serve(addr: SocketAddr, tcp: bool) {
    let listener = TcpListener::bind(addr).expect("bind");
    let (s, _) = listener.accept().expect("accept");
    let mut c = if tcp {
        s.set_nodelay(true).expect("nodelay");
        Conn::Tcp(s, Vec::new())
    } else {
        Conn::Link(Box::new(Link::accept(s, &KEY, T).expect("handshake")))
    };
    while let Ok(m) = c.recv() {
        if c.send(&m).is_err() {
            break;
        }
    }
}

fn ping(addr: SocketAddr, n: usize, size: usize, tcp: bool) {
    let mut c = if tcp {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).expect("nodelay");
        Conn::Tcp(s, Vec::new())
    } else {
        Conn::Link(Box::new(Link::connect(addr, &KEY, T).expect("connect")))
    };
    let msg = vec![0x5a; size];
    for _ in 0..n / 10 {
        c.send(&msg).expect("send");
        c.recv().expect("recv");
    }
    let cpu0 = thread_cpu();
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let t0 = Instant::now();
            c.send(&msg).expect("send");
            let back = c.recv().expect("recv");
            assert_eq!(back.len(), size);
            t0.elapsed()
        })
        .collect();
    let cpu = thread_cpu() - cpu0;
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "{} {size} B: median {:.2} us  p90 {:.2} us  p99 {:.2} us  client cpu {:.2} us per round trip ({n})",
        if tcp { "tcp " } else { "link" },
        q(0.5),
        q(0.9),
        q(0.99),
        cpu.as_secs_f64() * 1e6 / n as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tcp = args.iter().any(|a| a == "--tcp");
    let pos: Vec<&str> = args
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let usage = "usage: link_rtt serve ADDR [--tcp] | link_rtt ping ADDR [N] [SIZE] [--tcp]";
    let addr: SocketAddr = pos.get(1).and_then(|a| a.parse().ok()).expect(usage);
    match pos.first().copied() {
        Some("serve") => serve(addr, tcp),
        Some("ping") => {
            let n = pos.get(2).and_then(|v| v.parse().ok()).unwrap_or(20_000);
            let size = pos.get(3).and_then(|v| v.parse().ok()).unwrap_or(64);
            ping(addr, n, size, tcp);
        }
        _ => panic!("{usage}"),
    }
}
