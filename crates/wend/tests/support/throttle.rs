//! A CPU throttle for processes the tests cannot gate themselves (real tools): a cgroup v1
//! `cpu` group whose CFS quota the test lowers to 1% of a CPU while a --leave-running
//! checkpoint is written. The process keeps running (and wend's injected calls still get
//! scheduled, within 100 ms), but cannot race to its end during the dump whatever the load.

use std::fs;
use std::path::PathBuf;

const ROOT: &str = "/sys/fs/cgroup/cpu";
/// 1 ms of CPU per 100 ms period (1%). Not less: wend's injected calls (the snapshot clone
/// copies the page tables) run, and are charged, in the throttled process.
const SLOW_QUOTA_US: &str = "1000";
const PERIOD_US: &str = "100000";

/// A cgroup named after the test process and a tag; removed on drop (its processes moved
/// back to the root group first).
pub struct Throttle {
    dir: PathBuf,
}

impl Throttle {
    pub fn new(tag: &str) -> Throttle {
        let dir = PathBuf::from(ROOT).join(format!("wend-ckpt-test-{}-{tag}", std::process::id()));
        if let Err(e) = fs::create_dir(&dir) {
            panic!("creating the cgroup {}: {e}", dir.display());
        }
        let t = Throttle { dir };
        t.write("cpu.cfs_period_us", PERIOD_US);
        t
    }

    fn write(&self, file: &str, value: &str) {
        let path = self.dir.join(file);
        fs::write(&path, value)
            .unwrap_or_else(|e| panic!("writing {value} to {}: {e}", path.display()));
    }

    /// Moves `pid` into the group (unthrottled until [`Throttle::slow`]).
    pub fn add(&self, pid: u32) {
        self.write("cgroup.procs", &pid.to_string());
    }

    /// 1% of a CPU for the group's processes.
    pub fn slow(&self) {
        self.write("cpu.cfs_quota_us", SLOW_QUOTA_US);
    }

    /// No limit.
    pub fn release(&self) {
        self.write("cpu.cfs_quota_us", "-1");
    }
}

impl Drop for Throttle {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join("cpu.cfs_quota_us"), "-1");
        let procs = fs::read_to_string(self.dir.join("cgroup.procs")).unwrap_or_default();
        for pid in procs.split_whitespace() {
            let _ = fs::write(PathBuf::from(ROOT).join("cgroup.procs"), pid);
        }
        let _ = fs::remove_dir(&self.dir);
    }
}
