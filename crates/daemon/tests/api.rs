//! The local API against hostile and broken clients: bad magic, oversize frames, wrong
//! version, unknown kinds, partial frames, too many connections, random garbage. The daemon
//! must answer what it can, close what it must, and keep serving everyone else.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use support::*;
use wend_daemon::api::{MAX_CONNECTIONS, MAX_REQUEST};
use wend_daemon::client::Client;
use wend_proto::{kind, ErrorCode, Frame, FrameDecoder, Request, Response, API_VERSION, MAGIC};

/// A raw connection with its own frame decoder (replies may arrive in one read).
struct Conn {
    s: UnixStream,
    dec: FrameDecoder,
}

impl Conn {
    fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).unwrap();
    }

    /// Reads one reply frame, or None if the daemon closed the connection first.
    fn reply(&mut self) -> Option<Response> {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(f) = self.dec.next_frame().unwrap() {
                return Some(Response::from_frame(&f).unwrap());
            }
            let n = self.s.read(&mut buf).unwrap();
            if n == 0 {
                return None;
            }
            self.dec.extend(&buf[..n]);
        }
    }

    fn error_code(&mut self) -> ErrorCode {
        match self.reply() {
            Some(Response::Error(e)) => e.code,
            other => panic!("expected an error reply, got {other:?}"),
        }
    }

    fn closed(&mut self) -> bool {
        self.dec.pending() == 0 && self.reply().is_none()
    }
}

fn connect(h: &Harness) -> Conn {
    let s = UnixStream::connect(h.api("api")).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    Conn {
        s,
        dec: FrameDecoder::default(),
    }
}

fn with_daemon(test: impl FnOnce(&Harness)) {
    let h = Harness::new();
    let d = h.start(h.config("api", any_port(), vec![]), &key(9));
    test(&h);
    // Whatever the test did, the daemon still serves.
    let status = Client::connect(&h.api("api")).unwrap().status().unwrap();
    assert_eq!(status.name, "api");
    h.stop(d);
}

#[test]
fn status_identifies_the_caller_by_the_kernel() {
    with_daemon(|h| {
        let s = Client::connect(&h.api("api")).unwrap().status().unwrap();
        assert_eq!(s.caller.uid, nix::unistd::getuid().as_raw());
        assert_eq!(s.caller.pid, Some(std::process::id() as i32));
        assert_eq!(s.api_version, API_VERSION);
        assert_eq!((s.alive, s.known), (1, 1));
    });
}

#[test]
fn bad_magic_gets_an_error_and_a_close() {
    with_daemon(|h| {
        let mut s = connect(h);
        s.send(b"GET / HTTP/1.1\r\n\r\n");
        assert_eq!(s.error_code(), ErrorCode::BadRequest);
        assert!(s.closed());
    });
}

#[test]
fn oversize_frames_are_refused_before_their_payload() {
    with_daemon(|h| {
        let mut s = connect(h);
        let mut header = MAGIC.to_vec();
        header.extend([API_VERSION, kind::NODES]);
        header.extend(u32::try_from(MAX_REQUEST + 1).unwrap().to_be_bytes());
        s.send(&header);
        assert_eq!(s.error_code(), ErrorCode::BadRequest);
        assert!(s.closed());
    });
}

#[test]
fn wrong_version_is_told_and_closed() {
    with_daemon(|h| {
        let mut s = connect(h);
        let mut f = Request::Nodes.to_frame();
        f.version = API_VERSION.wrapping_add(1);
        s.send(&f.to_bytes().unwrap());
        assert_eq!(s.error_code(), ErrorCode::UnsupportedVersion);
        assert!(s.closed());
    });
}

#[test]
fn unknown_kind_is_an_error_but_the_connection_goes_on() {
    with_daemon(|h| {
        let mut s = connect(h);
        s.send(&Frame::new(0x3f, b"{}".to_vec()).to_bytes().unwrap());
        assert_eq!(s.error_code(), ErrorCode::BadRequest);
        s.send(&Request::Nodes.to_frame().to_bytes().unwrap());
        assert!(matches!(s.reply(), Some(Response::Nodes(n)) if n.len() == 1));
    });
}

#[test]
fn partial_frames_and_pipelined_requests() {
    with_daemon(|h| {
        let mut s = connect(h);
        let mut wire = Request::Status.to_frame().to_bytes().unwrap();
        wire.extend(Request::Nodes.to_frame().to_bytes().unwrap());
        for chunk in wire.chunks(3) {
            s.send(chunk);
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(matches!(s.reply(), Some(Response::Status(_))));
        assert!(matches!(s.reply(), Some(Response::Nodes(_))));
    });
}

#[test]
fn connections_beyond_the_cap_are_told_busy() {
    with_daemon(|h| {
        let mut held: Vec<Conn> = (0..MAX_CONNECTIONS).map(|_| connect(h)).collect();
        // Make sure every held connection has been accepted and is being served.
        for s in &mut held {
            s.send(&Request::Nodes.to_frame().to_bytes().unwrap());
            assert!(matches!(s.reply(), Some(Response::Nodes(_))));
        }
        let mut extra = connect(h);
        assert_eq!(extra.error_code(), ErrorCode::Unavailable);
        drop(held);
        wait_until("a slot is free again", || {
            Client::connect(&h.api("api"))
                .and_then(|mut c| c.nodes())
                .is_ok()
        });
    });
}

#[test]
fn random_garbage_never_stops_the_daemon() {
    with_daemon(|h| {
        // splitmix64 with a fixed seed: the same garbage every run.
        let mut state = 0x1234_5678_9abc_def0u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let valid = Request::Nodes.to_frame().to_bytes().unwrap();
        for _ in 0..200 {
            let mut bytes = valid.clone();
            for _ in 0..=(next() % 4) {
                let i = (next() % bytes.len() as u64) as usize;
                bytes[i] = next() as u8;
            }
            if next() % 3 == 0 {
                bytes.truncate((next() % bytes.len() as u64) as usize);
            }
            let mut s = connect(h);
            let _ = s.s.write_all(&bytes);
            let _ = s.s.shutdown(std::net::Shutdown::Write);
            // Any reply (or none) is fine; what matters is the daemon afterwards.
            let mut sink = Vec::new();
            let _ = s.s.read_to_end(&mut sink);
        }
    });
}
