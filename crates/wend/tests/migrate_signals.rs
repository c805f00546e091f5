//! Signals and exits of a migrated process (guest m_sig.c on node2, home node1): signals sent
//! with kill(1) to its home pid reach it, STOP and CONT stop and resume it, an exit status
//! comes back through `wend run` ($?), and so does death by a signal.

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use migrate_common::*;

/// The number of the last "tick N" line in `out`.
fn last_tick(out: &str) -> Option<u64> {
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix("tick ")?.parse().ok())
}

/// Waits until the guest prints a tick after `after`.
fn wait_tick_after(path: &Path, after: u64, g: &Managed<'_>) {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let out = fs::read_to_string(path).unwrap_or_default();
        if last_tick(&out).is_some_and(|t| t > after) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no tick after {after}; output:\n{out}\n{}",
            g.context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn signals_stop_cont_and_exit_status_reach_a_remote_process() {
    let m = MLab::up("signals");
    let exe = m.guest("m_sig");
    let exe = exe.to_str().unwrap();

    // Handlers for five signals, an exit status of 42.
    let ctl = m.join("sig.ctl");
    let out_path = m.join("sig.out");
    let mut g = m.run(
        "sig",
        &[exe, ctl.to_str().unwrap(), "handlers"],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    wait_for_text(&out_path, "ready\n", || g.context());
    g.migrate("node2");
    for (i, sig) in ["TERM", "INT", "HUP", "USR1", "USR2"]
        .into_iter()
        .enumerate()
    {
        g.kill(sig);
        let out = wait_for_text(&out_path, &format!("got {sig}\n"), || g.context());
        assert_eq!(
            out.matches("got ").count(),
            i + 1,
            "one line per signal: {out}"
        );
    }
    g.wait_where("node2");

    // STOP: no progress while stopped (seen over a while), then CONT resumes it.
    g.kill("STOP");
    let mut last = None;
    m.wait_until("the stopped process prints no more ticks", || {
        let t = last_tick(&fs::read_to_string(&out_path).unwrap());
        let same = t == last;
        last = t;
        if !same {
            std::thread::sleep(Duration::from_millis(500));
        }
        same
    });
    std::thread::sleep(Duration::from_secs(2));
    let stopped_at = last_tick(&fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(
        Some(stopped_at),
        last,
        "the process went on while stopped\n{}",
        g.context()
    );
    g.kill("CONT");
    wait_tick_after(&out_path, stopped_at, &g);
    g.wait_where("node2");

    fs::write(&ctl, "42\n").unwrap();
    let st = g.wait();
    let out = fs::read_to_string(&out_path).unwrap();
    assert_eq!(
        st.code(),
        Some(42),
        "exit status through wend run; output:\n{out}\n{}",
        g.context()
    );
    assert!(out.contains("exiting 42\n"), "{out}");
    drop(g);

    // The same through a shell: `$?` is the status.
    let ctl = m.join("sh.ctl");
    let out_path = m.join("sh.out");
    let status_path = m.join("sh.status");
    let script = format!(
        "\"$0\" run --lock -- {exe} {} handlers; echo $? > {}",
        ctl.display(),
        status_path.display()
    );
    let mut sh = m.run(
        "sh",
        &["sh", "-c", &script, WEND],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    // `m.run` manages the shell itself; the guest is the one run by the inner `wend run`.
    let mut guest_pid = None;
    m.wait_until("node1 lists the shell's guest", || {
        guest_pid = m
            .ps("node1")
            .into_iter()
            .find(|p| p.cmd.contains("m_sig") && p.pid != sh.pid)
            .map(|p| p.pid);
        guest_pid.is_some()
    });
    let guest_pid = guest_pid.unwrap();
    wait_for_text(&out_path, "ready\n", || sh.context());
    let out = m.migrate_cmd(guest_pid, "node3");
    assert!(out.status.success(), "{}\n{}", text(&out), sh.context());
    fs::write(&ctl, "7\n").unwrap();
    let st = sh.wait();
    assert_eq!(st.code(), Some(0), "{}", sh.context());
    assert_eq!(
        fs::read_to_string(&status_path).unwrap().trim(),
        "7",
        "$? of wend run\n{}",
        sh.context()
    );
}

#[test]
fn death_by_signal_propagates() {
    let m = MLab::up("sigdeath");
    let exe = m.guest("m_sig");
    let exe = exe.to_str().unwrap();
    let ctl = m.join("plain.ctl");

    // SIGTERM without a handler: the remote dies of it, so does the home pid, and `wend run`
    // dies of the same signal (its parent sees WIFSIGNALED).
    let out_path = m.join("plain.out");
    let mut g = m.run(
        "plain",
        &[exe, ctl.to_str().unwrap(), "plain"],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    wait_for_text(&out_path, "ready\n", || g.context());
    g.migrate("node2");
    g.kill("TERM");
    let st = g.wait();
    assert!(
        st.signal() == Some(15) || st.code() == Some(143),
        "wend run after SIGTERM: {st:?}\n{}",
        g.context()
    );
    drop(g);

    // Through a shell, `$?` is 143.
    let out_path = m.join("plain-sh.out");
    let status_path = m.join("plain-sh.status");
    let script = format!(
        "\"$0\" run --lock -- {exe} {} plain; echo $? > {}",
        ctl.display(),
        status_path.display()
    );
    let mut sh = m.run(
        "plain-sh",
        &["sh", "-c", &script, WEND],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    let mut guest_pid = None;
    m.wait_until("node1 lists the shell's guest", || {
        guest_pid = m
            .ps("node1")
            .into_iter()
            .find(|p| p.cmd.contains("m_sig") && p.pid != sh.pid)
            .map(|p| p.pid);
        guest_pid.is_some()
    });
    let guest_pid = guest_pid.unwrap();
    wait_for_text(&out_path, "ready\n", || sh.context());
    let out = m.migrate_cmd(guest_pid, "node3");
    assert!(out.status.success(), "{}\n{}", text(&out), sh.context());
    let out = m.output("node1", &["kill", "-TERM", &guest_pid.to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let st = sh.wait();
    assert_eq!(st.code(), Some(0), "{}", sh.context());
    assert_eq!(
        fs::read_to_string(&status_path).unwrap().trim(),
        "143",
        "$? of wend run after SIGTERM\n{}",
        sh.context()
    );
}
