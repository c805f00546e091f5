//! The frame layout of a message: pure arithmetic, no I/O.
//!
//! A message of `L` bytes is the plaintext stream `L as u64 big-endian || body`, cut into
//! chunks of at most [`FRAME_PLAIN`] bytes. Each chunk is sealed as one Noise transport message
//! (its ciphertext is the chunk plus a 16-byte tag) and sent as `u16 big-endian ciphertext
//! length || ciphertext`. Only the first frame's length is news to the receiver: once it has
//! read the message length from that frame, the length of every later frame is known, and a
//! frame announcing another length is refused.

/// Largest Noise message (ciphertext with tag), fixed by the Noise specification.
pub(crate) const FRAME_MAX: usize = 65535;
/// Size of the AEAD tag that every frame carries.
pub(crate) const TAG: usize = 16;
/// Largest plaintext of one frame.
pub(crate) const FRAME_PLAIN: usize = FRAME_MAX - TAG;
/// The message length at the start of the first frame's plaintext.
pub(crate) const HEADER: usize = 8;
/// The cleartext length before every frame.
pub(crate) const PREFIX: usize = 2;
/// Bytes of one full frame on the wire.
pub(crate) const FRAME_WIRE_MAX: usize = PREFIX + FRAME_MAX;
/// How many frames the sender seals before one write call, and the receiver reads with one
/// read call once the message length is known (about 512 KiB).
pub(crate) const BATCH_FRAMES: usize = 8;

/// Total plaintext bytes of a message with a `body`-byte body.
pub(crate) fn plain_total(body: u64) -> u64 {
    HEADER as u64 + body
}

/// Plaintext length of the next frame when `left` plaintext bytes of the message remain.
pub(crate) fn next_plain(left: u64) -> usize {
    // The minimum is at most FRAME_PLAIN, so it fits in usize.
    left.min(FRAME_PLAIN as u64) as usize
}

/// How many of the next frames fit one batch, and their total wire size, when `left`
/// plaintext bytes remain after the first frame.
pub(crate) fn batch(left: u64) -> (usize, usize) {
    let mut frames = 0;
    let mut wire = 0;
    let mut rest = left;
    while rest > 0 && frames < BATCH_FRAMES {
        let p = next_plain(rest);
        wire += PREFIX + p + TAG;
        rest -= p as u64;
        frames += 1;
    }
    (frames, wire)
}

/// Number of frames a message with a `body`-byte body takes (at least one).
#[cfg(test)]
pub(crate) fn frame_count(body: u64) -> u64 {
    plain_total(body).div_ceil(FRAME_PLAIN as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_messages_take_one_frame() {
        assert_eq!(frame_count(0), 1);
        assert_eq!(frame_count(100), 1);
        assert_eq!(frame_count((FRAME_PLAIN - HEADER) as u64), 1);
        assert_eq!(frame_count((FRAME_PLAIN - HEADER + 1) as u64), 2);
    }

    #[test]
    fn frames_cover_the_message_exactly() {
        for body in [0u64, 1, 65511, 65512, 65519, 1 << 20, 100 << 20] {
            let mut left = plain_total(body);
            let mut frames = 0;
            while left > 0 {
                let p = next_plain(left);
                assert!(p > 0 && p <= FRAME_PLAIN);
                left -= p as u64;
                frames += 1;
            }
            assert_eq!(frames, frame_count(body), "body {body}");
        }
    }

    #[test]
    fn a_batch_never_runs_past_the_message() {
        assert_eq!(batch(0), (0, 0));
        assert_eq!(batch(10), (1, PREFIX + 10 + TAG));
        let full = PREFIX + FRAME_MAX;
        assert_eq!(batch(FRAME_PLAIN as u64 + 1), (2, full + PREFIX + 1 + TAG));
        assert_eq!(batch(1 << 30), (BATCH_FRAMES, BATCH_FRAMES * full));
    }
}
