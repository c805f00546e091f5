//! Memory areas: which to store and how, and streaming their pages into the image.

use std::io::Write;
use std::os::unix::fs::MetadataExt;

use wend_image::model::{Area, Backing, MappedFile, VdsoBlock};
use wend_image::ImageWriter;
use wend_sys::mem::{self, ProcMem};
use wend_sys::proc::maps::MapEntry;
use wend_sys::proc::pagemap::{PageState, Pagemap};
use wend_sys::snapshot::SnapshotReader;
use wend_sys::PAGE_SIZE;

use crate::error::CkptError;
use crate::progress::Progress;

/// Which pages of an area go into the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Store {
    /// Every page that was ever touched (anonymous memory).
    Touched,
    /// Only pages the process made its own (private file mappings mapped again from the file).
    Private,
    /// Every page (file mappings whose file cannot be mapped again).
    Whole,
    /// None (shared file mappings).
    Nothing,
}

#[derive(Debug, Clone)]
pub(crate) struct AreaPlan {
    pub start: u64,
    pub end: u64,
    pub store: Store,
    /// Not readable by process_vm_readv (PROT_NONE, write- or exec-only): use /proc/PID/mem.
    pub proc_mem: bool,
}

/// Image areas, the vDSO block, and what to dump of each area.
pub(crate) type Layout = (Vec<Area>, Option<VdsoBlock>, Vec<AreaPlan>);

/// Split the maps into image areas, the vDSO block and dump plans.
pub(crate) fn plan(pid: i32, entries: &[MapEntry]) -> Result<Layout, CkptError> {
    let mut areas = Vec::new();
    let mut plans = Vec::new();
    let mut vdso: Option<VdsoBlock> = None;
    for e in entries {
        match e.name.as_str() {
            "[vvar]" | "[vvar_vclock]" | "[vdso]" => {
                let b = vdso.get_or_insert(VdsoBlock {
                    start: e.start,
                    vdso_start: 0,
                    end: e.end,
                });
                b.start = b.start.min(e.start);
                b.end = b.end.max(e.end);
                if e.name == "[vdso]" {
                    b.vdso_start = e.start;
                }
                continue;
            }
            "[vsyscall]" | "[uprobes]" => continue,
            _ => {}
        }
        let file = mapped_file(e);
        let (backing, store) = match (e.shared, file) {
            (true, Some(f)) => (Backing::SharedFile(f), Store::Nothing),
            (true, None) => {
                return Err(CkptError::Rebuild {
                    what: format!("shared area {:#x}-{:#x} {}", e.start, e.end, e.name),
                    detail: "its file cannot be opened again".into(),
                })
            }
            (false, Some(f)) => (Backing::File(f), Store::Private),
            (false, None) if e.inode != 0 => (Backing::Anon, Store::Whole),
            (false, None) => (Backing::Anon, Store::Touched),
        };
        areas.push(Area {
            start: e.start,
            end: e.end,
            prot: e.prot(),
            // Only the main stack grows down (VmFlags "gd" would need smaps, which is slow).
            growsdown: e.name == "[stack]",
            name: e.name.clone(),
            backing,
        });
        plans.push(AreaPlan {
            start: e.start,
            end: e.end,
            store,
            proc_mem: !e.read,
        });
    }
    if let Some(v) = &vdso {
        if v.vdso_start == 0 {
            return Err(CkptError::Rebuild {
                what: format!("vDSO block of process {pid}"),
                detail: "[vvar] without [vdso]".into(),
            });
        }
    }
    Ok((areas, vdso, plans))
}

/// The file behind a private or shared file mapping, if it is the very file still at its path.
fn mapped_file(e: &MapEntry) -> Option<MappedFile> {
    if e.inode == 0 || !e.name.starts_with('/') || e.name.ends_with(" (deleted)") {
        return None;
    }
    let md = std::fs::metadata(&e.name).ok()?;
    if md.ino() != e.inode || md.dev() != e.dev() || !md.is_file() {
        return None;
    }
    Some(MappedFile {
        path: e.name.clone(),
        offset: e.offset,
        dev: md.dev(),
        ino: md.ino(),
        size: md.size(),
        mtime_ns: md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128,
    })
}

/// Runs (address, length) of pages to store for one plan.
fn runs(pm: &Pagemap, p: &AreaPlan) -> Result<Vec<(u64, u64)>, CkptError> {
    let want: Box<dyn Fn(PageState) -> bool> = match p.store {
        Store::Nothing => return Ok(Vec::new()),
        Store::Whole => return Ok(vec![(p.start, p.end - p.start)]),
        Store::Touched => Box::new(|s| s != PageState::Absent),
        Store::Private => Box::new(|s| s == PageState::Private),
    };
    let states = pm.states(p.start, p.end)?;
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (i, s) in states.into_iter().enumerate() {
        if !want(s) {
            continue;
        }
        let a = p.start + i as u64 * PAGE_SIZE;
        match out.last_mut() {
            Some((s0, l)) if *s0 + *l == a => *l += PAGE_SIZE,
            _ => out.push((a, PAGE_SIZE)),
        }
    }
    Ok(out)
}

/// For a post-copy dump: which present pages are left out of the image (their runs are
/// reported instead), and which must go into it anyway.
pub(crate) struct LazyPlan {
    /// Page-aligned ranges kept in the image even in lazy areas: memory the kernel touches
    /// while the target is rebuilt, before anyone serves its faults (the rseq area).
    pub eager: Vec<(u64, u64)>,
    /// The runs (address, length) left out, for the caller to send later.
    pub runs: Vec<(u64, u64)>,
}

impl LazyPlan {
    /// Whether an area's pages may be left out: anonymous memory read the fast way (the target
    /// registers every anonymous area with its userfaultfd; PROT_NONE and write-only areas
    /// are not readable by process_vm_readv, which serves the pages later).
    fn covers(p: &AreaPlan) -> bool {
        p.store == Store::Touched && !p.proc_mem
    }

    /// Split `runs` into what goes into the image now and what is left out (appended to
    /// `self.runs`).
    fn split(&mut self, runs: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
        let mut now = Vec::new();
        for (a, l) in runs {
            let mut cur = a;
            let end = a + l;
            for &(es, ee) in &self.eager {
                if ee <= cur || es >= end {
                    continue;
                }
                let (s, e) = (es.max(cur), ee.min(end));
                if s > cur {
                    push_run(&mut self.runs, cur, s - cur);
                }
                now.push((s, e - s));
                cur = e;
            }
            if cur < end {
                push_run(&mut self.runs, cur, end - cur);
            }
        }
        now
    }
}

fn push_run(v: &mut Vec<(u64, u64)>, a: u64, l: u64) {
    match v.last_mut() {
        Some((s, n)) if *s + *n == a => *n += l,
        _ => v.push((a, l)),
    }
}

/// Stream every area's pages into the writer; the bytes handed over.
///
/// With `snapshot` (a copy-on-write snapshot of `pid`), readable pages are copied by the
/// snapshot itself (see [`SnapshotReader`]), which does not pin and so does not copy them.
/// With `lazy`, the present pages of anonymous areas are not written but listed in it.
pub(crate) fn write_pages<W: Write>(
    pid: i32,
    plans: &[AreaPlan],
    writer: &mut ImageWriter<W>,
    progress: &Progress,
    mut snapshot: Option<&mut SnapshotReader>,
    mut lazy: Option<&mut LazyPlan>,
) -> Result<u64, CkptError> {
    let sys = |e| CkptError::sys(pid, e);
    let pm = Pagemap::open(pid).map_err(sys)?;
    let mut all = Vec::with_capacity(plans.len());
    let mut total = 0u64;
    for p in plans {
        let mut r = runs(&pm, p)?;
        if let Some(l) = lazy.as_deref_mut().filter(|_| LazyPlan::covers(p)) {
            r = l.split(r);
        }
        total += r.iter().map(|x| x.1).sum::<u64>();
        all.push(r);
    }
    progress.set_total(total);
    let mut procmem: Option<ProcMem> = None;
    for (p, runs) in plans.iter().zip(all) {
        for (addr, len) in runs {
            writer.write_pages_with(addr, len, |a, buf: &mut [u8]| -> Result<(), CkptError> {
                let mut got = 0;
                if !p.proc_mem {
                    got = match snapshot.as_deref_mut() {
                        Some(s) => s.read(a, buf).map_err(sys)?,
                        None => mem::read_vm(pid, buf, &[(a, buf.len())]).map_err(sys)?,
                    };
                }
                if got < buf.len() {
                    if procmem.is_none() {
                        procmem = Some(ProcMem::open(pid, false).map_err(sys)?);
                    }
                    let pmem = procmem.as_ref().expect("just opened");
                    let n = pmem.read(a + got as u64, &mut buf[got..]).map_err(sys)?;
                    if got + n < buf.len() {
                        return Err(CkptError::Rebuild {
                            what: format!("memory at {:#x}", a + (got + n) as u64),
                            detail: "unreadable".into(),
                        });
                    }
                }
                progress.advance(buf.len() as u64);
                Ok(())
            })?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lazy_split_keeps_eager_ranges_in_the_image() {
        let pg = PAGE_SIZE;
        let mut l = LazyPlan {
            eager: vec![(10 * pg, 11 * pg), (20 * pg, 22 * pg)],
            runs: Vec::new(),
        };
        let now = l.split(vec![(0, 5 * pg), (8 * pg, 13 * pg), (21 * pg, 4 * pg)]);
        // Runs are (address, length), eager ranges (start, end).
        assert_eq!(now, vec![(10 * pg, pg), (20 * pg, pg), (21 * pg, pg)]);
        assert_eq!(
            l.runs,
            vec![
                (0, 5 * pg),
                (8 * pg, 2 * pg),
                (11 * pg, 9 * pg),
                (22 * pg, 3 * pg)
            ]
        );
    }
}
