//! Helpers of the loopback tests: a linked pair, test data, and a man-in-the-middle proxy.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use wend_link::{Link, LinkError};

pub const KEY: [u8; 32] = [0x42; 32];
pub const OTHER_KEY: [u8; 32] = [0x43; 32];
/// Generous: these tests check behaviour, not speed.
pub const T: Duration = Duration::from_secs(30);

/// A client and a server link over loopback.
pub fn pair() -> (Link, Link) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        Link::accept(s, &KEY, T).unwrap()
    });
    let client = Link::connect(addr, &KEY, T).unwrap();
    (client, server.join().unwrap())
}

/// A listener whose first connection is accepted with `key` on a thread.
pub fn server(key: [u8; 32]) -> (SocketAddr, JoinHandle<Result<Link, LinkError>>) {
    server_with_timeout(key, T)
}

pub fn server_with_timeout(
    key: [u8; 32],
    timeout: Duration,
) -> (SocketAddr, JoinHandle<Result<Link, LinkError>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        Link::accept(s, &key, timeout)
    });
    (addr, handle)
}

/// Deterministic test bytes: `len` bytes from a seeded xorshift.
pub fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What the proxy does to the client-to-server byte stream.
#[derive(Clone, Copy, Debug)]
pub enum Mischief {
    /// XOR the byte at this offset with this mask.
    Flip(u64, u8),
    /// Forward this many bytes, then close both connections.
    Cut(u64),
}

/// A man in the middle on loopback: forwards one connection to `target`, doing `mischief` to
/// the bytes from the client. Returns the address to connect to.
pub fn proxy(target: SocketAddr, mischief: Mischief) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        let (client, _) = listener.accept().unwrap();
        let upstream = TcpStream::connect(target).unwrap();
        let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
        let back = thread::spawn(move || pump(u2, c2, None));
        pump(client, upstream, Some(mischief));
        let _ = back.join();
    });
    addr
}

fn pump(mut from: TcpStream, mut to: TcpStream, mischief: Option<Mischief>) {
    let mut buf = vec![0u8; 64 << 10];
    let mut offset = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &mut buf[..n];
        match mischief {
            Some(Mischief::Flip(at, mask)) if at >= offset && at < offset + n as u64 => {
                chunk[(at - offset) as usize] ^= mask;
            }
            Some(Mischief::Cut(limit)) if offset + n as u64 >= limit => {
                chunk = &mut chunk[..(limit - offset) as usize];
                let _ = to.write_all(chunk);
                break;
            }
            _ => {}
        }
        offset += n as u64;
        if to.write_all(chunk).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}
