//! What a migrated process sees (guest m_ident.c, home node1, moved to node2): its own home
//! pid, parent pid, cwd and open files, and the home node's file system only. A file that
//! exists only in node2's private /tmp cannot be opened, and /tmp lists node1's content.

mod migrate_common;
mod support;

use std::fs::{self, File};
use std::process::Stdio;

use migrate_common::*;

#[test]
fn a_remote_process_keeps_its_identity_and_sees_only_home_files() {
    let m = MLab::up("sandbox");
    let tag = format!("wend-m-{}", std::process::id());
    let secret = format!("/tmp/{tag}-secret");
    let marker = format!("{tag}-home-marker");
    let out = m.output(
        "node2",
        &["sh", "-c", &format!("echo remote-secret > {secret}")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = m.output(
        "node1",
        &["sh", "-c", &format!("echo home > /tmp/{marker}")],
    );
    assert!(out.status.success(), "{}", text(&out));
    // The secret is there in node2, and not in node1 (or on the host).
    let out = m.output("node2", &["cat", &secret]);
    assert_eq!(text(&out).trim(), "remote-secret");
    let out = m.output("node1", &["cat", &secret]);
    assert!(
        !out.status.success(),
        "node1 sees node2's /tmp: {}",
        text(&out)
    );

    let exe = m.guest("m_ident");
    let data = m.join("ident.data");
    fs::write(&data, "0123456789abcdefghijklmnopqrstuvwxyz!?").unwrap();
    let go = m.join("ident.go");
    let out_path = m.join("ident.out");
    let mut g = m.run(
        "ident",
        &[
            exe.to_str().unwrap(),
            go.to_str().unwrap(),
            data.to_str().unwrap(),
            &secret,
        ],
        Stdio::null(),
        File::create(&out_path).unwrap().into(),
    );
    let before = wait_for_text(&out_path, "ready\n", || g.context());
    g.migrate("node2");
    File::create(&go).unwrap();
    let st = g.wait();
    let out = fs::read_to_string(&out_path).unwrap();
    let ctx = format!("output:\n{out}\n{}", g.context());
    assert_eq!(st.code(), Some(0), "{ctx}");

    // Identity: the same pid, parent (wend run) and cwd after the move as before, and the
    // home ones.
    let line = |prefix: &str| {
        out.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix:?} line; {ctx}"))
            .to_owned()
    };
    let before_line = before
        .lines()
        .find(|l| l.starts_with("before "))
        .unwrap()
        .to_owned();
    let after_line = line("after ");
    assert_eq!(
        before_line.strip_prefix("before "),
        after_line.strip_prefix("after "),
        "{ctx}"
    );
    let wend_run = g.wend_pid();
    assert_eq!(
        after_line,
        format!(
            "after pid={} ppid={} cwd={}",
            g.pid,
            wend_run,
            m.dir().display()
        ),
        "{ctx}"
    );
    // The descriptor opened before the move reads on where it stood.
    assert_eq!(line("first="), "first=0123456789abcdefghi", "{ctx}");
    assert_eq!(line("rest="), "rest=jklmnopqrstuvwxyz!?", "{ctx}");

    // The sandbox: node2's own /tmp is out of reach; /tmp is node1's.
    assert_eq!(line("secret: "), "secret: ENOENT", "{ctx}");
    let tmp = line("tmp:");
    let names: Vec<&str> = tmp.split_whitespace().skip(1).collect();
    assert!(names.contains(&marker.as_str()), "{ctx}");
    assert!(
        !names.iter().any(|n| secret.ends_with(n)),
        "node2's /tmp is visible: {ctx}"
    );
}
