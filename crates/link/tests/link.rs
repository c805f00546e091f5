//! Links between two ends on loopback that both hold the key: messages arrive whole, in order,
//! and nothing of the next message is read early.

mod common;

use std::os::fd::AsFd;
use std::thread;
use std::time::Duration;

use common::{data, pair, server, KEY, T};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use wend_link::{Link, LinkError, Suite, MAX_MESSAGE};

fn echo_round_trips(client: &mut Link, server: Link, sizes: &[usize]) {
    let n = sizes.len();
    let echo = thread::spawn(move || {
        let mut server = server;
        for _ in 0..n {
            let msg = server.recv().unwrap();
            server.send(&msg).unwrap();
        }
        server
    });
    for (i, &size) in sizes.iter().enumerate() {
        let msg = data(size, i as u64);
        client.send(&msg).unwrap();
        let back = client.recv().unwrap();
        assert_eq!(back.len(), size);
        assert!(
            back == msg,
            "message {i} of {size} bytes came back different"
        );
    }
    echo.join().unwrap();
}

#[test]
fn small_and_large_messages_round_trip() {
    let (mut client, server) = pair();
    let sizes = [
        0,
        1,
        100,
        4096,
        65_511,
        65_512,
        65_519,
        65_520,
        200_000,
        (1 << 20) + 3,
        100 << 20,
        5,
    ];
    echo_round_trips(&mut client, server, &sizes);
}

#[test]
fn both_suites_work() {
    for suite in [Suite::AesGcm, Suite::ChaChaPoly] {
        let (addr, accepted) = server(KEY);
        let mut client = Link::connect_with_suite(addr, &KEY, T, suite).unwrap();
        let server = accepted.join().unwrap().unwrap();
        assert_eq!(client.suite(), suite);
        assert_eq!(server.suite(), suite);
        echo_round_trips(&mut client, server, &[0, 10, 300_000]);
    }
}

#[test]
fn parts_arrive_as_one_message() {
    let (mut a, mut b) = pair();
    let big = data(150_000, 1);
    let parts: [&[u8]; 5] = [b"head", b"", &big[..70_000], b"-", &big[70_000..]];
    a.send_parts(&parts).unwrap();
    assert_eq!(b.recv().unwrap(), parts.concat());
    a.send_parts(&[]).unwrap();
    assert_eq!(b.recv().unwrap(), b"");
}

#[test]
fn split_halves_work_from_two_threads_in_both_directions_at_once() {
    let (a, b) = pair();
    let (a_tx, a_rx) = a.split();
    let (b_tx, b_rx) = b.split();
    const N: usize = 200;
    // Sizes up to 1 MiB, so both directions fill the socket buffers at the same time: halves
    // that were not independent would deadlock here.
    let size = |i: usize| (i * 7919) % (1 << 20);
    let sender = |mut tx: wend_link::LinkTx, seed: u64| {
        thread::spawn(move || {
            for i in 0..N {
                tx.send(&data(size(i), seed + i as u64)).unwrap();
            }
            tx
        })
    };
    let receiver = |mut rx: wend_link::LinkRx, seed: u64| {
        thread::spawn(move || {
            for i in 0..N {
                let msg = rx.recv().unwrap();
                assert!(msg == data(size(i), seed + i as u64), "message {i}");
            }
            rx
        })
    };
    let senders = [sender(a_tx, 1000), sender(b_tx, 2000)];
    let receivers = [receiver(b_rx, 1000), receiver(a_rx, 2000)];
    for t in senders {
        t.join().unwrap();
    }
    for t in receivers {
        t.join().unwrap();
    }
}

#[test]
fn poll_tells_whether_another_message_waits() {
    let (mut a, mut b) = pair();
    let first = data(70_000, 1);
    a.send(&first).unwrap();
    a.send(b"second").unwrap();
    assert_eq!(b.recv().unwrap(), first);
    let readable = |b: &Link, ms: u16| {
        let mut fds = [PollFd::new(b.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::from(ms)).unwrap() == 1
    };
    // The second message was not swallowed by the first recv: the kernel still has it.
    assert!(readable(&b, 10_000));
    assert_eq!(b.recv().unwrap(), b"second");
    assert!(!readable(&b, 100));
    // A half keeps the same descriptor.
    let (_tx, rx) = b.split();
    let mut fds = [PollFd::new(rx.as_fd(), PollFlags::POLLIN)];
    assert_eq!(poll(&mut fds, PollTimeout::from(50u16)).unwrap(), 0);
}

#[test]
fn a_timeout_between_messages_leaves_the_link_usable() {
    let (mut a, mut b) = pair();
    b.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let err = b.recv().unwrap_err();
    assert!(
        matches!(err, LinkError::Timeout) && err.is_timeout(),
        "{err}"
    );
    a.send(b"hello").unwrap();
    b.set_read_timeout(None).unwrap();
    assert_eq!(b.recv().unwrap(), b"hello");
}

#[test]
fn a_message_over_the_limit_is_refused_and_nothing_is_sent() {
    let (mut a, mut b) = pair();
    let mib = vec![0u8; 1 << 20];
    let mut parts: Vec<&[u8]> = vec![&mib; MAX_MESSAGE >> 20];
    parts.push(b"!");
    let err = a.send_parts(&parts).unwrap_err();
    assert!(
        matches!(err, LinkError::TooLarge { size, max }
            if size == MAX_MESSAGE as u64 + 1 && max == MAX_MESSAGE),
        "{err}"
    );
    assert!(err.to_string().contains("split it into smaller messages"));
    a.send(b"next").unwrap();
    assert_eq!(b.recv().unwrap(), b"next");
}

#[test]
fn a_peer_closing_between_messages_is_reported_as_closed() {
    let (addr, accepted) = server(KEY);
    let mut a = Link::connect(addr, &KEY, T).unwrap();
    let mut b = accepted.join().unwrap().unwrap();
    assert_eq!(a.peer_addr(), addr);
    a.send(b"bye").unwrap();
    drop(a);
    assert_eq!(b.recv().unwrap(), b"bye");
    assert!(matches!(b.recv(), Err(LinkError::PeerClosed)));
    assert!(matches!(b.recv(), Err(LinkError::PeerClosed)));
}

#[test]
fn shutdown_wakes_a_receiver_blocked_on_the_other_half() {
    let (a, _b) = pair();
    let (tx, mut rx) = a.split();
    let blocked = thread::spawn(move || rx.recv());
    thread::sleep(Duration::from_millis(50));
    tx.shutdown().unwrap();
    assert!(matches!(
        blocked.join().unwrap(),
        Err(LinkError::PeerClosed)
    ));
}

#[test]
fn accept_takes_a_stream_from_a_non_blocking_listener() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = thread::spawn(move || {
        let (s, _) = listener.accept().unwrap();
        s.set_nonblocking(true).unwrap();
        let mut link = Link::accept(s, &KEY, T).unwrap();
        // Blocking again: this waits for the message instead of failing at once.
        link.recv().unwrap()
    });
    let mut client = Link::connect(addr, &KEY, T).unwrap();
    thread::sleep(Duration::from_millis(20));
    client.send(b"late").unwrap();
    assert_eq!(server.join().unwrap(), b"late");
}
