//! A live node fed arbitrary datagrams, raw and sealed with the cluster key
//! (an insider): `cargo +nightly fuzz run node` in crates/cluster/fuzz.
#![no_main]

use std::time::Duration;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut node = wend_cluster::fuzzing::target_node();
    wend_cluster::fuzzing::feed_node(&mut node, data, Duration::from_secs(1));
});
