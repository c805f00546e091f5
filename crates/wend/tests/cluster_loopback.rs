//! `wend daemon` as real processes on loopback, without the lab: a config file with a flag
//! overriding it, port 0 everywhere (peers learn each other's address from the API), `wend
//! nodes` through WEND_API, SIGTERM (left, exit 0), SIGKILL (dead) and restarts.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use wend_daemon::client::Client;
use wend_proto::{NodeInfo, NodeState};

const WEND: &str = env!("CARGO_BIN_EXE_wend");
const TIMEOUT: Duration = Duration::from_secs(60);

/// A scratch directory removed however the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("cluster-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A daemon process, killed (by its pid) and reaped however the test ends.
struct DaemonProc {
    child: Child,
    api: PathBuf,
}

impl DaemonProc {
    fn start(args: &[&str], api: &Path) -> DaemonProc {
        let child = Command::new(WEND)
            .arg("daemon")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn wend daemon");
        let d = DaemonProc {
            child,
            api: api.to_owned(),
        };
        wait_until("the daemon's api answers", || d.client().is_some());
        d
    }

    fn client(&self) -> Option<Client> {
        Client::connect(&self.api).ok()
    }

    fn nodes(&self) -> Vec<NodeInfo> {
        self.client()
            .and_then(|mut c| c.nodes().ok())
            .unwrap_or_default()
    }

    fn peer_addr(&self) -> String {
        self.client().unwrap().status().unwrap().listen
    }

    /// SIGTERM, then the exit status.
    fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        // The shell's builtin kill: no dependency on a kill binary.
        let sent = Command::new("sh")
            .args(["-c", "kill -TERM \"$0\"", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn state(nodes: &[NodeInfo], name: &str) -> Option<NodeState> {
    nodes.iter().find(|n| n.name == name).map(|n| n.state)
}

fn argv(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn daemons_as_processes_config_signals_and_restart() {
    wend_lab::become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
    let dir = Scratch::new("loopback");
    let d = &dir.0;
    let key = d.join("cluster.key");
    let made = Command::new(WEND)
        .args(["keygen", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", text(&made));
    let key_s = key.to_str().unwrap();
    let api = |n: &str| d.join(format!("{n}.sock"));
    let base = |n: &str| {
        vec![
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--key".to_owned(),
            key_s.to_owned(),
            "--api".to_owned(),
            api(n).to_str().unwrap().to_owned(),
            "--speed".to_owned(),
            "1".to_owned(),
            "--no-discovery".to_owned(),
            "--name".to_owned(),
            n.to_owned(),
        ]
    };

    let a = DaemonProc::start(&argv(&base("a")), &api("a"));
    let seed = a.peer_addr();
    assert!(
        seed.starts_with("127.0.0.1:") && !seed.ends_with(":0"),
        "{seed}"
    );

    // b from a config file; the --name flag overrides the file's name.
    let conf = d.join("b.toml");
    std::fs::write(
        &conf,
        format!(
            "name = \"from-file\"\nlisten = \"127.0.0.1:0\"\nseeds = [\"{seed}\"]\n\
             key = \"{key_s}\"\napi = \"{}\"\nspeed = 1.0\n[discovery]\nenabled = false\n",
            api("b").display()
        ),
    )
    .unwrap();
    let b = DaemonProc::start(
        &["--config", conf.to_str().unwrap(), "--name", "b"],
        &api("b"),
    );
    let mut c_args = base("c");
    c_args.extend(["--seed".to_owned(), seed.clone()]);
    let c = DaemonProc::start(&argv(&c_args), &api("c"));
    let c_addr = c.peer_addr();

    for (name, dmn) in [("a", &a), ("b", &b), ("c", &c)] {
        wait_until(&format!("{name} sees a, b, c alive"), || {
            let seen = dmn.nodes();
            seen.len() == 3
                && ["a", "b", "c"]
                    .iter()
                    .all(|n| state(&seen, n) == Some(NodeState::Alive))
        });
    }
    let out = Command::new(WEND)
        .arg("nodes")
        .env("WEND_API", api("b"))
        .output()
        .unwrap();
    let table = text(&out);
    assert!(out.status.success(), "{table}");
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("b*"), "{table}");

    // SIGTERM: exit 0, and the others see a leave.
    let status = c.terminate();
    assert!(status.success(), "daemon exit on SIGTERM: {status:?}");
    assert!(!api("c").exists(), "the api socket is removed on exit");
    for (name, dmn) in [("a", &a), ("b", &b)] {
        wait_until(&format!("{name} sees c left"), || {
            state(&dmn.nodes(), "c") == Some(NodeState::Left)
        });
    }

    // Restarted on the same address, it is back.
    let mut c_args = base("c");
    c_args[1] = c_addr.clone();
    c_args.extend(["--seed".to_owned(), seed.clone()]);
    let c = DaemonProc::start(&argv(&c_args), &api("c"));
    for (name, dmn) in [("a", &a), ("b", &b), ("c", &c)] {
        wait_until(&format!("{name} sees c alive again"), || {
            state(&dmn.nodes(), "c") == Some(NodeState::Alive)
        });
    }

    // SIGKILL: no leave; the failure detector declares it dead.
    drop(b);
    for (name, dmn) in [("a", &a), ("c", &c)] {
        wait_until(&format!("{name} sees b dead"), || {
            state(&dmn.nodes(), "b") == Some(NodeState::Dead)
        });
    }
    assert!(a.terminate().success());
    assert!(c.terminate().success());
}

#[test]
fn bad_configuration_is_named() {
    let dir = Scratch::new("badconf");
    let conf = dir.0.join("bad.toml");
    std::fs::write(&conf, "name = \"x\"\nspeeed = 2.0\n").unwrap();
    let out = Command::new(WEND)
        .args(["daemon", "--config"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let msg = text(&out);
    assert!(msg.contains("speeed") && msg.contains("bad.toml"), "{msg}");

    let out = Command::new(WEND)
        .args(["daemon", "--name", "bad name", "--no-discovery"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("`name`"), "{}", text(&out));

    let out = Command::new(WEND)
        .args(["nodes", "--api"])
        .arg(dir.0.join("nobody.sock"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("cannot reach the wend daemon"),
        "{}",
        text(&out)
    );

    let out = Command::new(WEND)
        .arg("top")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(text(&out).contains("needs a terminal"), "{}", text(&out));
}
