//! [`ImageWriter`]: the streaming writer, inline or with a background encoding thread.
//!
//! With [`ImageWriter::spawn`] the caller's thread only copies (or reads process memory
//! straight into, with [`ImageWriter::write_pages_with`]) frame buffers taken from a small
//! pool; a second thread checks for zero pages, compresses, checksums and writes. The pool is
//! bounded (`queue_depth` frames), so memory stays bounded whatever the image size. When the
//! queue backs up, the thread compresses only frames where that saves more output time than
//! it costs: compression never slows the pipeline.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde::Serialize;

use crate::compress::Compression;
use crate::encoder::{Encoder, ImageStats};
use crate::error::ImageError;
use crate::format::{DEFAULT_FRAME_BYTES, MAX_FRAME_BYTES, PAGE_SIZE};

/// How an image is written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    /// Compression of page and blob frames.
    pub compression: Compression,
    /// Bytes per page/blob frame (a multiple of the page size, at most 4 MiB).
    pub frame_size: usize,
    /// Frames in flight between the caller and the background thread ([`ImageWriter::spawn`]);
    /// the pool holds this many frame buffers.
    pub queue_depth: usize,
    /// Decide per frame whether compressing pays (see the compress module); false compresses
    /// every frame that shrinks, whatever it costs (for measurements).
    pub adaptive: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            compression: Compression::Lz4,
            frame_size: DEFAULT_FRAME_BYTES,
            queue_depth: 8,
            adaptive: true,
        }
    }
}

impl WriteOptions {
    fn validate(&self) -> Result<(), ImageError> {
        let ok = self.frame_size >= PAGE_SIZE
            && self.frame_size.is_multiple_of(PAGE_SIZE)
            && self.frame_size as u64 <= MAX_FRAME_BYTES
            && self.queue_depth >= 1;
        if ok {
            Ok(())
        } else {
            Err(ImageError::Usage(format!(
                "frame size {} must be a page multiple up to {MAX_FRAME_BYTES}, queue depth {} at least 1",
                self.frame_size, self.queue_depth
            )))
        }
    }
}

enum Job {
    Meta(Vec<u8>),
    Pages { addr: u64, buf: Vec<u8> },
    Blob { id: u32, offset: u64, buf: Vec<u8> },
}

/// The background thread and the channels to it.
struct Worker<W> {
    jobs: Option<SyncSender<Job>>,
    free: Receiver<Vec<u8>>,
    allocated: usize,
    /// Most buffers ever allocated: the queue, plus one being encoded, one being filled.
    limit: usize,
    queued: Arc<AtomicUsize>,
    handle: Option<JoinHandle<Result<(W, ImageStats), ImageError>>>,
}

enum Mode<W: Write> {
    Inline { enc: Box<Encoder<W>>, buf: Vec<u8> },
    Thread(Worker<W>),
    Done,
}

/// Streaming writer: header first, then exactly one metadata record, then any number of page
/// and blob records, then [`ImageWriter::finish`] writes the trailer.
pub struct ImageWriter<W: Write> {
    mode: Mode<W>,
    opts: WriteOptions,
    meta_written: bool,
}

impl<W: Write> ImageWriter<W> {
    /// A writer that encodes and writes on the caller's thread.
    pub fn new(out: W, opts: &WriteOptions) -> Result<Self, ImageError> {
        opts.validate()?;
        let enc = Encoder::new(out, opts)?;
        Ok(ImageWriter {
            mode: Mode::Inline {
                enc: Box::new(enc),
                buf: Vec::new(),
            },
            opts: opts.clone(),
            meta_written: false,
        })
    }

    /// Writes the metadata record (serialized with postcard). Call exactly once, first.
    pub fn write_meta<M: Serialize>(&mut self, meta: &M) -> Result<(), ImageError> {
        if self.meta_written {
            return Err(ImageError::Usage("metadata written twice".into()));
        }
        let bytes = postcard::to_stdvec(meta).map_err(|e| ImageError::MetaEncode(e.to_string()))?;
        self.meta_written = true;
        match &mut self.mode {
            Mode::Inline { enc, .. } => enc.meta(&bytes),
            Mode::Thread(w) => w.send(Job::Meta(bytes)),
            Mode::Done => Err(finished()),
        }
    }

    /// Page contents at `addr`; `data.len()` is a multiple of 4096, any size. All-zero pages
    /// are elided (read back as [`crate::Record::Zero`]).
    pub fn write_pages(&mut self, addr: u64, data: &[u8]) -> Result<(), ImageError> {
        self.check_pages(addr, data.len() as u64)?;
        let frame = self.opts.frame_size;
        for (i, chunk) in data.chunks(frame).enumerate() {
            let a = addr + (i * frame) as u64;
            match &mut self.mode {
                Mode::Inline { enc, .. } => enc.pages(a, chunk, true)?,
                Mode::Thread(w) => {
                    let mut buf = w.take_buffer(frame)?;
                    buf.clear();
                    buf.extend_from_slice(chunk);
                    w.send(Job::Pages { addr: a, buf })?;
                }
                Mode::Done => return Err(finished()),
            }
        }
        Ok(())
    }

    /// Like [`ImageWriter::write_pages`] for `len` bytes at `addr`, but the writer lends its
    /// own frame buffers and `fill(chunk_addr, buf)` fills each one (for example with
    /// process_vm_readv): no copy on the caller's thread.
    pub fn write_pages_with<E: From<ImageError>>(
        &mut self,
        addr: u64,
        len: u64,
        mut fill: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        self.check_pages(addr, len)?;
        let frame = self.opts.frame_size as u64;
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(frame) as usize;
            let a = addr + done;
            match &mut self.mode {
                Mode::Inline { enc, buf } => {
                    buf.resize(n, 0);
                    fill(a, &mut buf[..n])?;
                    enc.pages(a, &buf[..n], true)?;
                }
                Mode::Thread(w) => {
                    let mut buf = w.take_buffer(n)?;
                    buf.resize(n, 0);
                    if let Err(e) = fill(a, &mut buf[..n]) {
                        // The buffer is dropped: let the pool allocate a new one later.
                        w.allocated -= 1;
                        return Err(e);
                    }
                    w.send(Job::Pages { addr: a, buf })?;
                }
                Mode::Done => return Err(finished().into()),
            }
            done += n as u64;
        }
        Ok(())
    }

    /// Opaque bytes (the content of a deleted-but-open file, ...) under an `id` the caller
    /// chooses. A blob larger than a frame is stored as consecutive records with the same id,
    /// which the reader returns in order; append them.
    pub fn write_blob(&mut self, id: u32, data: &[u8]) -> Result<(), ImageError> {
        if !self.meta_written {
            return Err(ImageError::Usage("blob written before the metadata".into()));
        }
        let frame = self.opts.frame_size;
        let mut offset = 0u64;
        let chunks: Box<dyn Iterator<Item = &[u8]>> = if data.is_empty() {
            Box::new(std::iter::once(data))
        } else {
            Box::new(data.chunks(frame))
        };
        for chunk in chunks {
            match &mut self.mode {
                Mode::Inline { enc, .. } => enc.blob(id, offset, chunk, true)?,
                Mode::Thread(w) => {
                    let mut buf = w.take_buffer(frame)?;
                    buf.clear();
                    buf.extend_from_slice(chunk);
                    w.send(Job::Blob { id, offset, buf })?;
                }
                Mode::Done => return Err(finished()),
            }
            offset += chunk.len() as u64;
        }
        Ok(())
    }

    /// Writes the trailer (counts and running checksum), flushes, and returns the output and
    /// the statistics. The output is not synced: [`crate::AtomicFile::commit`] does that.
    pub fn finish(mut self) -> Result<(W, ImageStats), ImageError> {
        if !self.meta_written {
            return Err(ImageError::Usage("image finished without metadata".into()));
        }
        match std::mem::replace(&mut self.mode, Mode::Done) {
            Mode::Inline { enc, .. } => (*enc).finish(),
            Mode::Thread(mut w) => {
                w.jobs = None;
                w.join()
            }
            Mode::Done => Err(finished()),
        }
    }

    fn check_pages(&self, addr: u64, len: u64) -> Result<(), ImageError> {
        if !self.meta_written {
            return Err(ImageError::Usage(
                "pages written before the metadata".into(),
            ));
        }
        let page = PAGE_SIZE as u64;
        if !addr.is_multiple_of(page)
            || !len.is_multiple_of(page)
            || addr.checked_add(len).is_none()
        {
            return Err(ImageError::Usage(format!(
                "pages at {addr:#x} + {len:#x} are not page-aligned or overflow"
            )));
        }
        Ok(())
    }
}

impl<W: Write + Send + 'static> ImageWriter<W> {
    /// A writer whose encoding (zero-page check, compression, checksums) and output run on a
    /// background thread, overlapping with the caller reading process memory. Memory in use
    /// is bounded by `queue_depth` frame buffers.
    pub fn spawn(out: W, opts: &WriteOptions) -> Result<Self, ImageError> {
        opts.validate()?;
        let enc = Encoder::new(out, opts)?;
        let (jobs_tx, jobs_rx) = mpsc::sync_channel::<Job>(opts.queue_depth);
        let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
        let queued = Arc::new(AtomicUsize::new(0));
        let q = Arc::clone(&queued);
        // The caller waits on us once the queue is half full.
        let busy_at = opts.queue_depth.div_ceil(2).max(1);
        let handle = std::thread::Builder::new()
            .name("wend-image-writer".into())
            .spawn(move || run_worker(enc, jobs_rx, free_tx, q, busy_at))
            .map_err(ImageError::Io)?;
        let worker = Worker {
            jobs: Some(jobs_tx),
            free: free_rx,
            allocated: 0,
            limit: opts.queue_depth + 2,
            queued,
            handle: Some(handle),
        };
        Ok(ImageWriter {
            mode: Mode::Thread(worker),
            opts: opts.clone(),
            meta_written: false,
        })
    }
}

fn run_worker<W: Write>(
    mut enc: Encoder<W>,
    jobs: Receiver<Job>,
    free: mpsc::Sender<Vec<u8>>,
    queued: Arc<AtomicUsize>,
    busy_at: usize,
) -> Result<(W, ImageStats), ImageError> {
    while let Ok(job) = jobs.recv() {
        let backlog = queued.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        let busy = backlog >= busy_at;
        match job {
            Job::Meta(bytes) => enc.meta(&bytes)?,
            Job::Pages { addr, buf } => {
                enc.pages(addr, &buf, busy)?;
                let _ = free.send(buf);
            }
            Job::Blob { id, offset, buf } => {
                enc.blob(id, offset, &buf, busy)?;
                let _ = free.send(buf);
            }
        }
    }
    enc.finish()
}

impl<W> Worker<W> {
    /// A frame buffer from the pool: a returned one, a new one while the pool is not full,
    /// else wait for the thread to return one.
    fn take_buffer(&mut self, size: usize) -> Result<Vec<u8>, ImageError> {
        if let Ok(buf) = self.free.try_recv() {
            return Ok(buf);
        }
        if self.allocated < self.limit {
            self.allocated += 1;
            return Ok(Vec::with_capacity(size));
        }
        match self.free.recv() {
            Ok(buf) => Ok(buf),
            Err(_) => Err(self.failure()),
        }
    }

    fn send(&mut self, job: Job) -> Result<(), ImageError> {
        let Some(tx) = self.jobs.as_ref() else {
            return Err(finished());
        };
        self.queued.fetch_add(1, Ordering::AcqRel);
        if tx.send(job).is_err() {
            return Err(self.failure());
        }
        Ok(())
    }

    /// The thread stopped early: its error (or a panic) explains why.
    fn failure(&mut self) -> ImageError {
        self.jobs = None;
        match self.join() {
            Err(e) => e,
            Ok(_) => ImageError::Usage("writer thread ended before finish".into()),
        }
    }

    fn join(&mut self) -> Result<(W, ImageStats), ImageError> {
        let Some(handle) = self.handle.take() else {
            return Err(finished());
        };
        handle.join().map_err(|_| ImageError::WriterPanicked)?
    }
}

impl<W> Drop for Worker<W> {
    fn drop(&mut self) {
        // Abandoned without finish: stop the thread; it drops the output (an AtomicFile then
        // removes its temporary file).
        self.jobs = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn finished() -> ImageError {
    ImageError::Usage("writer used after finish or after an error".into())
}
