//! What this node has and how busy it is, read from /proc and the node's cgroup.
//!
//! - CPUs: the CPUs this process may run on (`Cpus_allowed_list`), cut by a CPU quota of its
//!   cgroup or an ancestor (v1 `cpu.cfs_quota_us`/`cpu.cfs_period_us`, v2 `cpu.max`). The share
//!   may be fractional (a lab node with half a CPU): it is published as whole CPUs plus a speed
//!   factor (0.5 CPU = 1 CPU at half speed), since over a second that is what a process gets.
//! - Runnable: when the node is confined (its cgroup has a CPU quota or a narrower cpuset, as a
//!   lab node), the threads in state R in that cgroup and below; otherwise the host's run queue
//!   from `/proc/loadavg`. The sampling thread itself never counts.
//! - Memory: `MemAvailable`/`MemTotal`, cut by a memory limit of the node's cgroup.
//!
//! All paths hang off two roots so tests can point the probe at a fixture tree.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One reading of the node.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Runnable threads (the node's run queue) at the time of the reading.
    pub runnable: f64,
    /// CPUs available, fractional under a quota.
    pub cpu_share: f64,
    /// Memory available for new work, bytes.
    pub mem_free: u64,
    /// Memory in all, bytes.
    pub mem_total: u64,
}

impl Sample {
    /// Whole CPUs to publish (at least 1).
    pub fn cpus(&self) -> u16 {
        let whole = self.cpu_share.ceil().clamp(1.0, f64::from(u16::MAX));
        whole as u16
    }

    /// The fraction of those CPUs the node really gets (1.0 without a fractional quota).
    pub fn speed_factor(&self) -> f64 {
        (self.cpu_share / f64::from(self.cpus())).clamp(0.001, 1.0)
    }
}

/// Cgroup directories of this process, per controller, when not at a hierarchy's root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Dirs {
    /// (directory, hierarchy mount point) of the cpu controller.
    cpu: Option<(PathBuf, PathBuf)>,
    /// Same for cpuset.
    cpuset: Option<(PathBuf, PathBuf)>,
    /// Same for memory.
    memory: Option<(PathBuf, PathBuf)>,
    /// Whether the directories are cgroup v2 (one unified hierarchy).
    v2: bool,
}

/// Reads samples of this node.
#[derive(Debug, Clone)]
pub struct Probe {
    proc_root: PathBuf,
    dirs: Dirs,
    /// This process's cgroup of the cpu controller (v1) or unified (v2), when not the root.
    cpu_path: Option<String>,
    self_tid: Option<i32>,
    /// A process whose threads never count (the daemon itself: its work comes in bursts and
    /// is not what the balancer places).
    skip_pid: Option<i32>,
    share_override: Option<f64>,
}

impl Probe {
    /// A probe of the real machine, for the calling process.
    pub fn new() -> io::Result<Probe> {
        Self::with_root(Path::new("/proc"), Some(nix::unistd::gettid().as_raw()))
    }

    /// A probe reading `proc_root` (with its `self/cgroup` and `self/mountinfo`); `self_tid` is
    /// the sampling thread, left out of the run queue.
    pub fn with_root(proc_root: &Path, self_tid: Option<i32>) -> io::Result<Probe> {
        let cgroups = fs::read_to_string(proc_root.join("self/cgroup"))?;
        let own = fs::read_to_string(proc_root.join("self/mountinfo"))?;
        // A mount namespace with a fresh /sys (a lab node, some containers) may not show the
        // cgroup file systems; the initial mount namespace, reached through /proc/1/root,
        // still does when we share its PID namespace.
        let (mountinfo, prefix) = if has_cgroup_mounts(&own) {
            (own, None)
        } else {
            match fs::read_to_string(proc_root.join("1/mountinfo")) {
                // Reading another mount namespace through /proc/1/root needs ptrace access
                // to pid 1, which a confined root may lack.
                Ok(init)
                    if has_cgroup_mounts(&init)
                        && fs::read_dir(proc_root.join("1/root/")).is_ok() =>
                {
                    (init, Some(proc_root.join("1/root")))
                }
                _ => (own, None),
            }
        };
        Ok(Probe {
            proc_root: proc_root.to_owned(),
            dirs: find_dirs(&cgroups, &mountinfo, prefix.as_deref()),
            cpu_path: cpu_cgroup_path(&cgroups),
            self_tid,
            skip_pid: None,
            share_override: None,
        })
    }

    /// Sets the thread left out of run-queue counts (call from the sampling thread).
    pub fn set_self_tid(&mut self, tid: i32) {
        self.self_tid = Some(tid);
    }

    /// Leaves every thread of `pid` out of run-queue counts.
    pub fn skip_process(&mut self, pid: i32) {
        self.skip_pid = Some(pid);
    }

    /// Threads not to count: the sampling thread and those of the skipped process.
    fn skipped(&self) -> Vec<i32> {
        let mut out: Vec<i32> = self.self_tid.into_iter().collect();
        if let Some(pid) = self.skip_pid {
            if let Ok(tasks) = fs::read_dir(self.proc_root.join(format!("{pid}/task"))) {
                out.extend(
                    tasks
                        .flatten()
                        .filter_map(|t| t.file_name().to_str()?.parse::<i32>().ok()),
                );
            }
        }
        out
    }

    /// Fixes the node's CPU share (CPUs, possibly fractional) instead of reading the cgroup's
    /// quota: for nodes whose cgroup file system is not visible.
    pub fn set_cpu_share(&mut self, share: f64) {
        self.share_override = Some(share);
    }

    /// Reads the node now.
    pub fn sample(&self) -> io::Result<Sample> {
        let allowed = self.allowed_cpus()?;
        let quota = self.share_override.or_else(|| self.cpu_quota());
        let cpu_share = quota.map_or(allowed, |q| q.min(allowed));
        let confined = quota.is_some() || self.cpuset_narrowed(allowed);
        let runnable = match (&self.dirs.cpu, &self.dirs.cpuset, &self.cpu_path) {
            _ if !confined => self.host_runnable()?,
            (Some((dir, _)), _, _) | (None, Some((dir, _)), _) if dir.is_dir() => {
                self.runnable_in(dir)? as f64
            }
            (_, _, Some(path)) => self.runnable_by_scan(path)? as f64,
            (_, _, None) => self.host_runnable()?,
        };
        let (mem_free, mem_total) = self.memory()?;
        Ok(Sample {
            runnable,
            cpu_share,
            mem_free,
            mem_total,
        })
    }

    fn allowed_cpus(&self) -> io::Result<f64> {
        let status = fs::read_to_string(self.proc_root.join("self/status"))?;
        let list = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .ok_or_else(|| bad("no Cpus_allowed_list in /proc/self/status"))?;
        Ok(count_cpu_list(list.trim()).max(1) as f64)
    }

    fn cpu_quota(&self) -> Option<f64> {
        let (dir, mount) = self.dirs.cpu.as_ref()?;
        let mut best: Option<f64> = None;
        for d in ancestors(dir, mount) {
            let q = if self.dirs.v2 {
                read_trimmed(&d.join("cpu.max")).and_then(|s| parse_cpu_max(&s))
            } else {
                let quota =
                    read_trimmed(&d.join("cpu.cfs_quota_us")).and_then(|s| s.parse::<i64>().ok());
                let period =
                    read_trimmed(&d.join("cpu.cfs_period_us")).and_then(|s| s.parse::<i64>().ok());
                match (quota, period) {
                    (Some(q), Some(p)) if q > 0 && p > 0 => Some(q as f64 / p as f64),
                    _ => None,
                }
            };
            if let Some(q) = q {
                best = Some(best.map_or(q, |b: f64| b.min(q)));
            }
        }
        best
    }

    fn cpuset_narrowed(&self, allowed: f64) -> bool {
        let Some((dir, mount)) = &self.dirs.cpuset else {
            return false;
        };
        let file = if self.dirs.v2 {
            "cpuset.cpus.effective"
        } else {
            "cpuset.cpus"
        };
        let mine = read_trimmed(&dir.join(file)).map(|s| count_cpu_list(&s));
        let root = read_trimmed(&mount.join(file)).map(|s| count_cpu_list(&s));
        match (mine, root) {
            (Some(m), Some(r)) => m > 0 && m < r,
            (Some(m), None) => m > 0 && (m as f64) < allowed,
            _ => false,
        }
    }

    /// Threads in state R in `dir` and its descendants, the sampling thread excepted.
    fn runnable_in(&self, dir: &Path) -> io::Result<usize> {
        let list = if self.dirs.v2 {
            "cgroup.threads"
        } else {
            "tasks"
        };
        let skipped = self.skipped();
        let mut count = 0;
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            // A cgroup may vanish while we walk (a lab node going down): skip it.
            let Ok(tids) = fs::read_to_string(d.join(list)) else {
                continue;
            };
            for tid in tids.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                if !skipped.contains(&tid) && self.thread_running(tid) {
                    count += 1;
                }
            }
            if let Ok(entries) = fs::read_dir(&d) {
                stack.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
        }
        Ok(count)
    }

    /// Threads in state R of the processes whose cpu cgroup is `path` or below, found by
    /// scanning /proc (when the cgroup file system itself is not visible).
    fn runnable_by_scan(&self, path: &str) -> io::Result<usize> {
        let skipped = self.skipped();
        let mut count = 0;
        for entry in fs::read_dir(&self.proc_root)?.flatten() {
            let name = entry.file_name();
            let Some(pid) = name.to_str().and_then(|n| n.parse::<i32>().ok()) else {
                continue;
            };
            let Ok(cg) = fs::read_to_string(entry.path().join("cgroup")) else {
                continue; // exited meanwhile
            };
            let inside = cpu_cgroup_path(&cg).is_some_and(|p| {
                p == path || p.strip_prefix(path).is_some_and(|r| r.starts_with('/'))
            });
            if !inside {
                continue;
            }
            let Ok(tasks) = fs::read_dir(entry.path().join("task")) else {
                continue;
            };
            for t in tasks.flatten() {
                let tid = t.file_name().to_str().and_then(|n| n.parse::<i32>().ok());
                if let Some(tid) = tid.filter(|t| !skipped.contains(t)) {
                    if self.thread_running_at(&format!("{pid}/task/{tid}/stat")) {
                        count += 1;
                    }
                }
            }
        }
        Ok(count)
    }

    fn thread_running(&self, tid: i32) -> bool {
        self.thread_running_at(&format!("{tid}/stat"))
    }

    fn thread_running_at(&self, rel: &str) -> bool {
        let Ok(stat) = fs::read_to_string(self.proc_root.join(rel)) else {
            return false; // exited meanwhile
        };
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            == Some("R")
    }

    fn host_runnable(&self) -> io::Result<f64> {
        let text = fs::read_to_string(self.proc_root.join("loadavg"))?;
        let running = text
            .split_whitespace()
            .nth(3)
            .and_then(|f| f.split('/').next())
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| bad("unexpected /proc/loadavg format"))?;
        // The reading thread is running while it reads.
        Ok(f64::from(running.saturating_sub(1)))
    }

    fn memory(&self) -> io::Result<(u64, u64)> {
        let info = fs::read_to_string(self.proc_root.join("meminfo"))?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| {
                    rest.trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<u64>()
                        .ok()
                })
                .map(|kib| kib * 1024)
        };
        let total = field("MemTotal:").ok_or_else(|| bad("no MemTotal in /proc/meminfo"))?;
        let mut free = field("MemAvailable:")
            .or_else(|| field("MemFree:"))
            .unwrap_or(0);
        let mut total_out = total;
        if let Some((limit, usage)) = self.cgroup_memory() {
            if limit < total_out {
                total_out = limit;
                free = free.min(limit.saturating_sub(usage));
            }
        }
        Ok((free.min(total_out), total_out))
    }

    /// The tightest memory limit among the node's cgroup and its ancestors, with that
    /// cgroup's usage.
    fn cgroup_memory(&self) -> Option<(u64, u64)> {
        let (dir, mount) = self.dirs.memory.as_ref()?;
        let (limit_file, usage_file) = if self.dirs.v2 {
            ("memory.max", "memory.current")
        } else {
            ("memory.limit_in_bytes", "memory.usage_in_bytes")
        };
        let mut best: Option<(u64, u64)> = None;
        for d in ancestors(dir, mount) {
            let Some(limit) = read_trimmed(&d.join(limit_file)).and_then(|s| s.parse().ok()) else {
                continue; // "max", or no such file
            };
            let usage = read_trimmed(&d.join(usage_file))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if best.is_none_or(|(l, _)| limit < l) {
                best = Some((limit, usage));
            }
        }
        best
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

fn read_trimmed(path: &Path) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// `dir` and its parents up to (not above) the hierarchy's mount point.
fn ancestors<'a>(dir: &'a Path, mount: &'a Path) -> impl Iterator<Item = &'a Path> {
    dir.ancestors().take_while(move |d| d.starts_with(mount))
}

/// `"max 100000"` -> None, `"50000 100000"` -> Some(0.5).
fn parse_cpu_max(text: &str) -> Option<f64> {
    let mut it = text.split_whitespace();
    let quota: f64 = it.next()?.parse().ok()?;
    let period: f64 = it.next().unwrap_or("100000").parse().ok()?;
    (quota > 0.0 && period > 0.0).then_some(quota / period)
}

/// Counts the CPUs of a list such as `0-3,6,8-9`.
pub fn count_cpu_list(list: &str) -> usize {
    list.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| match part.trim().split_once('-') {
            Some((a, b)) => match (a.parse::<usize>(), b.parse::<usize>()) {
                (Ok(a), Ok(b)) if b >= a => b - a + 1,
                _ => 0,
            },
            None => usize::from(part.trim().parse::<usize>().is_ok()),
        })
        .sum()
}

/// Locates this process's cgroup directories from `/proc/self/cgroup` and
/// `/proc/self/mountinfo`. Controllers at their hierarchy's root are left out.
fn find_dirs(cgroups: &str, mountinfo: &str, prefix: Option<&Path>) -> Dirs {
    // (mount point, root within the hierarchy, fstype, super options)
    let mounts: Vec<(PathBuf, String, String, String)> = mountinfo
        .lines()
        .filter_map(|line| {
            let (left, right) = line.split_once(" - ")?;
            let mut l = left.split_whitespace();
            let root = l.nth(3)?.to_owned();
            let point = l.next()?;
            let point = match prefix {
                Some(p) => p.join(point.trim_start_matches('/')),
                None => PathBuf::from(point),
            };
            let mut r = right.split_whitespace();
            let fstype = r.next()?.to_owned();
            let opts = r.nth(1).unwrap_or("").to_owned();
            Some((point, root, fstype, opts))
        })
        .filter(|(_, _, t, _)| t == "cgroup" || t == "cgroup2")
        .collect();
    let locate = |path: &str, pred: &dyn Fn(&str, &str) -> bool| {
        let (point, root, _, _) = mounts.iter().find(|(_, _, t, o)| pred(t, o))?;
        let rel = path.strip_prefix(root.as_str()).unwrap_or(path);
        let rel = rel.trim_start_matches('/');
        if rel.is_empty() {
            return None; // at the hierarchy root: not confined by it
        }
        Some((point.join(rel), point.clone()))
    };
    let mut dirs = Dirs::default();
    let mut unified = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            unified = Some(path);
            continue;
        }
        for ctrl in ctrls.split(',') {
            let slot = match ctrl {
                "cpu" => &mut dirs.cpu,
                "cpuset" => &mut dirs.cpuset,
                "memory" => &mut dirs.memory,
                _ => continue,
            };
            *slot = locate(path, &|t, o| v1_has(ctrl, t, o));
        }
    }
    // A v1 `cpu` hierarchy wins (hybrid systems keep only systemd's tree in v2).
    let v1_cpu_mounted = mounts.iter().any(|(_, _, t, o)| v1_has("cpu", t, o));
    if !v1_cpu_mounted {
        if let Some(path) = unified {
            let found = locate(path, &|t, _| t == "cgroup2");
            dirs = Dirs {
                cpu: found.clone(),
                cpuset: found.clone(),
                memory: found,
                v2: true,
            };
        }
    }
    dirs
}

/// The path of the cpu controller's cgroup in a `/proc/PID/cgroup` text (the unified one when
/// no v1 hierarchy has cpu); `None` at the root.
fn cpu_cgroup_path(cgroups: &str) -> Option<String> {
    let mut unified = None;
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            unified = Some(path);
        } else if ctrls.split(',').any(|c| c == "cpu") {
            return (path != "/").then(|| path.to_owned());
        }
    }
    unified.filter(|p| *p != "/").map(str::to_owned)
}

fn has_cgroup_mounts(mountinfo: &str) -> bool {
    mountinfo.lines().any(|l| {
        l.split_once(" - ")
            .and_then(|(_, r)| r.split_whitespace().next())
            .is_some_and(|t| t == "cgroup" || t == "cgroup2")
    })
}

fn v1_has(ctrl: &str, fstype: &str, opts: &str) -> bool {
    fstype == "cgroup" && opts.split(',').any(|x| x == ctrl)
}

#[cfg(test)]
#[path = "probe_tests.rs"]
mod tests;
