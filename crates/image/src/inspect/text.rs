//! The human-readable rendering of an [`Inspection`].

use std::fmt::Write;

use super::Inspection;

impl Inspection {
    /// A multi-line summary for a terminal.
    pub fn to_text(&self) -> String {
        let mut o = String::new();
        let h = &self.header;
        let s = &self.stats;
        let verdict = if self.valid {
            "valid (all checksums, counts and the trailer verified)".to_string()
        } else {
            format!(
                "INVALID: {}",
                self.problem.as_deref().unwrap_or("unknown problem")
            )
        };
        let _ = writeln!(o, "status     {verdict}");
        let _ = writeln!(
            o,
            "format     version {}, {}, flags {:#x}/{:#x}",
            h.format_version,
            h.arch.name(),
            h.incompat_flags,
            h.compat_flags
        );
        let _ = writeln!(
            o,
            "written    {} by {} on {}",
            utc(h.created_unix_ns),
            h.creator,
            if h.host.is_empty() { "?" } else { &h.host }
        );
        let ratio = if s.raw_bytes > 0 {
            100.0 * s.stored_bytes as f64 / s.raw_bytes as f64
        } else {
            0.0
        };
        let _ = writeln!(
            o,
            "size       {} raw -> {} stored ({ratio:.1}%)",
            bytes(s.raw_bytes),
            bytes(s.stored_bytes)
        );
        let (data, zero) = self.page_bytes();
        let _ = writeln!(
            o,
            "records    {} (frames: {} compressed, {} stored raw); pages: {} with content, {} zero ({} elided)",
            s.records,
            s.compressed_records,
            s.raw_records,
            bytes(data),
            s.zero_pages,
            bytes(zero)
        );
        if !self.blobs.is_empty() {
            let list: Vec<String> = self
                .blobs
                .iter()
                .map(|(id, n)| format!("#{id} {}", bytes(*n)))
                .collect();
            let _ = writeln!(o, "blobs      {}", list.join(", "));
        }
        if let Some(m) = &self.meta_problem {
            let _ = writeln!(o, "metadata   {m}");
        }
        let Some(p) = &self.process else {
            return o;
        };
        let _ = writeln!(
            o,
            "process    pid {} ({}), taken {} on {}",
            p.pid,
            p.comm,
            utc(p.taken_at_ns),
            p.hostname
        );
        let _ = writeln!(o, "command    {}", p.cmdline);
        let _ = writeln!(o, "exe        {}", p.exe);
        let _ = writeln!(o, "cwd        {} (umask {:03o})", p.cwd, p.umask);
        let mapped: u64 = p.areas.iter().map(|a| a.size).sum();
        let _ = writeln!(
            o,
            "\nmemory     {} areas, {} mapped",
            p.areas.len(),
            bytes(mapped)
        );
        let _ = writeln!(
            o,
            "  {:<33} {:>10} {:<4} {:<11} {:>10} {:>10}  name",
            "range", "size", "prot", "backing", "stored", "zero"
        );
        for a in &p.areas {
            let _ = writeln!(
                o,
                "  {:016x}-{:016x} {:>10} {:<4} {:<11} {:>10} {:>10}  {}",
                a.start,
                a.end,
                bytes(a.size),
                a.prot,
                a.backing,
                bytes(a.stored_bytes),
                bytes(a.zero_bytes),
                a.name
            );
        }
        let _ = writeln!(o, "\nfiles      {} descriptors", p.files.len());
        for f in &p.files {
            let _ = writeln!(
                o,
                "  {:>4}{} flags {:#08o} pos {:<10} {}",
                f.fd,
                if f.cloexec { "e" } else { " " },
                f.flags,
                f.pos,
                f.what
            );
        }
        let sig = &p.signals;
        let _ = writeln!(o, "\nsignals    blocked {}", list(&sig.blocked));
        let _ = writeln!(o, "           pending {}", list(&sig.pending));
        let handled: Vec<String> = sig
            .handled
            .iter()
            .map(|(n, h)| format!("{n}:{h}"))
            .collect();
        let _ = writeln!(
            o,
            "           handled {}",
            if handled.is_empty() {
                "none".into()
            } else {
                handled.join(" ")
            }
        );
        match sig.altstack {
            Some((sp, size)) => {
                let _ = writeln!(o, "           altstack {sp:#x} ({})", bytes(size));
            }
            None => {
                let _ = writeln!(o, "           altstack none");
            }
        }
        o
    }
}

fn list<T: ToString>(v: &[T]) -> String {
    if v.is_empty() {
        return "none".into();
    }
    v.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// 1536 -> "1.5 KiB".
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Nanoseconds since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub(crate) fn utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::{bytes, utc};

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 * 1_000_000_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(
            utc(1_763_721_296 * 1_000_000_000 + 5),
            "2025-11-21 10:34:56 UTC"
        );
    }

    #[test]
    fn byte_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 << 30), "3.0 GiB");
    }
}
