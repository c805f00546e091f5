//! Bounds-checked primitives of the explicit wire format (big-endian).
//!
//! Every decoder in this crate reads through [`Reader`], which returns
//! [`DecodeError::Truncated`] instead of panicking on short input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::DecodeError;

/// A cursor over received bytes; every read is checked.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// The unread bytes.
    pub fn rest(&self) -> &'a [u8] {
        self.buf
    }

    /// Takes `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                needed: n - self.buf.len(),
            });
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.bytes(1)?[0])
    }

    /// Reads a big-endian u16.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// Reads a big-endian u32.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Reads a socket address: family (4 or 6), address, port.
    pub fn addr(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = match self.u8()? {
            4 => {
                let b = self.bytes(4)?;
                IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3]))
            }
            6 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(self.bytes(16)?);
                IpAddr::V6(Ipv6Addr::from(a))
            }
            tag => {
                return Err(DecodeError::UnknownTag {
                    what: "address family",
                    tag,
                })
            }
        };
        Ok(SocketAddr::new(ip, self.u16()?))
    }

    /// Reads a string of at most 255 bytes (length byte, UTF-8).
    pub fn short_str(&mut self) -> Result<&'a str, DecodeError> {
        let n = usize::from(self.u8()?);
        std::str::from_utf8(self.bytes(n)?).map_err(|_| DecodeError::InvalidField("utf-8 string"))
    }

    /// Fails if bytes are left.
    pub fn finish(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

/// Writes a socket address in the [`Reader::addr`] format.
pub fn put_addr(out: &mut Vec<u8>, addr: &SocketAddr) {
    match addr.ip() {
        IpAddr::V4(ip) => {
            out.push(4);
            out.extend_from_slice(&ip.octets());
        }
        IpAddr::V6(ip) => {
            out.push(6);
            out.extend_from_slice(&ip.octets());
        }
    }
    out.extend_from_slice(&addr.port().to_be_bytes());
}

/// Encoded size of a socket address.
pub fn addr_len(addr: &SocketAddr) -> usize {
    if addr.is_ipv4() {
        7
    } else {
        19
    }
}

/// Writes a string of at most `max` bytes, cut at a character boundary.
pub fn put_short_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let s = truncate_utf8(s, max.min(255));
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

/// The longest prefix of `s` of at most `max` bytes ending at a char boundary.
pub fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
