//! `wend-guest-state GO_FILE WORKDIR`: a self-checking Rust guest for the corpus protocol
//! (`ready`, wait for the go file, check, `verdict: ok`). It holds heap structures, a std
//! file being read and another being written, its arguments and the monotonic clock.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::PathBuf;
use std::time::Instant;

use wend_guests::{wait_for_go, Rng};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: wend-guest-state GO_FILE WORKDIR");
        std::process::exit(2);
    }
    let go = PathBuf::from(&args[1]);
    let dir = PathBuf::from(&args[2]);
    let mut rng = Rng::new(99);
    let map: BTreeMap<u64, String> = (0..10_000)
        .map(|i| (rng.next_u64(), format!("value {i}")))
        .collect();
    let boxed: Box<[u64]> = (0..1_000_000u64).map(|i| i * i).collect();
    let input = dir.join("state-input.txt");
    std::fs::write(
        &input,
        (0..1000).map(|i| format!("{i:04}\n")).collect::<String>(),
    )
    .expect("writing the input");
    let mut reader = File::open(&input).expect("opening the input");
    let mut first = [0u8; 50];
    reader.read_exact(&mut first).expect("reading the input");
    let output = dir.join("state-output.txt");
    let mut writer = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&output)
        .expect("creating the output");
    writer.write_all(b"before\n").expect("writing the output");
    let t0 = Instant::now();
    println!("ready");

    wait_for_go(&go);

    let mut failures = Vec::new();
    let mut rng = Rng::new(99);
    for i in 0..10_000 {
        let k = rng.next_u64();
        if map.get(&k).map(String::as_str) != Some(format!("value {i}").as_str()) {
            failures.push(format!("map entry {i} lost"));
            break;
        }
    }
    if boxed
        .iter()
        .enumerate()
        .any(|(i, v)| *v != (i as u64) * (i as u64))
    {
        failures.push("boxed slice changed".to_string());
    }
    let mut next = [0u8; 5];
    match reader.read_exact(&mut next) {
        Ok(()) if &next == b"0010\n" => {}
        other => failures.push(format!("input read continued wrongly: {other:?} {next:?}")),
    }
    if reader.stream_position().ok() != Some(55) {
        failures.push("input offset lost".to_string());
    }
    writer.write_all(b"after\n").expect("writing the output");
    writer.flush().expect("flushing the output");
    match std::fs::read_to_string(&output) {
        Ok(s) if s == "before\nafter\n" => {}
        other => failures.push(format!("output file reads {other:?}")),
    }
    let mut again = File::open(&output).expect("reopening the output");
    again.seek(SeekFrom::End(0)).expect("seek");
    if t0.elapsed().as_nanos() == 0 {
        failures.push("monotonic clock stood still".to_string());
    }
    if std::env::args().nth(2).as_deref() != Some(args[2].as_str()) {
        failures.push("arguments changed".to_string());
    }
    for f in &failures {
        println!("FAIL: {f}");
    }
    if failures.is_empty() {
        println!("verdict: ok");
    } else {
        println!("verdict: fail ({})", failures.len());
        std::process::exit(1);
    }
}
