//! The checkpoint corpus, live-migrated: every guest started with `wend run` in node1 is
//! moved node1 -> node2 -> node3 -> home and must behave exactly as without a move.
//!
//! State guests (tests/guests, guest.h protocol) set up their state, print "ready" and wait
//! for their go file; the test moves them through the three hops while they wait, then creates
//! the go file, and each must print "verdict: ok" and exit 0. The compute guests (busy.c under a
//! 1 ms timer, the Rust sweep) are held by their gate at chosen percentages and moved while
//! they run between two of them; their result line must equal an unmoved local run's.

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};

use migrate_common::*;

/// The three hops every corpus program takes.
const HOPS: [&str; 3] = ["node2", "node3", "home"];

/// A state guest: ready, three hops while it waits, go, its own verdict.
/// Returns the failure, if any, with the guest's output and the daemons' logs.
fn state_guest(m: &MLab, name: &str, env: &[&str], args: &[&str]) -> Option<String> {
    let exe = m.guest(name);
    let exe = exe.to_str().unwrap();
    let go = m.join(&format!("{name}.go"));
    let _ = fs::remove_file(&go);
    let out_path = m.join(&format!("{name}.out"));
    // `env VAR=VALUE... GUEST`: env execs the guest, which keeps the pid.
    let mut argv = vec!["env"];
    argv.extend_from_slice(env);
    argv.extend_from_slice(&[exe, go.to_str().unwrap()]);
    argv.extend_from_slice(args);
    let mut g = m.run(
        name,
        &argv,
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    wait_for_text(&out_path, "ready\n", || g.context());
    for to in HOPS {
        g.migrate(to);
    }
    File::create(&go).unwrap();
    let st = g.wait();
    let out = fs::read_to_string(&out_path).unwrap();
    let ok = st.code() == Some(0) && out.contains("verdict: ok") && !out.contains("FAIL");
    (!ok).then(|| {
        format!(
            "{name} after node1 -> node2 -> node3 -> home: {st:?}, output:\n{out}\n{}",
            g.context()
        )
    })
}

#[test]
fn state_guests_keep_their_state_through_three_hops() {
    let m = MLab::up("state");
    let mark = format!("WEND_GUEST_MARK=mark-{}", std::process::id());
    let failures = [
        ("files", vec![], vec![]),
        ("memory", vec![], vec![]),
        ("brk", vec![], vec![]),
        ("regs", vec![], vec![]),
        ("tls", vec![], vec![]),
        ("xsave", vec![], vec![]),
        ("signals", vec![], vec![]),
        ("sigaltstack", vec![], vec![]),
        ("itimer", vec![], vec![]),
        ("pipe", vec![], vec![]),
        (
            "procinfo",
            vec![mark.as_str()],
            vec!["x", "an argument with spaces", "last"],
        ),
    ]
    .iter()
    .filter_map(|(name, env, args)| {
        // Every guest runs, whatever an earlier one did; a panic is that guest's failure.
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            state_guest(&m, name, env, args)
        }))
        .unwrap_or_else(|e| {
            let why = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Some(format!("{name}: {why}"))
        })
    })
    .collect::<Vec<_>>();
    assert!(
        failures.is_empty(),
        "{} guest(s) failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A gated compute guest (`EXE [..] GATE` protocol of busy.c and the sweep) moved while it
/// runs: the gate opens to a percentage, the move starts at once (the guest is computing
/// towards it), then the test waits until it got there on the new node.
fn gated(m: &MLab, tag: &str, argv_of: impl Fn(&Path) -> Vec<String>) {
    // The reference: an unmoved local run, with no gate.
    let none = m.join(&format!("{tag}.nogate"));
    let argv = argv_of(&none);
    let r = Command::new(&argv[0])
        .args(&argv[1..])
        .output()
        .expect("reference run");
    assert!(r.status.success(), "{tag} reference: {}", text(&r));
    let reference = String::from_utf8(r.stdout).unwrap();
    assert!(reference.starts_with("result "), "{reference}");

    let gate = m.join(&format!("{tag}.gate"));
    File::create(&gate).unwrap();
    let out_path = m.join(&format!("{tag}.out"));
    let argv = argv_of(&gate);
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut g = m.run(
        tag,
        &argv,
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    let stderr = m.join(&format!("{tag}.stderr"));
    for (to, p) in HOPS.into_iter().zip([20u64, 50, 80]) {
        let open = |p: u64| {
            fs::OpenOptions::new()
                .write(true)
                .open(&gate)
                .and_then(|f| f.set_len(p))
                .unwrap()
        };
        open(p - 10);
        wait_for_text(&stderr, &format!("progress {}\n", p - 10), || g.context());
        open(p);
        g.migrate(to);
        wait_for_text(&stderr, &format!("progress {p}\n"), || g.context());
    }
    fs::OpenOptions::new()
        .write(true)
        .open(&gate)
        .and_then(|f| f.set_len(100))
        .unwrap();
    let st = g.wait();
    let out = fs::read_to_string(&out_path).unwrap();
    assert!(
        st.code() == Some(0) && out == reference,
        "{tag} moved mid-run: {st:?}, result {out:?}, reference {reference:?}\n{}",
        g.context()
    );
}

#[test]
fn compute_guests_moved_mid_run_give_the_local_result() {
    let m = MLab::up("compute");
    let busy = m.guest("busy");
    gated(&m, "busy", |gate| {
        vec![
            busy.display().to_string(),
            gate.display().to_string(),
            "6000".to_owned(),
        ]
    });
    let sweep = support::rust_guest("wend-guest-sweep");
    let sweep_copy = m.join("wend-guest-sweep");
    fs::copy(&sweep, &sweep_copy).unwrap();
    gated(&m, "sweep", |gate| {
        vec![
            sweep_copy.display().to_string(),
            "6000".to_owned(),
            gate.display().to_string(),
        ]
    });
}

/// A shell script moved to node2 that then starts a program: the fork is a barrier, so the
/// shell comes home first and runs on there natively; it can move again afterwards, and its
/// output is the same as without any move.
#[test]
fn a_shell_that_forks_on_a_remote_comes_home_and_goes_on() {
    use std::io::Write;
    let m = MLab::up("barrier");
    let out_path = m.join("barrier.out");
    let script = "read a; echo \"first $a\"; read b; /bin/echo \"second $b\"; read c; \
                  echo \"third $c\"; exit 5";
    let mut g = m.run(
        "barrier",
        &["sh", "-c", script],
        Stdio::piped(),
        File::create(&out_path).unwrap().into(),
    );
    let mut stdin = g.take_stdin().unwrap();
    stdin.write_all(b"x\n").unwrap();
    wait_for_text(&out_path, "first x\n", || g.context());
    g.migrate("node2");
    // The shell reads on node2 (forwarded), then forks /bin/echo: home first.
    stdin.write_all(b"y\n").unwrap();
    wait_for_text(&out_path, "second y\n", || g.context());
    g.wait_where("home");
    g.migrate("node3");
    stdin.write_all(b"z\n").unwrap();
    drop(stdin);
    let st = g.wait();
    let out = fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        (st.code(), out.as_str()),
        (Some(5), "first x\nsecond y\nthird z\n"),
        "{}",
        g.context()
    );
}
