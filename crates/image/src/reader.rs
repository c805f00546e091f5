//! [`ImageReader`]: the streaming reader, on the caller's thread ([`ImageReader::new`]) or
//! with a prefetching thread ([`ImageReader::spawn`]) that reads, verifies and decompresses
//! the next frames while the caller writes the previous ones into the process.
//!
//! The prefetching thread hands frames over in buffers from a bounded pool (`PREFETCH_DEPTH`
//! queued + 2), so memory stays bounded. Once it has read the trailer it hands its decoder
//! back, and the reader continues as a plain one (statistics, `expect_eof`).

use std::io::Read;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use serde::de::DeserializeOwned;

use crate::decoder::{Decoder, Record};
use crate::encoder::ImageStats;
use crate::error::ImageError;
use crate::format::ImageHeader;

/// Frames decoded ahead of the caller by a spawned reader.
pub const PREFETCH_DEPTH: usize = 4;

/// What the prefetching thread sends.
enum Msg {
    Meta(Vec<u8>),
    Pages {
        addr: u64,
        buf: Vec<u8>,
    },
    Zero {
        addr: u64,
        len: u64,
    },
    Blob {
        id: u32,
        buf: Vec<u8>,
    },
    /// The trailer was read and matched; join the thread for the decoder.
    End,
    Failed(ImageError),
}

struct Prefetch<R: Read> {
    header: ImageHeader,
    msgs: Receiver<Msg>,
    free: Sender<Vec<u8>>,
    handle: Option<JoinHandle<Decoder<R>>>,
    /// The frame handed out last (returned to the pool on the next call).
    current: Vec<u8>,
    meta: Vec<u8>,
    meta_read: bool,
    failed: bool,
    /// Until the end: the statistics are only known from the decoder.
    empty_stats: ImageStats,
}

enum Mode<R: Read> {
    Direct(Box<Decoder<R>>),
    Prefetch(Box<Prefetch<R>>),
}

/// Streaming reader: checks magic, architecture, format version, per-record checksums, size
/// limits before allocating, and the trailer.
pub struct ImageReader<R: Read> {
    mode: Mode<R>,
}

impl<R: Read> ImageReader<R> {
    /// Reads and checks the header; records are then read on the caller's thread.
    pub fn new(input: R) -> Result<Self, ImageError> {
        Ok(ImageReader {
            mode: Mode::Direct(Box::new(Decoder::new(input)?)),
        })
    }

    pub fn header(&self) -> &ImageHeader {
        match &self.mode {
            Mode::Direct(d) => d.header(),
            Mode::Prefetch(p) => &p.header,
        }
    }

    /// What was read so far; after the trailer, the whole image (trailer included). A spawned
    /// reader reports them only once `next_record` returned `None`.
    pub fn stats(&self) -> &ImageStats {
        match &self.mode {
            Mode::Direct(d) => d.stats(),
            Mode::Prefetch(p) => &p.empty_stats,
        }
    }

    /// Bytes consumed so far (a spawned reader: known after the end).
    pub fn offset(&self) -> u64 {
        match &self.mode {
            Mode::Direct(d) => d.offset(),
            Mode::Prefetch(_) => 0,
        }
    }

    /// True once the trailer was read and matched.
    pub fn is_done(&self) -> bool {
        match &self.mode {
            Mode::Direct(d) => d.is_done(),
            Mode::Prefetch(_) => false,
        }
    }

    /// Reads the metadata record and decodes it (postcard).
    pub fn read_meta<M: DeserializeOwned>(&mut self) -> Result<M, ImageError> {
        let bytes = self.read_meta_bytes()?;
        let (meta, rest) =
            postcard::take_from_bytes(bytes).map_err(|e| ImageError::MetaDecode(e.to_string()))?;
        if !rest.is_empty() {
            return Err(ImageError::MetaDecode(format!(
                "{} bytes left over",
                rest.len()
            )));
        }
        Ok(meta)
    }

    /// Reads the metadata record and returns its serialized bytes, checked but not decoded.
    pub fn read_meta_bytes(&mut self) -> Result<&[u8], ImageError> {
        match &mut self.mode {
            Mode::Direct(d) => d.read_meta_bytes(),
            Mode::Prefetch(p) => {
                if p.meta_read {
                    return Err(ImageError::Usage("metadata read twice".into()));
                }
                p.meta_read = true;
                match p.recv()? {
                    Msg::Meta(bytes) => {
                        p.meta = bytes;
                        Ok(&p.meta)
                    }
                    _ => Err(ImageError::Usage("prefetch thread out of step".into())),
                }
            }
        }
    }

    /// The next record, borrowing an internal buffer; `Ok(None)` only after a valid trailer
    /// whose counts and checksum match; EOF before it is [`ImageError::Truncated`]. Skips the
    /// metadata if it was not read.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>, ImageError> {
        let step = match &mut self.mode {
            Mode::Direct(_) => None,
            Mode::Prefetch(p) => Some(p.advance()?),
        };
        let Some(step) = step else {
            return match &mut self.mode {
                Mode::Direct(d) => d.next_record(),
                Mode::Prefetch(_) => Err(ImageError::Usage("reader mode changed".into())),
            };
        };
        let (addr_or_id, blob) = match step {
            Step::End(decoder) => {
                self.mode = Mode::Direct(decoder);
                return Ok(None);
            }
            Step::Zero { addr, len } => return Ok(Some(Record::Zero { addr, len })),
            Step::Pages { addr } => (addr, false),
            Step::Blob { id } => (u64::from(id), true),
        };
        let Mode::Prefetch(p) = &self.mode else {
            return Err(ImageError::Usage("reader mode changed".into()));
        };
        let data = &p.current[..];
        Ok(Some(if blob {
            // The id came from a u32 just above.
            Record::Blob {
                id: addr_or_id as u32,
                data,
            }
        } else {
            Record::Pages {
                addr: addr_or_id,
                data,
            }
        }))
    }

    /// After the trailer: fails if the input holds anything more (a file must end there).
    pub fn expect_eof(&mut self) -> Result<(), ImageError> {
        match &mut self.mode {
            Mode::Direct(d) => d.expect_eof(),
            Mode::Prefetch(_) => Err(ImageError::Usage("expect_eof before the trailer".into())),
        }
    }
}

impl<R: Read + Send + 'static> ImageReader<R> {
    /// Reads and checks the header on the caller's thread, then reads, verifies and
    /// decompresses the records on a background thread, up to [`PREFETCH_DEPTH`] frames
    /// ahead. Same results and errors as [`ImageReader::new`].
    pub fn spawn(input: R) -> Result<Self, ImageError> {
        let decoder = Decoder::new(input)?;
        let header = decoder.header().clone();
        let (msg_tx, msg_rx) = mpsc::sync_channel(PREFETCH_DEPTH);
        let (free_tx, free_rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("wend-image-reader".into())
            .spawn(move || run_prefetch(decoder, &msg_tx, &free_rx))
            .map_err(ImageError::Io)?;
        let p = Prefetch {
            header,
            msgs: msg_rx,
            free: free_tx,
            handle: Some(handle),
            current: Vec::new(),
            meta: Vec::new(),
            meta_read: false,
            failed: false,
            empty_stats: ImageStats::default(),
        };
        Ok(ImageReader {
            mode: Mode::Prefetch(Box::new(p)),
        })
    }
}

/// One step of a spawned reader, with the frame (if any) left in `Prefetch::current`.
enum Step<R: Read> {
    End(Box<Decoder<R>>),
    Zero { addr: u64, len: u64 },
    Pages { addr: u64 },
    Blob { id: u32 },
}

impl<R: Read> Prefetch<R> {
    fn advance(&mut self) -> Result<Step<R>, ImageError> {
        if !self.meta_read {
            self.meta_read = true;
            if !matches!(self.recv()?, Msg::Meta(_)) {
                return Err(ImageError::Usage("prefetch thread out of step".into()));
            }
        }
        let old = std::mem::take(&mut self.current);
        if old.capacity() > 0 {
            let _ = self.free.send(old);
        }
        match self.recv()? {
            Msg::End => Ok(Step::End(Box::new(self.finish()?))),
            Msg::Zero { addr, len } => Ok(Step::Zero { addr, len }),
            Msg::Pages { addr, buf } => {
                self.current = buf;
                Ok(Step::Pages { addr })
            }
            Msg::Blob { id, buf } => {
                self.current = buf;
                Ok(Step::Blob { id })
            }
            Msg::Meta(_) | Msg::Failed(_) => {
                Err(ImageError::Usage("prefetch thread out of step".into()))
            }
        }
    }

    fn recv(&mut self) -> Result<Msg, ImageError> {
        if self.failed {
            return Err(ImageError::Usage("reader used after an error".into()));
        }
        match self.msgs.recv() {
            Ok(Msg::Failed(e)) => {
                self.failed = true;
                Err(e)
            }
            Ok(m) => Ok(m),
            Err(_) => {
                self.failed = true;
                Err(ImageError::ReaderPanicked)
            }
        }
    }

    fn finish(&mut self) -> Result<Decoder<R>, ImageError> {
        let h = self
            .handle
            .take()
            .ok_or_else(|| ImageError::Usage("reader joined twice".into()))?;
        h.join().map_err(|_| ImageError::ReaderPanicked)
    }
}

/// The prefetching thread: decode records into pooled buffers and send them in order.
/// Returns the decoder (done, or failed) so the caller can continue with it.
fn run_prefetch<R: Read>(
    mut d: Decoder<R>,
    out: &SyncSender<Msg>,
    free: &Receiver<Vec<u8>>,
) -> Decoder<R> {
    let mut allocated = 0;
    let limit = PREFETCH_DEPTH + 2;
    let mut take = |len: usize| -> Option<Vec<u8>> {
        let mut buf = match free.try_recv() {
            Ok(b) => b,
            Err(_) if allocated < limit => {
                allocated += 1;
                Vec::new()
            }
            Err(_) => free.recv().ok()?,
        };
        buf.clear();
        buf.reserve(len);
        Some(buf)
    };
    let meta = match d.read_meta_bytes() {
        Ok(m) => Msg::Meta(m.to_vec()),
        Err(e) => Msg::Failed(e),
    };
    let failed = matches!(meta, Msg::Failed(_));
    if out.send(meta).is_err() || failed {
        return d;
    }
    loop {
        let msg = match d.next_record() {
            Ok(None) => Msg::End,
            Err(e) => Msg::Failed(e),
            Ok(Some(Record::Zero { addr, len })) => Msg::Zero { addr, len },
            Ok(Some(Record::Pages { addr, data })) => match take(data.len()) {
                Some(mut buf) => {
                    buf.extend_from_slice(data);
                    Msg::Pages { addr, buf }
                }
                None => return d,
            },
            Ok(Some(Record::Blob { id, data })) => match take(data.len()) {
                Some(mut buf) => {
                    buf.extend_from_slice(data);
                    Msg::Blob { id, buf }
                }
                None => return d,
            },
        };
        let last = matches!(msg, Msg::End | Msg::Failed(_));
        if out.send(msg).is_err() || last {
            return d;
        }
    }
}

impl<R: Read> Drop for Prefetch<R> {
    fn drop(&mut self) {
        // The thread ends on its own once the channels are gone; it is not joined here: it
        // may be blocked reading a socket that never delivers more.
        drop(self.handle.take());
    }
}
