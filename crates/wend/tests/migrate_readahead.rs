//! Read-ahead of a moved process's sequential reads (wend_deputy::readahead, wired into the
//! remote's guest loop): the remote answers reads of a regular file from windows it read ahead
//! at home with pread, so home's file offset lags behind the process's while it reads. Every
//! way of leaving a node must bring home's offset up to date first: passed on to another node,
//! called home, and exiting (after which another process at home reads on from the same open
//! file). The guest (`m_seq`) copies its stdin, a regular file, to its stdout and stops at
//! each phase without making a call, so the lag is there when the test moves it; a `cat` after
//! it in the same shell copies the rest of the file. The whole output must be the input.

mod migrate_common;
mod support;

use std::fs::{self, File};

use migrate_common::*;

const MIB: usize = 1 << 20;

#[test]
fn offsets_read_ahead_are_synced_before_every_move_and_the_exit() {
    let m = MLab::up("ra");
    let guest = m.guest("m_seq");
    let input = support::text::words(6 << 10, 6 << 10, 0x5eed_f11e, 3);
    assert!(input.len() > 4 * MIB);
    let in_path = m.join("in");
    let out_path = m.join("out");
    fs::write(&in_path, &input).unwrap();

    // Phases at 0, 1, 2 and 3 MiB; it exits at 4 MiB.
    let script = format!(
        "{WEND} run --lock -- {} 4096 0 {} {} {} {}; echo \"m_seq: $?\" >&2; cat",
        guest.display(),
        MIB,
        2 * MIB,
        3 * MIB,
        4 * MIB
    );
    let mut g = m.run_script(
        "ra",
        &script,
        "m_seq",
        File::open(&in_path).unwrap().into(),
        File::create(&out_path).unwrap().into(),
    );
    let stderr = m.join("ra.stderr");
    // Each phase: it stopped reading (on a remote node, with a window in use); move it, then
    // let it go on. It reads from 0 to 1 MiB on node2 and leaves for node3 (a pass-on), to
    // 2 MiB there and goes home (a return), to 3 MiB at home, and exits on node2.
    for (phase, to) in [(1, "node2"), (2, "node3"), (3, "home"), (4, "node2")] {
        wait_for_text(&stderr, &format!("phase {phase} at"), || g.context());
        g.migrate(to);
        g.kill("USR1");
    }
    let st = g.wait();
    let said = g.stderr();
    assert!(st.success(), "the script failed: {st:?}\n{}", g.context());
    assert!(
        said.contains("verdict: ok") && said.contains("m_seq: 0"),
        "m_seq: {said}\n{}",
        g.context()
    );
    let got = fs::read(&out_path).unwrap();
    if got != input {
        let at = got
            .iter()
            .zip(&input)
            .position(|(a, b)| a != b)
            .unwrap_or(got.len().min(input.len()));
        panic!(
            "the output differs from the input at byte {at} ({} vs {} bytes): an offset was \
             not synced\n{}",
            got.len(),
            input.len(),
            g.context()
        );
    }
    // Every sync point had something to sync (else this test proves nothing): node2's
    // pass-on and exit, node3's return.
    for (node, stays) in [("node2", 2), ("node3", 1)] {
        let log = fs::read_to_string(m.lab.daemon_log(node)).unwrap_or_default();
        let synced = log.matches("home's offsets synced").count();
        assert!(
            log.matches("reads answered here").count() == stays && synced == stays,
            "{node}: {synced} of {stays} stays ended with offsets to sync:{}",
            m.logs()
        );
    }
}
