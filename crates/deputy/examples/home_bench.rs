//! Micro-benchmark of the home executor: a scalar forwarded call (getppid) and a 4 KiB and
//! 256 KiB pread
//! run in a deputy, against the same calls made natively. Prints median, p90 and p99.
//!
//! Run as root: `cargo run --release -p wend-deputy --example home_bench [ROUNDS]`.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use wend_deputy::home::{Deputy, Executed};
use wend_deputy::{Back, Call, Dir, Region};
use wend_sys::{proc, Stopped};

fn stats(name: &str, mut t: Vec<Duration>) {
    t.sort();
    let q = |p: f64| t[((t.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e6;
    println!(
        "{name:<28} median {:>7.2} us   p90 {:>7.2} us   p99 {:>7.2} us   ({} calls)",
        q(0.5),
        q(0.9),
        q(0.99),
        t.len()
    );
}

fn time(rounds: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..rounds / 10 {
        f();
    }
    (0..rounds)
        .map(|_| {
            let t0 = Instant::now();
            f();
            t0.elapsed()
        })
        .collect()
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);
    wend_sys::process::set_child_subreaper().expect("child subreaper");
    let mut child = Command::new("sleep")
        .arg("1000")
        .stdin(Stdio::null())
        .spawn()
        .expect("start sleep");
    let pid = child.id() as i32;
    while proc::stat::state(pid).expect("state") != 'S' {
        std::thread::sleep(Duration::from_millis(1));
    }
    let st = Stopped::seize(pid).expect("seize");
    let mut d = Deputy::new(st).expect("deputy");
    let mut never = || false;

    let getppid = Call::scalar(libc::SYS_getppid as u32, [0; 6]);
    stats(
        "native getppid",
        time(rounds, || {
            std::hint::black_box(std::os::unix::process::parent_id());
        }),
    );
    stats(
        "deputy getppid",
        time(rounds, || match d.execute(&getppid, &mut never) {
            Ok(Executed::Done(o)) => assert!(o.ret > 0),
            other => panic!("{other:?}"),
        }),
    );

    stats(
        "take_signals, none pending",
        time(rounds / 10, || {
            assert!(d.take_signals().expect("take_signals").is_empty());
        }),
    );

    let path = std::env::temp_dir().join(format!("wend-home-bench-{}", std::process::id()));
    std::fs::write(&path, vec![7u8; 256 << 10]).expect("bench file");
    let mut cpath = path.as_os_str().as_encoded_bytes().to_vec();
    cpath.push(0);
    let open = Call {
        nr: libc::SYS_openat as u32,
        args: [libc::AT_FDCWD as u64, 0, libc::O_RDONLY as u64, 0, 0, 0],
        regions: vec![Region {
            arg: 1,
            dir: Dir::In,
            len: cpath.len() as u32,
            data: cpath,
            back: Back::All,
        }],
    };
    let fd = match d.execute(&open, &mut never) {
        Ok(Executed::Done(o)) if o.ret >= 0 => o.ret as u64,
        other => panic!("openat in the deputy: {other:?}"),
    };
    let file = std::fs::File::open(&path).expect("open bench file");
    for (len, name) in [(4096usize, "4 KiB"), (256 << 10, "256 KiB")] {
        let pread = Call::pread(fd as i32, len as u64, 0);
        let mut buf = vec![0u8; len];
        let n = rounds.min((64 << 20) / len);
        stats(
            &format!("native pread {name}"),
            time(n, || {
                use std::os::unix::fs::FileExt;
                assert_eq!(file.read_at(&mut buf, 0).expect("pread"), len);
            }),
        );
        stats(
            &format!("deputy pread {name}"),
            time(n, || match d.execute(&pread, &mut never) {
                Ok(Executed::Done(o)) => assert_eq!(o.out[0].len(), len),
                other => panic!("{other:?}"),
            }),
        );
    }
    let _ = std::fs::remove_file(&path);
    d.exit(0).expect("end the deputy");
    let _ = child.wait();
}
