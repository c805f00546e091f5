//! The harness shared by the live-migration tests (`tests/migrate_*.rs`), on a real 3-node
//! lab (network namespaces, cgroups, a private /tmp per node; run as root).
//!
//! [`MLab`] is a lab with a working directory shared by every node (below the target's tmp
//! directory: each node has its own private /tmp), where the C guests are compiled and the
//! inputs and outputs live. Commands run inside a node through `wend lab exec`, started by
//! clean-exec so they hold no descriptor above 2. [`Managed`] is one `wend run -- CMD` in
//! node1: the test finds its home pid with `wend ps`, moves it with `wend migrate` and waits
//! for its end; it is killed and reaped however the test ends. Every failure message carries
//! the tails of the daemons' logs.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use wend_daemon::client::Client;
use wend_lab::{Lab, LabSpec};
use wend_proto::{NodeState, ProcInfo};

use crate::support::compile_c;

pub const WEND: &str = env!("CARGO_BIN_EXE_wend");
/// Generous: CI machines are slow and shared, and failure detection takes seconds.
pub const TIMEOUT: Duration = Duration::from_secs(120);
pub const NODES: [&str; 3] = ["node1", "node2", "node3"];

/// A directory every node sees at the same path, removed on drop.
pub struct Shared {
    path: PathBuf,
}

impl Shared {
    fn new(tag: &str) -> Shared {
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("wend-migrate-{}-{tag}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
        Shared { path }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

pub struct MLab {
    pub lab: Lab,
    shared: Shared,
    clean_exec: PathBuf,
    nodes: Vec<String>,
}

/// The shape of a lab: how many nodes, their CPU shares, whether the balancer runs.
pub struct Shape {
    pub nodes: usize,
    /// As `wend lab up --cpus` takes it (`None`: unlimited).
    pub cpus: Option<&'static str>,
    pub balance: bool,
}

impl MLab {
    /// A 3-node lab whose daemons all see each other alive, with a shared directory. Only
    /// the tests move processes there: the balancer is off.
    pub fn up(tag: &str) -> MLab {
        Self::with(
            tag,
            Shape {
                nodes: 3,
                cpus: None,
                balance: false,
            },
        )
    }

    /// A lab of this shape whose daemons all see each other alive, with a shared directory.
    pub fn with(tag: &str, shape: Shape) -> MLab {
        wend_lab::become_subreaper().expect("PR_SET_CHILD_SUBREAPER");
        let shared = Shared::new(tag);
        let clean_exec = compile_c(&shared.path, "clean-exec", &[]);
        let mut spec = LabSpec::new(Lab::unique_name(), shape.nodes, WEND);
        if let Some(cpus) = shape.cpus {
            spec.cpus = wend_lab::CpuSpec::parse(cpus).expect("cpu shares");
        }
        spec.daemon_args = vec!["--log".to_owned(), "debug".to_owned()];
        if !shape.balance {
            spec.daemon_args.push("--no-balance".to_owned());
        }
        let lab = Lab::up(spec).expect("lab up");
        let nodes: Vec<String> = (1..=shape.nodes).map(|i| format!("node{i}")).collect();
        let m = MLab {
            lab,
            shared,
            clean_exec,
            nodes: nodes.clone(),
        };
        for node in &nodes {
            m.lab.wait_api(node, TIMEOUT).expect("daemon api");
        }
        for node in &nodes {
            m.wait_until(
                &format!("{node} sees all {} nodes alive", nodes.len()),
                || {
                    // By name: a member is known by its address until its load vector (with
                    // its name) arrives, and a migration names the target.
                    let seen = nodes_seen(&m.lab, node);
                    seen.len() == nodes.len()
                        && nodes
                            .iter()
                            .all(|n| seen.iter().any(|(s, st)| s == n && *st == NodeState::Alive))
                },
            );
        }
        m
    }

    pub fn dir(&self) -> &Path {
        &self.shared.path
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.shared.path.join(name)
    }

    /// Compiles tests/guests/NAME.c into the shared directory.
    pub fn guest(&self, name: &str) -> PathBuf {
        compile_c(&self.shared.path, name, &[])
    }

    /// A command running `argv` inside `node`, in the shared directory, with only
    /// descriptors 0-2 open and `WEND_API` set to the node's daemon.
    pub fn in_node<S: AsRef<str>>(&self, node: &str, argv: &[S]) -> Command {
        let inner = self.lab.exec(node, argv);
        let mut cmd = Command::new(&self.clean_exec);
        cmd.arg(inner.get_program())
            .args(inner.get_args())
            .current_dir(&self.shared.path)
            .env("LC_ALL", "C");
        cmd
    }

    /// Runs `argv` inside `node` and returns its output.
    pub fn output<S: AsRef<str>>(&self, node: &str, argv: &[S]) -> Output {
        self.in_node(node, argv)
            .stdin(Stdio::null())
            .output()
            .expect("running a command in a node")
    }

    /// `wend run --lock -- ARGV` in node1 (locked: only the test moves it), with the given
    /// stdin and stdout (stderr goes to a file, see [`Managed::stderr`]). Waits until its
    /// home daemon lists it.
    pub fn run(&self, tag: &str, argv: &[&str], stdin: Stdio, stdout: Stdio) -> Managed<'_> {
        self.run_with(tag, &["--lock"], argv, stdin, stdout)
    }

    /// `wend run OPTIONS -- ARGV` in node1 (see [`MLab::run`]).
    pub fn run_with(
        &self,
        tag: &str,
        options: &[&str],
        argv: &[&str],
        stdin: Stdio,
        stdout: Stdio,
    ) -> Managed<'_> {
        let stderr_path = self.join(&format!("{tag}.stderr"));
        let stderr = fs::File::create(&stderr_path).unwrap();
        let mut full = vec![WEND, "run"];
        full.extend_from_slice(options);
        full.push("--");
        full.extend_from_slice(argv);
        let child = self
            .in_node("node1", &full)
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("starting wend run");
        let wend_pid = child.id();
        self.adopt(child, stderr_path, argv.join(" "), |p| {
            parent_of(p.pid) == Some(wend_pid)
        })
    }

    /// `sh -c SCRIPT` in node1, with the given stdin and stdout (stderr goes to a file); the
    /// managed process is the one node1 lists with `cmd` in its command line (the script runs
    /// `wend run` itself). [`Managed::wait`] waits for the script.
    pub fn run_script(
        &self,
        tag: &str,
        script: &str,
        cmd: &str,
        stdin: Stdio,
        stdout: Stdio,
    ) -> Managed<'_> {
        let stderr_path = self.join(&format!("{tag}.stderr"));
        let stderr = fs::File::create(&stderr_path).unwrap();
        let child = self
            .in_node("node1", &["sh", "-c", script])
            .stdin(stdin)
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .expect("starting sh");
        self.adopt(child, stderr_path, script.to_owned(), |p| {
            p.cmd.contains(cmd)
        })
    }

    /// Waits until node1 lists the process `is` picks, started by `child`.
    fn adopt(
        &self,
        child: Child,
        stderr_path: PathBuf,
        what: String,
        is: impl Fn(&ProcInfo) -> bool,
    ) -> Managed<'_> {
        let mut m = Managed {
            mlab: self,
            child,
            pid: 0,
            stderr_path,
            what,
            status: None,
        };
        let mut found = None;
        self.wait_until(&format!("node1 lists `{}`", m.what), || {
            found = self.ps("node1").into_iter().find(&is).map(|p| p.pid);
            found.is_some() || m.child.try_wait().unwrap().is_some()
        });
        m.pid = found.unwrap_or_else(|| {
            panic!(
                "`wend run -- {}` ended before it was listed: {:?}, stderr:\n{}{}",
                m.what,
                m.child.try_wait(),
                m.stderr(),
                self.logs()
            )
        });
        m
    }

    /// What `node`'s daemon lists (`wend ps --json` in the node; empty while it cannot be
    /// reached).
    pub fn ps(&self, node: &str) -> Vec<ProcInfo> {
        let out = self.output(node, &[WEND, "ps", "--json"]);
        if !out.status.success() {
            return Vec::new();
        }
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "`wend ps --json` in {node} printed no process list ({e}):\n{}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }

    /// The row of home pid `pid` in node1's `wend ps`.
    pub fn row(&self, pid: i32) -> Option<ProcInfo> {
        self.ps("node1").into_iter().find(|p| p.pid == pid)
    }

    /// Polls `f` every 100 ms until it holds; panics after [`TIMEOUT`] with the daemon logs.
    pub fn wait_until(&self, what: &str, mut f: impl FnMut() -> bool) {
        let deadline = Instant::now() + TIMEOUT;
        while !f() {
            if Instant::now() > deadline {
                panic!("timed out waiting until {what}{}", self.logs());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The last lines of every node's daemon log, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for node in &self.nodes {
            let path = self.lab.daemon_log(node);
            let text = strip_ansi(&fs::read_to_string(&path).unwrap_or_default());
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(40)..];
            out.push_str(&format!(
                "\n--- {} (last {} lines):\n{}",
                path.display(),
                tail.len(),
                tail.join("\n")
            ));
        }
        out
    }

    /// SIGKILLs `node`'s daemon (a crash) and waits until it is gone. Through a second handle
    /// on the lab, so it can be called while a [`Managed`] borrows this one.
    pub fn kill_daemon(&self, node: &str) {
        Lab::attach(self.lab.name().clone(), WEND)
            .and_then(|mut l| l.kill_daemon(node))
            .unwrap_or_else(|e| panic!("killing {node}'s daemon: {e}"));
    }

    /// Stops `node`'s daemon with SIGTERM (it sends its guests home first) and waits until
    /// it is gone. Through a second handle on the lab, like [`MLab::kill_daemon`].
    pub fn stop_daemon(&self, node: &str) {
        Lab::attach(self.lab.name().clone(), WEND)
            .and_then(|mut l| l.stop_daemon(node))
            .unwrap_or_else(|e| panic!("stopping {node}'s daemon: {e}"));
    }

    /// `wend migrate PID TO` in node1, waited for.
    pub fn migrate_cmd(&self, pid: i32, to: &str) -> Output {
        self.output("node1", &[WEND, "migrate", &pid.to_string(), to])
    }
}

/// `text` without terminal colour sequences (the daemon logs use them).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The names and states `node`'s daemon reports.
pub fn nodes_seen(lab: &Lab, node: &str) -> Vec<(String, NodeState)> {
    Client::connect(&lab.api_socket(node))
        .and_then(|mut c| c.nodes())
        .map(|v| v.into_iter().map(|n| (n.name, n.state)).collect())
        .unwrap_or_default()
}

/// The parent pid of `pid`, from /proc.
pub fn parent_of(pid: i32) -> Option<u32> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s[s.rfind(')')? + 2..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// One `wend run` in node1 and its managed process.
pub struct Managed<'a> {
    mlab: &'a MLab,
    child: Child,
    /// The managed process's home pid.
    pub pid: i32,
    stderr_path: PathBuf,
    pub what: String,
    status: Option<ExitStatus>,
}

impl Managed<'_> {
    /// The write end of the process's stdin, if it was started with `Stdio::piped()`.
    pub fn take_stdin(&mut self) -> Option<std::process::ChildStdin> {
        self.child.stdin.take()
    }

    /// The pid of `wend run` itself (the managed process's parent).
    pub fn wend_pid(&self) -> u32 {
        self.child.id()
    }

    /// What `wend run` and the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// A description of the process and the lab, for failure messages.
    pub fn context(&self) -> String {
        format!(
            "`wend run -- {}` (home pid {}), row {:?}, stderr:\n{}{}",
            self.what,
            self.pid,
            self.mlab.row(self.pid),
            self.stderr(),
            self.mlab.logs()
        )
    }

    /// Moves the process to `to` (a node or `home`) with `wend migrate` and waits until its
    /// home daemon lists it there and running.
    pub fn migrate(&self, to: &str) {
        let out = self.mlab.migrate_cmd(self.pid, to);
        let said = text(&out);
        assert!(
            out.status.success(),
            "`wend migrate {} {to}` failed: {said}\n{}",
            self.pid,
            self.context()
        );
        let expected = if to == "home" {
            format!("process {} is back home", self.pid)
        } else {
            format!("process {} now runs on {to}", self.pid)
        };
        assert!(
            said.contains(&expected),
            "`wend migrate {} {to}` said: {said}\n{}",
            self.pid,
            self.context()
        );
        self.wait_where(to);
    }

    /// Waits until node1 lists the process as running at `where_` (`home` or a node).
    pub fn wait_where(&self, where_: &str) {
        let want_state = if where_ == "home" { "home" } else { "remote" };
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let row = self.mlab.row(self.pid);
            if let Some(r) = &row {
                // At home, `where` names the home node.
                let at = if where_ == "home" { "node1" } else { where_ };
                if r.where_ == at && r.state.as_str() == want_state {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "process {} is not listed {want_state} on {where_}\n{}",
                self.pid,
                self.context()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The exit status of `wend run` if it has ended.
    pub fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().unwrap();
        }
        self.status
    }

    /// Waits (up to `timeout`) for `wend run` to end; panics with the context otherwise.
    pub fn wait_within(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = self.try_status() {
                // The managed process is reaped by wend run; nothing else is left.
                return st;
            }
            assert!(
                Instant::now() < deadline,
                "`wend run -- {}` still runs after {timeout:?}\n{}",
                self.what,
                self.context()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait(&mut self) -> ExitStatus {
        self.wait_within(TIMEOUT)
    }

    /// Sends `sig` (a kill(1) name) to the home pid with kill(1) inside node1.
    pub fn kill(&self, sig: &str) {
        let out = self.mlab.output(
            "node1",
            &["kill", &format!("-{sig}"), &self.pid.to_string()],
        );
        assert!(
            out.status.success(),
            "kill -{sig} {}: {}\n{}",
            self.pid,
            text(&out),
            self.context()
        );
    }
}

impl Drop for Managed<'_> {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            if self.pid > 0 {
                let _ = Command::new("kill")
                    .args(["-KILL", &self.pid.to_string()])
                    .stderr(Stdio::null())
                    .status();
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if self.pid > 0 {
            // Orphaned to the test process (a subreaper) if wend run died first.
            let deadline = Instant::now() + Duration::from_secs(10);
            while Path::new(&format!("/proc/{}", self.pid)).exists() && Instant::now() < deadline {
                wend_lab::reap(self.pid as u32);
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Waits until `path` contains `needle` (the output of a process writing into the shared
/// directory); panics with `context()` after [`TIMEOUT`].
pub fn wait_for_text(path: &Path, needle: &str, context: impl Fn() -> String) -> String {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let got = fs::read_to_string(path).unwrap_or_default();
        if got.contains(needle) {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} never showed {needle:?}; it holds:\n{got}\n{}",
            path.display(),
            context()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
