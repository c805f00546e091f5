//! Read-ahead against a simulated home: files with offsets behind descriptors, and a guest
//! memory in a vector. Every guest call goes through `decide`, then the read-ahead, then (for
//! every call it sends) the simulated home kernel.

use std::cell::RefCell;
use std::collections::HashMap;

use super::*;
use crate::marshal::{decide, Context, Decision};

const BASE: u64 = 0x10_0000;
const SIZE: usize = 1 << 20;
const BUF: u64 = BASE + 0x1000;

struct Mem(RefCell<Vec<u8>>);

impl GuestMem for Mem {
    fn read(&self, addr: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let off = (addr - BASE) as usize;
        buf.copy_from_slice(&self.0.borrow()[off..off + buf.len()]);
        Ok(())
    }
    fn write(&self, addr: u64, data: &[u8]) -> std::io::Result<()> {
        let off = (addr - BASE) as usize;
        self.0.borrow_mut()[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
}

/// One open file at home.
struct Open {
    file: usize,
    off: u64,
    regular: bool,
}

/// The home kernel, as far as these calls go.
struct Home {
    files: Vec<Vec<u8>>,
    fds: HashMap<i32, Open>,
    /// Every call sent home, by number.
    calls: Vec<u32>,
}

impl Home {
    fn exec(&mut self, c: &Call) -> Outcome {
        self.calls.push(c.nr);
        if matches!(i64::from(c.nr), libc::SYS_getppid | libc::SYS_getuid) {
            return Outcome {
                ret: 1,
                out: vec![],
            };
        }
        let fd = c.args[0] as i32;
        let Some(o) = self.fds.get_mut(&fd) else {
            return Outcome {
                ret: -i64::from(libc::EBADF),
                out: c
                    .regions
                    .iter()
                    .filter(|r| r.dir != Dir::In)
                    .map(|_| Vec::new())
                    .collect(),
            };
        };
        let data = &mut self.files[o.file];
        let slice = |at: u64, n: u64| {
            let at = (at as usize).min(data.len());
            data[at..(at + n as usize).min(data.len())].to_vec()
        };
        match i64::from(c.nr) {
            libc::SYS_read => {
                let b = slice(o.off, c.args[2]);
                o.off += b.len() as u64;
                Outcome {
                    ret: b.len() as i64,
                    out: vec![b],
                }
            }
            libc::SYS_pread64 => {
                let b = slice(c.args[3], c.args[2]);
                Outcome {
                    ret: b.len() as i64,
                    out: vec![b],
                }
            }
            libc::SYS_write => {
                let bytes = &c.regions[0].data;
                let at = o.off as usize;
                if data.len() < at + bytes.len() {
                    data.resize(at + bytes.len(), 0);
                }
                data[at..at + bytes.len()].copy_from_slice(bytes);
                o.off += bytes.len() as u64;
                Outcome {
                    ret: bytes.len() as i64,
                    out: vec![],
                }
            }
            libc::SYS_lseek => {
                o.off = match c.args[2] as i32 {
                    libc::SEEK_SET => c.args[1],
                    libc::SEEK_CUR => o.off.wrapping_add(c.args[1]),
                    _ => data.len() as u64 + c.args[1],
                };
                Outcome {
                    ret: o.off as i64,
                    out: vec![],
                }
            }
            libc::SYS_fstat => {
                let mut st = vec![0u8; STAT_LEN as usize];
                st[8..16].copy_from_slice(&(o.file as u64 + 100).to_ne_bytes());
                let mode = if o.regular {
                    libc::S_IFREG
                } else {
                    libc::S_IFIFO
                } | 0o644;
                st[ST_MODE..ST_MODE + 4].copy_from_slice(&mode.to_ne_bytes());
                Outcome {
                    ret: 0,
                    out: vec![st],
                }
            }
            libc::SYS_close => {
                self.fds.remove(&fd);
                Outcome {
                    ret: 0,
                    out: vec![],
                }
            }
            _ => Outcome {
                ret: 0,
                out: c
                    .regions
                    .iter()
                    .filter(|r| r.dir != Dir::In)
                    .map(|r| vec![0; r.len as usize])
                    .collect(),
            },
        }
    }
}

struct World {
    mem: Mem,
    home: Home,
    ra: ReadAhead,
    now: Instant,
    /// The prefetch sent and not yet answered.
    ahead: Option<Call>,
    /// Whether home answers a prefetch only when something else waits behind it (a slow
    /// link), instead of before the guest's next call (a guest that computes between reads).
    late: bool,
    /// Reads that waited for a prefetch.
    waits: usize,
}

fn text(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

impl World {
    /// Fd 3: a regular file of `len` bytes; fd 4: another regular file (empty); fd 5: a pipe.
    fn new(len: usize) -> World {
        let mut fds = HashMap::new();
        fds.insert(
            3,
            Open {
                file: 0,
                off: 0,
                regular: true,
            },
        );
        fds.insert(
            4,
            Open {
                file: 1,
                off: 0,
                regular: true,
            },
        );
        fds.insert(
            5,
            Open {
                file: 2,
                off: 0,
                regular: false,
            },
        );
        World {
            mem: Mem(RefCell::new(vec![0; SIZE])),
            home: Home {
                files: vec![text(len, 1), Vec::new(), text(1 << 16, 9)],
                fds,
                calls: Vec::new(),
            },
            ra: ReadAhead::new(Config {
                window: 64 << 10,
                prefetch: false,
                ..Config::default()
            }),
            now: Instant::now(),
            ahead: None,
            late: false,
            waits: 0,
        }
    }

    /// [`World::new`] with prefetch on; `late` as in [`World::late`].
    fn prefetching(len: usize, late: bool) -> World {
        let mut w = World::new(len);
        w.ra = ReadAhead::new(Config {
            window: 64 << 10,
            ..Config::default()
        });
        w.late = late;
        w
    }

    /// Home answers the prefetch on its way (it runs before anything sent after it); nothing
    /// waited for it.
    fn land_prefetch(&mut self) {
        if let Some(c) = self.ahead.take() {
            let out = self.home.exec(&c);
            assert!(self.ra.prefetched(out, &self.mem, self.now).is_none());
        }
    }

    /// The guest makes call `nr(args)`; its result.
    fn call(&mut self, nr: i64, args: [u64; 6]) -> i64 {
        let ctx = Context { home_pid: 77 };
        let p = match decide(nr as u32, args, &ctx, &self.mem) {
            Decision::Forward(p) => p,
            other => panic!("{nr} not forwarded: {other:?}"),
        };
        if !self.late {
            self.land_prefetch();
        }
        let mut step = self.ra.begin(p, &self.mem, self.now);
        loop {
            match step {
                Step::Reply(v) => {
                    if let Some(c) = self.ra.prefetch(self.now) {
                        assert!(self.ahead.is_none(), "two prefetches on their way");
                        self.ahead = Some(c);
                    }
                    return v;
                }
                Step::Send(c) => {
                    self.land_prefetch();
                    let out = self.home.exec(&c);
                    step = self.ra.answer(out, &self.mem, self.now).expect("answer");
                }
                Step::Wait => {
                    self.waits += 1;
                    let c = self.ahead.take().expect("a wait without a prefetch");
                    let out = self.home.exec(&c);
                    step = self
                        .ra
                        .prefetched(out, &self.mem, self.now)
                        .expect("the waiting read goes on");
                }
            }
        }
    }

    fn read(&mut self, fd: i32, n: u64) -> Vec<u8> {
        let r = self.call(libc::SYS_read, [fd as u64, BUF, n, 0, 0, 0]);
        assert!(r >= 0, "read returned {r}");
        self.mem.0.borrow()[(BUF - BASE) as usize..][..r as usize].to_vec()
    }

    fn write(&mut self, fd: i32, data: &[u8]) -> i64 {
        self.mem.write(BUF, data).unwrap();
        self.call(
            libc::SYS_write,
            [fd as u64, BUF, data.len() as u64, 0, 0, 0],
        )
    }

    fn home_off(&self, fd: i32) -> u64 {
        self.home.fds[&fd].off
    }

    fn sent(&self, nr: i64) -> usize {
        self.home
            .calls
            .iter()
            .filter(|&&c| i64::from(c) == nr)
            .count()
    }

    fn flush(&mut self) {
        for c in self.ra.flush() {
            self.home.exec(&c);
        }
    }
}

#[test]
fn sequential_reads_are_served_from_windows_and_match_the_file() {
    let len = 300_000;
    let mut w = World::new(len);
    let want = text(len, 1);
    let mut got = Vec::new();
    loop {
        let b = w.read(3, 8192);
        if b.is_empty() {
            break;
        }
        got.extend_from_slice(&b);
    }
    assert_eq!(got, want);
    let reads = len.div_ceil(8192) + 1;
    // Two plain reads, fstat, lseek, then a 64 KiB window per 8 reads, and one at the end.
    assert_eq!(
        w.home.calls.len(),
        2 + 2 + len.div_ceil(64 << 10) + 1,
        "for {reads} reads"
    );
    assert_eq!(w.ra.stats().probes, 2);
    assert!(w.ra.stats().served > (reads as u64) * 3 / 4);
    // Home's offset lags until something could see it; the flush makes it right.
    assert!(w.home_off(3) < len as u64);
    w.flush();
    assert_eq!(w.home_off(3), len as u64);
}

#[test]
fn writes_to_another_regular_file_keep_the_window() {
    let mut w = World::new(200_000);
    for _ in 0..3 {
        w.read(3, 4096);
    }
    let fills = w.ra.stats().fills;
    assert_eq!(fills, 1);
    // One fstat of fd 4 at the first write, then writes go straight through.
    for i in 0..5u8 {
        assert_eq!(w.write(4, &[i; 100]), 100);
        w.read(3, 4096);
    }
    assert_eq!(w.ra.stats().fills, 1);
    assert_eq!(w.sent(libc::SYS_fstat), 2);
    assert_eq!(w.sent(libc::SYS_lseek), 1, "only the first tell");
    assert_eq!(w.home.files[1].len(), 500);
    w.flush();
    assert_eq!(w.home_off(3), 8 * 4096);
}

#[test]
fn a_write_to_the_same_file_syncs_and_drops_the_window() {
    let mut w = World::new(100_000);
    for _ in 0..3 {
        w.read(3, 4096);
    }
    // fd 6 is the same file as fd 3 (opened again): a write there changes what fd 3 reads.
    w.home.fds.insert(
        6,
        Open {
            file: 0,
            off: 20_000,
            regular: true,
        },
    );
    assert_eq!(w.write(6, b"NEW!"), 4);
    assert_eq!(w.home_off(3), 3 * 4096, "synced before the write");
    // The next reads see the new bytes (the window is gone).
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(w.read(3, 4096));
    }
    assert_eq!(&got[20_000 - 3 * 4096..][..4], b"NEW!");
}

#[test]
fn a_write_to_a_pipe_syncs_the_offset_but_keeps_the_window() {
    let mut w = World::new(100_000);
    for _ in 0..4 {
        w.read(3, 4096);
    }
    let fills = w.ra.stats().fills;
    assert_eq!(w.write(5, b"x"), 1);
    assert_eq!(w.home_off(3), 4 * 4096, "another process may look now");
    w.read(3, 4096);
    assert_eq!(w.ra.stats().fills, fills, "the window was kept");
    assert_eq!(w.home_off(3), 4 * 4096, "and lags again");
}

#[test]
fn other_calls_on_the_descriptor_see_the_right_offset() {
    let mut w = World::new(100_000);
    for _ in 0..5 {
        w.read(3, 1000);
    }
    // The guest asks where it is: home must say 5000, as the guest read 5000 bytes.
    let r = w.call(libc::SYS_lseek, [3, 0, libc::SEEK_CUR as u64, 0, 0, 0]);
    assert_eq!(r, 5000);
    // A seek elsewhere, then reads from there (a fresh window, at the new place).
    assert_eq!(
        w.call(libc::SYS_lseek, [3, 50_000, libc::SEEK_SET as u64, 0, 0, 0]),
        50_000
    );
    let want = text(100_000, 1);
    for i in 0..4 {
        assert_eq!(w.read(3, 1000), want[50_000 + i * 1000..][..1000]);
    }
    // close: the offset is synced first, and nothing is kept for the number.
    assert_eq!(w.call(libc::SYS_close, [3, 0, 0, 0, 0, 0]), 0);
    assert!(!w.ra.fds.contains_key(&3));
}

#[test]
fn a_non_regular_file_is_probed_once_and_never_read_ahead() {
    let mut w = World::new(10);
    for _ in 0..10 {
        assert_eq!(w.read(5, 100).len(), 100);
    }
    assert_eq!(w.ra.stats().fills, 0);
    assert_eq!(w.sent(libc::SYS_fstat), 1);
    assert_eq!(w.sent(libc::SYS_read), 10);
}

#[test]
fn old_windows_and_signals_make_fresh_reads() {
    let mut w = World::new(100_000);
    for _ in 0..3 {
        w.read(3, 4096);
    }
    // Someone else changes the file at home, and the guest hears about it by a signal.
    w.home.files[0][3 * 4096] = b'!';
    w.ra.signal();
    assert_eq!(w.read(3, 4096)[0], b'!');
    // Or by waiting long enough.
    w.home.files[0][4 * 4096] = b'?';
    w.now += Duration::from_millis(51);
    assert_eq!(w.read(3, 4096)[0], b'?');
}

#[test]
fn reads_are_never_short_before_the_end_of_the_file() {
    let mut w = World::new(200_000);
    let want = text(200_000, 1);
    let mut at = 0;
    for n in [3000u64, 3000, 3000, 40_000, 50_000, 7, 65_536, 30_000] {
        let b = w.read(3, n);
        assert_eq!(b.len() as u64, n.min(200_000 - at as u64));
        assert_eq!(b, want[at..at + b.len()]);
        at += b.len();
    }
    // At the end: what is left, then 0.
    let b = w.read(3, 100_000);
    assert_eq!(b, want[at..]);
    assert!(w.read(3, 100).is_empty());
}

#[test]
fn quiet_calls_keep_windows_and_others_forget_everything() {
    let mut w = World::new(100_000);
    for _ in 0..3 {
        w.read(3, 4096);
    }
    assert!(w.call(libc::SYS_getuid, [0; 6]) >= 0);
    w.read(3, 4096);
    assert_eq!(w.ra.stats().fills, 1);
    // getppid is news (a parent's death): the window goes, the offset is synced first.
    assert!(w.call(libc::SYS_getppid, [0; 6]) >= 0);
    assert_eq!(w.home_off(3), 4 * 4096);
    w.read(3, 4096);
    assert_eq!(w.ra.stats().fills, 2);
    // A read of another descriptor may bring news: sync, drop, start over.
    w.read(5, 10);
    assert_eq!(w.home_off(3), 5 * 4096);
    assert!(w
        .ra
        .fds
        .get(&3)
        .is_none_or(|f| f.window.is_none() && f.off.is_none()));
}

#[test]
fn a_failed_fill_falls_back_to_the_guests_own_read() {
    let mut w = World::new(100_000);
    for _ in 0..2 {
        w.read(3, 4096);
    }
    // Home's fstat says regular, its lseek works, but pread64 fails (say O_DIRECT): the
    // guest's read is sent as it was and read-ahead stops for the descriptor.
    let failing = |w: &mut World| {
        let ctx = Context { home_pid: 77 };
        let Decision::Forward(p) = decide(0, [3, BUF, 4096, 0, 0, 0], &ctx, &w.mem) else {
            panic!("read not forwarded");
        };
        let mut step = w.ra.begin(p, &w.mem, w.now);
        loop {
            match step {
                Step::Reply(v) => return v,
                Step::Wait => panic!("no prefetch here"),
                Step::Send(c) => {
                    let out = if i64::from(c.nr) == libc::SYS_pread64 {
                        Outcome {
                            ret: -i64::from(libc::EINVAL),
                            out: vec![Vec::new()],
                        }
                    } else {
                        w.home.exec(&c)
                    };
                    step = w.ra.answer(out, &w.mem, w.now).unwrap();
                }
            }
        }
    };
    assert_eq!(failing(&mut w), 4096);
    assert_eq!(w.home_off(3), 3 * 4096);
    w.read(3, 4096);
    assert_eq!(w.ra.stats().fills, 1);
    assert_eq!(w.home_off(3), 4 * 4096);
}

/// Reads 8 KiB at a time to the end; what they returned.
fn read_all(w: &mut World) -> Vec<u8> {
    let mut got = Vec::new();
    loop {
        let b = w.read(3, 8192);
        if b.is_empty() {
            return got;
        }
        got.extend_from_slice(&b);
    }
}

#[test]
fn prefetched_windows_serve_a_steady_reader_without_fills() {
    let len = 300_000;
    let mut w = World::prefetching(len, false);
    assert_eq!(read_all(&mut w), text(len, 1));
    let st = w.ra.stats();
    // The first window is a fill (and the read at the end of the file another); each later
    // window was asked for while the one before it was read, and was there when needed.
    assert_eq!(st.fills, 2, "{st:?}");
    assert_eq!(st.prefetches, len.div_ceil(64 << 10) as u64 - 1, "{st:?}");
    assert_eq!(w.waits, 0);
    assert_eq!(w.sent(libc::SYS_read), 2);
    w.flush();
    assert_eq!(w.home_off(3), len as u64);
}

#[test]
fn a_read_that_needs_the_prefetch_on_its_way_waits_for_it() {
    let len = 300_000;
    let mut w = World::prefetching(len, true);
    assert_eq!(read_all(&mut w), text(len, 1));
    let st = w.ra.stats();
    assert_eq!(st.fills, 2, "never asked twice for the same bytes: {st:?}");
    assert!(w.waits >= 3, "{} waits, {st:?}", w.waits);
    w.flush();
    assert_eq!(w.home_off(3), len as u64);
}

#[test]
fn reads_that_do_not_line_up_with_windows_join_them() {
    let len = 200_000;
    let mut w = World::prefetching(len, false);
    let mut got = Vec::new();
    loop {
        let b = w.read(3, 5000);
        if b.is_empty() {
            break;
        }
        got.extend_from_slice(&b);
    }
    assert_eq!(got, text(len, 1));
    assert_eq!(
        w.ra.stats().fills,
        2,
        "the first window and the end of the file"
    );
}

#[test]
fn a_prefetch_older_than_a_write_to_the_file_is_thrown_away() {
    let mut w = World::prefetching(300_000, true);
    // Past half of the first window: the prefetch of the second is on its way.
    for _ in 0..6 {
        w.read(3, 8192);
    }
    assert!(w.ahead.is_some());
    // fd 6 is the same file: a write there (home runs the prefetch first, so its bytes
    // are the old ones) must not be read through the prefetched window.
    w.home.fds.insert(
        6,
        Open {
            file: 0,
            off: 70_000,
            regular: true,
        },
    );
    assert_eq!(w.write(6, b"NEW!"), 4);
    assert!(
        w.ahead.is_none(),
        "home answered the prefetch before the write"
    );
    let mut got = Vec::new();
    for _ in 0..4 {
        got.extend(w.read(3, 8192));
    }
    let at = 70_000 - 6 * 8192;
    assert_eq!(&got[at..at + 4], b"NEW!");
}

#[test]
fn a_slow_reader_gets_no_prefetch() {
    let mut w = World::prefetching(300_000, false);
    for _ in 0..4 {
        w.read(3, 8192);
    }
    // Half the window read, but it is older than half the age limit: the next window
    // would be too old when needed.
    w.now += Config::default().max_age / 2;
    w.read(3, 8192);
    assert!(w.ahead.is_none());
    assert_eq!(w.ra.stats().prefetches, 0);
}

#[test]
fn a_dropped_prefetch_lets_the_waiting_read_fill() {
    let mut w = World::prefetching(300_000, true);
    // Two plain reads, then a window at 16 KiB: read past its end.
    for _ in 0..(2 + 8) {
        w.read(3, 8192);
    }
    let c = w.ahead.take().expect("a prefetch on its way");
    assert_eq!(i64::from(c.nr), libc::SYS_pread64);
    let ctx = Context { home_pid: 77 };
    let Decision::Forward(p) = decide(0, [3, BUF, 8192, 0, 0, 0], &ctx, &w.mem) else {
        panic!("read not forwarded");
    };
    assert!(matches!(w.ra.begin(p, &w.mem, w.now), Step::Wait));
    // Home dropped it (a move began): the read is made the ordinary way.
    match w.ra.prefetch_lost(&w.mem, w.now) {
        Some(Step::Send(c)) => assert_eq!(i64::from(c.nr), libc::SYS_pread64),
        other => panic!("{other:?}"),
    }
}
