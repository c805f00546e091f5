//! Every way an input can be wrong gives its own typed error, with a message naming the fix.

mod common;

use common::{meta, read_all, sample_image, Meta};
use wend_image::{Compression, ImageError, ImageReader, ImageWriter, WriteOptions, FORMAT_VERSION};

fn image() -> Vec<u8> {
    sample_image(Compression::Lz4, 64, false)
}

/// Recomputes the header checksum after a test edits a header field.
fn reseal_header(b: &mut [u8]) {
    let crc = crc32c_of(&b[..124]);
    b[124..128].copy_from_slice(&crc.to_le_bytes());
}

fn crc32c_of(data: &[u8]) -> u32 {
    // Bitwise CRC-32C (Castagnoli), independent of the codec's implementation.
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0x82f6_3b78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn header_checksum_is_crc32c() {
    let b = image();
    assert_eq!(crc32c_of(&b[..124]).to_le_bytes(), b[124..128]);
}

#[test]
fn not_an_image() {
    for input in [
        &b""[..],
        b"hello world, this is no image at all",
        b"\x7fELF\x02\x01\x01\0",
    ] {
        let err = ImageReader::new(input).err().unwrap();
        assert!(matches!(err, ImageError::NotAnImage { .. }), "{err}");
        assert!(err.to_string().contains("not a wend image"), "{err}");
        assert!(err.is_bad_input());
    }
}

#[test]
fn foreign_arch() {
    let mut b = image();
    b[7] = if b[7] == 2 { 1 } else { 2 };
    let err = ImageReader::new(&b[..]).err().unwrap();
    match &err {
        ImageError::ForeignArch { image, host } => {
            assert_ne!(image, host);
            assert!(err.to_string().contains("restore it on a"), "{err}");
        }
        other => panic!("expected ForeignArch, got {other:?}"),
    }
    b[7] = 200;
    let err = ImageReader::new(&b[..]).err().unwrap();
    assert!(err.to_string().contains("unknown architecture"), "{err}");
}

#[test]
fn newer_version() {
    let mut b = image();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let err = ImageReader::new(&b[..]).err().unwrap();
    match err {
        ImageError::NewerVersion { image, supported } => {
            assert_eq!(image, FORMAT_VERSION + 1);
            assert_eq!(supported, FORMAT_VERSION);
        }
        other => panic!("expected NewerVersion, got {other:?}"),
    }
    let msg = ImageReader::new(&b[..]).err().unwrap().to_string();
    assert!(msg.contains("upgrade wend"), "{msg}");
}

#[test]
fn unknown_incompatible_flag_is_unsupported() {
    let mut b = image();
    b[16] |= 0x80;
    reseal_header(&mut b);
    let err = ImageReader::new(&b[..]).err().unwrap();
    assert!(matches!(err, ImageError::Unsupported { .. }), "{err:?}");
}

#[test]
fn unknown_compatible_flag_is_ignored() {
    let mut b = image();
    b[20] |= 0x80;
    reseal_header(&mut b);
    read_all(&b).unwrap();
}

#[test]
fn corrupt_header() {
    let mut b = image();
    b[50] ^= 1;
    let err = ImageReader::new(&b[..]).err().unwrap();
    assert!(
        matches!(err, ImageError::Corrupt { offset: 0, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("take a new checkpoint"), "{err}");
}

#[test]
fn corrupt_payload_byte_is_caught_by_the_record_checksum() {
    let clean = image();
    // Flip one byte in the middle of the page data.
    let mut b = clean.clone();
    let at = b.len() / 2;
    b[at] ^= 0x10;
    let err = read_all(&b).err().unwrap();
    match err {
        ImageError::Corrupt { offset, ref what } => {
            assert!(offset <= at as u64, "{err}");
            assert!(
                what.contains("checksum") || what.contains("malformed"),
                "{err}"
            );
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn truncated_everywhere() {
    let b = image();
    for cut in [
        9,
        20,
        127,
        128,
        140,
        200,
        b.len() / 2,
        b.len() - 65,
        b.len() - 1,
    ] {
        let err = read_all(&b[..cut]).err().unwrap();
        match &err {
            ImageError::Truncated { offset, .. } => assert!(*offset <= cut as u64, "{err}"),
            other => panic!("cut at {cut}: expected Truncated, got {other:?}"),
        }
        assert!(err.to_string().contains("truncated"), "{err}");
    }
    // Only the magic prefix, cut short.
    let err = ImageReader::new(&b[..5]).err().unwrap();
    assert!(matches!(err, ImageError::Truncated { .. }), "{err:?}");
}

#[test]
fn missing_trailer_is_truncation_not_success() {
    let b = image();
    // Drop exactly the trailer record: a clean record boundary, still incomplete.
    let err = read_all(&b[..b.len() - 96]).err().unwrap();
    assert!(matches!(err, ImageError::Truncated { .. }), "{err:?}");
}

#[test]
fn trailing_garbage_is_corrupt() {
    let mut b = image();
    b.extend_from_slice(b"junk");
    let err = read_all(&b).err().unwrap();
    assert!(matches!(err, ImageError::Corrupt { .. }), "{err:?}");
}

#[test]
fn dropped_record_breaks_trailer_counts() {
    // Two separate blobs, then remove the second record entirely (header + payload): every
    // record stays intact, only the trailer can tell.
    let mut w = ImageWriter::new(
        Vec::new(),
        &WriteOptions {
            compression: Compression::None,
            ..Default::default()
        },
    )
    .unwrap();
    w.write_meta(&meta()).unwrap();
    w.write_blob(1, b"first").unwrap();
    w.write_blob(2, b"second").unwrap();
    let (b, _) = w.finish().unwrap();
    let meta_len = 32 + u32::from_le_bytes(b[132..136].try_into().unwrap()) as usize;
    let first = 128 + meta_len;
    let first_len = 32 + 5;
    let mut cut = b[..first].to_vec();
    cut.extend_from_slice(&b[first + first_len..]);
    let err = read_all(&cut).err().unwrap();
    match err {
        ImageError::Corrupt { what, .. } => assert!(what.contains("trailer counts"), "{what}"),
        other => panic!("expected Corrupt, got {other:?}"),
    }
}

#[test]
fn oversized_metadata_is_refused_before_allocating() {
    let mut b = image();
    // The metadata record header starts at 128; raw_len lives at +8.
    b[136..144].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let err = read_all(&b).err().unwrap();
    match err {
        ImageError::TooLarge { size, limit, .. } => {
            assert_eq!(size, 1 << 40);
            assert_eq!(limit, wend_image::MAX_META_BYTES);
        }
        other => panic!("expected TooLarge, got {other:?}"),
    }
}

#[test]
fn wrong_metadata_type_is_meta_decode() {
    let b = image();
    let mut r = ImageReader::new(&b[..]).unwrap();
    let err = r
        .read_meta::<(u64, [u64; 32], String, String)>()
        .err()
        .unwrap();
    assert!(matches!(err, ImageError::MetaDecode(_)), "{err:?}");
}

#[test]
fn writer_misuse_is_reported() {
    let mut w = ImageWriter::new(Vec::new(), &WriteOptions::default()).unwrap();
    assert!(matches!(
        w.write_pages(0, &[0; 4096]),
        Err(ImageError::Usage(_))
    ));
    w.write_meta(&meta()).unwrap();
    assert!(matches!(w.write_meta(&meta()), Err(ImageError::Usage(_))));
    assert!(matches!(
        w.write_pages(1, &[0; 4096]),
        Err(ImageError::Usage(_))
    ));
    assert!(matches!(
        w.write_pages(0, &[0; 100]),
        Err(ImageError::Usage(_))
    ));
    let bad = WriteOptions {
        frame_size: 1000,
        ..WriteOptions::default()
    };
    assert!(matches!(
        ImageWriter::new(Vec::new(), &bad),
        Err(ImageError::Usage(_))
    ));
    let m: Meta = read_all(&w.finish().unwrap().0).unwrap().0;
    assert_eq!(m, meta());
}

/// A sink that fails after `left` bytes, like a full disk.
struct FullDisk {
    left: usize,
}

impl std::io::Write for FullDisk {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Err(std::io::Error::from_raw_os_error(28));
        }
        let n = buf.len().min(self.left);
        self.left -= n;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_surface_from_the_background_thread() {
    let mut w = ImageWriter::spawn(
        FullDisk { left: 3 << 20 },
        &WriteOptions {
            compression: Compression::None,
            ..Default::default()
        },
    )
    .unwrap();
    w.write_meta(&meta()).unwrap();
    let data = common::mixed_pages(3, 256);
    let mut failed = None;
    for i in 0..64u64 {
        if let Err(e) = w.write_pages(i << 20, &data) {
            failed = Some(e);
            break;
        }
    }
    let err = match failed {
        Some(e) => e,
        None => w.finish().err().unwrap(),
    };
    assert!(matches!(err, ImageError::Io(_)), "{err:?}");
    assert!(err.to_string().contains("free space"), "{err}");
}
