//! Tests that need the crate's internals: an authenticated peer that breaks the framing rules,
//! and sending halves that time out.

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

use crate::frame::{FRAME_PLAIN, HEADER};
use crate::{Link, LinkError, MAX_MESSAGE};

const KEY: [u8; 32] = [0x5a; 32];
const T: Duration = Duration::from_secs(20);

fn pair() -> (Link, Link) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        Link::accept(s, &KEY, T).unwrap()
    });
    let client = Link::connect(addr, &KEY, T).unwrap();
    (client, server.join().unwrap())
}

fn raw(link: &Link) -> &TcpStream {
    &link.tx.shared.stream
}

/// A frame sealed with the right keys and nonce, carrying `header` and `body` as plaintext.
fn sealed(link: &mut Link, header: u64, body: &[u8]) -> Vec<u8> {
    let mut plain = header.to_be_bytes().to_vec();
    plain.extend_from_slice(body);
    link.tx.seal_raw(&plain)
}

#[test]
fn an_announced_length_over_the_limit_is_refused_before_any_allocation() {
    let (mut a, mut b) = pair();
    for size in [u64::MAX, MAX_MESSAGE as u64 + 1] {
        let frame = sealed(&mut a, size, &[]);
        raw(&a).write_all(&frame).unwrap();
        let err = b.recv().unwrap_err();
        assert!(
            matches!(err, LinkError::TooLarge { size: s, .. } if s == size),
            "{err}"
        );
        // No resync: the receiving half stays broken.
        assert!(matches!(b.recv(), Err(LinkError::Broken)));
        let (c, d) = pair();
        (a, b) = (c, d);
    }
}

#[test]
fn a_first_frame_shorter_than_its_message_is_corrupt() {
    let (mut a, mut b) = pair();
    // Says 10 bytes of body, carries 5.
    let frame = sealed(&mut a, 10, b"12345");
    raw(&a).write_all(&frame).unwrap();
    assert!(matches!(b.recv(), Err(LinkError::Corrupt { .. })));
    assert!(matches!(b.recv(), Err(LinkError::Broken)));
}

#[test]
fn a_later_frame_with_another_length_is_corrupt() {
    let (mut a, mut b) = pair();
    let body = vec![7u8; FRAME_PLAIN - HEADER];
    let first = sealed(&mut a, 200_000, &body);
    let second = a.tx.seal_raw(&[1u8; 100]);
    raw(&a).write_all(&first).unwrap();
    raw(&a).write_all(&second).unwrap();
    // More bytes than the short frame, so the reader's batch read is satisfied.
    raw(&a).write_all(&vec![0u8; 300_000]).unwrap();
    let err = b.recv().unwrap_err();
    assert!(matches!(err, LinkError::Corrupt { .. }), "{err}");
}

#[test]
fn a_timeout_inside_a_message_breaks_the_link_and_between_messages_does_not() {
    let (mut a, mut b) = pair();
    b.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    assert!(matches!(b.recv(), Err(LinkError::Timeout)));
    a.send(b"still fine").unwrap();
    assert_eq!(b.recv().unwrap(), b"still fine");

    // Announce two frames, send one.
    let body = vec![7u8; FRAME_PLAIN - HEADER];
    let first = sealed(&mut a, 100_000, &body);
    raw(&a).write_all(&first).unwrap();
    assert!(matches!(b.recv(), Err(LinkError::TimeoutMidMessage)));
    a.send(b"too late").unwrap();
    assert!(matches!(b.recv(), Err(LinkError::Broken)));
}

#[test]
fn frames_of_random_bytes_never_yield_a_message() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..40 {
        let (a, mut b) = pair();
        let len = match round % 4 {
            0 => (next() % 24) as usize,
            1 => (next() % 200) as usize,
            2 => (next() % 65536) as usize,
            _ => 65535,
        };
        let mut junk = (len as u16).to_be_bytes().to_vec();
        junk.extend((0..len + (next() % 64) as usize).map(|_| next() as u8));
        raw(&a).write_all(&junk).unwrap();
        a.shutdown().unwrap();
        let err = b.recv().unwrap_err();
        assert!(
            matches!(err, LinkError::Corrupt { .. } | LinkError::Truncated { .. }),
            "round {round}: {err}"
        );
    }
}

#[test]
fn a_write_timeout_inside_a_message_breaks_the_sending_half() {
    let (mut a, _b) = pair();
    a.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // Nobody reads, and one message is larger than both socket buffers together: its first
    // bytes go out, then the send times out.
    let big = vec![3u8; 64 << 20];
    let err = a.send(&big).unwrap_err();
    assert!(matches!(err, LinkError::TimeoutMidMessage), "{err}");
    assert!(matches!(a.send(b"x"), Err(LinkError::Broken)));
}

#[test]
fn a_write_timeout_before_the_first_byte_keeps_the_link_usable() {
    let (mut a, mut b) = pair();
    a.set_write_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    // Small messages until the socket buffers are full and one send times out.
    let mut sent = 0u64;
    let err = loop {
        match a.send(&sent.to_be_bytes()) {
            Ok(()) => sent += 1,
            Err(e) => break e,
        }
    };
    let reader = thread::spawn(move || {
        for i in 0..sent {
            assert_eq!(b.recv().unwrap(), i.to_be_bytes(), "message {i}");
        }
        b
    });
    match err {
        // Nothing of the message left: the nonce was rolled back, the link goes on.
        LinkError::Timeout => {
            a.set_write_timeout(None).unwrap();
            a.send(b"after").unwrap();
            let mut b = reader.join().unwrap();
            assert_eq!(b.recv().unwrap(), b"after");
        }
        // Part of it left: the sending half refuses to go on.
        LinkError::TimeoutMidMessage => {
            assert!(matches!(a.send(b"x"), Err(LinkError::Broken)));
            reader.join().unwrap();
        }
        other => panic!("unexpected error {other}"),
    }
}

/// Both peers send a message much larger than the socket buffers at the same time, each from
/// the one thread that owns its link, and only then read: each send reads the other's bytes
/// while it waits for room, so neither waits for ever (plain blocking writes would).
#[test]
fn two_peers_sending_large_messages_at_once_both_finish() {
    let (mut a, mut b) = pair();
    for link in [&a, &b] {
        link.set_write_timeout(Some(T)).unwrap();
        link.set_read_timeout(Some(T)).unwrap();
    }
    let big_a: Vec<u8> = (0..24 << 20).map(|i| (i * 7) as u8).collect();
    let big_b: Vec<u8> = (0..24 << 20).map(|i| (i * 13) as u8).collect();
    let (want_a, want_b) = (big_a.clone(), big_b.clone());
    let tb = thread::spawn(move || {
        b.send(&big_b).expect("b's send");
        b.send(b"after").expect("b's second send");

        let got = b.recv().expect("b's recv");
        (got == want_a, b)
    });
    a.send(&big_a).expect("a's send");
    let got = a.recv().expect("a's recv");
    assert!(got == want_b, "a got b's message intact");
    assert_eq!(a.recv().unwrap(), b"after", "and the next one after it");
    let (ok, _b) = tb.join().unwrap();
    assert!(ok, "b got a's message intact");
}
