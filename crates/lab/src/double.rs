//! A recording double of [`Host`] for unit tests: it records every side effect in order and
//! keeps a small model of the machine (files, directories, network namespaces, interfaces,
//! processes) so that `up`, `status` and `down` can run against it end to end.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::LabError;
use crate::host::{Host, Launch, LockGuard, ProcState, Sig};

pub const MOUNTINFO_V1: &str = "\
30 24 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
35 30 0:31 / /sys/fs/cgroup/cpu rw,relatime shared:14 - cgroup cgroup rw,cpu
36 30 0:32 / /sys/fs/cgroup/cpuset rw,relatime shared:15 - cgroup cgroup rw,cpuset
37 30 0:33 / /sys/fs/cgroup/unified rw,relatime shared:16 - cgroup2 cgroup2 rw
";

pub const MOUNTINFO_V2: &str = "\
30 24 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate
";

#[derive(Debug, Default)]
pub struct RecordingHost {
    /// Every side effect, in order, as one line each.
    pub calls: Vec<String>,
    pub files: BTreeMap<PathBuf, String>,
    pub dirs: BTreeSet<PathBuf>,
    pub netns: BTreeSet<String>,
    pub links: BTreeSet<String>,
    /// Extra host routes, as `ip -j route` would print their destinations.
    pub routes: Vec<String>,
    pub procs: BTreeMap<u32, ProcState>,
    /// A command line prefix that fails when run.
    pub fail_on: Option<String>,
    /// Spawned holders do not become ready.
    pub holders_hang: bool,
    /// What the daemons started by holders do: `Some(true)` open their API socket,
    /// `Some(false)` exit at once, `None` never get ready.
    pub daemons_serve: Option<bool>,
    next_pid: u32,
}

impl RecordingHost {
    pub fn v1() -> Self {
        let mut h = RecordingHost {
            next_pid: 1000,
            ..Default::default()
        };
        h.files
            .insert("/proc/self/mountinfo".into(), MOUNTINFO_V1.into());
        for d in ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpuset"] {
            h.dirs.insert(d.into());
        }
        h.files
            .insert("/sys/fs/cgroup/cpuset/cpuset.cpus".into(), "0-1\n".into());
        h.files
            .insert("/sys/fs/cgroup/cpuset/cpuset.mems".into(), "0\n".into());
        h
    }

    pub fn v2() -> Self {
        let mut h = RecordingHost {
            next_pid: 1000,
            ..Default::default()
        };
        h.files
            .insert("/proc/self/mountinfo".into(), MOUNTINFO_V2.into());
        h.dirs.insert("/sys/fs/cgroup".into());
        h.files.insert(
            "/sys/fs/cgroup/cgroup.controllers".into(),
            "cpuset cpu io memory pids\n".into(),
        );
        h
    }

    /// The recorded calls that start with `prefix`.
    pub fn calls_starting(&self, prefix: &str) -> Vec<&str> {
        self.calls
            .iter()
            .filter(|c| c.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }

    fn is_cgroup(path: &Path) -> bool {
        path.starts_with("/sys/fs/cgroup")
    }

    fn json(items: impl Iterator<Item = String>, key: &str) -> String {
        let v: Vec<serde_json::Value> = items.map(|n| serde_json::json!({ key: n })).collect();
        serde_json::to_string(&v).unwrap()
    }

    fn fake_ip(&mut self, args: &[String]) -> String {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["-j", "-4", "route", ..] => {
                let mut dsts: Vec<String> = self.routes.clone();
                dsts.push("default".into());
                Self::json(dsts.into_iter(), "dst")
            }
            ["-j", "netns", "list"] => Self::json(self.netns.clone().into_iter(), "name"),
            ["-j", "link", "show"] => {
                let mut l = vec!["lo".to_owned(), "eth0".to_owned()];
                l.extend(self.links.iter().cloned());
                Self::json(l.into_iter(), "ifname")
            }
            ["netns", "add", ns] => {
                self.netns.insert(ns.to_string());
                String::new()
            }
            ["netns", "del", ns] => {
                self.netns.remove(*ns);
                // A namespace takes its veth pair with it.
                let idx = ns.rsplit("node").next().unwrap_or("").to_owned();
                let prefix = ns.split("node").next().unwrap_or("").to_owned();
                self.links.remove(&format!("{prefix}{idx}"));
                String::new()
            }
            ["link", "add", name, ..] => {
                self.links.insert(name.to_string());
                String::new()
            }
            ["link", "del", name] => {
                self.links.remove(*name);
                String::new()
            }
            _ => String::new(),
        }
    }
}

impl Host for RecordingHost {
    fn run(&mut self, program: &str, args: &[String]) -> Result<String, LabError> {
        let line = format!("{program} {}", args.join(" "));
        self.calls.push(format!("run {line}"));
        if let Some(f) = &self.fail_on {
            if line.starts_with(f.as_str()) {
                return Err(LabError::Command {
                    cmd: line,
                    detail: "exit status: 2: scripted failure".into(),
                });
            }
        }
        Ok(if program == "ip" {
            self.fake_ip(args)
        } else {
            String::new()
        })
    }

    fn read(&mut self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }

    fn write(&mut self, path: &Path, data: &str) -> io::Result<()> {
        self.calls
            .push(format!("write {} = {data}", path.display()));
        self.files.insert(path.to_owned(), data.to_owned());
        Ok(())
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let data = self
            .files
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        self.files.insert(to.to_owned(), data);
        Ok(())
    }

    fn mkdir_all(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("mkdir {}", path.display()));
        for a in path.ancestors() {
            if self.dirs.insert(a.to_owned()) && Self::is_cgroup(a) {
                self.files.insert(a.join("cgroup.procs"), String::new());
            }
        }
        Ok(())
    }

    fn rmdir(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("rmdir {}", path.display()));
        if self.dirs.iter().any(|d| d.parent() == Some(path)) {
            return Err(io::Error::other("directory not empty"));
        }
        if !self.dirs.remove(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        self.files.retain(|f, _| f.parent() != Some(path));
        Ok(())
    }

    fn remove_tree(&mut self, path: &Path) -> io::Result<()> {
        self.calls.push(format!("remove {}", path.display()));
        self.dirs.retain(|d| !d.starts_with(path));
        self.files.retain(|f, _| !f.starts_with(path));
        Ok(())
    }

    fn list(&mut self, path: &Path) -> io::Result<Vec<String>> {
        if !self.dirs.contains(path) {
            return Err(io::Error::from(io::ErrorKind::NotFound));
        }
        let names: BTreeSet<String> = self
            .dirs
            .iter()
            .chain(self.files.keys())
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| Some(p.file_name()?.to_string_lossy().into_owned()))
            .collect();
        Ok(names.into_iter().collect())
    }

    fn exists(&mut self, path: &Path) -> bool {
        self.dirs.contains(path) || self.files.contains_key(path)
    }

    fn can_connect(&mut self, socket: &Path) -> bool {
        self.files.contains_key(socket)
    }

    fn spawn(&mut self, launch: &Launch) -> Result<u32, LabError> {
        self.calls.push(format!(
            "spawn {} {} > {}",
            launch.program.display(),
            launch.args.join(" "),
            launch.log.display()
        ));
        let pid = self.next_pid;
        self.next_pid += 1;
        self.procs.insert(pid, ProcState::Alive { start: 42 });
        let arg = |k: &str| {
            let i = launch.args.iter().position(|a| a == k)?;
            launch.args.get(i + 1).cloned()
        };
        if let (Some(name), Some(node), Some(root), false) = (
            arg("--name"),
            arg("--node"),
            arg("--root"),
            self.holders_hang,
        ) {
            let dir = PathBuf::from(root).join(name).join(&node);
            self.files.insert(dir.join("ready"), format!("{pid}\n"));
            match self.daemons_serve {
                Some(true) => {
                    self.files.insert(dir.join("run/wend.sock"), String::new());
                }
                Some(false) => {
                    let exit = "exited with status 1\n".to_owned();
                    self.files.insert(dir.join("daemon.exit"), exit);
                    let log = "wend: error: no such option --bogus\n".to_owned();
                    self.files.insert(dir.join("daemon.log"), log);
                }
                None => {}
            }
        }
        Ok(pid)
    }

    fn signal(&mut self, pid: u32, sig: Sig) -> io::Result<()> {
        self.calls.push(format!("signal {pid} {sig:?}"));
        if matches!(sig, Sig::Term | Sig::Kill) {
            self.procs.insert(pid, ProcState::Gone);
            for (f, v) in self.files.iter_mut() {
                if f.ends_with("cgroup.procs") {
                    *v = v
                        .split_whitespace()
                        .filter(|p| *p != pid.to_string())
                        .collect::<Vec<_>>()
                        .join("\n");
                }
            }
        }
        Ok(())
    }

    fn proc_state(&mut self, pid: u32) -> ProcState {
        self.procs.get(&pid).copied().unwrap_or(ProcState::Gone)
    }

    fn lock(&mut self, path: &Path) -> Result<LockGuard, LabError> {
        self.calls.push(format!("lock {}", path.display()));
        Ok(LockGuard::none())
    }

    fn sleep(&mut self, _d: Duration) {}
}
