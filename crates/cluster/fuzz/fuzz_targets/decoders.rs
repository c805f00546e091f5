//! Every plaintext decoder over arbitrary bytes:
//! `cargo +nightly fuzz run decoders` in crates/cluster/fuzz.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    wend_cluster::fuzzing::decode_everything(data);
});
