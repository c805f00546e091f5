//! Peers without the key, men in the middle and broken peers: they get nothing, change nothing,
//! and never make the other end hang past its timeout.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use common::{data, proxy, server, server_with_timeout, Mischief, KEY, OTHER_KEY, T};
use wend_link::{Link, LinkError, PROTOCOL_VERSION};

const WRONG_KEY_TEXT: &str =
    "the peer does not have this cluster's key: copy the key file from a cluster member";

#[test]
fn a_wrong_key_is_refused_on_both_sides() {
    let (addr, accepted) = server(KEY);
    let client = Link::connect(addr, &OTHER_KEY, T).unwrap_err();
    let server = accepted.join().unwrap().unwrap_err();
    for err in [client, server] {
        assert!(matches!(err, LinkError::WrongKey), "{err}");
        assert_eq!(err.to_string(), WRONG_KEY_TEXT);
    }
}

/// Where the first message's bytes start on the client-to-server stream: greeting (10),
/// Noise message 1 with its length (50), key confirmation (2 + 8 + 15 + 16).
const FIRST_MESSAGE_AT: u64 = 10 + 50 + 41;

#[test]
fn a_flipped_bit_anywhere_is_rejected() {
    // Every byte of the handshake and of a small message, then some of a large one.
    let small = data(20, 6);
    let small_wire = 2 + 8 + 20 + 16;
    let large = data(200_000, 7);
    let large_at = FIRST_MESSAGE_AT + small_wire;
    let offsets = (0..large_at).chain([
        large_at,
        large_at + 1,
        large_at + 65_540,
        large_at + 150_000,
    ]);
    for at in offsets {
        // A flipped length byte leaves both ends waiting for bytes that never come: their
        // deadline or read timeout ends it.
        let short = Duration::from_secs(5);
        let (target, accepted) = server_with_timeout(KEY, short);
        let addr = proxy(target, Mischief::Flip(at, 1 << (at % 8)));
        let client = Link::connect(addr, &KEY, short);
        let server = accepted.join().unwrap();
        let (mut client, mut server) = match (client, server) {
            (Ok(c), Ok(s)) => (c, s),
            // Damage in the handshake: at least one side refuses it.
            _ => {
                assert!(at < FIRST_MESSAGE_AT, "offset {at}: the handshake failed");
                continue;
            }
        };
        assert!(
            at >= FIRST_MESSAGE_AT,
            "offset {at}: a damaged handshake succeeded"
        );
        server.set_read_timeout(Some(short)).unwrap();
        client.send(&small).unwrap();
        client.send(&large).unwrap();
        let err = if at < large_at {
            server.recv().unwrap_err()
        } else {
            assert_eq!(server.recv().unwrap(), small);
            server.recv().unwrap_err()
        };
        assert!(
            matches!(
                err,
                LinkError::Corrupt { .. }
                    | LinkError::Truncated { .. }
                    | LinkError::TimeoutMidMessage
            ),
            "offset {at}: {err}"
        );
        assert!(matches!(server.recv(), Err(LinkError::Broken)));
    }
}

#[test]
fn a_truncated_stream_gives_a_clean_error() {
    for cut in [
        FIRST_MESSAGE_AT + 1,
        FIRST_MESSAGE_AT + 40,
        FIRST_MESSAGE_AT + 100_000,
    ] {
        let (target, accepted) = server(KEY);
        let addr = proxy(target, Mischief::Cut(cut));
        let mut client = Link::connect(addr, &KEY, T).unwrap();
        let mut server = accepted.join().unwrap().unwrap();
        // The send may or may not notice the cut; the receiver must.
        let _ = client.send(&data(300_000, 1));
        let err = server.recv().unwrap_err();
        assert!(
            matches!(err, LinkError::Truncated { what: "message" }),
            "cut {cut}: {err}"
        );
        assert!(matches!(server.recv(), Err(LinkError::Broken)));
    }
    // Cut inside the handshake: the acceptor fails, neither side hangs. Before the responder
    // can answer (offset 60) the initiator fails too; a cut inside the key confirmation (the
    // initiator's last word) only the responder can notice.
    for cut in [0, 5, 10, 30, 59, 60, 80, 100] {
        let (target, accepted) = server(KEY);
        let addr = proxy(target, Mischief::Cut(cut));
        let client = Link::connect(addr, &KEY, T);
        assert!(cut >= 60 || client.is_err(), "cut {cut}");
        let err = accepted.join().unwrap().unwrap_err();
        assert!(
            matches!(err, LinkError::Truncated { .. } | LinkError::NotALink),
            "cut {cut}: {err}"
        );
    }
}

fn garbage(len: usize, seed: u64) -> Vec<u8> {
    data(len, seed)
}

#[test]
fn garbage_does_not_hang_the_acceptor_past_its_timeout() {
    let timeout = Duration::from_millis(300);
    // Generous bound: only a hang (no deadline at all) exceeds it.
    let bound = Duration::from_secs(10);
    let mut greeting = b"wendlink".to_vec();
    greeting.extend_from_slice(&[PROTOCOL_VERSION, 1]);
    let mut valid_prefix = greeting.clone();
    valid_prefix.extend_from_slice(&[0, 48]);
    valid_prefix.extend_from_slice(&garbage(20, 3));
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("random bytes", garbage(1000, 1)),
        ("nothing", Vec::new()),
        ("a greeting, then silence", greeting.clone()),
        ("half a handshake message", valid_prefix),
        ("a greeting and a random handshake message", {
            let mut g = greeting.clone();
            g.extend_from_slice(&[0, 48]);
            g.extend_from_slice(&garbage(48, 2));
            g
        }),
        ("an oversized handshake length", {
            let mut g = greeting.clone();
            g.extend_from_slice(&[0xff, 0xff]);
            g
        }),
    ];
    for (what, bytes) in cases {
        let (addr, accepted) = server_with_timeout(KEY, timeout);
        let start = Instant::now();
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.write_all(&bytes).unwrap();
        // Keep the connection open while the acceptor decides.
        let err = accepted.join().unwrap().unwrap_err();
        assert!(
            start.elapsed() < bound,
            "{what}: took {:?}",
            start.elapsed()
        );
        assert!(
            matches!(
                err,
                LinkError::Timeout
                    | LinkError::NotALink
                    | LinkError::WrongKey
                    | LinkError::Corrupt { .. }
            ),
            "{what}: {err}"
        );
        drop(peer);
    }
}

#[test]
fn a_peer_trickling_bytes_does_not_stretch_the_deadline() {
    let timeout = Duration::from_millis(400);
    let (addr, accepted) = server_with_timeout(KEY, timeout);
    let start = Instant::now();
    let mut peer = TcpStream::connect(addr).unwrap();
    let mut bytes = b"wendlink".to_vec();
    bytes.extend_from_slice(&[PROTOCOL_VERSION, 1, 0, 48]);
    bytes.extend_from_slice(&[0u8; 48]);
    let trickle = thread::spawn(move || {
        for b in bytes {
            if peer.write_all(&[b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
    });
    let err = accepted.join().unwrap().unwrap_err();
    assert!(matches!(err, LinkError::Timeout), "{err}");
    // 62 bytes at 100 ms would be 6 s; the deadline ends it near 0.4 s.
    assert!(
        start.elapsed() < Duration::from_secs(4),
        "took {:?}",
        start.elapsed()
    );
    trickle.join().unwrap();
}

#[test]
fn a_client_facing_garbage_fails_within_its_timeout() {
    for (i, reply) in [garbage(500, 9), Vec::new(), vec![0, 0xff, 0xff], vec![2]]
        .into_iter()
        .enumerate()
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fake = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut greeting = [0u8; 60];
            let _ = s.read_exact(&mut greeting);
            let _ = s.write_all(&reply);
            // Hold the connection open until the client gives up.
            let _ = s.read(&mut [0u8; 1]);
        });
        let start = Instant::now();
        let err = Link::connect(addr, &KEY, Duration::from_millis(300)).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(10), "case {i}");
        assert!(
            matches!(
                err,
                LinkError::NotALink
                    | LinkError::WrongKey
                    | LinkError::Timeout
                    | LinkError::Corrupt { .. }
            ),
            "case {i}: {err}"
        );
        fake.join().unwrap();
    }
}

#[test]
fn another_protocol_version_is_named_on_both_sides() {
    let (addr, accepted) = server(KEY);
    let mut peer = TcpStream::connect(addr).unwrap();
    let mut greeting = b"wendlink".to_vec();
    greeting.extend_from_slice(&[PROTOCOL_VERSION + 1, 1]);
    peer.write_all(&greeting).unwrap();
    let err = accepted.join().unwrap().unwrap_err();
    assert!(
        matches!(err, LinkError::Version { ours, theirs }
            if ours == PROTOCOL_VERSION && theirs == PROTOCOL_VERSION + 1),
        "{err}"
    );
    let mut answer = [0u8; 2];
    peer.read_exact(&mut answer).unwrap();
    assert_eq!(answer, [2, PROTOCOL_VERSION]);
}

#[test]
fn connecting_to_nothing_fails_with_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let err = Link::connect(addr, &KEY, T).unwrap_err();
    assert!(
        matches!(
            err,
            LinkError::Io {
                context: "connect",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_unknown_cipher_suite_is_named() {
    let (addr, accepted) = server(KEY);
    let mut peer = TcpStream::connect(addr).unwrap();
    let mut greeting = b"wendlink".to_vec();
    greeting.extend_from_slice(&[PROTOCOL_VERSION, 9]);
    peer.write_all(&greeting).unwrap();
    let err = accepted.join().unwrap().unwrap_err();
    assert!(matches!(err, LinkError::Suite { id: 9 }), "{err}");
    assert!(err.to_string().contains("run the same wend release"));
    let mut answer = [0u8; 1];
    peer.read_exact(&mut answer).unwrap();
    assert_eq!(answer, [3]);
}

#[test]
fn random_handshakes_never_succeed_or_panic() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let mut greeting = b"wendlink".to_vec();
    greeting.extend_from_slice(&[PROTOCOL_VERSION, 1]);
    for i in 0..300u64 {
        let noise = data((i as usize * 37) % 300, i);
        let bytes = match i % 3 {
            0 => noise,
            1 => [&greeting[..], &noise].concat(),
            // A well-formed length with random contents.
            _ => [&greeting[..], &[0, 48], &noise].concat(),
        };
        let mut peer = TcpStream::connect(addr).unwrap();
        peer.write_all(&bytes).unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let (s, _) = listener.accept().unwrap();
        let result = Link::accept(s, &KEY, T);
        assert!(result.is_err(), "case {i} was accepted");
    }

    // The other way round: random answers to a real initiator.
    for i in 0..100u64 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reply = match i % 3 {
            0 => data((i as usize * 13) % 200, i),
            _ => [&[0u8, 0, 48][..], &data((i as usize * 13) % 200, i)].concat(),
        };
        let fake = thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut first = [0u8; 60];
            s.read_exact(&mut first).unwrap();
            let _ = s.write_all(&reply);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let _ = s.read(&mut [0u8; 64]);
        });
        assert!(Link::connect(addr, &KEY, T).is_err(), "case {i} connected");
        fake.join().unwrap();
    }
}
