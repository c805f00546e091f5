//! The seccomp program of a guest, built from the policy table.
//!
//! It runs on every system call the guest makes, so it is short: a check of the architecture
//! (anything but x86-64 kills the process: a 32-bit `int 0x80` would bypass the table), x32
//! numbers fail with ENOSYS, then a binary search over the ranges of numbers that share an
//! action (about 8 comparisons). [`Class::Local`] ranges return ALLOW; `mmap` returns ALLOW
//! only for a private anonymous mapping, the clock calls only for an ordinary clock or a CPU
//! clock of the caller (a clock id can name another process or a clock device); everything
//! else is notified to the remote daemon.

use wend_sys::seccomp::{bpf, data, ret, Insn, AUDIT_ARCH_X86_64};

use crate::table::{self, Class};

/// Numbers at and above this are x32 calls (`__X32_SYSCALL_BIT`).
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Notify,
    /// Allow a private anonymous mapping, notify any other.
    Mmap,
    /// Allow an ordinary clock or a CPU clock of the caller; notify a CPU clock of another
    /// process (its pid is in the clock id) or a clock device (its descriptor is).
    Clock,
}

/// The calls whose first argument is a clock id.
pub fn takes_clock_id(nr: u32) -> bool {
    [
        libc::SYS_clock_gettime,
        libc::SYS_clock_getres,
        libc::SYS_clock_nanosleep,
        libc::SYS_timer_create,
    ]
    .contains(&i64::from(nr))
}

fn action(nr: u32) -> Action {
    if nr == libc::SYS_mmap as u32 {
        return Action::Mmap;
    }
    if takes_clock_id(nr) {
        return Action::Clock;
    }
    match table::class(nr) {
        Class::Local => Action::Allow,
        _ => Action::Notify,
    }
}

/// Ranges `[start, next start)` of numbers below [`X32_SYSCALL_BIT`] sharing an action.
fn segments() -> Vec<(u32, Action)> {
    let mut segs: Vec<(u32, Action)> = Vec::new();
    for nr in 0..=table::MAX_NR + 1 {
        let a = action(nr);
        if segs.last().map(|s| s.1) != Some(a) {
            segs.push((nr, a));
        }
    }
    segs
}

fn leaf(a: Action) -> Vec<Insn> {
    match a {
        Action::Allow => vec![Insn::stmt(bpf::RET_K, ret::ALLOW)],
        Action::Notify => vec![Insn::stmt(bpf::RET_K, ret::USER_NOTIF)],
        Action::Mmap => {
            let shared = libc::MAP_SHARED as u32; // also set in MAP_SHARED_VALIDATE
            let anon = libc::MAP_ANONYMOUS as u32;
            vec![
                Insn::stmt(bpf::LD_W_ABS, data::arg_lo(3)),
                Insn::jump(bpf::JSET_K, shared, 2, 0),
                Insn::jump(bpf::JSET_K, anon, 0, 1),
                Insn::stmt(bpf::RET_K, ret::ALLOW),
                Insn::stmt(bpf::RET_K, ret::USER_NOTIF),
            ]
        }
        Action::Clock => vec![
            // Clock ids >= 0 are the ordinary clocks. A negative one is `~pid << 3 | type`
            // (a CPU clock), or `~fd << 3 | 3` (a clock device): pid 0 is the caller itself.
            Insn::stmt(bpf::LD_W_ABS, data::arg_lo(0)),
            Insn::jump(bpf::JGE_K, 0x8000_0000, 0, 2),
            Insn::jump(bpf::JEQ_K, CLOCKFD_0, 2, 0),
            Insn::jump(bpf::JGE_K, SELF_CPU_CLOCKS, 0, 1),
            Insn::stmt(bpf::RET_K, ret::ALLOW),
            Insn::stmt(bpf::RET_K, ret::USER_NOTIF),
        ],
    }
}

/// `~0 << 3`: the lowest CPU clock id of pid 0 (the caller).
const SELF_CPU_CLOCKS: u32 = 0xffff_fff8;
/// `~0 << 3 | 3`: the clock device behind descriptor 0.
const CLOCKFD_0: u32 = 0xffff_fffb;

/// Whether a clock id names a clock of the caller or an ordinary one (runs natively).
pub fn own_clock(clock: u64) -> bool {
    let c = clock as u32;
    c < 0x8000_0000 || (c >= SELF_CPU_CLOCKS && c != CLOCKFD_0)
}

/// The decision tree over `segs` (the accumulator holds the number).
fn tree(segs: &[(u32, Action)]) -> Vec<Insn> {
    if segs.len() == 1 {
        return leaf(segs[0].1);
    }
    let mid = segs.len() / 2;
    let left = tree(&segs[..mid]);
    let right = tree(&segs[mid..]);
    let mut out = Vec::with_capacity(left.len() + right.len() + 2);
    match u8::try_from(left.len()) {
        Ok(skip) => out.push(Insn::jump(bpf::JGE_K, segs[mid].0, skip, 0)),
        Err(_) => {
            // Too far for an 8-bit offset: a long jump over the left side.
            out.push(Insn::jump(bpf::JGE_K, segs[mid].0, 0, 1));
            out.push(Insn::stmt(bpf::JA, left.len() as u32));
        }
    }
    out.extend(left);
    out.extend(right);
    out
}

/// The guest's seccomp program.
pub fn program() -> Vec<Insn> {
    let mut p = vec![
        Insn::stmt(bpf::LD_W_ABS, data::ARCH),
        Insn::jump(bpf::JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        Insn::stmt(bpf::RET_K, ret::KILL_PROCESS),
        Insn::stmt(bpf::LD_W_ABS, data::NR),
        Insn::jump(bpf::JGE_K, X32_SYSCALL_BIT, 0, 1),
        Insn::stmt(bpf::RET_K, ret::ERRNO | libc::ENOSYS as u32),
    ];
    p.extend(tree(&segments()));
    p
}

/// Run a seccomp program on one call, as the kernel would: the action it returns. A small
/// interpreter of the instructions [`program`] uses, for tests and diagnostics.
pub fn evaluate(prog: &[Insn], nr: u32, arch: u32, args: [u64; 6]) -> u32 {
    let mut d = [0u8; 64];
    d[0..4].copy_from_slice(&nr.to_ne_bytes());
    d[4..8].copy_from_slice(&arch.to_ne_bytes());
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_ne_bytes());
    }
    let mut acc = 0u32;
    let mut pc = 0usize;
    loop {
        let Some(i) = prog.get(pc) else {
            panic!("seccomp program runs off its end at {pc}");
        };
        pc += 1;
        let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match i.code {
            bpf::LD_W_ABS => {
                let o = i.k as usize;
                acc = u32::from_ne_bytes(d[o..o + 4].try_into().expect("4 bytes"));
            }
            bpf::JEQ_K => pc += jump(acc == i.k),
            bpf::JGE_K => pc += jump(acc >= i.k),
            bpf::JSET_K => pc += jump(acc & i.k != 0),
            bpf::JA => pc += i.k as usize,
            bpf::RET_K => return i.k,
            c => panic!("instruction {c:#x} is not interpreted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(nr: u32, args: [u64; 6]) -> u32 {
        evaluate(&program(), nr, AUDIT_ARCH_X86_64, args)
    }

    #[test]
    fn program_is_short_and_fits_the_kernel() {
        let p = program();
        assert!(p.len() < 256, "{} instructions", p.len());
        assert!(segments().len() < 100);
    }

    #[test]
    fn every_number_gets_its_class() {
        for nr in 0..=table::MAX_NR + 50 {
            if nr == libc::SYS_mmap as u32 {
                continue;
            }
            if takes_clock_id(nr) {
                assert_eq!(table::class(nr), Class::Local);
            }
            let want = match table::class(nr) {
                Class::Local => ret::ALLOW, // clock id 0 is CLOCK_REALTIME
                _ => ret::USER_NOTIF,
            };
            assert_eq!(run(nr, [0; 6]), want, "system call {nr}");
        }
        assert_eq!(run(0x3fff_ffff, [0; 6]), ret::USER_NOTIF);
    }

    #[test]
    fn other_architectures_die_and_x32_gets_enosys() {
        let p = program();
        assert_eq!(evaluate(&p, 1, 0x4000_0003, [0; 6]), ret::KILL_PROCESS);
        let enosys = ret::ERRNO | libc::ENOSYS as u32;
        assert_eq!(run(X32_SYSCALL_BIT, [0; 6]), enosys);
        assert_eq!(run(X32_SYSCALL_BIT | 9, [0; 6]), enosys);
        assert_eq!(run(u32::MAX, [0; 6]), enosys);
    }

    #[test]
    fn only_private_anonymous_mmap_passes() {
        let mmap = libc::SYS_mmap as u32;
        let flags = |f: i32| [0, 4096, 3, f as u64, u64::MAX, 0];
        let anon = libc::MAP_ANONYMOUS;
        assert_eq!(run(mmap, flags(libc::MAP_PRIVATE | anon)), ret::ALLOW);
        assert_eq!(
            run(mmap, flags(libc::MAP_PRIVATE | anon | libc::MAP_FIXED)),
            ret::ALLOW
        );
        assert_eq!(run(mmap, flags(libc::MAP_SHARED | anon)), ret::USER_NOTIF);
        assert_eq!(run(mmap, flags(libc::MAP_PRIVATE)), ret::USER_NOTIF);
        assert_eq!(run(mmap, flags(libc::MAP_SHARED)), ret::USER_NOTIF);
        assert_eq!(run(mmap, flags(0x03 | anon)), ret::USER_NOTIF); // MAP_SHARED_VALIDATE
                                                                    // The high half of the flags word does not matter.
        let mut a = flags(libc::MAP_PRIVATE | anon);
        a[3] |= 1 << 40;
        assert_eq!(run(mmap, a), ret::ALLOW);
    }

    #[test]
    fn only_own_clocks_pass() {
        let cpu_clock = |pid: i32, ty: i32| ((!pid) << 3 | ty) as u32 as u64;
        for nr in [libc::SYS_clock_gettime, libc::SYS_timer_create] {
            let nr = nr as u32;
            let at = |c: u64| run(nr, [c, 0, 0, 0, 0, 0]);
            for ok in [
                0,
                1,
                7,
                11,
                cpu_clock(0, 0),
                cpu_clock(0, 2),
                cpu_clock(0, 6),
            ] {
                assert_eq!(at(ok), ret::ALLOW, "clock {ok:#x}");
                assert!(own_clock(ok));
            }
            // Another process's CPU clock, a clock device (fd 0 and fd 5).
            for no in [
                cpu_clock(1234, 2),
                cpu_clock(1, 0),
                cpu_clock(0, 3),
                cpu_clock(5, 3),
            ] {
                assert_eq!(at(no), ret::USER_NOTIF, "clock {no:#x}");
                assert!(!own_clock(no));
            }
        }
    }

    #[test]
    fn long_jumps_are_taken_when_a_side_is_large() {
        let segs: Vec<(u32, Action)> = (0..300)
            .map(|i| {
                let a = if i % 2 == 0 {
                    Action::Allow
                } else {
                    Action::Notify
                };
                (i, a)
            })
            .collect();
        let mut p = vec![Insn::stmt(bpf::LD_W_ABS, data::NR)];
        p.extend(tree(&segs));
        assert!(p.iter().any(|i| i.code == bpf::JA));
        for (nr, a) in &segs {
            let want = if *a == Action::Allow {
                ret::ALLOW
            } else {
                ret::USER_NOTIF
            };
            assert_eq!(evaluate(&p, *nr, AUDIT_ARCH_X86_64, [0; 6]), want);
        }
    }
}
