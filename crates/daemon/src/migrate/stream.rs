//! An image stream over a link: [`LinkSink`] cuts what the image writer produces into
//! [`Msg::Image`] messages; [`LinkSource`] reads them back until [`Msg::ImageEnd`].

use std::io::{self, Read, Write};

use wend_link::Link;

use super::wire::{send_bulk, Msg};

/// Bytes per image message.
const CHUNK: usize = 1 << 20;

/// Writes an image into a link.
pub struct LinkSink<'a> {
    link: &'a mut Link,
    buf: Vec<u8>,
    /// Bytes sent so far.
    pub sent: u64,
}

impl<'a> LinkSink<'a> {
    pub fn new(link: &'a mut Link) -> Self {
        LinkSink {
            link,
            buf: Vec::with_capacity(CHUNK),
            sent: 0,
        }
    }

    fn ship(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.sent += self.buf.len() as u64;
        let mut msg = Msg::Image(std::mem::take(&mut self.buf));
        send_bulk(self.link, &mut msg).map_err(io::Error::other)?;
        self.buf = match msg {
            Msg::Image(mut b) => {
                b.clear();
                b
            }
            _ => Vec::with_capacity(CHUNK),
        };
        Ok(())
    }

    /// Send what is buffered and the end marker.
    pub fn finish(mut self) -> io::Result<u64> {
        self.ship()?;
        self.link
            .send(&Msg::ImageEnd.encode())
            .map_err(io::Error::other)?;
        Ok(self.sent)
    }
}

impl Write for LinkSink<'_> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buf.len();
        let n = room.min(data.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.ship()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.ship()
    }
}

/// Reads an image from a link.
pub struct LinkSource<'a> {
    link: &'a mut Link,
    cur: Vec<u8>,
    pos: usize,
    ended: bool,
}

impl<'a> LinkSource<'a> {
    pub fn new(link: &'a mut Link) -> Self {
        LinkSource {
            link,
            cur: Vec::new(),
            pos: 0,
            ended: false,
        }
    }

    /// Read up to the end marker (the reader of the image may stop at its trailer before it).
    pub fn drain(mut self) -> io::Result<()> {
        let mut sink = [0u8; 64 * 1024];
        while self.read(&mut sink)? > 0 {}
        Ok(())
    }
}

impl Read for LinkSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            if self.ended {
                return Ok(0);
            }
            let bytes = self.link.recv().map_err(io::Error::other)?;
            match Msg::decode(bytes).map_err(io::Error::other)? {
                Msg::Image(data) => {
                    self.cur = data;
                    self.pos = 0;
                }
                Msg::ImageEnd => self.ended = true,
                // The sender gave up mid-stream: nothing of it may be used.
                Msg::Failed { reason } => {
                    return Err(io::Error::other(format!("the sender gave up: {reason}")))
                }
                other => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("unexpected {} message inside an image stream", other.name()),
                    ))
                }
            }
        }
        let n = out.len().min(self.cur.len() - self.pos);
        out[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
