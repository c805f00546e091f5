//! Images of format version 1, committed as files: every later wend must keep reading them
//! (docs/IMAGE_FORMAT.md, "Versions"), and today's writer must still produce the same record
//! bytes for uncompressed content (a format change without a version bump fails here).

use std::io::Cursor;

use wend_image::{
    Compression, ImageReader, ImageWriter, Record, WriteOptions, FORMAT_VERSION, HEADER_LEN,
};

type GoldenMeta = (String, u64, Vec<u32>);

const FIXTURES: [(&str, &[u8]); 3] = [
    ("v1-none", include_bytes!("fixtures/v1-none.img")),
    ("v1-lz4", include_bytes!("fixtures/v1-lz4.img")),
    ("v1-zstd", include_bytes!("fixtures/v1-zstd.img")),
];

/// The content the fixtures were written from.
fn golden_pages() -> Vec<u8> {
    let mut pages = vec![0u8; 6 * 4096];
    for (i, b) in pages[..3 * 4096].iter_mut().enumerate() {
        *b = b"wend golden image "[i % 18];
    }
    let mut x = 0x1234_5678_9abc_def1u64;
    for c in pages[5 * 4096..].chunks_mut(8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        c.copy_from_slice(&x.to_le_bytes());
    }
    pages
}

fn check<R: std::io::Read>(name: &str, mut r: ImageReader<R>) {
    assert_eq!(r.header().format_version, 1, "{name}");
    let meta: GoldenMeta = r.read_meta().unwrap();
    assert_eq!(meta, ("golden".to_string(), 42, vec![1, 2, 3]), "{name}");
    let want = golden_pages();
    let mut got = vec![0xeeu8; want.len()];
    let mut blob = Vec::new();
    while let Some(rec) = r.next_record().unwrap() {
        match rec {
            Record::Pages { addr, data } => {
                let at = (addr - 0x7000_0000) as usize;
                got[at..at + data.len()].copy_from_slice(data);
            }
            Record::Zero { addr, len } => {
                let at = (addr - 0x7000_0000) as usize;
                got[at..at + len as usize].fill(0);
            }
            Record::Blob { id, data } => {
                assert_eq!(id, 9);
                blob.extend_from_slice(data);
            }
        }
    }
    r.expect_eof().unwrap();
    assert!(got == want, "{name}: page contents differ");
    assert_eq!(blob, b"hello, blob", "{name}");
    assert_eq!(r.stats().pages, 4, "{name}");
    assert_eq!(r.stats().zero_pages, 2, "{name}");
}

#[test]
fn version_1_images_still_read() {
    for (name, bytes) in FIXTURES {
        check(name, ImageReader::new(bytes).unwrap());
        check(
            name,
            ImageReader::spawn(Cursor::new(bytes.to_vec())).unwrap(),
        );
    }
}

#[test]
fn uncompressed_records_are_byte_identical_to_version_1() {
    let opts = WriteOptions {
        compression: Compression::None,
        ..WriteOptions::default()
    };
    let mut w = ImageWriter::new(Vec::new(), &opts).unwrap();
    w.write_meta(&("golden".to_string(), 42u64, vec![1u32, 2, 3]))
        .unwrap();
    w.write_pages(0x7000_0000, &golden_pages()).unwrap();
    w.write_blob(9, b"hello, blob").unwrap();
    let (now, _) = w.finish().unwrap();
    let old = FIXTURES[0].1;
    if FORMAT_VERSION != 1 {
        return; // A new version may lay records out differently; reading is what must hold.
    }
    assert_eq!(now.len(), old.len());
    // Header: the same fixed fields (creation time, host and checksum differ by nature).
    assert_eq!(now[..24], old[..24]);
    assert_eq!(now[32..40], old[32..40]);
    // Records: identical (their checksums do not depend on the header).
    let trailer = old.len() - 96;
    assert!(
        now[HEADER_LEN..trailer] == old[HEADER_LEN..trailer],
        "record bytes changed"
    );
    // Trailer: same header and counts; the running checksum starts from the header's.
    assert_eq!(now[trailer..trailer + 28], old[trailer..trailer + 28]);
    assert_eq!(
        now[trailer + 32..trailer + 80],
        old[trailer + 32..trailer + 80]
    );
    assert_eq!(now[trailer + 84..], old[trailer + 84..]);
}
