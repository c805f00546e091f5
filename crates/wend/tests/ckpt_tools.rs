//! Real tools checkpointed in the middle of their work. Each tool reads stdin from a file
//! and writes stdout to a file (both reopened by path and offset on restore). One run is
//! checkpointed with --leave-running at 25%, 50% and 75% of the CPU time an uninterrupted
//! run takes; the original must still produce the reference output; then each image is
//! restored over an output file filled with poison bytes, and the restored copy must write
//! exactly the reference bytes from where the original stood at its checkpoint to the end.

mod support;

use std::fs::{self, File};
use std::path::Path;
use std::process::Stdio;

use support::*;

const POISON: u8 = 0xa5;

/// Deterministic text (see [`support::text::words`]).
fn text(total_kib: usize, unique_kib: usize) -> Vec<u8> {
    support::text::words(total_kib, unique_kib, 0x2545_f491_4f6c_dd1d, 8)
}

/// Runs PROGRAM ARGS with stdin from `input`, stdout to `output`; returns the process.
fn start(scene: &Scene, program: &str, args: &[&str], input: &Path, output: &Path) -> Proc {
    let mut cmd = scene.command(Path::new(program));
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(File::open(input).unwrap())
        .stdout(File::create(output).unwrap())
        .stderr(Stdio::piped());
    Proc::spawn(program, &mut cmd)
}

fn tool(tag: &str, program: &str, args: &[&str], input: &[u8]) {
    let scene = Scene::new(tag);
    let input_path = scene.join("input");
    fs::write(&input_path, input).unwrap();

    // The uninterrupted reference run, and how much CPU time it needs.
    let reference_path = scene.join("reference");
    let mut r = start(&scene, program, args, &input_path, &reference_path);
    // Its CPU time read from the zombie, before it is reaped: the whole run, its last
    // burst (sort writes everything at the end) included.
    assert!(
        wait_until(T_WEND, || state(r.pid()).is_none_or(|c| c == 'Z')),
        "{program} reference run did not end"
    );
    let ref_ticks = cpu_ticks(r.pid()).expect("the reference run's CPU time");
    let st = r.wait_exit(T_GUEST);
    assert!(st.success(), "{program} failed: {}", r.stderr.text());
    let reference = fs::read(&reference_path).unwrap();
    assert!(!reference.is_empty());

    // One run, checkpointed at three points with --leave-running. This VM's speed moves by
    // more than a quarter between runs, so a run that ends before its last point is run
    // again, paced by the CPU time that run itself took.
    let output = scene.join("output");
    let mut pace = ref_ticks;
    let mut images = None;
    let mut misses = Vec::new();
    for attempt in 0..3 {
        let run = checkpointed_run(
            &scene,
            tag,
            program,
            args,
            &input_path,
            &output,
            pace,
            attempt,
        );
        assert!(
            fs::read(&output).unwrap() == reference,
            "{program}: the original's output changed by being checkpointed"
        );
        match run {
            Ok(taken) => {
                images = Some(taken);
                break;
            }
            Err((missed, ticks)) => {
                misses.push(missed);
                pace = pace.min(ticks.max(4));
            }
        }
    }
    let images = images.unwrap_or_else(|| {
        panic!(
            "{program} ended before all checkpoints in every run (reference {ref_ticks} ticks): {}",
            misses.join("; ")
        )
    });

    for Image {
        path: image,
        pos,
        ticks,
    } in &images
    {
        fs::write(&output, vec![POISON; reference.len()]).unwrap();
        let out = scene.restore(image, false).finish(T_WEND);
        assert_eq!(
            out.code,
            0,
            "{program}: restoring {}:\n{out}",
            image.display()
        );
        let got = fs::read(&output).unwrap();
        assert_eq!(
            got.len(),
            reference.len(),
            "{program}: restored output has the wrong length ({})",
            image.display()
        );
        // The restored copy wrote got[j..]; everything before is untouched poison.
        let j = (0..got.len())
            .rev()
            .find(|&i| got[i] != reference[i])
            .map_or(0, |i| i + 1);
        assert!(
            got[..j].iter().all(|&b| b == POISON),
            "{program}: restored output differs from the reference at byte {} ({}, taken at {ticks} of {ref_ticks} ticks)",
            j - 1,
            image.display()
        );
        if let Some(pos) = pos {
            assert!(
                j as u64 <= *pos,
                "{program}: the restored copy did not write bytes {j}..{pos} ({})",
                image.display()
            );
        }
    }
}

/// An image taken of a running tool: where its output stood just after, and its CPU ticks.
struct Image {
    path: std::path::PathBuf,
    pos: Option<u64>,
    ticks: u64,
}

/// One run of PROGRAM checkpointed with --leave-running at 25, 50 and 75 % of `pace` CPU
/// ticks; waits for its successful end. The images with where the output stood and the
/// ticks at each, or (what was missed, the CPU ticks the whole run took) if it ended
/// before its last point.
#[allow(clippy::too_many_arguments)]
fn checkpointed_run(
    scene: &Scene,
    tag: &str,
    program: &str,
    args: &[&str],
    input: &Path,
    output: &Path,
    pace: u64,
    attempt: u32,
) -> Result<Vec<Image>, (String, u64)> {
    // Throttled to 1% of a CPU while an image is written, the tool cannot reach its end
    // (or the next point) during a checkpoint, however slow or loaded the machine is.
    let throttle = Throttle::new(&format!("{tag}-{attempt}"));
    let mut g = start(scene, program, args, input, output);
    let pid = g.pid();
    throttle.add(pid);
    let mut images = Vec::new();
    let mut missed = None;
    for k in 1..=3u64 {
        let goal = pace * k / 4;
        let reached = wait_until(T_WEND, || cpu_ticks(pid).is_none_or(|t| t >= goal));
        if !reached || !alive(pid) {
            missed = Some(format!(
                "attempt {attempt} paced by {pace} ticks, point {k}: goal {goal} ticks reached {reached}, process at {:?} ticks, state {:?}",
                cpu_ticks(pid),
                state(pid)
            ));
            break;
        }
        throttle.slow();
        let image = scene.join(&format!("image-{attempt}-{k}.wend"));
        let out = scene.checkpoint(pid, &image, true);
        // Where the original's output stood just after the checkpoint (at or past where it
        // stood at the snapshot): the restored copy must have written at least everything
        // from there on. Unknown if the original is gone.
        let pos = fd_pos(pid, 1);
        let ticks = cpu_ticks(pid);
        throttle.release();
        out.assert_ok();
        images.push(Image {
            path: image,
            pos,
            ticks: ticks.unwrap_or(0),
        });
    }
    // The whole run's CPU time, read from the zombie before it is reaped.
    assert!(
        wait_until(T_WEND, || state(pid).is_none_or(|c| c == 'Z')),
        "{program} did not end after its checkpoints"
    );
    let total = cpu_ticks(pid).unwrap_or(0);
    let st = g.wait_exit(T_WEND);
    assert!(
        st.success(),
        "{program} failed after checkpoints: {}",
        g.stderr.text()
    );
    match missed {
        None => Ok(images),
        Some(m) => Err((m, total)),
    }
}

#[test]
fn gzip_restored_mid_run_matches() {
    tool("tool-gzip", "gzip", &["-6", "-c"], &text(40 << 10, 2048));
}

#[test]
fn xz_restored_mid_run_matches() {
    tool("tool-xz", "xz", &["-T1", "-6", "-c"], &text(2048, 2048));
}

#[test]
fn bzip2_restored_mid_run_matches() {
    tool("tool-bzip2", "bzip2", &["-9", "-c"], &text(12 << 10, 2048));
}

#[test]
fn sha256sum_restored_mid_run_matches() {
    tool("tool-sha256sum", "sha256sum", &[], &text(128 << 10, 1024));
}

#[test]
fn sort_restored_mid_run_matches() {
    tool(
        "tool-sort",
        "sort",
        &["--parallel=1", "-S", "1G"],
        &text(32 << 10, 4096),
    );
}

#[test]
fn awk_restored_mid_run_matches() {
    tool(
        "tool-awk",
        "awk",
        &["{ for (i = 1; i <= NF; i++) c[$i] += i } END { for (w in c) print w, c[w] }"],
        &text(48 << 10, 2048),
    );
}

#[test]
fn bc_restored_mid_run_matches() {
    tool("tool-bc", "bc", &["-l"], b"scale=2000; 4*a(1)\n");
}

#[test]
fn python3_restored_mid_run_matches() {
    let python = if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    let script = support::text::WORD_COUNT_PY;
    tool(
        "tool-python3",
        python,
        &["-c", script],
        &text(8 << 10, 8 << 10),
    );
}
