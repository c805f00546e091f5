//! Real tools live-migrated in the middle of their work: each runs under `wend run` in node1
//! with its input a pipe from the test (its stdin, or a named pipe it opens by path) and
//! stdout a file, and is moved node1 -> node2 -> node3 -> home. The test feeds its input in four parts and makes each move while a part is being
//! fed, so the tool is reading and computing during the move, on whatever machine; it cannot
//! finish before the last move because its input is not all there yet. The output must be
//! byte-identical to a local run's, and the exit status the same.

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::io::Write;
use std::process::{Command, Stdio};

use migrate_common::*;

/// Deterministic text (see [`support::text::words`]).
fn text_input(total_kib: usize, unique_kib: usize) -> Vec<u8> {
    support::text::words(total_kib, unique_kib, 0x9e37_79b9_7f4a_7c15, 9)
}

/// Where a tool's input comes from: its stdin, or a named pipe (FIFO) it opens by the path
/// given in its arguments as `{in}`, so opening and reading a file by path go home too.
#[derive(Clone, Copy, PartialEq)]
enum Input {
    Stdin,
    Fifo,
}

type Sink = Box<dyn Write + Send>;

/// Writes `part` in a thread; the thread hands the pipe back.
fn feed(mut sink: Sink, part: Vec<u8>) -> std::thread::JoinHandle<Sink> {
    std::thread::spawn(move || {
        sink.write_all(&part)
            .expect("feeding the tool (did it die?)");
        sink
    })
}

/// Opens the write end of a FIFO in a thread (it blocks until the reader opens it).
fn open_fifo(path: &std::path::Path) -> std::thread::JoinHandle<Sink> {
    let path = path.to_owned();
    std::thread::spawn(move || {
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("opening {}: {e}", path.display()));
        Box::new(f) as Sink
    })
}

fn tool(m: &MLab, tag: &str, program: &str, args: &[&str], input: &[u8], via: Input) {
    let fifo = m.join(&format!("{tag}.fifo"));
    if via == Input::Fifo {
        let mk = Command::new("mkfifo").arg(&fifo).output().expect("mkfifo");
        assert!(mk.status.success(), "mkfifo: {}", text(&mk));
    }
    let fifo_s = fifo.display().to_string();
    let args: Vec<&str> = args
        .iter()
        .map(|a| if *a == "{in}" { fifo_s.as_str() } else { a })
        .collect();
    // The reference: a local run, unmanaged, its input through a pipe as well (gzip, for
    // one, writes another header for a pipe than for a file).
    let mut local = Command::new(program)
        .args(&args)
        .env("LC_ALL", "C")
        .stdin(if via == Input::Stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .spawn()
        .expect("reference run");
    let sink: Sink = match via {
        Input::Stdin => Box::new(local.stdin.take().unwrap()),
        Input::Fifo => open_fifo(&fifo).join().unwrap(),
    };
    // Dropped by the thread when written: the end of file.
    let whole = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let mut sink = sink;
        sink.write_all(&whole)
    });
    let r = local.wait_with_output().expect("reference run");
    feeder.join().unwrap().expect("feeding the reference run");
    assert!(!r.stdout.is_empty(), "{tag} reference printed nothing");

    let out_path = m.join(&format!("{tag}.out"));
    let mut argv = vec![program];
    argv.extend_from_slice(&args);
    let mut g = m.run(
        tag,
        &argv,
        if via == Input::Stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        },
        File::create(&out_path).unwrap().into(),
    );
    let mut stdin: Sink = match via {
        Input::Stdin => Box::new(g.take_stdin().unwrap()),
        Input::Fifo => open_fifo(&fifo).join().unwrap(),
    };
    let quarter = input.len() / 4;
    let parts: Vec<Vec<u8>> = (0..4)
        .map(|i| {
            let end = if i == 3 {
                input.len()
            } else {
                (i + 1) * quarter
            };
            input[i * quarter..end].to_vec()
        })
        .collect();
    stdin.write_all(&parts[0]).expect("feeding the tool");
    for (to, part) in ["node2", "node3", "home"].into_iter().zip(&parts[1..]) {
        let feeder = feed(stdin, part.clone());
        g.migrate(to);
        stdin = feeder
            .join()
            .unwrap_or_else(|_| panic!("feeding {tag} failed\n{}", g.context()));
    }
    drop(stdin);
    let st = g.wait();
    let got = fs::read(&out_path).unwrap();
    assert_eq!(
        st.code(),
        r.status.code(),
        "{tag}: exit status moved vs local\n{}",
        g.context()
    );
    if got != r.stdout {
        let at = got
            .iter()
            .zip(&r.stdout)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(r.stdout.len()));
        panic!(
            "{tag}: output of the moved run differs from the local run at byte {at} \
             ({} vs {} bytes)\n{}",
            got.len(),
            r.stdout.len(),
            g.context()
        );
    }
}

#[test]
fn compressors_and_a_hash_moved_mid_run_match_a_local_run() {
    let m = MLab::up("tools-z");
    tool(
        &m,
        "gzip",
        "gzip",
        &["-9", "-c"],
        &text_input(12 << 10, 2048),
        Input::Stdin,
    );
    tool(
        &m,
        "xz",
        "xz",
        &["-T1", "-9", "-c"],
        &text_input(3 << 10, 3 << 10),
        Input::Stdin,
    );
    tool(
        &m,
        "bzip2",
        "bzip2",
        &["-9", "-c"],
        &text_input(6 << 10, 2048),
        Input::Stdin,
    );
    tool(
        &m,
        "sha256sum",
        "sha256sum",
        &[],
        &text_input(64 << 10, 1024),
        Input::Stdin,
    );
}

#[test]
fn text_tools_moved_mid_run_match_a_local_run() {
    let m = MLab::up("tools-t");
    tool(
        &m,
        "sort",
        "sort",
        &["--parallel=1", "-S", "1G"],
        &text_input(8 << 10, 4096),
        Input::Stdin,
    );
    tool(
        &m,
        "awk",
        "awk",
        &["{ for (i = 1; i <= NF; i++) c[$i] += i } END { for (w in c) print w, c[w] }"],
        &text_input(8 << 10, 2048),
        Input::Stdin,
    );
    let bc_input = [
        "scale=900; 4*a(1)\n",
        "scale=900; e(1)\n",
        "scale=900; l(10)\n",
        "scale=900; s(1) + c(1)\n",
    ]
    .concat();
    tool(&m, "bc", "bc", &["-l"], bc_input.as_bytes(), Input::Stdin);
    let script = support::text::WORD_COUNT_PY;
    tool(
        &m,
        "python3",
        "python3",
        &["-c", script],
        &text_input(4 << 10, 4 << 10),
        Input::Stdin,
    );
}

/// Tools that open their input by path (a named pipe, fed in parts like stdin).
#[test]
fn tools_reading_a_named_file_moved_mid_run_match_a_local_run() {
    let m = MLab::up("tools-f");
    tool(
        &m,
        "xz-file",
        "xz",
        &["-T1", "-6", "-c", "{in}"],
        &text_input(4 << 10, 2 << 10),
        Input::Fifo,
    );
    tool(
        &m,
        "sha256sum-file",
        "sha256sum",
        &["{in}"],
        &text_input(32 << 10, 1024),
        Input::Fifo,
    );
    tool(
        &m,
        "awk-file",
        "awk",
        &[
            "{ n += NF; c += length($0) } END { print NR, n, c }",
            "{in}",
        ],
        &text_input(8 << 10, 2048),
        Input::Fifo,
    );
}
