//! Rebuilding the address space inside the stopped stub by injected system calls.

use std::io::Read;

use wend_image::model::{Area, Backing, ProcessImage};
use wend_image::{ImageReader, Record};
use wend_sys::arch::{ARCH_MAP_VDSO_64, SYSCALL_INSN, TASK_SIZE};
use wend_sys::uffd::Uffd;
use wend_sys::{mem, proc, Stopped, PAGE_SIZE};

use crate::error::CkptError;
use crate::progress::Progress;

/// The scratch area: a `syscall` at +0, small structures at +[`SMALL`], a path at +[`PATH`].
pub(crate) const SCRATCH_LEN: u64 = 3 * PAGE_SIZE;
pub(crate) const SMALL: u64 = 64;
pub(crate) const PATH: u64 = PAGE_SIZE;
const MAP_FIXED_NOREPLACE: u64 = 0x100000;
const MMAP_MIN: u64 = 0x10000;

/// A memory record read ahead of the rebuild (while blobs were collected).
pub(crate) enum Pending {
    Pages(u64, Vec<u8>),
    Zero(u64, u64),
}

fn rebuild_err(what: impl Into<String>, detail: impl Into<String>) -> CkptError {
    CkptError::Rebuild {
        what: what.into(),
        detail: detail.into(),
    }
}

/// Ranges the image occupies (areas and the vDSO block), sorted.
fn occupied(image: &ProcessImage) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = image.areas.iter().map(|a| (a.start, a.end)).collect();
    if let Some(b) = &image.vdso {
        v.push((b.start, b.end));
    }
    v.sort_unstable();
    v
}

/// Candidate scratch addresses: in gaps of the image's layout.
fn scratch_candidates(image: &ProcessImage) -> Vec<u64> {
    let occ = occupied(image);
    let mut gaps = Vec::new();
    let mut prev = MMAP_MIN;
    for (s, e) in occ
        .iter()
        .copied()
        .chain(std::iter::once((TASK_SIZE, TASK_SIZE)))
    {
        if s >= prev + SCRATCH_LEN {
            gaps.push((prev, s));
        }
        prev = prev.max(e);
    }
    let mut out = Vec::new();
    for (s, e) in gaps {
        out.push(e - SCRATCH_LEN);
        out.push(s);
        let mid = (s + (e - s) / 2) & !(PAGE_SIZE - 1);
        if mid >= s && mid + SCRATCH_LEN <= e {
            out.push(mid);
        }
    }
    out
}

/// Write `data` at `addr` in the tracee.
pub(crate) fn poke(st: &Stopped, addr: u64, data: &[u8]) -> Result<(), CkptError> {
    mem::write_vm(st.pid(), addr, data).map_err(|e| CkptError::sys(st.pid(), e))
}

/// Map the scratch area, clear the address space around it and put the vDSO block in place.
pub(crate) fn clear_address_space(
    st: &mut Stopped,
    image: &ProcessImage,
) -> Result<u64, CkptError> {
    let pid = st.pid();
    let sys = |e| CkptError::sys(pid, e);
    st.find_syscall_insn().map_err(sys)?;
    // The stub inherited wend's rseq registration; drop it before its memory goes away.
    if let Some(c) = st.rseq_config().map_err(sys)? {
        st.syscall(
            "rseq(unregister)",
            libc::SYS_rseq,
            [c.addr, c.len as u64, 1, c.signature as u64, 0, 0],
        )
        .map_err(sys)?;
    }
    let mut scratch = None;
    for a in scratch_candidates(image) {
        let prot = (libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC) as u64;
        let flags = (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64 | MAP_FIXED_NOREPLACE;
        let r = st
            .syscall_raw(libc::SYS_mmap, [a, SCRATCH_LEN, prot, flags, u64::MAX, 0])
            .map_err(sys)?;
        if r as u64 == a {
            scratch = Some(a);
            break;
        }
        if r >= 0 {
            // An old kernel ignoring NOREPLACE put it elsewhere: undo and go on.
            st.syscall(
                "munmap",
                libc::SYS_munmap,
                [r as u64, SCRATCH_LEN, 0, 0, 0, 0],
            )
            .map_err(sys)?;
        }
    }
    let scratch = scratch
        .ok_or_else(|| rebuild_err("scratch page", "no free place in the image's layout"))?;
    poke(st, scratch, &SYSCALL_INSN)?;
    st.set_syscall_insn(scratch);
    st.syscall(
        "munmap(below scratch)",
        libc::SYS_munmap,
        [0, scratch, 0, 0, 0, 0],
    )
    .map_err(sys)?;
    let above = scratch + SCRATCH_LEN;
    st.syscall(
        "munmap(above scratch)",
        libc::SYS_munmap,
        [above, TASK_SIZE - above, 0, 0, 0, 0],
    )
    .map_err(sys)?;
    if let Some(b) = &image.vdso {
        st.syscall(
            "arch_prctl(ARCH_MAP_VDSO_64)",
            libc::SYS_arch_prctl,
            [ARCH_MAP_VDSO_64, b.start, 0, 0, 0, 0],
        )
        .map_err(sys)?;
        let maps = proc::maps::read(pid).map_err(sys)?;
        let got = maps.iter().find(|m| m.name == "[vdso]").map(|m| m.start);
        if got != Some(b.vdso_start) {
            return Err(rebuild_err(
                "vDSO",
                format!(
                    "wanted at {:#x}, the kernel put it at {:?}: the image comes from a different kernel build",
                    b.vdso_start, got
                ),
            ));
        }
    }
    Ok(scratch)
}

/// Open `path` inside the tracee; its fd there.
pub(crate) fn remote_open(
    st: &mut Stopped,
    scratch: u64,
    path: &str,
    flags: i32,
) -> Result<u64, CkptError> {
    let mut b = path.as_bytes().to_vec();
    b.push(0);
    if b.len() as u64 > SCRATCH_LEN - PATH {
        return Err(rebuild_err(format!("file {path}"), "path too long"));
    }
    poke(st, scratch + PATH, &b)?;
    let at = libc::AT_FDCWD as i64 as u64;
    st.syscall(
        "openat",
        libc::SYS_openat,
        [
            at,
            scratch + PATH,
            (flags | libc::O_CLOEXEC) as u64,
            0,
            0,
            0,
        ],
    )
    .map_err(|e| match e.errno() {
        Some(libc::ENOENT) => CkptError::MissingFile {
            path: path.to_string(),
            what: "a mapped file",
        },
        _ => CkptError::sys(st.pid(), e),
    })
}

/// mmap every area at its address, writable for now (file areas from their file).
pub(crate) fn map_areas(
    st: &mut Stopped,
    image: &ProcessImage,
    scratch: u64,
) -> Result<(), CkptError> {
    let pid = st.pid();
    let sys = |e| CkptError::sys(pid, e);
    let mut open: Vec<(String, u64)> = Vec::new();
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    for a in &image.areas {
        let len = a.end - a.start;
        let fixed = libc::MAP_FIXED as u64;
        let gd = if a.growsdown {
            libc::MAP_GROWSDOWN as u64
        } else {
            0
        };
        let (flags, fd, off, prot) = match &a.backing {
            Backing::Anon => (
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
                rw,
            ),
            Backing::File(f) | Backing::SharedFile(f) => {
                let shared = matches!(a.backing, Backing::SharedFile(_));
                let fd = match open.iter().find(|(p, _)| *p == f.path) {
                    Some((_, fd)) => *fd,
                    None => {
                        let fd = remote_open(st, scratch, &f.path, libc::O_RDONLY)?;
                        open.push((f.path.clone(), fd));
                        fd
                    }
                };
                let (fl, prot) = if shared {
                    (libc::MAP_SHARED as u64, a.prot as u64)
                } else {
                    (libc::MAP_PRIVATE as u64, rw)
                };
                (fl, fd, f.offset, prot)
            }
        };
        let r = st
            .syscall(
                "mmap(area)",
                libc::SYS_mmap,
                [a.start, len, prot, flags | fixed | gd, fd, off],
            )
            .map_err(|e| {
                rebuild_err(
                    format!("area {:#x}-{:#x} {}", a.start, a.end, a.name),
                    e.to_string(),
                )
            })?;
        if r != a.start {
            return Err(rebuild_err(
                format!("area {:#x}", a.start),
                format!("mapped at {r:#x}"),
            ));
        }
    }
    for (_, fd) in open {
        st.syscall("close", libc::SYS_close, [fd, 0, 0, 0, 0, 0])
            .map_err(sys)?;
    }
    Ok(())
}

fn area_at(areas: &[Area], addr: u64) -> Option<&Area> {
    let i = areas.partition_point(|a| a.end <= addr);
    areas.get(i).filter(|a| a.start <= addr)
}

/// A userfaultfd of the target with every anonymous area registered, so that [`fill`] can
/// place their pages with `UFFDIO_COPY` (no zeroing, no per-page fault: see wend_sys::uffd).
/// None where that is not available; [`fill`] then writes with `process_vm_writev`.
pub(crate) fn uffd(st: &mut Stopped, image: &ProcessImage) -> Option<Uffd> {
    match uffd_with(st, image, 0) {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::debug!(error = %e, "no userfaultfd: pages are written with process_vm_writev");
            None
        }
    }
}

/// [`uffd`] with `features`, failing where it is not available (post-copy needs it).
pub(crate) fn uffd_with(
    st: &mut Stopped,
    image: &ProcessImage,
    features: u64,
) -> Result<Uffd, CkptError> {
    let u = Uffd::create_with(st, features).map_err(|e| CkptError::sys(st.pid(), e))?;
    for a in image
        .areas
        .iter()
        .filter(|a| matches!(a.backing, Backing::Anon))
    {
        // Registered areas are unregistered when `u` (the last reference) is closed.
        u.register(a.start, a.end - a.start)
            .map_err(|e| CkptError::sys(st.pid(), e))?;
    }
    Ok(u)
}

/// Unregister the anonymous areas from `u` (the target must not keep missing-page tracking).
pub(crate) fn release_uffd(st: &Stopped, image: &ProcessImage, u: &Uffd) -> Result<(), CkptError> {
    for a in image
        .areas
        .iter()
        .filter(|a| matches!(a.backing, Backing::Anon))
    {
        u.unregister(a.start, a.end - a.start)
            .map_err(|e| CkptError::sys(st.pid(), e))?;
    }
    Ok(())
}

/// A memory record moved from the reading thread to the writing one.
enum Msg {
    Pages(u64, Vec<u8>),
    Zero(u64, u64),
    Failed(wend_image::ImageError),
}

/// Fill memory from the image's page records (and `first`, read ahead). Zero runs matter only
/// inside file-backed areas: fresh anonymous memory is already zero (with `lazy`, zero runs in
/// anonymous areas get the zero page: every missing page there would wait for a fetch).
/// Blob records are skipped.
///
/// A second thread reads and verifies records while this one writes them into the process, so
/// reading the image and faulting in the target's memory overlap. A few frame buffers circulate
/// between the two, which bounds memory use.
pub(crate) fn fill<R: Read + Send>(
    st: &Stopped,
    image: &ProcessImage,
    first: Option<Pending>,
    reader: &mut ImageReader<R>,
    progress: &Progress,
    uffd: Option<&Uffd>,
    lazy: bool,
) -> Result<(), CkptError> {
    let pid = st.pid();
    let zeros = vec![0u8; 1 << 20];
    let write = |addr: u64, data: &[u8]| -> Result<(), CkptError> {
        let Some(area) = area_at(&image.areas, addr) else {
            return Err(CkptError::Image(wend_image::ImageError::Usage(format!(
                "page record at {addr:#x} lies outside every area of the image"
            ))));
        };
        let copied = match uffd {
            Some(u)
                if matches!(area.backing, Backing::Anon)
                    && addr + data.len() as u64 <= area.end
                    && (addr | data.len() as u64).is_multiple_of(PAGE_SIZE) =>
            {
                // EEXIST (a page already there) and the like: write it the ordinary way.
                u.copy(addr, data).is_ok()
            }
            _ => false,
        };
        if !copied {
            mem::write_vm(pid, addr, data).map_err(|e| CkptError::sys(pid, e))?;
        }
        progress.advance(data.len() as u64);
        Ok(())
    };
    let zero = |addr: u64, len: u64| -> Result<(), CkptError> {
        let file_backed =
            area_at(&image.areas, addr).is_some_and(|a| !matches!(a.backing, Backing::Anon));
        if file_backed {
            let mut done = 0;
            while done < len {
                let n = (len - done).min(zeros.len() as u64) as usize;
                write(addr + done, &zeros[..n])?;
                done += n as u64;
            }
        } else {
            if let Some(u) = uffd.filter(|_| lazy) {
                // Nothing runs in the target yet: no layout change can make this retry.
                u.zeropage(addr, len).map_err(|e| CkptError::sys(pid, e))?;
            }
            progress.advance(len);
        }
        Ok(())
    };
    match first {
        Some(Pending::Pages(a, d)) => write(a, &d)?,
        Some(Pending::Zero(a, l)) => zero(a, l)?,
        None => return Ok(()),
    }
    const IN_FLIGHT: usize = 4;
    let (tx, rx) = std::sync::mpsc::sync_channel::<Msg>(IN_FLIGHT);
    let (free_tx, free_rx) = std::sync::mpsc::channel::<Vec<u8>>();
    std::thread::scope(|s| {
        // Owned by this closure: returning early drops it, which stops the reading thread
        // (its next send fails) before the scope joins it.
        let rx = rx;
        s.spawn(move || loop {
            let msg = match reader.next_record() {
                Ok(Some(Record::Pages { addr, data })) => {
                    let mut b = free_rx.try_recv().unwrap_or_default();
                    b.clear();
                    b.extend_from_slice(data);
                    Msg::Pages(addr, b)
                }
                Ok(Some(Record::Zero { addr, len })) => Msg::Zero(addr, len),
                Ok(Some(Record::Blob { .. })) => continue,
                Ok(None) => return,
                Err(e) => Msg::Failed(e),
            };
            let failed = matches!(msg, Msg::Failed(_));
            // A closed channel means the writer gave up: stop reading.
            if tx.send(msg).is_err() || failed {
                return;
            }
        });
        for msg in rx.iter() {
            match msg {
                Msg::Pages(a, b) => {
                    write(a, &b)?;
                    let _ = free_tx.send(b);
                }
                Msg::Zero(a, l) => zero(a, l)?,
                Msg::Failed(e) => return Err(e.into()),
            }
        }
        Ok(())
    })
}

/// Give every area its protection back.
pub(crate) fn protect(st: &mut Stopped, image: &ProcessImage) -> Result<(), CkptError> {
    let pid = st.pid();
    let rw = libc::PROT_READ | libc::PROT_WRITE;
    for a in &image.areas {
        if matches!(a.backing, Backing::SharedFile(_)) || a.prot == rw {
            continue;
        }
        st.syscall(
            "mprotect",
            libc::SYS_mprotect,
            [a.start, a.end - a.start, a.prot as u64, 0, 0, 0],
        )
        .map_err(|e| CkptError::sys(pid, e))?;
    }
    Ok(())
}
