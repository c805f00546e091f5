//! Link benchmark over loopback: handshake time, small-message round trip, bulk throughput, for
//! each cipher suite, against plain TCP with the same framing; then the raw cost of the two
//! Noise cipher backends (ring and the pure-Rust RustCrypto one).
//!
//! `cargo run --release -p wend-link --example link_bench [-- --quick]`
//!
//! Wall-clock figures depend on what else runs on the machine, so every bulk figure also comes
//! as throughput per CPU-second of the sending and the receiving thread (from
//! /proc/thread-self/schedstat: time waiting for a CPU does not count).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use snow::resolvers::{BoxedCryptoResolver, DefaultResolver, FallbackResolver, RingResolver};
use wend_link::{Link, Suite};

const KEY: [u8; 32] = [0x17; 32];
const T: Duration = Duration::from_secs(30);

/// CPU time of the calling thread.
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = s
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

fn link_pair(suite: Suite) -> (Link, Link) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        Link::accept(s, &KEY, T).unwrap()
    });
    let client = Link::connect_with_suite(addr, &KEY, T, suite).unwrap();
    (client, server.join().unwrap())
}

fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server, _) = listener.accept().unwrap();
    client.set_nodelay(true).unwrap();
    server.set_nodelay(true).unwrap();
    (client, server)
}

/// Plain TCP with the link's framing shape: a 4-byte length, then the bytes, one write.
fn tcp_send(s: &mut TcpStream, msg: &[u8], buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    buf.extend_from_slice(msg);
    s.write_all(buf).unwrap();
}

fn tcp_recv(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut msg = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut msg).unwrap();
    msg
}

struct Rtt {
    median: Duration,
    p99: Duration,
}

fn summarize(mut samples: Vec<Duration>) -> Rtt {
    samples.sort();
    Rtt {
        median: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn link_rtt(suite: Suite, size: usize, n: usize) -> Rtt {
    let (mut client, mut server) = link_pair(suite);
    let echo = thread::spawn(move || {
        while let Ok(m) = server.recv() {
            if server.send(&m).is_err() {
                break;
            }
        }
    });
    let msg = vec![0x5a; size];
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        client.send(&msg).unwrap();
        let back = client.recv().unwrap();
        let dt = t.elapsed();
        assert_eq!(back.len(), size);
        if i >= n / 10 {
            samples.push(dt);
        }
    }
    drop(client);
    echo.join().unwrap();
    summarize(samples)
}

fn tcp_rtt(size: usize, n: usize) -> Rtt {
    let (mut client, mut server) = tcp_pair();
    let echo = thread::spawn(move || {
        let mut buf = Vec::new();
        loop {
            let mut len = [0u8; 4];
            if server.read_exact(&mut len).is_err() {
                break;
            }
            let mut m = vec![0u8; u32::from_be_bytes(len) as usize];
            server.read_exact(&mut m).unwrap();
            tcp_send(&mut server, &m, &mut buf);
        }
    });
    let msg = vec![0x5a; size];
    let mut buf = Vec::new();
    let mut samples = Vec::with_capacity(n);
    for i in 0..n + n / 10 {
        let t = Instant::now();
        tcp_send(&mut client, &msg, &mut buf);
        let back = tcp_recv(&mut client);
        let dt = t.elapsed();
        assert_eq!(back.len(), size);
        if i >= n / 10 {
            samples.push(dt);
        }
    }
    drop(client);
    echo.join().unwrap();
    summarize(samples)
}

struct Bulk {
    wall_mb_s: f64,
    send_cpu_mb_s: f64,
    recv_cpu_mb_s: f64,
}

fn bulk(
    total: usize,
    msg: usize,
    send: impl FnOnce(&[u8], usize) -> Duration,
    recv: impl FnOnce(usize) -> Duration + Send + 'static,
) -> Bulk {
    let count = total / msg;
    let receiver = thread::spawn(move || recv(count));
    let data = vec![0xa5u8; msg];
    let start = Instant::now();
    let send_cpu = send(&data, count);
    let recv_cpu = receiver.join().unwrap();
    let wall = start.elapsed();
    let mb = (count * msg) as f64 / 1e6;
    Bulk {
        wall_mb_s: mb / wall.as_secs_f64(),
        send_cpu_mb_s: mb / send_cpu.as_secs_f64(),
        recv_cpu_mb_s: mb / recv_cpu.as_secs_f64(),
    }
}

fn link_bulk(suite: Suite, total: usize, msg: usize) -> Bulk {
    let (mut client, mut server) = link_pair(suite);
    bulk(
        total,
        msg,
        move |data, count| {
            let c0 = thread_cpu();
            for _ in 0..count {
                client.send(data).unwrap();
            }
            thread_cpu() - c0
        },
        move |count| {
            let c0 = thread_cpu();
            for _ in 0..count {
                server.recv().unwrap();
            }
            thread_cpu() - c0
        },
    )
}

fn tcp_bulk(total: usize, msg: usize) -> Bulk {
    let (mut client, mut server) = tcp_pair();
    bulk(
        total,
        msg,
        move |data, count| {
            let c0 = thread_cpu();
            let mut buf = Vec::new();
            for _ in 0..count {
                tcp_send(&mut client, data, &mut buf);
            }
            thread_cpu() - c0
        },
        move |count| {
            let c0 = thread_cpu();
            for _ in 0..count {
                tcp_recv(&mut server);
            }
            thread_cpu() - c0
        },
    )
}

fn handshake_median(suite: Suite, n: usize) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        for _ in 0..n {
            let (s, _) = listener.accept().unwrap();
            Link::accept(s, &KEY, T).unwrap();
        }
    });
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let _link = Link::connect_with_suite(addr, &KEY, T, suite).unwrap();
        samples.push(t.elapsed());
    }
    server.join().unwrap();
    summarize(samples).median
}

/// Raw seal + open of one frame, in CPU ns, with a given snow resolver.
fn raw_cipher(name: &str, resolver: fn() -> BoxedCryptoResolver, size: usize, n: u64) -> f64 {
    let build = |initiator: bool| {
        let b = snow::Builder::with_resolver(name.parse().unwrap(), resolver())
            .psk(0, &KEY)
            .unwrap();
        if initiator {
            b.build_initiator().unwrap()
        } else {
            b.build_responder().unwrap()
        }
    };
    let (mut i, mut r) = (build(true), build(false));
    let (mut m, mut p) = ([0u8; 256], [0u8; 256]);
    let len = i.write_message(&[], &mut m).unwrap();
    r.read_message(&m[..len], &mut p).unwrap();
    let len = r.write_message(&[], &mut m).unwrap();
    i.read_message(&m[..len], &mut p).unwrap();
    let (i, r) = (
        i.into_stateless_transport_mode().unwrap(),
        r.into_stateless_transport_mode().unwrap(),
    );
    let plain = vec![1u8; size];
    let mut sealed = vec![0u8; size + 16];
    let mut opened = vec![0u8; size + 16];
    let c0 = thread_cpu();
    for nonce in 0..n {
        let len = i.write_message(nonce, &plain, &mut sealed).unwrap();
        r.read_message(nonce, &sealed[..len], &mut opened).unwrap();
    }
    (thread_cpu() - c0).as_nanos() as f64 / n as f64
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let (rtt_n, total, hs_n, raw_n) = if quick {
        (2_000, 256 << 20, 20, 2_000)
    } else {
        (20_000, 2 << 30, 200, 20_000)
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("loadavg at start: {}", load.trim());

    println!("\n## round trip (client send + recv of the echo), median / p99, {rtt_n} samples");
    println!("| transport | 64 B | 4 KiB |");
    println!("| --- | --- | --- |");
    for (label, suite) in [
        ("link AESGCM", Some(Suite::AesGcm)),
        ("link ChaChaPoly", Some(Suite::ChaChaPoly)),
        ("plain TCP", None),
    ] {
        let cells: Vec<String> = [64usize, 4096]
            .iter()
            .map(|&size| {
                let r = match suite {
                    Some(s) => link_rtt(s, size, rtt_n),
                    None => tcp_rtt(size, rtt_n),
                };
                format!(
                    "{:.1} / {:.1} µs",
                    r.median.as_secs_f64() * 1e6,
                    r.p99.as_secs_f64() * 1e6
                )
            })
            .collect();
        println!("| {label} | {} | {} |", cells[0], cells[1]);
    }

    println!("\n## bulk, {} MiB in 1 MiB messages", total >> 20);
    println!("| transport | wall MB/s | sender MB per CPU-s | receiver MB per CPU-s |");
    println!("| --- | --- | --- | --- |");
    for (label, suite) in [
        ("link AESGCM", Some(Suite::AesGcm)),
        ("link ChaChaPoly", Some(Suite::ChaChaPoly)),
        ("plain TCP", None),
    ] {
        let b = match suite {
            Some(s) => link_bulk(s, total, 1 << 20),
            None => tcp_bulk(total, 1 << 20),
        };
        println!(
            "| {label} | {:.0} | {:.0} | {:.0} |",
            b.wall_mb_s, b.send_cpu_mb_s, b.recv_cpu_mb_s
        );
    }

    println!("\n## handshake (connect + accept + key confirmation), median of {hs_n}");
    for suite in [Suite::AesGcm, Suite::ChaChaPoly] {
        println!(
            "- {}: {:.0} µs",
            suite.noise_name(),
            handshake_median(suite, hs_n).as_secs_f64() * 1e6
        );
    }

    println!("\n## raw cipher: seal + open of one frame, CPU ns (no I/O)");
    println!("| suite | backend | 64 B | 65,519 B | MB per CPU-s at 65,519 B |");
    println!("| --- | --- | --- | --- | --- |");
    let ring: fn() -> BoxedCryptoResolver = || {
        Box::new(FallbackResolver::new(
            Box::new(RingResolver),
            Box::new(DefaultResolver),
        ))
    };
    let rust: fn() -> BoxedCryptoResolver = || Box::new(DefaultResolver);
    for suite in [Suite::AesGcm, Suite::ChaChaPoly] {
        for (backend, resolver) in [("ring", ring), ("RustCrypto", rust)] {
            let small = raw_cipher(suite.noise_name(), resolver, 64, raw_n as u64 * 10);
            let big = raw_cipher(suite.noise_name(), resolver, 65_519, raw_n as u64 / 4);
            println!(
                "| {} | {backend} | {small:.0} | {big:.0} | {:.0} |",
                suite.noise_name(),
                65_519.0 / big * 1e3
            );
        }
    }
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("\nloadavg at end: {}", load.trim());
}
