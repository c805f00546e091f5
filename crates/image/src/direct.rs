//! Image files through `O_DIRECT`: [`DirectWriter`] and [`DirectReader`].
//!
//! Writing a large image through the page cache costs more CPU than producing it: every byte
//! is copied into freshly allocated page-cache folios (on this VM first touches of free pages
//! are slow and large folios trigger direct compaction), and the fsync at commit then waits
//! for all of it anyway. With `O_DIRECT` the disk reads our own (reused, hot) buffer and the
//! data is on the device when `write` returns: docs/perf/checkpoint.md has the numbers.
//!
//! `O_DIRECT` needs the buffer address, the length and the file offset aligned to the logical
//! block size; the writer keeps one aligned buffer ([`ALIGN`], which covers 512-byte and 4 KiB
//! devices) and only ever writes whole buffers, except for the last, padded block of the file
//! (cut back to the real length afterwards). Where the file system refuses `O_DIRECT` it falls
//! back to ordinary writes.
//!
//! Reading: an image written this way is not in the page cache, and a cold buffered read of
//! it costs more CPU than the rest of the restore (bench-ckpt: restore CPU 0.91 s before the
//! direct writer, 1.71 s after it with buffered reads); [`DirectReader`] reads it into one
//! aligned 4 MiB buffer instead.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Alignment of buffers, lengths and offsets for `O_DIRECT`.
pub const ALIGN: usize = 4096;
/// Bytes per transfer: large enough that one request per buffer costs nothing, small enough
/// to keep wend's memory low.
pub const CHUNK: usize = 4 << 20;

/// A zeroed buffer of `len` bytes whose usable part starts at an [`ALIGN`]ed address.
struct Aligned {
    raw: Vec<u8>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn new(len: usize) -> Aligned {
        let raw = vec![0u8; len + ALIGN];
        let start = (ALIGN - raw.as_ptr() as usize % ALIGN) % ALIGN;
        Aligned { raw, start, len }
    }

    fn get(&self) -> &[u8] {
        &self.raw[self.start..self.start + self.len]
    }

    fn get_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.start..self.start + self.len]
    }
}

/// Open `path` with `O_DIRECT` added to `opts`, or without it where the file system refuses
/// it (EINVAL). Whether direct I/O is on.
fn open_direct(opts: &mut OpenOptions, path: &Path) -> io::Result<(File, bool)> {
    let mut direct = opts.clone();
    direct.custom_flags(libc::O_DIRECT);
    match direct.open(path) {
        Ok(f) => Ok((f, true)),
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Ok((opts.open(path)?, false)),
        Err(e) => Err(e),
    }
}

/// A buffered writer to a new file, with `O_DIRECT` where the file system allows it.
pub struct DirectWriter {
    file: File,
    direct: bool,
    buf: Aligned,
    fill: usize,
    /// Bytes in the file so far.
    written: u64,
}

impl DirectWriter {
    /// Create `path` (which must not exist) with `mode`.
    pub fn create_new(path: &Path, mode: u32) -> io::Result<DirectWriter> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true).mode(mode);
        let (file, direct) = match open_direct(&mut opts, path) {
            // create_new made the file before O_DIRECT was refused: open it again plainly.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                (OpenOptions::new().write(true).open(path)?, false)
            }
            r => r?,
        };
        Ok(DirectWriter {
            file,
            direct,
            buf: Aligned::new(CHUNK),
            fill: 0,
            written: 0,
        })
    }

    fn flush_full(&mut self) -> io::Result<()> {
        self.file.write_all(&self.buf.get()[..self.fill])?;
        self.written += self.fill as u64;
        self.fill = 0;
        Ok(())
    }

    /// Write what is buffered (the last block padded, then cut back to the real length) and
    /// return the file, not yet synced.
    pub fn finish(mut self) -> io::Result<File> {
        if self.fill > 0 {
            if self.direct {
                let len = self.written + self.fill as u64;
                let padded = self.fill.div_ceil(ALIGN) * ALIGN;
                self.buf.get_mut()[self.fill..padded].fill(0);
                self.file.write_all(&self.buf.get()[..padded])?;
                self.file.set_len(len)?;
            } else {
                self.flush_full()?;
            }
        }
        Ok(self.file)
    }
}

impl Write for DirectWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.fill);
        self.buf.get_mut()[self.fill..self.fill + n].copy_from_slice(&data[..n]);
        self.fill += n;
        if self.fill == CHUNK {
            self.flush_full()?;
        }
        Ok(n)
    }

    /// Whole blocks only go out when the buffer is full or at [`DirectWriter::finish`].
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A buffered reader of a file, with `O_DIRECT` where the file system allows it.
pub struct DirectReader {
    file: File,
    buf: Aligned,
    pos: usize,
    end: usize,
    eof: bool,
}

impl DirectReader {
    pub fn open(path: &Path) -> io::Result<DirectReader> {
        let (file, _) = open_direct(OpenOptions::new().read(true), path)?;
        Ok(DirectReader {
            file,
            buf: Aligned::new(CHUNK),
            pos: 0,
            end: 0,
            eof: false,
        })
    }
}

impl Read for DirectReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos == self.end {
            if self.eof || out.is_empty() {
                return Ok(0);
            }
            let n = loop {
                match self.file.read(self.buf.get_mut()) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            // A short read ends the file (a direct read stops early only there); reading on
            // from an unaligned offset would fail.
            self.eof = n < CHUNK;
            self.pos = 0;
            self.end = n;
            if n == 0 {
                return Ok(0);
            }
        }
        let n = out.len().min(self.end - self.pos);
        out[..n].copy_from_slice(&self.buf.get()[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
