//! A real 3-node lab: network, private /tmp, hostnames, CPU shares, `lab exec`, daemons
//! started and restarted by the holders, and a `down` that leaves nothing behind.

mod lab_common;

use std::io::Write;
use std::process::Stdio;
use std::time::Duration;

use lab_common::*;
use wend_lab::{CpuSpec, Lab, LabSpec};

fn spec(nodes: usize) -> LabSpec {
    let mut s = LabSpec::for_test(nodes, WEND);
    s.daemon_program = Some(fake_daemon());
    // The fake daemon opens no API socket.
    s.daemon_timeout = None;
    s
}

#[test]
fn three_nodes_network_tmp_cgroups_exec_and_down() {
    init();
    let mut s = spec(3);
    s.cpus = CpuSpec::parse("1,0.5,0.5").unwrap();
    let lab = Lab::up(s).expect("lab up");
    let name = lab.name().clone();
    let a2 = lab.addr("node2").unwrap().to_string();
    let a3 = lab.addr("node3").unwrap().to_string();

    // The nodes reach each other over the bridge.
    for (from, to) in [("node1", &a2), ("node3", &a2), ("node2", &a3)] {
        let out = lab
            .exec(from, &["ping", "-c", "1", "-W", "5", to])
            .output()
            .unwrap();
        assert!(out.status.success(), "{from} -> {to}: {}", text(&out));
    }
    // No default route, a multicast route on eth0, loopback up.
    let routes = lab.exec("node1", &["ip", "-4", "route"]).output().unwrap();
    let routes = text(&routes);
    assert!(!routes.contains("default"), "{routes}");
    assert!(routes.contains("224.0.0.0/4 dev eth0"), "{routes}");
    let lo = lab
        .exec("node1", &["ping", "-c", "1", "-W", "5", "127.0.0.1"])
        .status()
        .unwrap();
    assert!(lo.success());

    // The node's sysfs shows its own interfaces, and its cgroup is still visible.
    let nets = text(
        &lab.exec("node1", &["ls", "/sys/class/net"])
            .output()
            .unwrap(),
    );
    assert_eq!(nets, "eth0\nlo\n");
    let cg = lab.state().nodes[0].cgroup_procs[0].clone();
    let cg = cg.to_str().unwrap();
    assert!(
        lab.exec("node1", &["test", "-f", cg])
            .status()
            .unwrap()
            .success(),
        "{cg}"
    );

    // Private /tmp: a file made in node2 is invisible on the host and in node1.
    let file = format!("/tmp/wend-lab-test-{name}");
    let made = lab
        .exec("node2", &["sh", "-c", &format!("echo hi > {file}")])
        .status()
        .unwrap();
    assert!(made.success());
    assert!(
        !std::path::Path::new(&file).exists(),
        "node2's /tmp leaked to the host"
    );
    let seen = |node: &str| {
        lab.exec(node, &["test", "-e", &file])
            .status()
            .unwrap()
            .success()
    };
    assert!(seen("node2"));
    assert!(!seen("node1"));
    // /run is private too, apart from /run/wend (the node's API directory).
    assert!(!lab
        .exec("node1", &["test", "-e", "/run/netns"])
        .status()
        .unwrap()
        .success());

    // Hostname, WEND_API, and the node's cgroup for exec'd commands.
    let out = lab.exec(
        "node3",
        &[
            "sh",
            "-c",
            "hostname; echo $WEND_API; cat /proc/self/cgroup",
        ],
    );
    let out = text(&{ out }.output().unwrap());
    assert!(out.starts_with("node3\n/run/wend/wend.sock\n"), "{out}");
    assert!(out.contains(&format!("wend-lab-{name}/node3")), "{out}");

    // CPU shares as asked, read back from the kernel.
    let mut lab = lab;
    let st = lab.status();
    let shares: Vec<_> = st.nodes.iter().map(|n| n.cgroup_cpus).collect();
    assert_eq!(shares, vec![Some(1.0), Some(0.5), Some(0.5)]);
    let v1 = std::path::Path::new("/sys/fs/cgroup/cpu").join(format!("wend-lab-{name}"));
    if v1.exists() {
        let q = std::fs::read_to_string(v1.join("node2/cpu.cfs_quota_us")).unwrap();
        assert_eq!(q.trim(), "50000");
        let q = std::fs::read_to_string(v1.join("node1/cpu.cfs_quota_us")).unwrap();
        assert_eq!(q.trim(), "100000");
    }

    // exec forwards exit status, stdin and stdout; a missing program gives 127.
    let st = lab.exec("node1", &["sh", "-c", "exit 7"]).status().unwrap();
    assert_eq!(st.code(), Some(7));
    let st = lab
        .exec("node1", &["/nonexistent/program"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(127));
    let mut cat = lab
        .exec("node2", &["cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    cat.stdin
        .take()
        .unwrap()
        .write_all(b"through the node\n")
        .unwrap();
    let out = cat.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "through the node\n");
    let bad = lab.exec("node9", &["true"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("no node"),
        "{bad:?}"
    );

    // The daemons: started in their node with the lab's arguments, killed, restarted.
    let d1 = lab.daemon_pid("node1").expect("daemon of node1 runs");
    let log = lab.daemon_log("node1");
    wait_for("the daemon log", Duration::from_secs(10), || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("host: ")
    });
    let log = std::fs::read_to_string(&log).unwrap();
    let listen = format!(
        "--listen {}:{}",
        lab.addr("node1").unwrap(),
        wend_lab::DEFAULT_PORT
    );
    assert!(log.contains("args: daemon --name node1 "), "{log}");
    assert!(log.contains(&listen), "{log}");
    assert!(log.contains("--api /run/wend/wend.sock"), "{log}");
    assert!(
        log.contains("api: /run/wend/wend.sock\nhost: node1\n"),
        "{log}"
    );
    assert!(log.contains(&format!("wend-lab-{name}/node1")), "{log}");
    lab.kill_daemon("node1").unwrap();
    assert_eq!(lab.daemon_pid("node1"), None);
    wait_for("daemon.exit", Duration::from_secs(10), || {
        lab.state().dir.join("node1/daemon.exit").exists()
    });
    let exit = std::fs::read_to_string(lab.state().dir.join("node1/daemon.exit")).unwrap();
    assert_eq!(exit.trim(), "killed by SIGKILL");
    let d1b = lab.start_daemon("node1").unwrap();
    assert_ne!(d1, d1b);
    lab.stop_daemon("node2").unwrap();
    assert!(!lab.status().nodes[1].daemon_alive);

    // The CLI sees the same lab.
    let out = wend(&["lab", "status", "--name", name.as_str()]);
    assert!(out.status.success());
    let table = text(&out);
    assert!(table.contains(&a3) && table.contains("node3"), "{table}");
    let json = text(&wend(&["lab", "status", "--name", name.as_str(), "--json"]));
    assert!(json.contains("\"cgroup_cpus\": 0.5"), "{json}");

    let mut pids: Vec<u32> = lab
        .state()
        .nodes
        .iter()
        .filter_map(|n| n.holder_pid)
        .collect();
    pids.push(d1b);
    pids.extend(lab.daemon_pid("node3"));
    let report = lab.down().expect("lab down");
    assert!(report.netns.len() == 3 && report.state_dir, "{report:?}");
    assert_nothing_left(&name, &pids);
}

#[test]
fn concurrent_labs_get_their_own_subnets() {
    init();
    let mut a = spec(1);
    a.daemon = false;
    a.cpus = CpuSpec::parse("1").unwrap();
    a.pin = true;
    let mut b = spec(1);
    b.daemon = false;
    let a = Lab::up(a).expect("lab a");
    let b = Lab::up(b).expect("lab b");
    assert_ne!(a.state().subnet, b.state().subnet);
    // Pinned to one CPU (where cpusets exist): the node sees one CPU.
    if let Some(cpus) = a.state().nodes[0].cpuset.clone() {
        assert_eq!(cpus.split(',').count(), 1, "{cpus}");
        let n = text(&a.exec("node1", &["nproc"]).output().unwrap());
        assert_eq!(n.trim(), "1");
    }
    let a1 = a.addr("node1").unwrap().to_string();
    let b1 = b.addr("node1").unwrap().to_string();
    // A node of one lab has no route to the other lab.
    let cross = a
        .exec("node1", &["ping", "-c", "1", "-W", "1", &b1])
        .output()
        .unwrap();
    assert!(!cross.status.success());
    let b_name = b.name().clone();
    let b_holder = b.state().nodes[0].holder_pid.unwrap();
    drop(b);
    assert_nothing_left(&b_name, &[b_holder]);
    let own = a
        .exec("node1", &["ping", "-c", "1", "-W", "5", &a1])
        .status()
        .unwrap();
    assert!(own.success(), "lab a must survive lab b's teardown");
}

const MCAST_RECV: &str = "
import socket, struct
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(('', 47999))
group = struct.pack('4s4s', socket.inet_aton('239.255.42.99'), socket.inet_aton('0.0.0.0'))
s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, group)
s.settimeout(30)
print('ready', flush=True)
data, addr = s.recvfrom(100)
print(data.decode(), addr[0], flush=True)
";

const MCAST_SEND: &str = "
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
for _ in range(100):
    s.sendto(b'hello', ('239.255.42.99', 47999))
    time.sleep(0.1)
";

#[test]
fn multicast_crosses_the_bridge() {
    use std::io::BufRead;
    init();
    let mut s = spec(2);
    s.daemon = false;
    let lab = Lab::up(s).expect("lab up");
    let mut recv = lab
        .exec("node1", &["python3", "-c", MCAST_RECV])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(recv.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let mut send = lab
        .exec("node2", &["python3", "-c", MCAST_SEND])
        .spawn()
        .unwrap();
    let got = lines.next().unwrap().unwrap();
    let _ = send.kill();
    let _ = send.wait();
    assert!(recv.wait().unwrap().success());
    assert_eq!(got, format!("hello {}", lab.addr("node2").unwrap()));
}

#[test]
fn real_daemons_serve_their_api_from_the_host_path() {
    init();
    let lab = Lab::up(LabSpec::for_test(2, WEND)).expect("lab up with daemons");
    let key = lab.state().key.clone().expect("a lab key");
    assert!(key.exists(), "{}", key.display());
    for node in lab.nodes() {
        // `up` waited for the sockets; they are reachable from the host.
        let sock = lab.api_socket(&node);
        assert!(
            std::os::unix::net::UnixStream::connect(&sock).is_ok(),
            "{}",
            sock.display()
        );
        let out = lab.exec(&node, &[WEND, "nodes"]).output().unwrap();
        assert!(out.status.success(), "{node}: {out:?}");
        assert!(text(&out).contains(&node), "{node}: {}", text(&out));
    }
}
