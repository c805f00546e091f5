use std::fs;
use std::path::Path;

use super::*;

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, text).unwrap();
}

const MEMINFO: &str = "MemTotal:       8000000 kB\nMemFree:  100 kB\nMemAvailable:   6000000 kB\n";

/// A v1 machine where this process sits in `/wend-lab-t/node1` of the cpu hierarchy with a
/// half-CPU quota, and a memory limit of 1 GiB.
fn v1_fixture(root: &Path) -> PathBuf {
    let proc_root = root.join("proc");
    let cg = root.join("cg");
    write(
        &proc_root,
        "self/cgroup",
        "4:memory:/lab/n1\n3:cpuset:/\n1:cpu,cpuacct:/wend-lab-t/node1\n0::/\n",
    );
    write(
        &proc_root,
        "self/mountinfo",
        &format!(
            "30 20 0:26 / {cpu} rw,nosuid - cgroup cgroup rw,cpu,cpuacct\n\
             31 20 0:27 / {cpuset} rw,nosuid - cgroup cgroup rw,cpuset\n\
             32 20 0:28 / {mem} rw,nosuid - cgroup cgroup rw,memory\n\
             33 20 0:29 / {uni} rw - cgroup2 cgroup2 rw\n",
            cpu = cg.join("cpu,cpuacct").display(),
            cpuset = cg.join("cpuset").display(),
            mem = cg.join("memory").display(),
            uni = cg.join("unified").display(),
        ),
    );
    write(
        &proc_root,
        "self/status",
        "Name:\tx\nCpus_allowed_list:\t0-1\n",
    );
    write(&proc_root, "meminfo", MEMINFO);
    write(&proc_root, "loadavg", "0.5 0.4 0.3 7/100 999\n");
    let node = cg.join("cpu,cpuacct/wend-lab-t/node1");
    write(&node, "cpu.cfs_quota_us", "50000\n");
    write(&node, "cpu.cfs_period_us", "100000\n");
    write(&node, "tasks", "10\n11\n12\n");
    write(&node, "job/tasks", "13\n");
    write(&cg, "cpu,cpuacct/wend-lab-t/cpu.cfs_quota_us", "-1\n");
    write(&cg, "cpu,cpuacct/wend-lab-t/cpu.cfs_period_us", "100000\n");
    write(&proc_root, "10/stat", "10 (wend) S 1 2 3\n");
    write(&proc_root, "11/stat", "11 (spin (x)) R 1 2 3\n");
    write(&proc_root, "12/stat", "12 (self) R 1 2 3\n");
    write(&proc_root, "13/stat", "13 (job) R 1 2 3\n");
    let mem = cg.join("memory/lab/n1");
    write(&mem, "memory.limit_in_bytes", "1073741824\n");
    write(&mem, "memory.usage_in_bytes", "268435456\n");
    proc_root
}

#[test]
fn confined_v1_node() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = v1_fixture(dir.path());
    let probe = Probe::with_root(&proc_root, Some(12)).unwrap();
    let s = probe.sample().unwrap();
    // 11 and 13 run; 12 is the sampler itself; 10 sleeps.
    assert_eq!(s.runnable, 2.0);
    assert_eq!(s.cpu_share, 0.5);
    assert_eq!(s.cpus(), 1);
    assert_eq!(s.speed_factor(), 0.5);
    assert_eq!(s.mem_total, 1 << 30);
    assert_eq!(s.mem_free, (1 << 30) - (1 << 28));
}

#[test]
fn unconfined_node_uses_the_host_run_queue() {
    let dir = tempfile::tempdir().unwrap();
    let proc_root = v1_fixture(dir.path());
    let node = dir.path().join("cg/cpu,cpuacct/wend-lab-t/node1");
    fs::write(node.join("cpu.cfs_quota_us"), "-1\n").unwrap();
    let s = Probe::with_root(&proc_root, Some(12))
        .unwrap()
        .sample()
        .unwrap();
    assert_eq!(s.runnable, 6.0); // 7 running in loadavg, minus the reader
    assert_eq!(s.cpu_share, 2.0);
    assert_eq!(s.cpus(), 2);
    assert_eq!(s.speed_factor(), 1.0);
}

#[test]
fn v2_node_with_quota() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let proc_root = root.join("proc");
    let cg = root.join("cg2");
    write(&proc_root, "self/cgroup", "0::/lab/node2\n");
    write(
        &proc_root,
        "self/mountinfo",
        &format!("33 20 0:29 / {} rw - cgroup2 cgroup2 rw\n", cg.display()),
    );
    write(&proc_root, "self/status", "Cpus_allowed_list:\t0-3\n");
    write(&proc_root, "meminfo", MEMINFO);
    write(&proc_root, "loadavg", "0 0 0 1/10 1\n");
    write(&cg, "lab/node2/cpu.max", "150000 100000\n");
    write(&cg, "lab/node2/cgroup.threads", "20\n");
    write(&cg, "lab/node2/memory.max", "max\n");
    write(&proc_root, "20/stat", "20 (a) R 1\n");
    let s = Probe::with_root(&proc_root, None)
        .unwrap()
        .sample()
        .unwrap();
    assert_eq!(s.cpu_share, 1.5);
    assert_eq!(s.cpus(), 2);
    assert_eq!(s.speed_factor(), 0.75);
    assert_eq!(s.runnable, 1.0);
    assert_eq!(s.mem_total, 8_000_000 * 1024);
    assert_eq!(s.mem_free, 6_000_000 * 1024);
}

#[test]
fn cpu_lists() {
    assert_eq!(count_cpu_list("0-3,6,8-9"), 7);
    assert_eq!(count_cpu_list("0"), 1);
    assert_eq!(count_cpu_list(""), 0);
    assert_eq!(count_cpu_list("3-1"), 0);
    assert_eq!(parse_cpu_max("max 100000"), None);
    assert_eq!(parse_cpu_max("50000 100000"), Some(0.5));
}

#[test]
fn this_machine() {
    let s = Probe::new().unwrap().sample().unwrap();
    assert!(s.cpu_share >= 0.001);
    assert!(s.mem_total > 0 && s.mem_free <= s.mem_total);
    assert!(s.runnable >= 0.0);
}

#[test]
fn cgroups_hidden_by_a_fresh_sys_are_found_through_init() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let proc_root = v1_fixture(root);
    // This mount namespace has its own /sys without cgroups; init's has them.
    let own = fs::read_to_string(proc_root.join("self/mountinfo")).unwrap();
    let init = own.replace(&root.join("cg").display().to_string(), "/sys/fs/cgroup");
    write(&proc_root, "1/mountinfo", &init);
    write(
        &proc_root,
        "self/mountinfo",
        "76 58 0:50 / /sys ro,nosuid - sysfs sysfs ro\n",
    );
    let moved = proc_root.join("1/root/sys/fs");
    fs::create_dir_all(&moved).unwrap();
    fs::rename(root.join("cg"), moved.join("cgroup")).unwrap();
    let s = Probe::with_root(&proc_root, Some(12))
        .unwrap()
        .sample()
        .unwrap();
    assert_eq!(s.cpu_share, 0.5);
    assert_eq!(s.runnable, 2.0);
    assert_eq!(s.mem_total, 1 << 30);
}

#[test]
fn without_cgroupfs_a_known_share_counts_the_node_by_scanning_proc() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let proc_root = v1_fixture(root);
    // No cgroup mounts visible anywhere.
    write(
        &proc_root,
        "self/mountinfo",
        "76 58 0:50 / /sys ro,nosuid - sysfs sysfs ro\n",
    );
    fs::remove_dir_all(root.join("cg")).unwrap();
    let node = "1:cpu,cpuacct:/wend-lab-t/node1\n";
    let other = "1:cpu,cpuacct:/wend-lab-t/node10\n";
    for (pid, cg, tids) in [
        (40, node, vec![(40, "R"), (41, "S")]),
        (50, "1:cpu,cpuacct:/wend-lab-t/node1/job\n", vec![(50, "R")]),
        (60, other, vec![(60, "R")]),
        (70, node, vec![(70, "R")]), // the sampler itself
    ] {
        write(&proc_root, &format!("{pid}/cgroup"), cg);
        for (tid, st) in tids {
            write(
                &proc_root,
                &format!("{pid}/task/{tid}/stat"),
                &format!("{tid} (x) {st} 1\n"),
            );
        }
    }
    let mut probe = Probe::with_root(&proc_root, Some(70)).unwrap();
    // Unknown share: the host's run queue.
    assert_eq!(probe.sample().unwrap().runnable, 6.0);
    probe.set_cpu_share(0.5);
    let s = probe.sample().unwrap();
    assert_eq!(s.cpu_share, 0.5);
    assert_eq!(s.runnable, 2.0); // 40 and 50; not 41 (sleeps), 60 (another node), 70 (self)
}
