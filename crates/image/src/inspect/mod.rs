//! Verify a whole image and summarize it (for `wend image inspect`).
//!
//! [`inspect`] reads every record, so every checksum, the trailer counts and the running
//! checksum are verified; it attributes stored and zero pages to the memory areas of the
//! [`ProcessImage`] metadata. A problem after the header does not stop the summary: it is
//! reported in [`Inspection::problem`] with what could be read up to there.

mod text;

use std::io::Read;

use serde::Serialize;

use crate::decoder::Record;
use crate::encoder::ImageStats;
use crate::error::ImageError;
use crate::format::{ImageHeader, PAGE_SIZE};
use crate::model::{FileKind, ProcessImage};
use crate::reader::ImageReader;

/// The result of inspecting an image.
#[derive(Debug, Serialize)]
pub struct Inspection {
    /// True if every check passed: checksums, structure, trailer, nothing after it.
    pub valid: bool,
    /// The first problem found, with the reader's message.
    pub problem: Option<String>,
    pub header: ImageHeader,
    /// What the records hold (raw) and take (stored), from the records actually read.
    pub stats: ImageStats,
    /// The process, if the metadata decoded as this wend's [`ProcessImage`].
    pub process: Option<ProcessSummary>,
    /// Why the metadata did not decode, if it did not.
    pub meta_problem: Option<String>,
    /// Blobs: (id, bytes).
    pub blobs: Vec<(u32, u64)>,
}

/// The parts of a [`ProcessImage`] worth showing.
#[derive(Debug, Serialize)]
pub struct ProcessSummary {
    pub pid: i32,
    pub comm: String,
    pub exe: String,
    /// Arguments as `ps` shows them.
    pub cmdline: String,
    pub cwd: String,
    pub umask: u32,
    pub hostname: String,
    pub taken_at_ns: u64,
    pub areas: Vec<AreaSummary>,
    pub files: Vec<FdSummary>,
    pub signals: SignalSummary,
}

#[derive(Debug, Serialize)]
pub struct AreaSummary {
    pub start: u64,
    pub end: u64,
    pub size: u64,
    /// `rwxp`-style protection, `s` for shared file mappings.
    pub prot: String,
    /// `anon`, `file` or `shared-file`.
    pub backing: &'static str,
    pub name: String,
    /// Bytes of this area stored with content in the image.
    pub stored_bytes: u64,
    /// Bytes of this area recorded as zero pages.
    pub zero_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct FdSummary {
    pub fd: i32,
    pub cloexec: bool,
    pub flags: i32,
    pub pos: u64,
    /// What the descriptor refers to, in words.
    pub what: String,
}

#[derive(Debug, Serialize)]
pub struct SignalSummary {
    /// Blocked signal numbers.
    pub blocked: Vec<u32>,
    /// Pending signal numbers.
    pub pending: Vec<i32>,
    /// Signals with a handler or ignored: (signo, "ignore" or the handler address).
    pub handled: Vec<(u32, String)>,
    /// Alternate signal stack, if one is set: (sp, size).
    pub altstack: Option<(u64, u64)>,
}

/// Reads and verifies the whole image. Fails only if not even the header is usable (not an
/// image, another architecture, a newer version); later problems land in the result.
pub fn inspect<R: Read>(input: R) -> Result<Inspection, ImageError> {
    let mut reader = ImageReader::new(input)?;
    let mut out = Inspection {
        valid: false,
        problem: None,
        header: reader.header().clone(),
        stats: ImageStats::default(),
        process: None,
        meta_problem: None,
        blobs: Vec::new(),
    };
    let scanned = scan(&mut reader, &mut out);
    out.stats = *reader.stats();
    match scanned {
        Ok(()) => out.valid = true,
        Err(e) => out.problem = Some(e.to_string()),
    }
    Ok(out)
}

fn scan<R: Read>(reader: &mut ImageReader<R>, out: &mut Inspection) -> Result<(), ImageError> {
    let meta = reader.read_meta_bytes()?;
    let image = match postcard::from_bytes::<ProcessImage>(meta) {
        Ok(image) => Some(image),
        Err(e) => {
            out.meta_problem = Some(ImageError::MetaDecode(e.to_string()).to_string());
            None
        }
    };
    out.process = image.as_ref().map(summarize);
    // Area lookup: (start, end, index) sorted by start.
    let mut index: Vec<(u64, u64, usize)> = out
        .process
        .as_ref()
        .map(|p| {
            p.areas
                .iter()
                .enumerate()
                .map(|(i, a)| (a.start, a.end, i))
                .collect()
        })
        .unwrap_or_default();
    index.sort_unstable();
    while let Some(record) = reader.next_record()? {
        let (addr, len, zero) = match record {
            Record::Pages { addr, data } => (addr, data.len() as u64, false),
            Record::Zero { addr, len } => (addr, len, true),
            Record::Blob { id, data } => {
                match out.blobs.last_mut() {
                    Some((last, n)) if *last == id => *n += data.len() as u64,
                    _ => out.blobs.push((id, data.len() as u64)),
                }
                continue;
            }
        };
        if let Some(p) = out.process.as_mut() {
            attribute(&index, &mut p.areas, addr, addr.saturating_add(len), zero);
        }
    }
    reader.expect_eof()
}

/// Adds the overlap of [start, end) with each area to that area's stored or zero bytes.
fn attribute(
    index: &[(u64, u64, usize)],
    areas: &mut [AreaSummary],
    start: u64,
    end: u64,
    zero: bool,
) {
    // Areas do not overlap, so their ends are sorted too: skip those ending before `start`.
    let first = index.partition_point(|&(_, e, _)| e <= start);
    for &(s, e, i) in &index[first..] {
        if s >= end {
            break;
        }
        let overlap = end.min(e).saturating_sub(start.max(s));
        if zero {
            areas[i].zero_bytes += overlap;
        } else {
            areas[i].stored_bytes += overlap;
        }
    }
}

fn summarize(p: &ProcessImage) -> ProcessSummary {
    let areas = p
        .areas
        .iter()
        .map(|a| {
            let (backing, shared) = match a.backing {
                crate::model::Backing::Anon => ("anon", false),
                crate::model::Backing::File(_) => ("file", false),
                crate::model::Backing::SharedFile(_) => ("shared-file", true),
            };
            AreaSummary {
                start: a.start,
                end: a.end,
                size: a.end.saturating_sub(a.start),
                prot: prot_string(a.prot, shared),
                backing,
                name: a.name.clone(),
                stored_bytes: 0,
                zero_bytes: 0,
            }
        })
        .collect();
    let files = p
        .files
        .fds
        .iter()
        .map(|fd| {
            let desc = p.files.descriptions.get(fd.description as usize);
            FdSummary {
                fd: fd.fd,
                cloexec: fd.cloexec,
                flags: desc.map_or(0, |d| d.flags),
                pos: desc.map_or(0, |d| d.pos),
                what: desc.map_or_else(|| "(missing description)".into(), |d| describe(&d.kind)),
            }
        })
        .collect();
    let s = &p.signals;
    let signals = SignalSummary {
        blocked: (1..=64)
            .filter(|n| s.blocked & (1u64 << (n - 1)) != 0)
            .collect(),
        pending: s.pending.iter().map(|q| q.signo).collect(),
        handled: s
            .actions
            .iter()
            .zip(1u32..)
            .filter(|(a, _)| a.handler != 0)
            .map(|(a, n)| {
                (
                    n,
                    if a.handler == 1 {
                        "ignore".into()
                    } else {
                        format!("{:#x}", a.handler)
                    },
                )
            })
            .collect(),
        // SS_DISABLE is 2.
        altstack: (s.altstack.flags & 2 == 0 && s.altstack.size > 0)
            .then_some((s.altstack.sp, s.altstack.size)),
    };
    ProcessSummary {
        pid: p.pid,
        comm: p.comm.clone(),
        exe: p.exe.clone(),
        cmdline: p.cmdline_display(),
        cwd: p.cwd.clone(),
        umask: p.umask,
        hostname: p.hostname.clone(),
        taken_at_ns: p.taken_at_ns,
        areas,
        files,
        signals,
    }
}

fn prot_string(prot: i32, shared: bool) -> String {
    let bit = |b: i32, c: char| if prot & b != 0 { c } else { '-' };
    let mut s = String::with_capacity(4);
    s.push(bit(1, 'r'));
    s.push(bit(2, 'w'));
    s.push(bit(4, 'x'));
    s.push(if shared { 's' } else { 'p' });
    s
}

fn describe(kind: &FileKind) -> String {
    match kind {
        FileKind::Inherit { stdio, what } => format!("inherited stdio {stdio} ({what})"),
        FileKind::Path { path, .. } => path.clone(),
        FileKind::Deleted {
            path, blob, size, ..
        } => {
            format!("{path} (deleted, {size} bytes in blob {blob})")
        }
        FileKind::Pipe { pipe, write_end } => {
            format!(
                "pipe {pipe} {} end",
                if *write_end { "write" } else { "read" }
            )
        }
    }
}

impl Inspection {
    /// The summary as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data into a String cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    /// Bytes of memory per page record kind: (stored with content, zero).
    pub fn page_bytes(&self) -> (u64, u64) {
        let page = PAGE_SIZE as u64;
        (self.stats.pages * page, self.stats.zero_pages * page)
    }
}
