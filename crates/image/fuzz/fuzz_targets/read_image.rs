//! Any input: the reader and `inspect` must return (Ok or a typed error), never panic, never
//! allocate beyond their limits (libFuzzer's -rss_limit_mb catches that).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wend_image::{inspect, ImageReader, Record};

fuzz_target!(|data: &[u8]| {
    if let Ok(mut reader) = ImageReader::new(data) {
        if reader.read_meta_bytes().is_ok() {
            let mut total = 0u64;
            while let Ok(Some(record)) = reader.next_record() {
                total = total.wrapping_add(match record {
                    Record::Pages { data, .. } | Record::Blob { data, .. } => data.len() as u64,
                    Record::Zero { len, .. } => len,
                });
            }
            std::hint::black_box(total);
        }
    }
    let _ = inspect(data);
});
