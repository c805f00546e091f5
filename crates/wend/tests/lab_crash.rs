//! The CLI: `wend lab up|exec|down`, and a `down` after a simulated crash (holders killed,
//! state file removed) that still finds and removes everything.

mod lab_common;

use std::process::Command;

use lab_common::*;
use wend_lab::Lab;

#[test]
fn cli_up_exec_and_down_after_a_crash() {
    init();
    let name = Lab::unique_name();
    let _guard = DownGuard(name.clone());
    let fake = fake_daemon();
    let fake = fake.to_str().unwrap();
    let up = wend(&[
        "lab",
        "up",
        "--name",
        name.as_str(),
        "--nodes",
        "2",
        "--cpus",
        "0.5",
        "--no-daemon",
    ]);
    assert!(up.status.success(), "{up:?}");
    let out = text(&up);
    assert!(out.contains("node2"), "{out}");

    let state = load_state(&name);
    // A handle on a lab built by the CLI leaves it running when dropped.
    let attached = Lab::attach(name.clone(), WEND).expect("attach");
    assert_eq!(attached.state().subnet, state.subnet);
    drop(attached);
    assert!(state.dir.join("state.json").exists());
    let holders: Vec<u32> = state.nodes.iter().filter_map(|n| n.holder_pid).collect();
    assert_eq!(holders.len(), 2);
    assert!(holders.iter().all(|p| alive(*p)));

    // A background process inside node1, started through `lab exec`, outlives its caller.
    let bg = wend(&[
        "lab",
        "exec",
        "--name",
        name.as_str(),
        "node1",
        "--",
        "sh",
        "-c",
        &format!("{fake} >/dev/null 2>&1 & echo $!"),
    ]);
    assert!(bg.status.success(), "{bg:?}");
    let bg_pid: u32 = text(&bg).trim().parse().expect("a pid");
    assert!(alive(bg_pid));
    let code = wend(&[
        "lab",
        "exec",
        "--name",
        name.as_str(),
        "node2",
        "--",
        "sh",
        "-c",
        "exit 3",
    ]);
    assert_eq!(code.status.code(), Some(3));

    // The crash: holders killed, state file gone.
    for pid in &holders {
        let st = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    }
    for pid in &holders {
        wait_for("holder to die", std::time::Duration::from_secs(10), || {
            !alive(*pid)
        });
    }
    std::fs::remove_file(state.dir.join("state.json")).unwrap();
    assert!(alive(bg_pid), "the node's process survives its holder");

    let down = wend(&["lab", "down", "--name", name.as_str()]);
    assert!(down.status.success(), "{down:?}");
    let mut pids = holders.clone();
    pids.push(bg_pid);
    assert_nothing_left(&name, &pids);

    // Idempotent.
    let again = wend(&["lab", "down", "--name", name.as_str()]);
    assert!(again.status.success());
    assert!(text(&again).contains("nothing to remove"), "{again:?}");
    // Exec into a lab that is gone fails with a clear message.
    let gone = wend(&[
        "lab",
        "exec",
        "--name",
        name.as_str(),
        "node1",
        "--",
        "true",
    ]);
    assert!(!gone.status.success());
    assert!(
        String::from_utf8_lossy(&gone.stderr).contains("not running"),
        "{gone:?}"
    );
}
