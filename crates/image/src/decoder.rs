//! The streaming decoder behind [`crate::ImageReader`]. It trusts nothing: every length is checked against
//! a limit before anything is allocated, every record's checksum is verified before its
//! payload is used, and the trailer must match what was actually read.

use std::io::{BufReader, ErrorKind, Read};

use crate::compress::FrameDecompressor;
use crate::encoder::ImageStats;
use crate::error::ImageError;
use crate::format::{
    self, Arch, Counts, ImageHeader, Kind, RecordHeader, CODEC_LZ4, CODEC_NONE, CODEC_ZSTD,
    FLAG_LZ4, FLAG_ZSTD, FORMAT_VERSION, HEADER_LEN, MAGIC_PREFIX, MAX_FRAME_BYTES, MAX_META_BYTES,
    PAGE_SIZE, RECORD_HEADER_LEN, TRAILER_LEN,
};

/// One record after the metadata, as the reader hands it out. Data borrows the reader's
/// buffer until the next call.
#[derive(Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// Page contents at `addr` (`data.len()` is a multiple of 4096, at most one frame).
    Pages { addr: u64, data: &'a [u8] },
    /// `len` bytes of all-zero pages at `addr`: a fresh anonymous mapping already is that.
    Zero { addr: u64, len: u64 },
    /// A chunk of blob `id`; the chunks of one blob come in order: append them.
    Blob { id: u32, data: &'a [u8] },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Meta,
    Records,
    Done,
}

/// The decoding state machine over any [`Read`] (a file, a socket).
pub(crate) struct Decoder<R: Read> {
    input: BufReader<R>,
    header: ImageHeader,
    /// Bytes consumed so far: the position errors name.
    offset: u64,
    state: State,
    payload: Vec<u8>,
    raw: Vec<u8>,
    dec: FrameDecompressor,
    chain: u32,
    counts: Counts,
    stats: ImageStats,
    /// The blob being read: (id, offset its next chunk must start at).
    blob: Option<(u32, u64)>,
}

impl<R: Read> Decoder<R> {
    /// Reads and checks the header: magic, architecture, format version, checksum, flags.
    pub(crate) fn new(input: R) -> Result<Self, ImageError> {
        let mut input = BufReader::with_capacity(256 << 10, input);
        let mut b = [0u8; HEADER_LEN];
        let got = read_full(&mut input, &mut b[..8])?;
        if got < 8 || &b[..7] != MAGIC_PREFIX {
            let prefix_ok = got > 0 && b[..got.min(7)] == MAGIC_PREFIX[..got.min(7)];
            if prefix_ok && got < 8 {
                return Err(ImageError::Truncated {
                    offset: got as u64,
                    what: "the file header",
                });
            }
            let found = if got == 0 {
                "an empty input".to_string()
            } else {
                String::from_utf8_lossy(&b[..got])
                    .escape_debug()
                    .to_string()
            };
            return Err(ImageError::NotAnImage { found });
        }
        let host = Arch::host();
        if b[7] != host.tag() {
            let image = Arch::from_tag(b[7]).map_or_else(
                || format!("an unknown architecture (tag {})", b[7]),
                |a| a.name().into(),
            );
            return Err(ImageError::ForeignArch {
                image,
                host: host.name(),
            });
        }
        let got = read_full(&mut input, &mut b[8..16])?;
        if got < 8 {
            return Err(ImageError::Truncated {
                offset: 8 + got as u64,
                what: "the file header",
            });
        }
        let version = u32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        if version > FORMAT_VERSION {
            return Err(ImageError::NewerVersion {
                image: version,
                supported: FORMAT_VERSION,
            });
        }
        if version == 0 {
            return Err(ImageError::corrupt(8, "format version 0"));
        }
        let got = read_full(&mut input, &mut b[16..])?;
        if got < HEADER_LEN - 16 {
            return Err(ImageError::Truncated {
                offset: 16 + got as u64,
                what: "the file header",
            });
        }
        let header = ImageHeader::decode(&b)?;
        let counts = Counts {
            stored_bytes: HEADER_LEN as u64,
            ..Counts::default()
        };
        Ok(Decoder {
            input,
            header,
            offset: HEADER_LEN as u64,
            state: State::Meta,
            payload: Vec::new(),
            raw: Vec::new(),
            dec: FrameDecompressor::default(),
            chain: crc32c::crc32c(&b),
            counts,
            stats: ImageStats {
                stored_bytes: HEADER_LEN as u64,
                ..ImageStats::default()
            },
            blob: None,
        })
    }

    pub(crate) fn header(&self) -> &ImageHeader {
        &self.header
    }

    /// What was read so far; after the trailer, the whole image (trailer included).
    pub(crate) fn stats(&self) -> &ImageStats {
        &self.stats
    }

    /// Bytes consumed so far.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// True once the trailer was read and matched.
    pub(crate) fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Reads the metadata record and returns its serialized bytes, checked but not decoded.
    pub(crate) fn read_meta_bytes(&mut self) -> Result<&[u8], ImageError> {
        if self.state != State::Meta {
            return Err(ImageError::Usage(
                "metadata read twice or after the records".into(),
            ));
        }
        let at = self.offset;
        let h = self.read_record()?;
        if h.kind != Kind::Meta as u8 {
            return Err(ImageError::corrupt(
                at,
                "the first record is not the metadata",
            ));
        }
        self.state = State::Records;
        self.decoded(h, at)
    }

    /// The next record, borrowing an internal buffer; `Ok(None)` only after a valid trailer
    /// whose counts and checksum match. Skips the metadata if it was not read.
    pub(crate) fn next_record(&mut self) -> Result<Option<Record<'_>>, ImageError> {
        if self.state == State::Meta {
            self.read_meta_bytes()?;
        }
        if self.state == State::Done {
            return Ok(None);
        }
        let at = self.offset;
        let h = self.read_record()?;
        match Kind::from_u8(h.kind) {
            Some(Kind::Meta) => Err(ImageError::corrupt(at, "a second metadata record")),
            Some(Kind::End) => {
                self.check_trailer(at)?;
                Ok(None)
            }
            Some(Kind::Zero) => Ok(Some(Record::Zero {
                addr: h.pos,
                len: h.raw_len,
            })),
            Some(Kind::Pages) => {
                let addr = h.pos;
                let data = self.decoded(h, at)?;
                Ok(Some(Record::Pages { addr, data }))
            }
            Some(Kind::Blob) => {
                let expected = match self.blob {
                    Some((id, next)) if id == h.id => next,
                    _ => 0,
                };
                if h.pos != 0 && h.pos != expected {
                    return Err(ImageError::corrupt(at, "a blob chunk out of order"));
                }
                self.blob = Some((h.id, h.pos + h.raw_len));
                let id = h.id;
                let data = self.decoded(h, at)?;
                Ok(Some(Record::Blob { id, data }))
            }
            None => Err(ImageError::corrupt(at, "unknown record type")),
        }
    }

    /// After the trailer: fails if the input holds anything more (a file must end there).
    pub(crate) fn expect_eof(&mut self) -> Result<(), ImageError> {
        if self.state != State::Done {
            return Err(ImageError::Usage("expect_eof before the trailer".into()));
        }
        let mut one = [0u8; 1];
        if read_full(&mut self.input, &mut one)? != 0 {
            return Err(ImageError::corrupt(self.offset, "bytes after the trailer"));
        }
        Ok(())
    }

    /// Reads one record header and its stored payload into `self.payload`, checks limits
    /// (before allocating) and the checksum, and updates the running checksum and counts.
    fn read_record(&mut self) -> Result<RecordHeader, ImageError> {
        let at = self.offset;
        let mut hb = [0u8; RECORD_HEADER_LEN];
        let got = read_full(&mut self.input, &mut hb)?;
        if got < RECORD_HEADER_LEN {
            let what = if got == 0 {
                "the record list, before the trailer"
            } else {
                "a record header"
            };
            return Err(ImageError::Truncated {
                offset: at + got as u64,
                what,
            });
        }
        let (h, reserved, crc) = RecordHeader::decode(&hb);
        self.validate(&h, reserved, at)?;
        let n = h.stored_len as usize;
        if self.payload.len() < n {
            self.payload.resize(n, 0);
        }
        let got = read_full(&mut self.input, &mut self.payload[..n])?;
        if got < n {
            return Err(ImageError::Truncated {
                offset: at + (RECORD_HEADER_LEN + got) as u64,
                what: "a record payload",
            });
        }
        if format::record_crc(&hb, &self.payload[..n]) != crc {
            return Err(ImageError::corrupt(at, "record checksum mismatch"));
        }
        self.offset = at + (RECORD_HEADER_LEN + n) as u64;
        let size = (RECORD_HEADER_LEN + n) as u64;
        self.stats.stored_bytes += size;
        if h.kind == Kind::End as u8 {
            return Ok(h);
        }
        self.chain = format::chain(self.chain, crc);
        let c = &mut self.counts;
        c.records += 1;
        c.raw_bytes += h.raw_len;
        c.stored_bytes += size;
        let s = &mut self.stats;
        s.records += 1;
        s.raw_bytes += h.raw_len;
        let page = PAGE_SIZE as u64;
        match Kind::from_u8(h.kind) {
            Some(Kind::Pages) => {
                c.data_pages += h.raw_len / page;
                s.pages += h.raw_len / page;
            }
            Some(Kind::Zero) => {
                c.zero_pages += h.raw_len / page;
                s.zero_pages += h.raw_len / page;
            }
            Some(Kind::Blob) => {
                c.blob_records += 1;
                s.blob_bytes += h.raw_len;
            }
            _ => {}
        }
        if matches!(Kind::from_u8(h.kind), Some(Kind::Pages | Kind::Blob)) {
            if h.codec == CODEC_NONE {
                s.raw_records += 1;
            } else {
                s.compressed_records += 1;
            }
        }
        Ok(h)
    }

    /// Structural checks of a record header, all before any allocation.
    fn validate(&self, h: &RecordHeader, reserved: u16, at: u64) -> Result<(), ImageError> {
        let bad = |what: &str| Err(ImageError::corrupt(at, what));
        if reserved != 0 {
            return bad("reserved record bits set");
        }
        let Some(kind) = Kind::from_u8(h.kind) else {
            return bad("unknown record type");
        };
        let announced = match h.codec {
            CODEC_NONE => true,
            CODEC_LZ4 => self.header.incompat_flags & FLAG_LZ4 != 0,
            CODEC_ZSTD => self.header.incompat_flags & FLAG_ZSTD != 0,
            _ => return bad("unknown compression codec"),
        };
        if !announced {
            return bad("a record uses a codec the header does not announce");
        }
        let stored = u64::from(h.stored_len);
        let limit = match kind {
            Kind::Meta => MAX_META_BYTES,
            Kind::Pages | Kind::Blob => MAX_FRAME_BYTES,
            Kind::Zero => u64::MAX,
            Kind::End => TRAILER_LEN as u64,
        };
        if h.raw_len > limit {
            let what = if kind == Kind::Meta {
                "metadata"
            } else {
                "a record"
            };
            return Err(ImageError::TooLarge {
                what,
                size: h.raw_len,
                limit,
                offset: at,
            });
        }
        if stored > h.raw_len
            || (h.codec == CODEC_NONE && stored != h.raw_len && kind != Kind::Zero)
        {
            return bad("stored length does not fit the decoded length");
        }
        let page = PAGE_SIZE as u64;
        let pages_ok = h.raw_len > 0
            && h.raw_len.is_multiple_of(page)
            && h.pos.is_multiple_of(page)
            && h.pos.checked_add(h.raw_len).is_some()
            && h.id == 0;
        match kind {
            Kind::Meta if h.pos != 0 || h.id != 0 => bad("metadata record fields not zero"),
            Kind::Pages if !pages_ok => bad("page record not page-aligned"),
            Kind::Zero if !pages_ok || stored != 0 || h.codec != CODEC_NONE => {
                bad("zero record malformed")
            }
            Kind::Blob if h.pos.checked_add(h.raw_len).is_none() => bad("blob offset overflows"),
            Kind::End if h.raw_len != TRAILER_LEN as u64 || h.codec != CODEC_NONE => {
                bad("trailer malformed")
            }
            _ if self.state == State::Meta && kind != Kind::Meta => {
                bad("the first record is not the metadata")
            }
            _ => Ok(()),
        }
    }

    /// The decoded payload of the record just read (decompressed if needed).
    fn decoded(&mut self, h: RecordHeader, at: u64) -> Result<&[u8], ImageError> {
        let stored = h.stored_len as usize;
        // validate() capped raw_len at MAX_META_BYTES or MAX_FRAME_BYTES.
        let raw = h.raw_len as usize;
        if h.codec == CODEC_NONE {
            return Ok(&self.payload[..stored]);
        }
        if self.raw.len() < raw {
            self.raw.resize(raw, 0);
        }
        self.dec
            .decompress(h.codec, &self.payload[..stored], &mut self.raw[..raw], at)?;
        Ok(&self.raw[..raw])
    }

    fn check_trailer(&mut self, at: u64) -> Result<(), ImageError> {
        let Some((counts, chain)) = format::decode_trailer(&self.payload[..TRAILER_LEN]) else {
            return Err(ImageError::corrupt(at, "trailer malformed"));
        };
        if counts != self.counts {
            return Err(ImageError::corrupt(
                at,
                format!(
                    "the trailer counts {} records, {} pages, {} zero pages, but the image \
                     holds {}, {}, {}",
                    counts.records,
                    counts.data_pages,
                    counts.zero_pages,
                    self.counts.records,
                    self.counts.data_pages,
                    self.counts.zero_pages
                ),
            ));
        }
        if chain != self.chain {
            return Err(ImageError::corrupt(
                at,
                "running checksum mismatch (records reordered)",
            ));
        }
        self.state = State::Done;
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> Result<usize, ImageError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(ImageError::Io(e)),
        }
    }
    Ok(got)
}
