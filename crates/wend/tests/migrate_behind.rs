//! Writes sent behind (`migrate::BEHIND_IDS`): a moved process's writes to a regular file are
//! answered on the remote node and made at home in order. When one fails at home anyway (here:
//! the file system is filled by another process after home granted the budget), the process
//! learns it at its next write, fsync or close of that descriptor, as it would on NFS.

mod migrate_common;
mod support;

use std::fs::File;
use std::process::Stdio;

use migrate_common::*;

#[test]
fn a_write_behind_that_fails_at_home_fails_the_close() {
    let m = MLab::up("wb");
    let guest = m.guest("m_behind");
    // A small file system of node1's own (its mount namespace is private; it goes with the
    // lab), which the test fills while the guest runs on node2.
    let mnt = "/tmp/wend-behind";
    let mounted = m.output(
        "node1",
        &[
            "sh",
            "-c",
            &format!("mkdir -p {mnt} && mount -t tmpfs -o size=2m wend-behind {mnt}"),
        ],
    );
    assert!(mounted.status.success(), "mount: {}", text(&mounted));
    let target = format!("{mnt}/out");
    let g = m.run(
        "wb",
        &[guest.to_str().unwrap(), &target, "8"],
        Stdio::null(),
        File::create(m.join("wb.stdout")).unwrap().into(),
    );
    let stderr = m.join("wb.stderr");
    wait_for_text(&stderr, "waiting", || g.context());
    g.migrate("node2");
    g.kill("USR1");
    wait_for_text(&stderr, "ready", || g.context());
    // Fill it: the guest's next writes were allowed behind while there was room.
    let filled = m.output(
        "node1",
        &[
            "sh",
            "-c",
            &format!("head -c 4M /dev/zero > {mnt}/filler; df -k {mnt}"),
        ],
    );
    assert!(
        text(&filled).contains("100%"),
        "not full: {}",
        text(&filled)
    );
    g.kill("USR1");
    let mut g = g;
    let st = g.wait();
    let said = g.stderr();
    assert!(
        said.contains("writes ok 8") && said.contains("close: ENOSPC"),
        "the guest should see its writes succeed and its close fail: {said}\n{}",
        g.context()
    );
    assert_eq!(st.code(), Some(3), "{said}\n{}", g.context());
    let home = std::fs::read_to_string(m.lab.daemon_log("node1")).unwrap_or_default();
    let remote = std::fs::read_to_string(m.lab.daemon_log("node2")).unwrap_or_default();
    assert!(
        home.contains("a write sent behind failed at home") && remote.contains("write-behind: "),
        "the writes went behind and failed at home:{}",
        m.logs()
    );
}
