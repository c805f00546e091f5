//! Seeded random-mutation fuzzing of the frame decoder and the message decoders: valid frames
//! are corrupted (bit flips, byte changes, insertions, deletions, truncation, length-field
//! edits), fed in random pieces, and decoded. Nothing may panic, no frame may exceed the limit,
//! and every error must end the stream. The seed is fixed, so a failure replays exactly.

use wend_proto::{
    kind, ApiError, Caller, DaemonStatus, ErrorCode, Frame, FrameDecoder, NodeInfo, NodeState,
    Request, Response, API_VERSION, HEADER_LEN,
};

/// splitmix64: small, deterministic, good enough to drive mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let node = NodeInfo {
        name: "node3".into(),
        state: NodeState::Suspect,
        addr: "10.77.0.3:7100".into(),
        cpus: 0.5,
        speed: 1.1,
        load: 2.5,
        mem_free: 123_456_789,
        mem_total: 987_654_321,
        guests: 2,
        accepting: true,
        local: false,
        age_ms: Some(900),
    };
    let status = DaemonStatus {
        name: "node3".into(),
        version: "0.1.0".into(),
        api_version: API_VERSION,
        listen: "10.77.0.3:7100".into(),
        uptime_secs: 12,
        alive: 4,
        known: 5,
        accepting: true,
        discovery: false,
        caller: Caller {
            uid: 1000,
            gid: 1000,
            pid: Some(42),
        },
    };
    let frames = [
        Request::Nodes.to_frame(),
        Request::Status.to_frame(),
        Response::Nodes(vec![node.clone(), node]).to_frame(),
        Response::Status(status).to_frame(),
        Response::Error(ApiError::new(ErrorCode::Unavailable, "busy")).to_frame(),
    ];
    frames.iter().map(|f| f.to_bytes().unwrap()).collect()
}

fn mutate(rng: &mut Rng, mut bytes: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(4) {
        let len = bytes.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                bytes[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                bytes.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                bytes.remove(i);
            }
            4 => bytes.truncate(rng.below(len + 1)),
            5 if len >= HEADER_LEN => {
                // A plausible but wrong length, small or huge.
                let v = if rng.below(2) == 0 {
                    rng.below(len * 2) as u32
                } else {
                    rng.next() as u32
                };
                bytes[4..8].copy_from_slice(&v.to_be_bytes());
            }
            6 if len >= HEADER_LEN => bytes[2] = rng.next() as u8,
            _ => {}
        }
    }
    bytes
}

/// Feeds `stream` in random pieces; returns the frames decoded and whether an error ended it.
fn feed(rng: &mut Rng, stream: &[u8], max: usize) -> (Vec<Frame>, bool) {
    let mut dec = FrameDecoder::new(max);
    let mut frames = Vec::new();
    let mut at = 0;
    while at < stream.len() {
        let n = 1 + rng.below(64);
        let end = (at + n).min(stream.len());
        dec.extend(&stream[at..end]);
        at = end;
        loop {
            match dec.next_frame() {
                Ok(Some(f)) => {
                    assert!(f.payload.len() <= max, "frame over the limit");
                    frames.push(f);
                }
                Ok(None) => break,
                Err(_) => return (frames, true),
            }
        }
    }
    (frames, false)
}

#[test]
fn clean_streams_decode_exactly() {
    let mut rng = Rng(7);
    let corpus = corpus();
    let stream: Vec<u8> = corpus.concat();
    for _ in 0..200 {
        let (frames, failed) = feed(&mut rng, &stream, 1 << 20);
        assert!(!failed);
        assert_eq!(frames.len(), corpus.len());
        assert!(Request::from_frame(&frames[0]).is_ok());
        assert!(Response::from_frame(&frames[2]).is_ok());
    }
}

#[test]
fn mutated_streams_never_panic() {
    let mut rng = Rng(0x5eed_0f3e_4d11);
    let corpus = corpus();
    let mut errors = 0;
    let mut decoded = 0;
    for _ in 0..20_000 {
        let mut stream = Vec::new();
        for _ in 0..=rng.below(3) {
            let pick = corpus[rng.below(corpus.len())].clone();
            stream.extend(mutate(&mut rng, pick));
        }
        let max = if rng.below(4) == 0 { 64 } else { 1 << 20 };
        let (frames, failed) = feed(&mut rng, &stream, max);
        errors += usize::from(failed);
        for f in &frames {
            decoded += 1;
            // Either direction's decoder must give a value or an error, never panic.
            let r = Request::from_frame(f);
            let s = Response::from_frame(f);
            if f.version != API_VERSION && f.kind != kind::ERROR {
                assert!(r.is_err() && s.is_err());
            }
        }
    }
    // The mutations must actually exercise both paths.
    assert!(errors > 1000, "only {errors} streams failed");
    assert!(decoded > 1000, "only {decoded} frames decoded");
}
