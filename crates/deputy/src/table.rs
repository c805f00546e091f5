//! The policy table: one row per x86-64 system call, with its class and the reason for it.
//!
//! The class says what the seccomp filter of a guest does with the call ([`crate::filter`]):
//! [`Class::Local`] calls are never notified (they run on the remote kernel); every other call
//! is notified and [`crate::marshal::decide`] settles it, per argument where the row's reason
//! says so (a `sched_*` call on pid 0 runs natively, a `prctl` option may go home or stay).
//! `docs/SYSCALLS.md` is generated from this table (`WEND_BLESS=1 cargo test -p wend-deputy`).

mod rows;

/// What happens to a system call of a guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Runs on the remote kernel, unintercepted: private memory, signals, clocks.
    Local,
    /// Notified; normally executed by the deputy at home with its buffers copied both ways.
    Forward,
    /// Notified; the process goes home first, then the call runs natively there.
    Barrier,
    /// Fails at once with this errno.
    Deny(i32),
}

impl Class {
    /// The class as one word, for tables and logs.
    pub fn word(self) -> &'static str {
        match self {
            Class::Local => "local",
            Class::Forward => "forward",
            Class::Barrier => "barrier",
            Class::Deny(_) => "deny",
        }
    }
}

/// One system call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub nr: u32,
    pub name: &'static str,
    pub class: Class,
    pub reason: &'static str,
}

/// The highest system call number the table knows (assigned numbers: 0..=336, 424..=469).
pub const MAX_NR: u32 = 469;

/// Every row, by ascending number; numbers the kernel never assigned have none.
pub fn rows() -> &'static [Row] {
    rows::ROWS
}

/// The row of system call `nr`, if the number is assigned.
pub fn lookup(nr: u32) -> Option<&'static Row> {
    let rows = rows::ROWS;
    rows.binary_search_by_key(&nr, |r| r.nr)
        .ok()
        .map(|i| &rows[i])
}

/// The class of `nr`; unassigned numbers fail with ENOSYS as on any kernel.
pub fn class(nr: u32) -> Class {
    lookup(nr).map_or(Class::Deny(libc::ENOSYS), |r| r.class)
}

fn errno_name(e: i32) -> &'static str {
    match e {
        libc::ENOSYS => "ENOSYS",
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        _ => "errno",
    }
}

/// `docs/SYSCALLS.md`: the table as a reviewable document.
pub fn markdown() -> String {
    let mut s = String::new();
    s.push_str("# System calls of a migrated process\n\n");
    s.push_str(
        "Generated from `crates/deputy/src/table/rows.rs` by \
         `WEND_BLESS=1 cargo test -p wend-deputy`; do not edit by hand.\n\n",
    );
    s.push_str(
        "- **local**: runs on the remote kernel; the seccomp filter lets it pass.\n\
         - **forward**: notified; the deputy runs it at home with its buffers copied both ways, \
         unless the reason names a case that runs here or goes home.\n\
         - **barrier**: notified; the process goes home first and the call runs there.\n\
         - **deny**: fails at once with the errno shown.\n\n\
         Every file-system call is notified: on the remote node a guest cannot open, read or \
         change any file of that node.\n\n",
    );
    let count = |c: fn(&Class) -> bool| rows().iter().filter(|r| c(&r.class)).count();
    s.push_str(&format!(
        "{} calls: {} local, {} forward, {} barrier, {} deny.\n\n",
        rows().len(),
        count(|c| *c == Class::Local),
        count(|c| *c == Class::Forward),
        count(|c| *c == Class::Barrier),
        count(|c| matches!(c, Class::Deny(_))),
    ));
    s.push_str("| nr | name | class | reason |\n| ---: | --- | --- | --- |\n");
    for r in rows() {
        let class = match r.class {
            Class::Deny(e) => format!("deny {}", errno_name(e)),
            c => c.word().to_string(),
        };
        s.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.nr, r.name, class, r.reason
        ));
    }
    s
}

#[cfg(test)]
mod libc_names;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_ascending_and_cover_every_assigned_number() {
        let mut want: Vec<u32> = (0..=336).chain(424..=MAX_NR).collect();
        let got: Vec<u32> = rows().iter().map(|r| r.nr).collect();
        assert!(got.windows(2).all(|w| w[0] < w[1]), "rows must ascend");
        want.retain(|n| !got.contains(n));
        assert!(want.is_empty(), "unclassified system calls: {want:?}");
        assert_eq!(got.len(), 337 + (MAX_NR as usize - 424 + 1));
    }

    #[test]
    fn every_libc_constant_has_a_row_of_the_same_name() {
        for &(nr, name) in libc_names::LIBC {
            let row = lookup(nr as u32)
                .unwrap_or_else(|| panic!("libc::SYS_{name} ({nr}) has no row: classify it"));
            assert_eq!(row.name, name, "row {nr}");
        }
        let highest = libc_names::LIBC.iter().map(|&(n, _)| n).max().unwrap_or(0);
        assert!(highest as u32 <= MAX_NR, "libc knows system call {highest}");
    }

    #[test]
    fn every_row_has_a_reason_and_a_unique_name() {
        let mut names: Vec<&str> = rows().iter().map(|r| r.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), rows().len());
        assert!(rows().iter().all(|r| r.reason.len() > 10));
    }

    #[test]
    fn sandbox_no_file_call_is_local() {
        for name in [
            "open",
            "openat",
            "openat2",
            "stat",
            "newfstatat",
            "statx",
            "read",
            "write",
            "getdents64",
            "readlink",
            "execve",
            "chdir",
            "unlink",
            "rename",
            "truncate",
            "mount",
            "inotify_add_watch",
            "fanotify_mark",
            "mknod",
            "link",
            "symlink",
            "access",
            "faccessat2",
            "utimensat",
            "chmod",
            "chown",
            "ioctl",
            "fcntl",
        ] {
            let row = rows().iter().find(|r| r.name == name).expect(name);
            assert_ne!(row.class, Class::Local, "{name} must be intercepted");
        }
    }

    #[test]
    fn unassigned_numbers_fail_with_enosys() {
        assert_eq!(class(400), Class::Deny(libc::ENOSYS));
        assert_eq!(class(MAX_NR + 1), Class::Deny(libc::ENOSYS));
        assert_eq!(class(0), Class::Forward);
        assert_eq!(class(9), Class::Local);
    }

    #[test]
    fn docs_syscalls_md_matches_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/SYSCALLS.md");
        let want = markdown();
        if std::env::var_os("WEND_BLESS").is_some() {
            std::fs::write(path, &want).expect("write docs/SYSCALLS.md");
            return;
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "docs/SYSCALLS.md is out of date with the table: regenerate it with \
             `WEND_BLESS=1 cargo test -p wend-deputy docs_syscalls_md`"
        );
    }
}
