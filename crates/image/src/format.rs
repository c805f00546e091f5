//! The byte layout of an image: constants, the file header, record headers and the trailer.
//! docs/IMAGE_FORMAT.md describes the same thing for humans; keep them in step.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::ImageError;

/// The image format's version, apart from the binary's. Bump it on any change a reader of the
/// previous version would misread, including any change to the serialized metadata model.
pub const FORMAT_VERSION: u32 = 1;

/// The page size every address and page length in an image is a multiple of.
pub const PAGE_SIZE: usize = 4096;

/// The common prefix of every image's magic; the eighth byte names the architecture.
pub const MAGIC_PREFIX: &[u8; 7] = b"WENDIMG";

/// Size of the version-1 file header.
pub const HEADER_LEN: usize = 128;
/// Size of every record header.
pub const RECORD_HEADER_LEN: usize = 32;
/// Size of the trailer record's payload.
pub const TRAILER_LEN: usize = 64;
/// The trailer payload ends with these bytes.
pub const TRAILER_MAGIC: &[u8; 8] = b"WENDEND\0";

/// The largest serialized metadata a reader accepts (checked before allocating).
pub const MAX_META_BYTES: u64 = 64 << 20;
/// The largest decoded payload of one page or blob record a reader accepts.
pub const MAX_FRAME_BYTES: u64 = 4 << 20;
/// The frame size the writer uses unless told otherwise.
pub const DEFAULT_FRAME_BYTES: usize = 1 << 20;

/// Incompatible header flag: records may be lz4-compressed.
pub const FLAG_LZ4: u32 = 1 << 0;
/// Incompatible header flag: records may be zstd-compressed.
pub const FLAG_ZSTD: u32 = 1 << 1;
/// The incompatible flags this reader understands; any other set bit is refused.
pub const KNOWN_INCOMPAT_FLAGS: u32 = FLAG_LZ4 | FLAG_ZSTD;

/// A CPU architecture, as tagged in the eighth magic byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Arch {
    X86_64,
    Aarch64,
    Riscv64,
}

impl Arch {
    /// The architecture this binary runs on (and writes images for).
    pub const fn host() -> Arch {
        #[cfg(target_arch = "aarch64")]
        return Arch::Aarch64;
        #[cfg(target_arch = "riscv64")]
        return Arch::Riscv64;
        #[cfg(not(any(target_arch = "aarch64", target_arch = "riscv64")))]
        return Arch::X86_64;
    }

    pub const fn tag(self) -> u8 {
        match self {
            Arch::X86_64 => 1,
            Arch::Aarch64 => 2,
            Arch::Riscv64 => 3,
        }
    }

    pub const fn from_tag(tag: u8) -> Option<Arch> {
        match tag {
            1 => Some(Arch::X86_64),
            2 => Some(Arch::Aarch64),
            3 => Some(Arch::Riscv64),
            _ => None,
        }
    }

    pub const fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
            Arch::Riscv64 => "riscv64",
        }
    }

    /// The full 8-byte magic of images for this architecture.
    pub const fn magic(self) -> [u8; 8] {
        let p = MAGIC_PREFIX;
        [p[0], p[1], p[2], p[3], p[4], p[5], p[6], self.tag()]
    }
}

/// The decoded file header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImageHeader {
    pub arch: Arch,
    pub format_version: u32,
    pub incompat_flags: u32,
    pub compat_flags: u32,
    /// Creation time, nanoseconds since the Unix epoch.
    pub created_unix_ns: u64,
    pub page_size: u32,
    /// The frame size the writer used (informational).
    pub frame_size: u32,
    /// The program that wrote the image, e.g. `wend 0.1.0`.
    pub creator: String,
    /// The host name of the machine that wrote the image.
    pub host: String,
}

impl ImageHeader {
    pub(crate) fn new(incompat_flags: u32, frame_size: u32) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        ImageHeader {
            arch: Arch::host(),
            format_version: FORMAT_VERSION,
            incompat_flags,
            compat_flags: 0,
            created_unix_ns: u64::try_from(created.as_nanos()).unwrap_or(u64::MAX),
            page_size: PAGE_SIZE as u32,
            frame_size,
            creator: format!("wend {}", env!("CARGO_PKG_VERSION")),
            host: host.trim().to_string(),
        }
    }

    /// Creation time as a [`SystemTime`].
    pub fn created(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.created_unix_ns)
    }

    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.arch.magic());
        b[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        b[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        b[16..20].copy_from_slice(&self.incompat_flags.to_le_bytes());
        b[20..24].copy_from_slice(&self.compat_flags.to_le_bytes());
        b[24..32].copy_from_slice(&self.created_unix_ns.to_le_bytes());
        b[32..36].copy_from_slice(&self.page_size.to_le_bytes());
        b[36..40].copy_from_slice(&self.frame_size.to_le_bytes());
        put_str(&mut b[40..72], &self.creator);
        put_str(&mut b[72..124], &self.host);
        let crc = crc32c::crc32c(&b[..124]);
        b[124..128].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes the rest of a version-1 header whose magic and version were already checked.
    pub(crate) fn decode(b: &[u8; HEADER_LEN]) -> Result<Self, ImageError> {
        let crc = crc32c::crc32c(&b[..124]);
        if crc != le32(b, 124) {
            return Err(ImageError::corrupt(0, "header checksum mismatch"));
        }
        let arch = Arch::from_tag(b[7])
            .ok_or_else(|| ImageError::corrupt(7, "unknown architecture tag"))?;
        let header = ImageHeader {
            arch,
            format_version: le32(b, 8),
            incompat_flags: le32(b, 16),
            compat_flags: le32(b, 20),
            created_unix_ns: le64(b, 24),
            page_size: le32(b, 32),
            frame_size: le32(b, 36),
            creator: get_str(&b[40..72]),
            host: get_str(&b[72..124]),
        };
        if le32(b, 12) as usize != HEADER_LEN {
            return Err(ImageError::corrupt(
                12,
                "header length is not 128 for format version 1",
            ));
        }
        let unknown = header.incompat_flags & !KNOWN_INCOMPAT_FLAGS;
        if unknown != 0 {
            return Err(ImageError::Unsupported {
                what: format!("header flags {unknown:#x}"),
            });
        }
        if header.page_size as usize != PAGE_SIZE {
            return Err(ImageError::Unsupported {
                what: format!(
                    "page size {} (this wend uses {PAGE_SIZE})",
                    header.page_size
                ),
            });
        }
        Ok(header)
    }
}

/// Record kinds (first byte of a record header).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    Meta = 1,
    Pages = 2,
    Zero = 3,
    Blob = 4,
    End = 0x7f,
}

impl Kind {
    pub fn from_u8(v: u8) -> Option<Kind> {
        match v {
            1 => Some(Kind::Meta),
            2 => Some(Kind::Pages),
            3 => Some(Kind::Zero),
            4 => Some(Kind::Blob),
            0x7f => Some(Kind::End),
            _ => None,
        }
    }
}

/// Payload codecs (second byte of a record header).
pub const CODEC_NONE: u8 = 0;
pub const CODEC_LZ4: u8 = 1;
pub const CODEC_ZSTD: u8 = 2;

/// A decoded record header; the checksum field is kept apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: u8,
    pub codec: u8,
    pub stored_len: u32,
    pub raw_len: u64,
    pub pos: u64,
    pub id: u32,
}

impl RecordHeader {
    /// Encodes everything but the checksum (bytes 28..32 are left zero).
    pub fn encode(&self) -> [u8; RECORD_HEADER_LEN] {
        let mut b = [0u8; RECORD_HEADER_LEN];
        b[0] = self.kind;
        b[1] = self.codec;
        b[4..8].copy_from_slice(&self.stored_len.to_le_bytes());
        b[8..16].copy_from_slice(&self.raw_len.to_le_bytes());
        b[16..24].copy_from_slice(&self.pos.to_le_bytes());
        b[24..28].copy_from_slice(&self.id.to_le_bytes());
        b
    }

    /// Decodes a header; returns it, the reserved field and the stored checksum.
    pub fn decode(b: &[u8; RECORD_HEADER_LEN]) -> (RecordHeader, u16, u32) {
        let h = RecordHeader {
            kind: b[0],
            codec: b[1],
            stored_len: le32(b, 4),
            raw_len: le64(b, 8),
            pos: le64(b, 16),
            id: le32(b, 24),
        };
        (h, u16::from_le_bytes([b[2], b[3]]), le32(b, 28))
    }
}

/// The record checksum: crc32c over header bytes 0..28, then the stored payload.
pub fn record_crc(header: &[u8; RECORD_HEADER_LEN], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[..28]), payload)
}

/// Extends the running checksum by one record's checksum.
pub fn chain(running: u32, record_crc: u32) -> u32 {
    crc32c::crc32c_append(running, &record_crc.to_le_bytes())
}

/// Counts the trailer carries, and which the reader recomputes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Records before the trailer (metadata, pages, zero runs, blobs).
    pub records: u64,
    /// Pages stored with their contents.
    pub data_pages: u64,
    /// Pages elided because they were all zero.
    pub zero_pages: u64,
    /// Blob records (a large blob takes several).
    pub blob_records: u64,
    /// Bytes the records stand for once decoded (metadata, pages incl. zero runs, blobs).
    pub raw_bytes: u64,
    /// Bytes of the file before the trailer (header and all records).
    pub stored_bytes: u64,
}

pub fn encode_trailer(c: &Counts, chain: u32) -> [u8; TRAILER_LEN] {
    let mut b = [0u8; TRAILER_LEN];
    for (i, v) in [
        c.records,
        c.data_pages,
        c.zero_pages,
        c.blob_records,
        c.raw_bytes,
        c.stored_bytes,
    ]
    .into_iter()
    .enumerate()
    {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    b[48..52].copy_from_slice(&chain.to_le_bytes());
    b[56..64].copy_from_slice(TRAILER_MAGIC);
    b
}

/// Decodes a trailer payload into its counts and running checksum; None if malformed.
pub fn decode_trailer(b: &[u8]) -> Option<(Counts, u32)> {
    if b.len() != TRAILER_LEN || &b[56..64] != TRAILER_MAGIC || le32(b, 52) != 0 {
        return None;
    }
    let c = Counts {
        records: le64(b, 0),
        data_pages: le64(b, 8),
        zero_pages: le64(b, 16),
        blob_records: le64(b, 24),
        raw_bytes: le64(b, 32),
        stored_bytes: le64(b, 40),
    };
    Some((c, le32(b, 48)))
}

fn put_str(dst: &mut [u8], s: &str) {
    // Truncate on a character boundary so the field stays valid UTF-8.
    let mut n = s.len().min(dst.len());
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    dst[..n].copy_from_slice(&s.as_bytes()[..n]);
}

fn get_str(src: &[u8]) -> String {
    let end = src.iter().position(|&c| c == 0).unwrap_or(src.len());
    String::from_utf8_lossy(&src[..end]).into_owned()
}

fn le32(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}
