//! Length-prefixed frames, apart from any socket. [`FrameDecoder`] takes bytes in whatever
//! pieces they arrive and hands back whole frames; a partial frame is normal and simply waits
//! for more bytes. Every error is final for the stream: after one, the connection is closed,
//! since nothing after a broken header can be trusted to start a frame.

use thiserror::Error;

/// The two bytes every frame starts with.
pub const MAGIC: [u8; 2] = *b"WD";
/// The protocol version this build speaks.
pub const API_VERSION: u8 = 1;
/// Bytes before the payload: magic, version, kind, length.
pub const HEADER_LEN: usize = 8;
/// The largest payload either side accepts unless configured otherwise (1 MiB).
pub const MAX_PAYLOAD: usize = 1 << 20;

/// One frame: its header fields and its payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The protocol version the sender wrote.
    pub version: u8,
    /// The message kind (see [`crate::kind`]).
    pub kind: u8,
    /// The payload, not yet interpreted.
    pub payload: Vec<u8>,
}

/// Why a stream of bytes is not a stream of frames.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The stream does not start with the magic bytes.
    #[error("bad frame magic {found:02x?}: the peer does not speak the wend api (wrong socket?)")]
    BadMagic {
        /// The bytes found where the magic belongs.
        found: [u8; 2],
    },
    /// The payload is longer than the receiver accepts.
    #[error("frame of {len} bytes exceeds the limit of {max} bytes; send smaller requests")]
    TooLarge {
        /// The length announced (or wanted).
        len: usize,
        /// The limit in force.
        max: usize,
    },
}

impl Frame {
    /// A frame of this build's version.
    pub fn new(kind: u8, payload: Vec<u8>) -> Self {
        Frame {
            version: API_VERSION,
            kind,
            payload,
        }
    }

    /// Appends the encoded frame to `out`; fails if the payload exceeds `max` bytes.
    pub fn encode_into(&self, out: &mut Vec<u8>, max: usize) -> Result<(), FrameError> {
        let len = self.payload.len();
        if len > max || u32::try_from(len).is_err() {
            return Err(FrameError::TooLarge { len, max });
        }
        out.reserve(HEADER_LEN + len);
        out.extend_from_slice(&MAGIC);
        out.push(self.version);
        out.push(self.kind);
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&self.payload);
        Ok(())
    }

    /// The encoded frame as a new buffer, with the default size limit.
    pub fn to_bytes(&self) -> Result<Vec<u8>, FrameError> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.payload.len());
        self.encode_into(&mut out, MAX_PAYLOAD)?;
        Ok(out)
    }
}

/// Reassembles frames from a byte stream.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    start: usize,
    max_payload: usize,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        Self::new(MAX_PAYLOAD)
    }
}

impl FrameDecoder {
    /// A decoder that refuses payloads longer than `max_payload` bytes.
    pub fn new(max_payload: usize) -> Self {
        FrameDecoder {
            buf: Vec::new(),
            start: 0,
            max_payload,
        }
    }

    /// Adds bytes read from the stream.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet returned as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The next whole frame, `Ok(None)` if more bytes are needed, or an error that ends the
    /// stream. Errors are reported as early as the bytes allow: a bad magic after two bytes,
    /// an oversize length as soon as the header is complete.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let avail = &self.buf[self.start..];
        if avail.len() >= 2 && avail[..2] != MAGIC {
            return Err(FrameError::BadMagic {
                found: [avail[0], avail[1]],
            });
        }
        if avail.len() < HEADER_LEN {
            return Ok(None);
        }
        let len = u32::from_be_bytes([avail[4], avail[5], avail[6], avail[7]]) as usize;
        if len > self.max_payload {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_payload,
            });
        }
        if avail.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let frame = Frame {
            version: avail[2],
            kind: avail[3],
            payload: avail[HEADER_LEN..HEADER_LEN + len].to_vec(),
        };
        self.start += HEADER_LEN + len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        Ok(Some(frame))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(kind: u8, payload: &[u8]) -> Vec<u8> {
        Frame::new(kind, payload.to_vec()).to_bytes().unwrap()
    }

    #[test]
    fn round_trip_one_byte_at_a_time() {
        let mut wire = bytes(1, b"hello");
        wire.extend(bytes(2, b""));
        let mut dec = FrameDecoder::default();
        let mut got = Vec::new();
        for b in &wire {
            dec.extend(std::slice::from_ref(b));
            while let Some(f) = dec.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, 1);
        assert_eq!(got[0].payload, b"hello");
        assert_eq!(got[0].version, API_VERSION);
        assert_eq!(got[1].kind, 2);
        assert!(got[1].payload.is_empty());
        assert_eq!(dec.pending(), 0);
    }

    #[test]
    fn partial_header_and_payload_wait() {
        let wire = bytes(1, b"abcdef");
        let mut dec = FrameDecoder::default();
        dec.extend(&wire[..5]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.extend(&wire[5..10]);
        assert_eq!(dec.next_frame().unwrap(), None);
        dec.extend(&wire[10..]);
        assert_eq!(dec.next_frame().unwrap().unwrap().payload, b"abcdef");
    }

    #[test]
    fn bad_magic_is_seen_after_two_bytes() {
        let mut dec = FrameDecoder::default();
        dec.extend(b"GE");
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::BadMagic { found: *b"GE" })
        );
    }

    #[test]
    fn oversize_is_refused_before_the_payload_arrives() {
        let mut dec = FrameDecoder::new(16);
        let mut header = MAGIC.to_vec();
        header.extend([API_VERSION, 1]);
        header.extend(17u32.to_be_bytes());
        dec.extend(&header);
        assert_eq!(
            dec.next_frame(),
            Err(FrameError::TooLarge { len: 17, max: 16 })
        );
    }

    #[test]
    fn encoder_refuses_oversize() {
        let f = Frame::new(1, vec![0; 10]);
        let mut out = Vec::new();
        assert!(matches!(
            f.encode_into(&mut out, 9),
            Err(FrameError::TooLarge { len: 10, max: 9 })
        ));
        assert!(out.is_empty());
    }
}
